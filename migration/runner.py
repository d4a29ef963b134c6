"""Carry out a system's migration step by step, journaled, resumable, rolled back on failure.

The runner knows the lifecycle (`migration.lifecycle`) and the journal (`migration.journal`);
where the system's servers are and how a playbook runs is a `Placement` and an `Executor`
(the lab's: `migration.labsite`; a real site's: an inventory). A failed cutover, whatever
failed in it (the copy, the comparison, the name, the verification from the department's
hosts), is rolled back at once: the source serves again, writable, with every committed row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govcloud.errors import BadInputError
from govcloud.registry.migration_state import MigrationMode, MigrationState
from govcloud.sites import Executor, Placement, read_result, secret_for
from migration import journal
from migration.lifecycle import (
    COLD_CUTOVER,
    CUTOVER,
    FINALIZE,
    ROLLBACK,
    Action,
    LifecycleError,
    Step,
    check_finalize,
    check_rollback,
    plan_run,
    step_named,
)

RESULT_FILE = "cutover.json"
Progress = Callable[[str], None]


@dataclass
class Outcome:
    """What a run did, as `govcloud migrate run --json` prints it."""

    system: str
    mode: str
    state: str
    downtime_s: float | None = None
    rows_source: int | None = None
    rows_target: int | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    rolled_back: bool = False
    error: str | None = None
    log: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every step it ran succeeded (a rolled-back cutover is not ok)."""
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (field names are what scripts read)."""
        return {
            "system": self.system,
            "mode": self.mode,
            "state": self.state,
            "downtime_s": self.downtime_s,
            "rows_source": self.rows_source,
            "rows_target": self.rows_target,
            "steps": self.steps,
            "rolled_back": self.rolled_back,
            "error": self.error,
            "log": self.log,
        }


@dataclass
class Runner:
    """One system's runs against one site."""

    sessions: journal.SessionFactory
    placement: Placement
    execute: Executor
    root: Path
    actor: str
    progress: Progress = lambda _: None

    @property
    def workdir(self) -> Path:
        """This system's logs and timings."""
        path = self.root / "runs" / self.placement.system.replace("/", "-")
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def run(self, mode: MigrationMode, until: MigrationState = MigrationState.VALIDATED) -> Outcome:
        """Forward to `until`, resuming an interrupted step first."""
        hold, state = journal.acquire(
            self.sessions, self.placement.system, self.placement.department, self.actor
        )
        try:
            with self.sessions() as session:
                name = journal.interrupted_step(session, self.placement.system)
            interrupted = step_named(name) if name else None
            try:
                steps = plan_run(state, mode, until=until, interrupted=interrupted)
            except LifecycleError as error:
                raise BadInputError(f"{self.placement.system}: {error}") from None
            outcome = Outcome(self.placement.system, mode.value, state.value)
            for step in steps:
                if not self._step(hold, Action.RUN, step, mode, outcome):
                    if step in (CUTOVER, COLD_CUTOVER):
                        self._roll_back(hold, mode, outcome)
                    break
            return outcome
        finally:
            journal.release(self.sessions, hold)

    def rollback(self, mode: MigrationMode | None = None) -> Outcome:
        """Back to the source (with what the cloud server took since the cutover)."""
        hold, state = journal.acquire(
            self.sessions, self.placement.system, self.placement.department, self.actor
        )
        try:
            try:
                check_rollback(state)
            except LifecycleError as error:
                raise BadInputError(f"{self.placement.system}: {error}") from None
            chosen = mode or self._recorded_mode()
            outcome = Outcome(self.placement.system, chosen.value, state.value)
            self._roll_back(hold, chosen, outcome)
            return outcome
        finally:
            journal.release(self.sessions, hold)

    def finalize(self) -> Outcome:
        """Retire the source of a validated system."""
        hold, state = journal.acquire(
            self.sessions, self.placement.system, self.placement.department, self.actor
        )
        try:
            with self.sessions() as session:
                interrupted = journal.interrupted_step(session, self.placement.system)
            if interrupted != FINALIZE.name:
                try:
                    check_finalize(state)
                except LifecycleError as error:
                    raise BadInputError(f"{self.placement.system}: {error}") from None
            mode = self._recorded_mode()
            outcome = Outcome(self.placement.system, mode.value, state.value)
            self._step(hold, Action.FINALIZE, FINALIZE, mode, outcome)
            return outcome
        finally:
            journal.release(self.sessions, hold)

    # -- steps ---------------------------------------------------------------------------
    def _recorded_mode(self) -> MigrationMode:
        from govcloud.registry.tables import MigrationSystem  # noqa: PLC0415

        with self.sessions() as session:
            row = session.get(MigrationSystem, self.placement.system)
            return MigrationMode(row.mode) if row is not None and row.mode else MigrationMode.WARM

    def _roll_back(self, hold: journal.Hold, mode: MigrationMode, outcome: Outcome) -> None:
        outcome.rolled_back = self._step(hold, Action.ROLLBACK, ROLLBACK, mode, outcome)

    def _step(
        self,
        hold: journal.Hold,
        action: Action,
        step: Step,
        mode: MigrationMode,
        outcome: Outcome,
    ) -> bool:
        """Run one step's playbook; journal it; True when it succeeded."""
        self.progress(f"{self.placement.system}: {step.name}")
        entry, before = journal.begin_step(
            self.sessions, hold, action.value, step.name, step.during
        )
        result_file = self.workdir / RESULT_FILE
        result_file.unlink(missing_ok=True)
        log = self.workdir / f"{hold.run_id}.log"
        variables = {
            **self.placement.variables,
            "migrate_mode": mode.value,
            "migrate_result_file": str(result_file),
        }
        secret = secret_for(self.root, self.placement.system)
        started = time.monotonic()
        code = self.execute(step.playbook, variables, secret, log)
        seconds = round(time.monotonic() - started, 3)
        outcome.log = str(log)
        timings = read_result(result_file) if code == 0 else {}
        detail: dict[str, Any] = {"seconds": seconds, "exit": code, **timings}
        ok = code == 0
        # A failed step leaves the system in its `during` state (the next run repeats the
        # step); a failed rollback, which has none, where it was.
        ends = step.ends if ok else (step.during or before)
        result = None
        if ok and step in (CUTOVER, COLD_CUTOVER):
            result = measured(timings, mode)
            outcome.downtime_s = result["downtime_s"]
            outcome.rows_source = result["rows_source"]
            outcome.rows_target = result["rows_target"]
        journal.end_step(
            self.sessions,
            hold,
            entry,
            ok=ok,
            state=ends,
            detail=detail,
            result=result,
            mode=mode.value if action is Action.RUN else None,
        )
        outcome.steps.append({"step": step.name, "ok": ok, "seconds": seconds})
        outcome.state = ends.value
        if not ok and outcome.error is None:
            outcome.error = f"{step.name} failed (ansible exit {code}); see {log}" + (
                "; rolled back" if step in (CUTOVER, COLD_CUTOVER) else ""
            )
        return ok


def _rows(figures: Any) -> int | None:
    """Rows behind a server's verification figures: each query's row begins with its count."""
    if not isinstance(figures, list) or not figures:
        return None
    try:
        return sum(int(str(row).split("|")[0]) for row in figures)
    except ValueError:
        return None


def measured(timings: Mapping[str, Any], mode: MigrationMode) -> dict[str, Any]:
    """The step's figures. Downtime is from the first moment clients could not write to the
    moment they could again: cold, from stopping the source to moving the name; warm, from
    moving the name (clients meet the read-only copy) or stopping the source, whichever came
    first, to the copy's promotion (the data compared after it is not downtime)."""
    stopped, moved, promoted = (
        timings.get(key) for key in ("writes_stopped_at", "name_moved_at", "promoted_at")
    )
    began = (
        stopped
        if mode is MigrationMode.COLD
        else min((float(t) for t in (stopped, moved) if t is not None), default=None)
    )
    resumed = moved if mode is MigrationMode.COLD else promoted
    downtime = None
    if began is not None and resumed is not None:
        downtime = round(float(resumed) - float(began), 3)
    return {
        "mode": mode.value,
        "downtime_s": downtime,
        "rows_source": _rows(timings.get("source_stats")),
        "rows_target": _rows(timings.get("target_stats")),
        "source_stats": timings.get("source_stats"),
        "target_stats": timings.get("target_stats"),
    }
