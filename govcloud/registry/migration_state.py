"""The vocabulary of a system's migration onto the cloud (迁移上云), shared by every layer.

The lifecycle follows the states AWS Application Migration Service documents, with the source's
retirement as its last step. Which actions move a system between them is `migration.lifecycle`.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from govcloud.registry.tables import MigrationSystem


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
