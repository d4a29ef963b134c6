"""A migration's record in the registry: the system's state, its run lock, the step journal.

Every change is one transaction with its audit entry (`migration.*`). A run holds a system by
writing its run id into `migration_system.run_id`; a run that died (its process is gone on
this machine) loses the hold to the next run, which resumes from the journal.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govcloud.errors import BadInputError
from govcloud.registry import audit_log, cloud_rate
from govcloud.registry.migration_state import MigrationState
from govcloud.registry.tables import MigrationStep, MigrationSystem

STARTED = "started"
DONE = "done"
FAILED = "failed"

SessionFactory = Callable[[], Session]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _object(system: str) -> str:
    return f"migration/{system}"


@dataclass(frozen=True)
class Hold:
    """A run's hold on a system."""

    system: str
    run_id: str
    actor: str


def state_of(session: Session, system: str) -> MigrationState | None:
    """The system's recorded state, or None when no migration was ever recorded."""
    row = session.get(MigrationSystem, system)
    return None if row is None else MigrationState(row.state)


def interrupted_step(session: Session, system: str) -> str | None:
    """The name of the step a killed run left `started`, if the last journal entry is one."""
    last = session.execute(
        select(MigrationStep)
        .where(MigrationStep.system == system)
        .order_by(MigrationStep.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return last.step if last is not None and last.status == STARTED else None


def _holder_alive(session: Session, system: str, run_id: str) -> bool:
    """Whether the run holding the system still runs (as far as this machine can tell)."""
    entry = session.execute(
        select(MigrationStep)
        .where(MigrationStep.run_id == run_id)
        .order_by(MigrationStep.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    detail = (entry.detail or {}) if entry is not None else {}
    if detail.get("host") != socket.gethostname():
        return True  # another machine's run: never assume it died
    pid = detail.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != os.getpid()


def acquire(
    sessions: SessionFactory, system: str, department: str, actor: str
) -> tuple[Hold, MigrationState]:
    """Hold the system for this run (a row in `planned` is made for a system never planned)."""
    run_id = str(uuid.uuid4())
    with sessions() as session, session.begin():
        row = session.get(MigrationSystem, system, with_for_update=True)
        if row is None:
            row = MigrationSystem(
                system=system,
                department=department,
                state=MigrationState.PLANNED.value,
                why="moved on request, outside a planned wave",
                updated_at=_now(),
            )
            session.add(row)
            audit_log.record(
                session,
                actor=actor,
                action="migration.planned",
                object=_object(system),
                after={"state": row.state, "why": row.why},
            )
        elif row.run_id and _holder_alive(session, system, row.run_id):
            raise BadInputError(
                f"{system}: another migration run ({row.run_id}) is moving it; wait for it to "
                "end (a run on another machine is never taken over)"
            )
        row.run_id = run_id
        state = MigrationState(row.state)
    return Hold(system, run_id, actor), state


def release(sessions: SessionFactory, hold: Hold) -> None:
    """Let go of the system (only if this run still holds it)."""
    with sessions() as session, session.begin():
        row = session.get(MigrationSystem, hold.system, with_for_update=True)
        if row is not None and row.run_id == hold.run_id:
            row.run_id = None


def begin_step(
    sessions: SessionFactory, hold: Hold, action: str, step: str, during: MigrationState | None
) -> tuple[int, MigrationState]:
    """Journal a step as started and put the system in its `during` state (None: unchanged);
    the entry's id and the state before."""
    with sessions() as session, session.begin():
        row = session.get(MigrationSystem, hold.system, with_for_update=True)
        assert row is not None  # noqa: S101  (acquire made it)
        before = row.state
        if during is not None:
            row.state = during.value
        row.updated_at = _now()
        cloud_rate.record_move(
            session, row.department, cloud_rate.crossing(before, row.state), row.updated_at
        )
        entry = MigrationStep(
            system=hold.system,
            run_id=hold.run_id,
            action=action,
            step=step,
            status=STARTED,
            detail={"pid": os.getpid(), "host": socket.gethostname()},
            started_at=_now(),
        )
        session.add(entry)
        audit_log.record(
            session,
            actor=hold.actor,
            action="migration.step_started",
            object=_object(hold.system),
            before={"state": before},
            after={"state": row.state, "step": step, "action": action},
        )
        session.flush()
        return entry.id, MigrationState(before)


def end_step(
    sessions: SessionFactory,
    hold: Hold,
    entry_id: int,
    *,
    ok: bool,
    state: MigrationState,
    detail: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
    mode: str | None = None,
) -> None:
    """Close a step (done or failed) and set the state it leaves the system in."""
    with sessions() as session, session.begin():
        row = session.get(MigrationSystem, hold.system, with_for_update=True)
        entry = session.get(MigrationStep, entry_id)
        assert row is not None and entry is not None  # noqa: S101
        before = row.state
        row.state = state.value
        row.updated_at = _now()
        cloud_rate.record_move(
            session, row.department, cloud_rate.crossing(before, row.state), row.updated_at
        )
        if mode is not None:
            row.mode = mode
        if result is not None:
            row.result = result
        entry.status = DONE if ok else FAILED
        entry.finished_at = _now()
        entry.detail = {**(entry.detail or {}), **(detail or {})}
        audit_log.record(
            session,
            actor=hold.actor,
            action="migration.step_done" if ok else "migration.step_failed",
            object=_object(hold.system),
            before={"state": before},
            after={"state": state.value, "step": entry.step, **(detail or {})},
        )


def rows(session: Session) -> list[MigrationSystem]:
    """Every system with a recorded migration, by wave then name."""
    return list(
        session.execute(
            select(MigrationSystem).order_by(
                MigrationSystem.wave.is_(None), MigrationSystem.wave, MigrationSystem.system
            )
        ).scalars()
    )


def steps(session: Session, system: str) -> list[MigrationStep]:
    """A system's journal, oldest first."""
    return list(
        session.execute(
            select(MigrationStep).where(MigrationStep.system == system).order_by(MigrationStep.id)
        ).scalars()
    )
