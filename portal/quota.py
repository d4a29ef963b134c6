"""Quota arithmetic, pure: amounts of the five resources a department's quota limits.

A request is accepted when `used + pending + request <= quota` for every resource (the issue's
"approved usage + pending requests stay within the quota"). Quota changes are signed deltas and
may lower a quota, but never below what is already used or pending.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Self

from govcloud.model import Quota

# The resources a department quota limits, in display order (govcloud.model.Quota's fields).
RESOURCES: tuple[str, ...] = ("vcpu", "ram_gb", "storage_gb", "floating_ips", "networks")


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
        unknown = set(values) - set(RESOURCES)
        if unknown:
            raise KeyError(f"unknown resources: {sorted(unknown)}")
        return cls(**{name: int(values.get(name, 0)) for name in RESOURCES})

    @classmethod
    def from_quota(cls, quota: Quota) -> Self:
        """A county-model quota as amounts."""
        return cls(**{name: getattr(quota, name) for name in RESOURCES})

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
        return all(getattr(self, name) == 0 for name in RESOURCES)

    def is_non_negative(self) -> bool:
        """True when no resource is negative."""
        return all(getattr(self, name) >= 0 for name in RESOURCES)

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


@dataclass(frozen=True, slots=True)
class Shortfall:
    """One resource a request would overrun: what it needs and what is left."""

    resource: str
    requested: int
    available: int
    cut: bool = False  # a quota cut rather than a request

    def message(self) -> str:
        """English text for API errors; pages translate from the fields."""
        left = max(self.available, 0)
        if self.cut:
            return (
                f"{self.resource}: cannot lower the quota by {self.requested}, only {left} "
                "is neither used nor pending"
            )
        return f"{self.resource}: requested {self.requested}, only {left} left in the quota"


@dataclass(frozen=True, slots=True)
class Ledger:
    """A department's standing: its quota, what is used (approved) and pending (reserved)."""

    quota: Amounts
    used: Amounts
    pending: Amounts

    @property
    def available(self) -> Amounts:
        """What can still be requested: quota - used - pending (negative after a quota cut)."""
        return self.quota - self.used - self.pending

    def shortfalls(self, request: Amounts) -> list[Shortfall]:
        """The resources the request would take past the quota (empty when it fits)."""
        available = self.available
        return [
            Shortfall(name, getattr(request, name), getattr(available, name))
            for name in RESOURCES
            if getattr(request, name) > 0 and getattr(request, name) > getattr(available, name)
        ]

    def fits(self, request: Amounts) -> bool:
        """True when the request stays within the quota."""
        return not self.shortfalls(request)

    def quota_change_shortfalls(self, delta: Amounts) -> list[Shortfall]:
        """The resources a quota cut would take below what is used and pending."""
        after = self.quota + delta
        committed = self.used + self.pending
        return [
            Shortfall(name, -getattr(delta, name), getattr(self.available, name), cut=True)
            for name in RESOURCES
            if getattr(delta, name) < 0 and getattr(after, name) < getattr(committed, name)
        ]

    def reserve(self, request: Amounts) -> Ledger:
        """The ledger after a request is accepted (pending grows)."""
        return Ledger(self.quota, self.used, self.pending + request)

    def release(self, request: Amounts) -> Ledger:
        """The ledger after a pending request is rejected or withdrawn."""
        return Ledger(self.quota, self.used, self.pending - request)

    def commit(self, request: Amounts) -> Ledger:
        """The ledger after ops approves: the reservation becomes usage."""
        return Ledger(self.quota, self.used + request, self.pending - request)

    def free(self, request: Amounts) -> Ledger:
        """The ledger after a decommission: the usage is given back."""
        return Ledger(self.quota, self.used - request, self.pending)

    def change_quota(self, delta: Amounts) -> Ledger:
        """The ledger after an approved quota change."""
        return Ledger(self.quota + delta, self.used, self.pending)


def percent(part: int, whole: int) -> int:
    """`part` of `whole` in whole percent for quota bars, 0..100 (a zero quota full if used)."""
    if whole <= 0:
        return 100 if part > 0 else 0
    return max(0, min(100, round(100 * part / whole)))
