"""The quota ledger, pure: what a department has used and reserved against its quota.

A request is accepted when `used + pending + request <= quota` for every resource (the issue's
"approved usage + pending requests stay within the quota"). Quota changes are signed deltas and
may lower a quota, but never below what is already used or pending.
"""

from __future__ import annotations

from dataclasses import dataclass

from govcloud.quota import QUOTA_RESOURCES, Amounts


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
            for name in QUOTA_RESOURCES
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
            for name in QUOTA_RESOURCES
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
