"""The drill engine: gate, lock, probe, fault, playbook, measurement, record, report.

A drill is a recorded job (docs/dr.md): the gate decides whether it may run (`dr.gate`), the
registry lock makes it the only one (`dr.store`), the numbering client measures it from a
department's side (`Probe`), and a failover's fault is real (`Faults`). The site supplies
those pieces: the lab's are in `dr.labsite` (placements, executor) and `dr.labdrill` (probe,
faults); a real site supplies its own.

The playbooks (dr-status.yml, dr-test.yml, dr-switchover.yml, dr-failover.yml,
dr-failback.yml) are told `dr_result_file` and write JSON there: events (step, unix time) and
a validation, or for dr-status the replication's state and lag.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol

from dr import levels, measure, report, store
from dr.gate import ReplicationStatus, StackCheck, replication_problem
from dr.targets import Scope, Target
from govcloud.errors import BadInputError, GovcloudError
from govcloud.registry.dr_state import (
    ACTION_BACKUP,
    DrillKind,
    DrillOutcome,
    Step,
    SystemState,
    last_drills,
)
from govcloud.sites import Executor, Placement, read_result, secret_for

STATUS_PLAYBOOK: Final = "dr-status.yml"
SETUP_PLAYBOOK: Final = "dr-setup.yml"
BACKUP_PLAYBOOK: Final = "dr-backup.yml"
# `dr backup --due` runs from a scheduler every minute: a backup counts as due this much before
# its interval is up, so the interval between backups is the policy's, not one tick more.
DUE_MARGIN_S: Final = 60.0
FALLBACK_PLAYBOOK: Final = "dr-failback.yml"
PLAYBOOKS: Final = {
    DrillKind.TEST: "dr-test.yml",
    DrillKind.SWITCHOVER: "dr-switchover.yml",
    DrillKind.FAILOVER: "dr-failover.yml",
    DrillKind.FAILBACK: "dr-failback.yml",
}
# Where each kind leaves a system that passed: a test and a failback leave the primary serving.
SERVED_AFTER: Final = {
    DrillKind.TEST: SystemState.PRIMARY,
    DrillKind.SWITCHOVER: SystemState.DR_SITE,
    DrillKind.FAILOVER: SystemState.DR_SITE,
    DrillKind.FAILBACK: SystemState.PRIMARY,
}
# Where a drill may leave a system away from its primary: only a failback starts from there.
AWAY: Final = frozenset({SystemState.DR_SITE.value, SystemState.STOPPED.value})
# Writes flow this long before the drill acts, and after it ends, so the client has
# acknowledgements on both sides of any outage (an outage is a gap between two of them).
WARMUP_S: Final = 3.0
SETTLE_S: Final = 3.0
RESULT_FILE: Final = "result.json"
Progress = Callable[[str], None]


class FaultKind(StrEnum):
    """What a failover drill breaks (docs/dr.md)."""

    SITE = "site"  # the primary site cut from the extranet, restored after the drill
    DATABASE = "database"  # the system's database killed on its primary


class Probe(Protocol):
    """The numbering client on one system's service, writing as a department's user would."""

    def start(self) -> None:
        """Start writing (returns once the client runs)."""

    def stop(self) -> dict[str, Any]:
        """Stop issuing numbers, wait for the writes in flight, and return the client's tally
        with `started_at`, the unix time its relative times count from (`dr.probe`)."""

    def missing(self, tally: Mapping[str, Any]) -> list[int] | None:
        """The acknowledged numbers the serving database lacks now (None: it cannot be read)."""


class Faults(Protocol):
    """Real faults at a site, injected for a failover drill and cleared after it."""

    def inject(self, kind: FaultKind, placements: Sequence[Placement]) -> float:
        """Break it; the unix time the fault took effect."""

    def clear(self) -> float | None:
        """Undo what `inject` did (nothing when nothing is injected); the unix time, if any."""


@dataclass
class Site:
    """Where the drill's systems run: placements, the playbook executor, probes, faults."""

    placement: Callable[[str], Placement]
    execute: Executor
    probe: Callable[[Target, Path], Probe]
    faults: Faults


@dataclass
class Play:
    """One playbook run: its exit code, its result document, when it ran, its log."""

    code: int
    document: dict[str, Any]
    started_at: float
    ended_at: float
    log: Path

    @property
    def events(self) -> list[dict[str, Any]]:
        """The playbook's timed events (step, at), well-formed ones only."""
        found = self.document.get("events")
        if not isinstance(found, list):
            return []
        return [
            {"step": str(e["step"]), "at": float(e["at"])}
            for e in found
            if isinstance(e, dict) and "step" in e and isinstance(e.get("at"), int | float)
        ]

    @property
    def validation(self) -> dict[str, Any]:
        """The playbook's validation ({"ok": False} when it gave none)."""
        found = self.document.get("validation")
        return dict(found) if isinstance(found, dict) else {"ok": False}

    @property
    def ok(self) -> bool:
        """The playbook succeeded and its validation holds."""
        return self.code == 0 and bool(self.validation.get("ok"))


@dataclass
class SystemRun:
    """One system's course through a drill."""

    target: Target
    placement: Placement
    probe: Probe | None = None
    play: Play | None = None
    fallback: Play | None = None
    state: SystemState = SystemState.NOT_RUN
    window: tuple[float, float] | None = None
    status: ReplicationStatus | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class DrillReport:
    """What a drill did, as `govcloud dr drill --json` prints it (and the report renders)."""

    drill: int
    kind: DrillKind
    outcome: DrillOutcome
    results: list[store.SystemResult]

    @property
    def exit_code(self) -> int:
        """0 every target met, 1 one missed (or the drill fell back or stopped)."""
        return 0 if self.outcome is DrillOutcome.MET else 1


@dataclass
class Engine:
    """Drills against one site, recorded in one registry."""

    sessions: store.SessionFactory
    site: Site
    root: Path
    actor: str
    progress: Progress = lambda _: None

    # -- playbooks ---------------------------------------------------------------------------
    def play(
        self,
        playbook: str,
        placement: Placement,
        workdir: Path,
        extra: Mapping[str, Any] | None = None,
    ) -> Play:
        """Run one playbook for one system; its result file is read back."""
        name = placement.system.replace("/", "-")
        result_file = workdir / f"{name}-{playbook.removesuffix('.yml')}-{RESULT_FILE}"
        result_file.unlink(missing_ok=True)
        log = workdir / f"{name}.log"
        variables = {**placement.variables, **(extra or {}), "dr_result_file": str(result_file)}
        secret = secret_for(self.root, placement.system)
        self.progress(f"{placement.system}: {playbook}")
        started = time.time()
        code = self.site.execute(playbook, variables, secret, log)
        return Play(code, read_result(result_file), started, time.time(), log)

    def setup(self, targets: Sequence[Target]) -> list[dict[str, Any]]:
        """Set each target's replication up (dr-setup.yml, idempotent) with the secret the
        drills use later, so the password the standby was given is the one they hand on."""
        with self.sessions() as session:
            store.check_free(session)  # a drill's systems are not reconfigured under it
        workdir = self.root / "setup"
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        done = []
        for target in targets:
            play = self.play(SETUP_PLAYBOOK, self.site.placement(target.system), workdir)
            detail = {"exit": play.code, "log": str(play.log), "playbook": SETUP_PLAYBOOK}
            store.record_system_job(
                self.sessions, target.system, ok=play.code == 0, detail=detail, actor=self.actor
            )
            done.append({"system": target.system, "ok": play.code == 0, **detail})
        return done

    def backup(
        self, targets: Sequence[Target], *, due_only: bool, now: float
    ) -> list[dict[str, Any]]:
        """A backup policy's scheduled backup (dr-backup.yml) for each target, or with
        `due_only` for those whose last backup is at least their interval old (dr-status.yml
        says when that was); audited per system. Refused while a drill runs (its systems
        are not touched under it)."""
        with self.sessions() as session:
            store.check_free(session)
        workdir = self.root / "backup"
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        last = self.statuses(targets) if due_only else {}
        done = []
        for target in targets:
            interval = 60.0 * (target.policy.backup_every_min or 0)
            seen = last.get(target.system)
            taken = seen.last_backup_at if seen else None
            if due_only and taken is not None and now - taken < interval - DUE_MARGIN_S:
                why = f"not due: the last backup is {now - taken:.0f} s old of {interval:.0f} s"
                done.append({"system": target.system, "ran": False, "ok": True, "reason": why})
                continue
            play = self.play(BACKUP_PLAYBOOK, self.site.placement(target.system), workdir)
            validation = play.document.get("validation") or {}
            ok = play.code == 0 and bool(validation.get("ok"))
            detail = {
                "exit": play.code,
                "log": str(play.log),
                "playbook": BACKUP_PLAYBOOK,
                "backup_at": validation.get("backup_at"),
                "rows": validation.get("rows"),
                "file": validation.get("file"),
            }
            store.record_system_job(
                self.sessions,
                target.system,
                ok=ok,
                detail=detail,
                actor=self.actor,
                action=ACTION_BACKUP,
            )
            done.append({"system": target.system, "ran": True, "ok": ok, **detail})
        return done

    # -- the gate ----------------------------------------------------------------------------
    def statuses(self, targets: Sequence[Target]) -> dict[str, ReplicationStatus]:
        """Each target's replication as dr-status.yml reports it (its files are thrown away:
        the gate writes nothing). A target the site does not place (a lab running only some
        of the county's systems) reads as broken, its state saying why: `dr status --lab`
        shows the others rather than refusing them all; a drill has placed its targets
        before its gate asks."""
        found = {}
        with tempfile.TemporaryDirectory(prefix="govcloud-dr-status-") as scratch:
            for target in targets:
                try:
                    placement = self.site.placement(target.system)
                except BadInputError as error:
                    found[target.system] = ReplicationStatus.from_document(
                        target.system, {"state": f"not read: {error}"}
                    )
                    continue
                play = self.play(STATUS_PLAYBOOK, placement, Path(scratch))
                found[target.system] = ReplicationStatus.from_document(
                    target.system, play.document if play.code == 0 else {}
                )
        return found

    def gate(self, kind: DrillKind, targets: Sequence[Target], stack: StackCheck) -> dict[str, Any]:
        """The gate's decision as the drill records it; refused (exit 2, nothing written) when
        the DR region drifted, a replication is broken or lags, or a system is not where the
        kind starts from."""
        problems = [p for p in [stack.problem()] if p]
        if kind is not DrillKind.FAILBACK:
            # A failback starts from wherever a drill left the system (dr-failback.yml's
            # precheck judges); every other kind from the primary serving.
            problems += [
                f"{system}: left at {state.value} by drill {drill}; a {kind.value} "
                "starts from the primary serving (fail back first)"
                for system, (state, drill) in self.away(targets).items()
            ]
        statuses: dict[str, ReplicationStatus] = {}
        if not problems and kind is not DrillKind.FAILBACK:
            statuses = self.statuses(targets)
            now = time.time()
            problems += [
                p
                for t in targets
                if (p := replication_problem(t.policy, statuses[t.system], now)) is not None
            ]
        if problems:
            raise refused(kind, problems)
        return {
            "stack": stack.as_dict(),
            "replication": {s: status.as_dict() for s, status in statuses.items()},
        }

    def away(self, targets: Sequence[Target]) -> dict[str, tuple[SystemState, int]]:
        """The targets a finished drill left away from their primary (at the DR site, or
        stopped halfway), with that drill's number, by the registry's last drill of each."""
        with self.sessions() as session:
            last = last_drills(session)
        return {
            t.system: (SystemState(last[t.system][1].state), last[t.system][0].id)
            for t in targets
            if t.system in last and last[t.system][1].state in AWAY
        }

    # -- the drill ---------------------------------------------------------------------------
    def drill(
        self,
        kind: DrillKind,
        scope: Scope,
        targets: Sequence[Target],
        stack: StackCheck,
        *,
        fault: FaultKind = FaultKind.DATABASE,
    ) -> DrillReport:
        """Run one drill over `targets` (in recovery order) and record it."""
        if not targets:
            raise BadInputError(f"{scope}: no system to drill")
        with self.sessions() as session:
            store.check_free(session)  # refuse early, before the site is touched
        runs = [SystemRun(t, self.site.placement(t.system)) for t in targets]
        gate = self.gate(kind, targets, stack)
        drill_id = store.begin(
            self.sessions,
            kind=kind,
            scope=str(scope),
            actor=self.actor,
            gate=gate,
            systems=[t.system for t in targets],
        )
        workdir = self.root / "drills" / str(drill_id)
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        outcome = DrillOutcome.STOPPED
        try:
            outcome = self._carry_out(drill_id, kind, runs, workdir, fault)
        finally:
            results = self._measure(kind, runs, drill_id)
            if outcome is not DrillOutcome.STOPPED and outcome is not DrillOutcome.FELL_BACK:
                outcome = DrillOutcome.MET if all(r.met for r in results) else DrillOutcome.MISSED
            store.finish(
                self.sessions, drill_id, results=results, outcome=outcome, actor=self.actor
            )
            # Every drill that began has its report, a stopped one too: it is the evidence.
            report.write(self.sessions, drill_id, self.report_dir(drill_id), actor=self.actor)
        return DrillReport(drill_id, kind, outcome, results)

    def report_dir(self, drill_id: int) -> Path:
        """Where a drill's report is written."""
        return self.root / "drills" / str(drill_id) / "report"

    def _event(
        self, drill_id: int, system: str | None, step: Step | str, at: float, **detail: Any
    ) -> None:
        store.add_events(
            self.sessions, drill_id, [(system, str(step), at, detail or None)], actor=self.actor
        )

    def _clear_faults(self, drill_id: int) -> None:
        cleared = self.site.faults.clear()
        if cleared is not None:
            self._event(drill_id, None, Step.FAULT_CLEARED, cleared)

    def _carry_out(
        self,
        drill_id: int,
        kind: DrillKind,
        runs: list[SystemRun],
        workdir: Path,
        fault: FaultKind,
    ) -> DrillOutcome:
        for run in runs:
            run.probe = self.site.probe(run.target, workdir)
            run.probe.start()
            self._event(drill_id, run.target.system, Step.PROBE_STARTED, time.time())
        time.sleep(WARMUP_S)
        fault_at = None
        try:
            if kind is DrillKind.FAILOVER:
                fault_at = self.site.faults.inject(fault, [r.placement for r in runs])
                self._event(drill_id, None, Step.FAULT, fault_at, fault=fault.value)
            outcome = self._systems(drill_id, kind, runs, workdir, fault_at)
        finally:
            self._clear_faults(drill_id)
            time.sleep(SETTLE_S)
        return outcome

    def _systems(
        self,
        drill_id: int,
        kind: DrillKind,
        runs: list[SystemRun],
        workdir: Path,
        fault_at: float | None,
    ) -> DrillOutcome:
        """Each system's playbook in order; a failed one stops the drill (falling back when
        it was a failover, see `_fall_back`)."""
        for run in runs:
            play = self.play(PLAYBOOKS[kind], run.placement, workdir, {"dr_kind": kind.value})
            run.play = play
            run.window = (fault_at if fault_at is not None else play.started_at, play.ended_at)
            store.add_events(
                self.sessions,
                drill_id,
                [(run.target.system, e["step"], e["at"], None) for e in play.events],
                actor=self.actor,
            )
            if play.ok:
                run.state = SERVED_AFTER[kind]
                continue
            self._event(
                drill_id,
                run.target.system,
                Step.VALIDATION_FAILED,
                play.ended_at,
                exit=play.code,
                validation=play.validation,
                log=str(play.log),
            )
            run.state = SystemState.STOPPED
            run.notes.append(f"{PLAYBOOKS[kind]} failed (exit {play.code}); see {play.log}")
            if kind is DrillKind.FAILOVER:
                return self._fall_back(drill_id, runs, workdir)
            return DrillOutcome.STOPPED
        return DrillOutcome.MET  # provisional: the measurements decide met or missed

    def _fall_back(self, drill_id: int, runs: list[SystemRun], workdir: Path) -> DrillOutcome:
        """A failover whose validation failed: every system it moved (and the failed one)
        returns to its primary where the primary is healthy (dr-failback.yml's precheck
        decides, after the fault is cleared); else the drill stops with each system's state
        as dr-status.yml reports it."""
        self._clear_faults(drill_id)
        stopped = False
        for run in reversed(runs):
            if run.play is None:
                continue
            back = self.play(FALLBACK_PLAYBOOK, run.placement, workdir, {"dr_fallback": True})
            run.fallback = back
            if run.window is not None:  # the outage lasts until the primary serves again
                run.window = (run.window[0], back.ended_at)
            self._event(
                drill_id,
                run.target.system,
                Step.FALLBACK,
                back.ended_at,
                ok=back.ok,
                exit=back.code,
            )
            if back.ok:
                run.state = SystemState.PRIMARY
                run.notes.append("fell back to its primary")
                continue
            stopped = True
            run.state = SystemState.STOPPED
            run.notes.append(
                f"stopped: {FALLBACK_PLAYBOOK} failed (exit {back.code}), the primary is not "
                f"healthy; see {back.log}"
            )
            # What the site says of it now (a site that cannot say leaves the note above).
            with contextlib.suppress(GovcloudError, OSError, ValueError):
                status = self.statuses([run.target])[run.target.system]
                run.status = status
                run.notes.append(f"replication {status.replication}, state {status.state}")
        return DrillOutcome.STOPPED if stopped else DrillOutcome.FELL_BACK

    # -- measurement -------------------------------------------------------------------------
    def _measure(
        self, kind: DrillKind, runs: list[SystemRun], drill_id: int
    ) -> list[store.SystemResult]:
        """Stop every probe, read what the serving databases lack, measure each system."""
        results = []
        for run in runs:
            tally: dict[str, Any] | None = None
            lost: list[int] | None = None
            if run.probe is not None:
                try:
                    tally = run.probe.stop()
                    self._event(drill_id, run.target.system, Step.PROBE_STOPPED, time.time())
                    lost = run.probe.missing(tally)
                except (GovcloudError, OSError, ValueError, RuntimeError) as error:
                    # A probe that failed is recorded with the system, not raised: the
                    # other systems' figures and the drill's record still matter.
                    run.notes.append(f"the probe failed: {error}")
            results.append(self._result(kind, run, tally, lost))
        return results

    def _result(
        self,
        kind: DrillKind,
        run: SystemRun,
        tally: dict[str, Any] | None,
        lost: list[int] | None,
    ) -> store.SystemResult:
        target, policy = run.target, run.target.policy
        found: measure.Measurement | None = None
        if tally is not None and run.play is not None and run.window is not None:
            found = measure.measure(
                kind,
                policy,
                tally,
                lost,
                run.window,
                validation=run.play.validation,
                copy_ready_s=measure.copy_ready(run.play.events, run.play.started_at),
            )
        detail: dict[str, Any] = {
            "policy": target.policy_dict,
            "measurement": None if found is None else found.as_dict(),
            "probe": None if tally is None else _probe_summary(tally),
            "validation": None if run.play is None else run.play.validation,
            "fallback": None if run.fallback is None else run.fallback.validation,
            "status": None if run.status is None else run.status.as_dict(),
            "window": run.window,
            "lost": None if lost is None else _ranges(lost),
            "notes": run.notes,
        }
        met = None if found is None else found.met and run.state is not SystemState.STOPPED
        return store.SystemResult(
            system=target.system,
            tier=target.tier.value,
            replication=policy.replication.value,
            standby=policy.standby.value,
            target_rpo_s=float(policy.rpo_s),
            target_rto_s=float(policy.rto_s),
            rpo_s=None if found is None else found.rpo_s,
            rto_s=None if found is None else found.rto_s,
            lost_writes=None if found is None else found.lost_writes,
            level_claimed=levels.claimed(policy).number,
            level_met=None if found is None else found.level_met,
            met=met if met is not None else False,
            state=run.state.value,
            detail=detail,
        )


def refused(kind: DrillKind, problems: Sequence[str]) -> store.DrillRefusedError:
    """The refusal of a drill, with every reason the gate found (exit 2)."""
    return store.DrillRefusedError(f"the {kind.value} drill is refused: " + "; ".join(problems))


def _probe_summary(tally: Mapping[str, Any]) -> dict[str, Any]:
    """The client's tally without its (possibly long) list of unacknowledged numbers."""
    summary = {k: v for k, v in tally.items() if k != "unacknowledged"}
    summary["unacknowledged"] = len(tally.get("unacknowledged", []))
    return summary


def _ranges(numbers: Sequence[int]) -> list[list[int]]:
    """Sorted numbers as [first, last] runs: a loss of thousands stays a few pairs."""
    runs: list[list[int]] = []
    for number in sorted(numbers):
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return runs
