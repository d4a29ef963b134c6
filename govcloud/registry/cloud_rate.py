"""The on-cloud rate (上云率) over time: samples kept in the registry as systems move.

`govcloud migrate plan --save` takes a baseline from the county model and the migration states
(every department's systems on the cloud, and those that may move: classified systems never
count). From then on, each migration step that brings a system onto the cloud or back off it
adds a sample for its department and the county total in the same transaction as the state
change, from the previous sample: the denominator is what the county declared when the
baseline was taken, so a department added later changes the curve only from its next baseline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govcloud.registry.migration_state import ON_CLOUD_STATES
from govcloud.registry.tables import CloudRateSample

# The county-wide row, beside one row per department (a department code is never this long).
COUNTY_TOTAL = "_county"


@dataclass(frozen=True)
class Point:
    """One department's (or the county's) rate at one moment."""

    at: dt.datetime
    on_cloud: int
    eligible: int

    @property
    def rate(self) -> float | None:
        """on_cloud / eligible, or None for a department with nothing that may move."""
        return self.on_cloud / self.eligible if self.eligible else None


def _latest(session: Session, department: str) -> CloudRateSample | None:
    return session.execute(
        select(CloudRateSample)
        .where(CloudRateSample.department == department)
        .order_by(CloudRateSample.at.desc(), CloudRateSample.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _add(session: Session, department: str, on_cloud: int, eligible: int, at: dt.datetime) -> bool:
    latest = _latest(session, department)
    if latest is not None and (latest.on_cloud, latest.total) == (on_cloud, eligible):
        return False
    session.add(CloudRateSample(at=at, department=department, on_cloud=on_cloud, total=eligible))
    return True


def record_baseline(
    session: Session, figures: Iterable[tuple[str, int, int]], at: dt.datetime
) -> int:
    """A sample for each (department, on_cloud, eligible) that differs from its latest, and
    the county total; how many were added (in the caller's transaction)."""
    rows = list(figures)
    added = sum(_add(session, code, on, eligible, at) for code, on, eligible in rows)
    total_on = sum(on for _, on, _ in rows)
    total_eligible = sum(eligible for _, _, eligible in rows)
    return added + _add(session, COUNTY_TOTAL, total_on, total_eligible, at)


def crossing(before: str, after: str) -> int:
    """+1 when a state change brings a system onto the cloud, -1 when it takes it off, else 0."""
    return int(after in ON_CLOUD_STATES) - int(before in ON_CLOUD_STATES)


def record_move(session: Session, department: str, delta: int, at: dt.datetime) -> None:
    """One system of `department` came onto the cloud (+1) or left it (-1): samples for the
    department and the county from their latest (none without a baseline)."""
    if delta == 0:
        return
    for code in (department, COUNTY_TOTAL):
        latest = _latest(session, code)
        if latest is None:
            continue
        on_cloud = min(max(latest.on_cloud + delta, 0), latest.total)
        _add(session, code, on_cloud, latest.total, at)


def history(session: Session, department: str = COUNTY_TOTAL) -> list[Point]:
    """Every sample of a department (or the county), oldest first."""
    rows = session.execute(
        select(CloudRateSample)
        .where(CloudRateSample.department == department)
        .order_by(CloudRateSample.at, CloudRateSample.id)
    ).scalars()
    return [Point(row.at, row.on_cloud, row.total) for row in rows]


def departments(session: Session) -> list[str]:
    """The departments with samples (the county's own row excluded)."""
    rows = session.execute(
        select(CloudRateSample.department)
        .where(CloudRateSample.department != COUNTY_TOTAL)
        .group_by(CloudRateSample.department)
        .order_by(func.min(CloudRateSample.at), CloudRateSample.department)
    ).scalars()
    return list(rows)
