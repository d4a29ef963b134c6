"""What every audit check returns: findings with their evidence, never an exception.

A finding's id is stable: it is derived from what and where (kind, resource, attribute), not
from the values or the time, so the same drift found tomorrow carries the same id and an
accepted one (a suppression) keeps matching it until it expires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from govcloud import constants
from govcloud.registry.audit_log import sm3_hex

# Finding ids: a prefix per part of the audit and 12 hex digits of SM3 (48 bits: no clash among
# the few thousand resources of a county).
ID_DIGITS: Final = 12


class Severity(StrEnum):
    """How much a finding matters: high touches a security control, low only bookkeeping."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class FindingKind(StrEnum):
    """What kind of difference a drift finding is."""

    CHANGED = "changed"  # declared and present, one attribute differs
    MISSING = "missing"  # declared, not in the live cloud
    UNMANAGED = "unmanaged"  # in the county's projects or tagged as its own, declared nowhere


def finding_id(prefix: str, *parts: str) -> str:
    """`<prefix>-<12 hex digits>`: the same parts give the same id on every run."""
    return f"{prefix}-{sm3_hex(chr(31).join(parts))[:ID_DIGITS]}"


@dataclass(frozen=True)
class Finding:
    """One difference between what was approved and what runs, with what it rests on."""

    id: str
    severity: Severity
    kind: FindingKind
    resource: str
    attribute: str | None
    desired: Any
    live: Any
    evidence: dict[str, Any]
    control: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The issue's JSON fields, in their order, and the control it touches."""
        return {
            "id": self.id,
            "severity": self.severity.value,
            "kind": self.kind.value,
            "resource": self.resource,
            "attribute": self.attribute,
            "desired": self.desired,
            "live": self.live,
            "evidence": self.evidence,
            "control": self.control,
        }


@dataclass
class DriftReport:
    """The findings of one drift run, what was accepted, coverage and what was not checked."""

    findings: list[Finding] = field(default_factory=list)
    suppressed: list[dict[str, Any]] = field(default_factory=list)
    coverage: dict[str, dict[str, Any]] = field(default_factory=dict)
    unchecked: list[dict[str, str]] = field(default_factory=list)
    unreachable: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    # The desired side: its digest, and whether it was reused (`cloud.plan.desired_cache`).
    desired: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """3 when a part could not be read (nothing is called clean), 1 on findings, else 0."""
        if self.unreachable:
            return constants.EXIT_UNREACHABLE
        return constants.EXIT_FINDINGS if self.findings else constants.EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        """The report for machines (`govcloud audit drift --json`)."""
        return {
            "findings": [f.as_dict() for f in self.findings],
            "coverage": self.coverage,
            "unchecked": self.unchecked,
            "suppressed": self.suppressed,
            "clean": not self.findings and not self.unreachable,
            "seconds": self.seconds,
            "desired": self.desired,
        }
