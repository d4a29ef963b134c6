"""Quota arithmetic, pure: amounts of the resources a department's quota limits.

`Amounts` holds one figure per field of `govcloud.model.Quota` (the fields are the resources,
in display order: `QUOTA_RESOURCES`); unlike a quota, amounts may be negative, as quota-change
deltas are. The portal's ledger and the desired state's quotas both count in them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Final, Self

from govcloud.model import Quota

# The resources a department quota limits, in display order: the county model's quota fields.
QUOTA_RESOURCES: Final = tuple(Quota.model_fields)


@dataclass(frozen=True, slots=True)
class Amounts:
    """An amount of each resource; negative values appear only in quota-change deltas."""

    vcpu: int = 0
    ram_gb: int = 0
    storage_gb: int = 0
    floating_ips: int = 0
    networks: int = 0

    @classmethod
    def of(cls, values: Mapping[str, int]) -> Self:
        """From a mapping with some or all resource names (unknown names are a bug)."""
        unknown = set(values) - set(QUOTA_RESOURCES)
        if unknown:
            raise KeyError(f"unknown resources: {sorted(unknown)}")
        return cls(**{name: int(values.get(name, 0)) for name in QUOTA_RESOURCES})

    @classmethod
    def from_quota(cls, quota: Quota) -> Self:
        """A county-model quota as amounts."""
        return cls(**{name: getattr(quota, name) for name in QUOTA_RESOURCES})

    def as_dict(self) -> dict[str, int]:
        """Every resource by name, in display order."""
        return asdict(self)

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __sub__(self, other: Amounts) -> Amounts:
        return Amounts(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    def __neg__(self) -> Amounts:
        return Amounts(*(-getattr(self, f.name) for f in fields(self)))

    def is_zero(self) -> bool:
        """True when every resource is zero."""
        return all(getattr(self, name) == 0 for name in QUOTA_RESOURCES)

    def is_non_negative(self) -> bool:
        """True when no resource is negative."""
        return all(getattr(self, name) >= 0 for name in QUOTA_RESOURCES)

    def positive(self) -> Amounts:
        """Each resource clamped at zero from below."""
        return Amounts(*(max(getattr(self, f.name), 0) for f in fields(self)))


ZERO = Amounts()


def total(amounts: Iterable[Amounts]) -> Amounts:
    """The sum of many amounts."""
    result = ZERO
    for amount in amounts:
        result = result + amount
    return result
