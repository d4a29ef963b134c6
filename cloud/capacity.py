"""The cloud's capacity as Placement records it: per region, per resource provider, the VCPU,
MEMORY_MB and DISK_GB inventories (total, reserved, allocation ratio) and their usage.

    read(cloud, regions=None, config_file=None) -> Capacity
    by_region(capacity) -> {region: {resource class: RegionCapacity}}

Placement lets the scheduler place up to `(total - reserved) * allocation_ratio` of a class on
a provider (the Placement API reference, "Resource provider inventories"); that is what
`allocatable` computes, and what the portal's ops overview sets against the quotas handed out.
Read through openstacksdk's placement proxy: one list of providers per region, then per
provider its inventories and its usages. Every HTTP request is counted, as for the snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cloud.inventory import READ_ERRORS, Record, api_calls, connect
from govcloud.conventions import CAPACITY_CLASSES
from govcloud.errors import UnreachableError


def allocatable(total: float, reserved: float, allocation_ratio: float) -> float:
    """How much of a class Placement lets the scheduler allocate on one provider."""
    return max(total - reserved, 0) * allocation_ratio


class Inventory(Record):
    """One resource class of one resource provider, and how much of it is allocated."""

    region: str
    provider: str
    resource_class: str
    total: int
    reserved: int
    allocation_ratio: float
    used: int

    @property
    def allocatable(self) -> float:
        """(total - reserved) * allocation_ratio."""
        return allocatable(self.total, self.reserved, self.allocation_ratio)


class Capacity(Record):
    """Every provider's inventories of the capacity classes, read at one moment."""

    cloud: str
    regions: tuple[str, ...]
    taken_at: float
    seconds: float
    api_calls: int
    inventories: tuple[Inventory, ...]


@dataclass(frozen=True)
class RegionCapacity:
    """One resource class summed over a region's providers."""

    region: str
    resource_class: str
    providers: int
    total: int
    reserved: int
    allocatable: float
    used: int

    @property
    def allocation_ratio(self) -> float:
        """The region's effective ratio: allocatable over what is not reserved (each
        provider's own ratio when they share one)."""
        unreserved = self.total - self.reserved
        return self.allocatable / unreserved if unreserved > 0 else 0.0


def by_region(
    inventories: Iterable[Inventory], regions: Iterable[str], classes: Iterable[str]
) -> list[RegionCapacity]:
    """Per region and class (in the order given), the providers' inventories summed; a class
    no provider has counts as zero."""
    rows = []
    wanted = list(inventories)
    for region in regions:
        for resource_class in classes:
            found = [i for i in wanted if i.region == region and i.resource_class == resource_class]
            rows.append(
                RegionCapacity(
                    region=region,
                    resource_class=resource_class,
                    providers=len(found),
                    total=sum(i.total for i in found),
                    reserved=sum(i.reserved for i in found),
                    allocatable=sum(i.allocatable for i in found),
                    used=sum(i.used for i in found),
                )
            )
    return rows


def read(
    cloud: str,
    regions: Iterable[str] | None = None,
    config_file: str | None = None,
    classes: Iterable[str] = CAPACITY_CLASSES,
) -> Capacity:
    """Read Placement in every region given (default: every region the cloud has)."""
    started = time.monotonic()
    try:
        return _read(cloud, regions, config_file, tuple(classes), started)
    except READ_ERRORS as error:
        raise UnreachableError(f"cannot read Placement of cloud {cloud!r}: {error}") from None


def _read(
    cloud: str,
    regions: Iterable[str] | None,
    config_file: str | None,
    classes: tuple[str, ...],
    started: float,
) -> Capacity:
    connections = []
    if regions is None:
        conn = connect(cloud, config_file=config_file)
        connections.append(conn)
        identity: Any = conn.identity
        regions = sorted(r.id for r in identity.regions())
    names = tuple(regions)
    inventories: list[Inventory] = []
    for region in names:
        conn = connect(cloud, region, config_file)
        connections.append(conn)
        placement: Any = conn.placement
        for provider in placement.resource_providers():
            usages = placement.fetch_resource_provider_usages(provider).usages or {}
            for item in placement.resource_provider_inventories(provider):
                if item.resource_class not in classes:
                    continue
                inventories.append(
                    Inventory(
                        region=region,
                        provider=provider.name,
                        resource_class=item.resource_class,
                        total=item.total,
                        reserved=item.reserved or 0,
                        allocation_ratio=item.allocation_ratio,
                        used=int(usages.get(item.resource_class, 0)),
                    )
                )
    return Capacity(
        cloud=cloud,
        regions=names,
        taken_at=time.time(),
        seconds=time.monotonic() - started,
        api_calls=api_calls(connections),
        inventories=tuple(
            sorted(inventories, key=lambda i: (i.region, i.provider, i.resource_class))
        ),
    )
