"""Drills in the registry: the lock (one drill at a time), each drill's records, the audit log.

The lock is the single `dr_lock` row, taken in the transaction that records the drill's
start (SELECT ... FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite): two drills cannot both
see it free. It names its holder's process by host, boot id, PID and the process's start time;
a holder on this machine whose process is gone (or whose PID now belongs to another process,
or which ran before a reboot) is stale: the next drill records the stale drill as interrupted
and takes the lock, in one transaction with its audit entries. A holder on another machine is
never assumed dead: `govcloud dr unlock DRILL --reason ...` releases it, audited.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from govcloud.errors import BadInputError
from govcloud.registry import audit_log
from govcloud.registry.db import as_utc
from govcloud.registry.dr_state import (
    ACTION_DRILL_FINISHED,
    ACTION_DRILL_INTERRUPTED,
    ACTION_DRILL_STARTED,
    ACTION_DRILL_STEP,
    ACTION_LOCK_RELEASED,
    ACTION_REPORT,
    ACTION_SETUP,
    DrillKind,
    DrillOutcome,
    Step,
    drill_object,
)
from govcloud.registry.tables import DrDrill, DrDrillEvent, DrDrillSystem, DrLock

LOCK_ROW_ID: Final = 1
BOOT_ID_FILE: Final = Path("/proc/sys/kernel/random/boot_id")
# /proc/PID/stat: the process's start time (clock ticks after boot) is field 22; the fields
# after the command name (which may hold spaces and parentheses) start at field 3.
STAT_START_FIELD: Final = 22 - 3
SessionFactory = Callable[[], Session]


class DrillRefusedError(BadInputError):
    """A drill that may not run now (another holds the lock, the gate failed): exit 2."""


@dataclass(frozen=True)
class Holder:
    """Which process holds (or would hold) the lock."""

    host: str
    boot_id: str
    pid: int
    process_start: str


def process_start(pid: int) -> str | None:
    """When a process started (clock ticks after boot), or None when there is no such one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[STAT_START_FIELD]


def this_process() -> Holder:
    """This process, as the lock names it."""
    boot = BOOT_ID_FILE.read_text().strip() if BOOT_ID_FILE.is_file() else ""
    pid = os.getpid()
    return Holder(socket.gethostname(), boot, pid, process_start(pid) or "")


def holder_alive(lock: DrLock, here: Holder) -> bool:
    """Whether the lock's holder may still run (see the module docstring)."""
    if lock.host != here.host:
        return True
    if lock.boot_id != here.boot_id or lock.pid is None:
        return False
    return process_start(lock.pid) == lock.process_start


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _lock(session: Session) -> DrLock:
    return session.execute(
        select(DrLock).where(DrLock.id == LOCK_ROW_ID).with_for_update()
    ).scalar_one()


def _refusal(lock: DrLock) -> DrillRefusedError:
    since = as_utc(lock.since).strftime("%Y-%m-%d %H:%M:%S UTC") if lock.since else "?"
    return DrillRefusedError(
        f"another drill is running: drill {lock.drill_id} by {lock.actor} since {since} "
        f"(process {lock.pid} on {lock.host}); one drill at a time: wait for it to end "
        "(`govcloud dr history`), or, if that process is gone for good on another machine, "
        f"`govcloud dr unlock {lock.drill_id} --reason ...`"
    )


def check_free(session: Session) -> None:
    """Refuse (exit 2) when a live drill holds the lock; a stale one is no obstacle."""
    lock = session.get(DrLock, LOCK_ROW_ID)
    if lock is not None and lock.drill_id is not None and holder_alive(lock, this_process()):
        raise _refusal(lock)


def _interrupt(session: Session, lock: DrLock, actor: str, why: str) -> None:
    """Record the holder's drill as interrupted and free the lock (the caller's transaction)."""
    drill = session.get(DrDrill, lock.drill_id) if lock.drill_id is not None else None
    if drill is not None and drill.finished_at is None:
        drill.finished_at = _now()
        drill.outcome = DrillOutcome.INTERRUPTED.value
    audit_log.record(
        session,
        actor=actor,
        action=ACTION_DRILL_INTERRUPTED,
        object=drill_object(lock.drill_id or 0),
        before={"holder": _holder_dict(lock)},
        after={"outcome": DrillOutcome.INTERRUPTED.value, "why": why},
    )
    _clear(lock)


def _holder_dict(lock: DrLock) -> dict[str, Any]:
    return {
        "drill": lock.drill_id,
        "actor": lock.actor,
        "host": lock.host,
        "pid": lock.pid,
        "since": lock.since,
    }


def _clear(lock: DrLock) -> None:
    lock.drill_id = lock.actor = lock.host = lock.boot_id = lock.process_start = None
    lock.pid = None
    lock.since = None


def begin(
    sessions: SessionFactory,
    *,
    kind: DrillKind,
    scope: str,
    actor: str,
    gate: Mapping[str, Any],
    systems: Iterable[str],
) -> int:
    """Take the lock and record the drill's start and the gate's decision; the drill's id.

    Refuses (exit 2, nothing written) when a live drill holds the lock."""
    here = this_process()
    with sessions() as session, session.begin():
        lock = _lock(session)
        if lock.drill_id is not None:
            if holder_alive(lock, here):
                raise _refusal(lock)
            _interrupt(session, lock, actor, "its process is gone: the lock was stale")
        now = _now()
        drill = DrDrill(kind=kind.value, scope=scope, actor=actor, started_at=now, gate=dict(gate))
        session.add(drill)
        session.flush()
        lock.drill_id, lock.actor, lock.since = drill.id, actor, now
        lock.host, lock.boot_id, lock.pid = here.host, here.boot_id, here.pid
        lock.process_start = here.process_start
        session.add(
            DrDrillEvent(drill_id=drill.id, step=Step.DECISION.value, at=now, detail=dict(gate))
        )
        audit_log.record(
            session,
            actor=actor,
            action=ACTION_DRILL_STARTED,
            object=drill_object(drill.id),
            after={"kind": kind.value, "scope": scope, "systems": sorted(systems)},
        )
        return drill.id


def add_events(
    sessions: SessionFactory,
    drill_id: int,
    events: Iterable[tuple[str | None, str, float, Any]],
    *,
    actor: str,
) -> None:
    """Append (system, step, unix time, detail) events to the drill's timeline (audited)."""
    listed = list(events)
    if not listed:
        return
    with sessions() as session, session.begin():
        for system, step, at, detail in listed:
            session.add(
                DrDrillEvent(
                    drill_id=drill_id,
                    system=system,
                    step=step,
                    at=dt.datetime.fromtimestamp(at, dt.UTC),
                    detail=detail,
                )
            )
        audit_log.record(
            session,
            actor=actor,
            action=ACTION_DRILL_STEP,
            object=drill_object(drill_id),
            after={"steps": [{"system": s, "step": step, "at": at} for s, step, at, _ in listed]},
        )


@dataclass(frozen=True)
class SystemResult:
    """What a drill records of one system."""

    system: str
    tier: str
    replication: str
    standby: str
    target_rpo_s: float
    target_rto_s: float
    rpo_s: float | None
    rto_s: float | None
    lost_writes: int | None
    level_claimed: int
    level_met: int | None
    met: bool | None
    state: str
    detail: Mapping[str, Any]


def finish(
    sessions: SessionFactory,
    drill_id: int,
    *,
    results: Iterable[SystemResult],
    outcome: DrillOutcome,
    actor: str,
) -> None:
    """Record every system's result and the outcome, and release the lock: one transaction."""
    with sessions() as session, session.begin():
        lock = _lock(session)
        drill = session.get(DrDrill, drill_id)
        if drill is None:
            raise BadInputError(f"no drill {drill_id} in the registry")
        listed = list(results)
        for result in listed:
            session.add(
                DrDrillSystem(
                    drill_id=drill_id, **{**result.__dict__, "detail": dict(result.detail)}
                )
            )
        drill.outcome = outcome.value
        drill.finished_at = _now()
        if lock.drill_id == drill_id:
            _clear(lock)
        audit_log.record(
            session,
            actor=actor,
            action=ACTION_DRILL_FINISHED,
            object=drill_object(drill_id),
            after={
                "outcome": outcome.value,
                "systems": {
                    r.system: {"met": r.met, "rpo_s": r.rpo_s, "rto_s": r.rto_s, "state": r.state}
                    for r in listed
                },
            },
        )


def set_report(
    sessions: SessionFactory, drill_id: int, *, path: Path, digests: Mapping[str, str], actor: str
) -> None:
    """Record where the drill's report is and the SM3 of each of its files (audited)."""
    with sessions() as session, session.begin():
        drill = session.get(DrDrill, drill_id)
        if drill is None:
            raise BadInputError(f"no drill {drill_id} in the registry")
        drill.report_path = str(path)
        drill.report_sm3 = digests.get("report.html")
        drill.report_json_sm3 = digests.get("report.json")
        audit_log.record(
            session,
            actor=actor,
            action=ACTION_REPORT,
            object=drill_object(drill_id),
            after={"directory": str(path), "files_sm3": dict(digests)},
        )


def unlock(sessions: SessionFactory, drill_id: int, *, actor: str, reason: str) -> None:
    """Release a lock whose holder is known gone (`dr unlock`): refused while the holder runs
    on this machine, or when the drill named is not the holder; audited with the reason."""
    if not reason.strip():
        raise BadInputError("--reason: say why the lock may be released (it is audited)")
    with sessions() as session, session.begin():
        lock = _lock(session)
        if lock.drill_id != drill_id:
            holder = "no drill" if lock.drill_id is None else f"drill {lock.drill_id}"
            raise BadInputError(f"drill {drill_id} does not hold the lock ({holder} does)")
        here = this_process()
        if lock.host == here.host and holder_alive(lock, here):
            raise BadInputError(
                f"drill {drill_id} is still running here (process {lock.pid}): wait for it"
            )
        audit_log.record(
            session,
            actor=actor,
            action=ACTION_LOCK_RELEASED,
            object=drill_object(drill_id),
            before={"holder": _holder_dict(lock)},
            after={"reason": reason},
        )
        _interrupt(session, lock, actor, reason)


def record_system_job(
    sessions: SessionFactory,
    system: str,
    *,
    ok: bool,
    detail: Mapping[str, Any],
    actor: str,
    action: str = ACTION_SETUP,
) -> None:
    """Audit one system's replication setup or scheduled backup (there is no drill row:
    nothing was drilled)."""
    with sessions() as session, session.begin():
        audit_log.record(
            session,
            actor=actor,
            action=action,
            object=f"dr/system/{system}",
            after={"ok": ok, **detail},
        )


def events(session: Session, drill_id: int) -> list[DrDrillEvent]:
    """A drill's timeline, in time order."""
    return list(
        session.execute(
            select(DrDrillEvent)
            .where(DrDrillEvent.drill_id == drill_id)
            .order_by(DrDrillEvent.at, DrDrillEvent.id)
        ).scalars()
    )


def lock_holder(session: Session) -> dict[str, Any] | None:
    """Who holds the lock now, and whether that holder looks alive (for `dr status`)."""
    lock = session.get(DrLock, LOCK_ROW_ID)
    if lock is None or lock.drill_id is None:
        return None
    return {**_holder_dict(lock), "alive": holder_alive(lock, this_process())}
