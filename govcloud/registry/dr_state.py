"""The vocabulary of DR drills (灾备演练), shared by every layer that reads or writes them.

The drill engine (`dr/`) writes drills; the CLI and the portal's auditor view read them with
`drills` and `last_drills`, since the portal does not import `dr`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from govcloud.registry.tables import DrDrill, DrDrillSystem


class DrillKind(StrEnum):
    """What a drill does (docs/dr.md): the playbook it runs and what it is measured against."""

    TEST = "test"  # an isolated copy promoted while replication continues; production untouched
    SWITCHOVER = "switchover"  # planned: the primary hands over, no acknowledged write lost
    FAILOVER = "failover"  # a fault injected, the standby promoted without the primary
    FAILBACK = "failback"  # resynchronised and returned to the primary


class DrillOutcome(StrEnum):
    """How a drill ended."""

    MET = "met"  # every system met its targets
    MISSED = "missed"  # every system ran, one or more missed a target
    FELL_BACK = "fell_back"  # a failover's validation failed; returned to the healthy primary
    STOPPED = "stopped"  # validation failed and the primary was not healthy: stopped, reported
    INTERRUPTED = "interrupted"  # the drill's process died; its stale lock was recovered


class Step(StrEnum):
    """The steps of a drill's timeline: the playbooks' events and the engine's own."""

    DECISION = "decision"  # the gate passed: the drill goes ahead (the engine's)
    PROBE_STARTED = "probe_started"
    FAULT = "fault"
    DETECTED = "detected"
    PROMOTED = "promoted"
    RESTORED = "restored"  # a backup (or a dump, for a `backup` policy) restored and renamed in
    NAME_MOVED = "name_moved"
    APP_STARTED = "app_started"
    VALIDATED = "validated"
    VALIDATION_FAILED = "validation_failed"
    RESYNCED = "resynced"
    RETURNED = "returned"
    FAULT_CLEARED = "fault_cleared"
    FALLBACK = "fallback"
    PROBE_STOPPED = "probe_stopped"


class SystemState(StrEnum):
    """Where a drill left a system."""

    PRIMARY = "primary"  # served by its primary, as before (test, failback, a fallback)
    DR_SITE = "dr_site"  # served by the promoted copy at the DR site
    STOPPED = "stopped"  # the drill stopped with the system here: see the detail
    NOT_RUN = "not_run"  # the drill ended before its turn


# What the drill engine records in the audit log (docs/dr.md); defined here, used everywhere.
ACTION_SETUP: Final = "dr.setup"  # replication set up (dr-setup.yml) with the engine's secret
ACTION_DRILL_STARTED: Final = "dr.drill-started"
ACTION_DRILL_STEP: Final = "dr.drill-step"  # the timeline's steps, as they are recorded
ACTION_DRILL_FINISHED: Final = "dr.drill-finished"
ACTION_DRILL_INTERRUPTED: Final = "dr.drill-interrupted"
ACTION_LOCK_RELEASED: Final = "dr.lock-released"
ACTION_REPORT: Final = "dr.report"
ACTION_BACKUP: Final = "dr.backup"  # a backup policy's scheduled backup (dr-backup.yml)
DRILL_OBJECT_PREFIX: Final = "dr/drill/"


def drill_object(drill_id: int) -> str:
    """The object the audit log names for a drill."""
    return f"{DRILL_OBJECT_PREFIX}{drill_id}"


def drills(session: Session, *, limit: int | None = None) -> list[DrDrill]:
    """Drills, newest first."""
    query = select(DrDrill).order_by(DrDrill.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.execute(query).scalars())


def results(session: Session, drill_id: int) -> list[DrDrillSystem]:
    """A drill's per-system results, in the order they ran."""
    return list(
        session.execute(
            select(DrDrillSystem)
            .where(DrDrillSystem.drill_id == drill_id)
            .order_by(DrDrillSystem.id)
        ).scalars()
    )


def drills_with_results(
    session: Session, *, limit: int | None = None
) -> list[tuple[DrDrill, list[DrDrillSystem]]]:
    """Drills, newest first, each with its per-system results in the order they ran: two
    queries, not one per drill."""
    listed = drills(session, limit=limit)
    found: dict[int, list[DrDrillSystem]] = {d.id: [] for d in listed}
    for result in session.execute(
        select(DrDrillSystem)
        .where(DrDrillSystem.drill_id.in_(list(found)))
        .order_by(DrDrillSystem.id)
    ).scalars():
        found[result.drill_id].append(result)
    return [(d, found[d.id]) for d in listed]


def last_drills(
    session: Session, *, met_only: bool = False
) -> dict[str, tuple[DrDrill, DrDrillSystem]]:
    """Each system's most recent finished drill and its result there (only those where it
    met its targets, with `met_only`)."""
    query = (
        select(DrDrill, DrDrillSystem)
        .join(DrDrillSystem, DrDrillSystem.drill_id == DrDrill.id)
        .where(DrDrill.finished_at.is_not(None))
        .order_by(DrDrill.id)
    )
    if met_only:
        query = query.where(DrDrillSystem.met.is_(True))
    rows = session.execute(query).all()
    return {result.system: (drill, result) for drill, result in rows}
