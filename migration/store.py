"""The wave plan in the registry: read the assignments, write a plan, all through the audit log.

The planner owns the rows in state "planned": it inserts them, moves them to another wave when a
constraint forces it, and deletes them when their system no longer needs a wave. Rows past
"planned" are the lifecycle's and are never written here. Planners serialise on a lock taken
before they read (PostgreSQL: a transaction-level advisory lock; SQLite: the BEGIN IMMEDIATE
write lock), so two plans saved at once cannot interleave.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from govcloud.errors import BadInputError
from govcloud.registry import audit_log
from govcloud.registry.migration_state import MigrationState
from govcloud.registry.tables import MigrationSystem
from migration.inventory import Assignment
from migration.waves import Placement, PlacementStatus, WavePlan

# Any constant works: it names "the wave planner" among this database's advisory locks.
WAVE_PLANNER_LOCK = 0x6F76_5756  # "govWV"
PLANNED = MigrationState.PLANNED.value


@dataclass(frozen=True)
class SaveResult:
    """What saving a plan wrote."""

    added: int
    moved: int
    removed: int

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return bool(self.added or self.moved or self.removed)


def lock(session: Session) -> None:
    """Take the planner lock for the rest of the transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WAVE_PLANNER_LOCK})


def load_assignments(session: Session) -> dict[str, Assignment]:
    """Every system the registry holds, with its wave, reason and state."""
    rows = session.execute(
        select(
            MigrationSystem.system,
            MigrationSystem.department,
            MigrationSystem.wave,
            MigrationSystem.why,
            MigrationSystem.state,
        )
    )
    return {
        system: Assignment(system, department, wave, why, MigrationState(state))
        for system, department, wave, why, state in rows
    }


def _entry(placement: Placement) -> dict[str, Any]:
    return {"system": placement.system, "wave": placement.wave, "why": placement.why}


def save_plan(
    session: Session, plan: WavePlan, previous: dict[str, Assignment], *, actor: str
) -> SaveResult:
    """Write the plan's new and moved systems and drop planned rows no wave holds any more,
    with one audit entry per department, in the caller's transaction."""
    now = dt.datetime.now(dt.UTC)
    before: dict[str, list[dict[str, Any]]] = defaultdict(list)
    after: dict[str, list[dict[str, Any]]] = defaultdict(list)
    added = moved = removed = 0
    for placement in plan.placements.values():
        if placement.status is PlacementStatus.NEW:
            session.add(
                MigrationSystem(
                    system=placement.system,
                    department=placement.department,
                    wave=placement.wave,
                    why=placement.why,
                    state=PLANNED,
                    updated_at=now,
                )
            )
            added += 1
        elif placement.status is PlacementStatus.MOVED:
            result = session.execute(
                update(MigrationSystem)
                .where(MigrationSystem.system == placement.system)
                .where(MigrationSystem.state == PLANNED)
                .values(wave=placement.wave, why=placement.why, updated_at=now)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise BadInputError(
                    f"{placement.system} left state planned while the plan was made (a "
                    "migration run took it): run `govcloud migrate plan --save` again"
                )
            before[placement.department].append(
                {"system": placement.system, "wave": placement.previous_wave}
            )
            moved += 1
        else:
            continue
        after[placement.department].append(_entry(placement))
    gone = [
        found
        for ref, found in previous.items()
        if found.state is MigrationState.PLANNED and ref not in plan.placements
    ]
    for found in gone:
        session.execute(
            delete(MigrationSystem)
            .where(MigrationSystem.system == found.system)
            .where(MigrationSystem.state == PLANNED)
        )
        before[found.department].append({"system": found.system, "wave": found.wave})
        removed += 1
    session.flush()  # constraint violations surface here, before anything is audited
    for department in sorted(before.keys() | after.keys()):
        audit_log.record(
            session,
            actor=actor,
            action="migration.plan",
            object=f"department/{department}",
            before=before.get(department) or None,
            after=after.get(department) or None,
        )
    return SaveResult(added, moved, removed)
