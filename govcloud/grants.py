"""What each department has been granted on the cloud: the interface the stacks read.

The resource-request portal (in progress in parallel) turns approved requests into grants in
the registry. Until it lands, grants come from the county model: every non-classified system
that is on the cloud (`location: cloud`) is granted one server and one data volume, sized by
its tier and its data. The portal replaces `read_grants`'s source, keeping its signature:

    read_grants(county: County, session: Session | None = None) -> tuple[ServerGrant, ...]

`session` is an open registry session (None: the county model only). The result is sorted by
(department, system) and holds at most one grant per system.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from sqlalchemy.orm import Session

from govcloud.model import County, Location, Tier

# Flavors by tier (the classic m1 flavors every OpenStack and the local cloud have).
FLAVOR_BY_TIER: Final = {
    Tier.CORE: "m1.large",
    Tier.IMPORTANT: "m1.medium",
    Tier.GENERAL: "m1.small",
}
# The platform image (lab/localcloud/bootstrap.py IMAGE_NAME); production sets its own.
DEFAULT_IMAGE: Final = "govcloud-tiny"
# Cinder sizes are whole GiB; a system with no data still gets a minimal volume.
MIN_VOLUME_GB: Final = 1


@dataclass(frozen=True)
class ServerGrant:
    """One system's granted server and data volume in its department's tenant."""

    department: str
    system: str
    tier: Tier
    flavor: str
    image: str
    volume_gb: int
    network: str | None  # the planned network it joins (the department's first), if any


def grants_from_model(county: County) -> tuple[ServerGrant, ...]:
    """One grant per non-classified system on the cloud, from the county model."""
    grants: list[ServerGrant] = []
    for department in sorted(county.departments, key=lambda d: d.code):
        network = department.legacy_networks[0].name if department.legacy_networks else None
        for system in sorted(department.systems, key=lambda s: s.code):
            if system.location is not Location.CLOUD or system.classified:
                continue
            grants.append(
                ServerGrant(
                    department=department.code,
                    system=system.code,
                    tier=system.tier,
                    flavor=FLAVOR_BY_TIER[system.tier],
                    image=DEFAULT_IMAGE,
                    volume_gb=max(MIN_VOLUME_GB, math.ceil(system.data_gb)),
                    network=network,
                )
            )
    return tuple(grants)


def read_grants(county: County, session: Session | None = None) -> tuple[ServerGrant, ...]:
    """The grants the stacks deploy (see the module docstring for the contract)."""
    del session  # the registry has no grants table yet: the portal adds it
    return grants_from_model(county)
