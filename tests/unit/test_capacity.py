"""Placement's capacity arithmetic: allocatable = (total - reserved) * allocation_ratio."""

from __future__ import annotations

import pytest

from cloud.capacity import Inventory, allocatable, by_region


def inventory(
    region: str, provider: str, rc: str, *, total: int, reserved: int, ratio: float
) -> Inventory:
    return Inventory(
        region=region,
        provider=provider,
        resource_class=rc,
        total=total,
        reserved=reserved,
        allocation_ratio=ratio,
        used=total // 10,
    )


@pytest.mark.parametrize(
    ("total", "reserved", "ratio", "expected"),
    [
        (1000, 0, 4.0, 4000.0),  # the local cloud's VCPU: 16:1 is Nova's old default, 4:1 ours
        (800000, 512, 1.0, 799488.0),  # MEMORY_MB: the host keeps 512 MB
        (64, 4, 1.5, 90.0),
        (10, 10, 16.0, 0.0),  # all reserved: nothing to place
        (10, 12, 2.0, 0.0),  # reserved beyond the total (a misconfigured host) is not negative
    ],
)
def test_allocatable_is_unreserved_times_the_ratio(
    total: int, reserved: int, ratio: float, expected: float
) -> None:
    assert allocatable(total, reserved, ratio) == expected
    assert (
        inventory("R", "p", "VCPU", total=total, reserved=reserved, ratio=ratio).allocatable
        == expected
    )


def test_a_region_sums_its_providers_and_reports_the_effective_ratio() -> None:
    rows = by_region(
        [
            inventory("RegionOne", "a", "VCPU", total=32, reserved=2, ratio=4.0),  # 120
            inventory("RegionOne", "b", "VCPU", total=16, reserved=0, ratio=2.0),  # 32
            inventory("RegionOne", "a", "DISK_GB", total=500, reserved=0, ratio=1.0),
            inventory("RegionTwo", "c", "VCPU", total=8, reserved=0, ratio=4.0),
        ],
        ["RegionOne", "RegionTwo"],
        ["VCPU", "MEMORY_MB"],
    )
    by_key = {(r.region, r.resource_class): r for r in rows}
    assert list(by_key) == [
        ("RegionOne", "VCPU"),
        ("RegionOne", "MEMORY_MB"),
        ("RegionTwo", "VCPU"),
        ("RegionTwo", "MEMORY_MB"),
    ]
    one = by_key[("RegionOne", "VCPU")]
    assert (one.providers, one.total, one.reserved, one.allocatable) == (2, 48, 2, 152.0)
    assert one.allocation_ratio == pytest.approx(152 / 46)
    assert one.used == 3 + 1
    two = by_key[("RegionTwo", "VCPU")]
    assert (two.allocatable, two.allocation_ratio) == (32.0, 4.0)
    # A class no provider offers is zero, not missing (DISK_GB was not asked for).
    empty = by_key[("RegionOne", "MEMORY_MB")]
    assert (empty.providers, empty.allocatable, empty.allocation_ratio) == (0, 0.0, 0.0)
