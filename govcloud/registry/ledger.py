"""The portal's quota ledger as stored (table `portal_ledger`), read in quota amounts.

The portal keeps the ledger (portal/service.py); the audit reads what it granted to compare
with the live cloud. Both read a row's parts through here.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from govcloud.quota import QUOTA_RESOURCES, Amounts
from govcloud.registry.tables import PortalLedger

# extra: approved quota changes; used: what approved requests hold; pending: what submitted
# requests reserve.
Part = Literal["extra", "used", "pending"]


def ledger_part(row: PortalLedger, part: Part) -> Amounts:
    """One part of a department's ledger row."""
    return Amounts.of({name: getattr(row, f"{part}_{name}") for name in QUOTA_RESOURCES})


def used_by_department(session: Session) -> dict[str, Amounts]:
    """What approved requests hold, per department that has a ledger row (as committed)."""
    rows = session.execute(select(PortalLedger).order_by(PortalLedger.department)).scalars()
    return {row.department: ledger_part(row, "used") for row in rows}
