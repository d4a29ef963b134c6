"""The vocabulary of a system's migration onto the cloud (迁移上云), shared by every layer.

The lifecycle follows the states AWS Application Migration Service documents, with the source's
retirement as its last step. Which actions move a system between them is `migration.lifecycle`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from govcloud.registry.tables import MigrationStep, MigrationSystem


class MigrationState(StrEnum):
    """Where a system is on its way to the cloud."""

    PLANNED = "planned"
    REPLICATING = "replicating"
    READY_FOR_TEST = "ready_for_test"
    TEST_LAUNCHED = "test_launched"
    READY_FOR_CUTOVER = "ready_for_cutover"
    CUT_OVER = "cut_over"
    VALIDATED = "validated"
    FINALIZED = "finalized"


class MigrationMode(StrEnum):
    """Warm: replicate while the source serves, cut over in seconds. Cold: stop, dump, restore."""

    WARM = "warm"
    COLD = "cold"


# A system counts as on the cloud (上云率) once the cloud serves it, even before the source's
# retirement: the rollback window does not make it a legacy system again.
ON_CLOUD_STATES = frozenset(
    {MigrationState.CUT_OVER, MigrationState.VALIDATED, MigrationState.FINALIZED}
)


def on_cloud(session: Session) -> frozenset[str]:
    """Systems (`dept/system`) the migration registry shows served by the cloud now."""
    states = [state.value for state in ON_CLOUD_STATES]
    rows = session.execute(select(MigrationSystem.system).where(MigrationSystem.state.in_(states)))
    return frozenset(rows.scalars())


@dataclass(frozen=True)
class WaveProgress:
    """A wave in the registry: its systems, how many the cloud serves, and when runs on its
    systems began and last ended (None before any ran)."""

    wave: int
    systems: int
    on_cloud: int
    began: dt.datetime | None
    ended: dt.datetime | None


def waves(session: Session) -> list[WaveProgress]:
    """Every planned wave's progress, in wave order."""
    on = [state.value for state in ON_CLOUD_STATES]
    counts = session.execute(
        select(
            MigrationSystem.wave,
            func.count(),
            func.sum(case((MigrationSystem.state.in_(on), 1), else_=0)),
        )
        .where(MigrationSystem.wave.is_not(None))
        .group_by(MigrationSystem.wave)
        .order_by(MigrationSystem.wave)
    ).all()
    times = {
        wave: (began, ended)
        for wave, began, ended in session.execute(
            select(
                MigrationSystem.wave,
                func.min(MigrationStep.started_at),
                func.max(func.coalesce(MigrationStep.finished_at, MigrationStep.started_at)),
            )
            .join(MigrationStep, MigrationStep.system == MigrationSystem.system)
            .where(MigrationSystem.wave.is_not(None))
            .group_by(MigrationSystem.wave)
        ).all()
    }
    return [
        WaveProgress(wave, systems, int(on_cloud or 0), *times.get(wave, (None, None)))
        for wave, systems, on_cloud in counts
    ]


def systems(session: Session, department: str | None = None) -> list[MigrationSystem]:
    """The systems with a recorded migration (one department's, or all), by wave and name."""
    query = select(MigrationSystem).order_by(
        MigrationSystem.wave.is_(None), MigrationSystem.wave, MigrationSystem.system
    )
    if department is not None:
        query = query.where(MigrationSystem.department == department)
    return list(session.execute(query).scalars())
