"""What a drill measured, from the numbering client's own output: RTO, RPO, lost writes, level.

Definitions (docs/dr.md, "Measurement"):

- **RTO** (恢复时间) is the outage the client saw around the drill: from the last acknowledged
  write before the first outage that overlaps the drill's window to the first acknowledged
  write after the last one that overlaps it (a service that comes back and fails again has
  not recovered yet). The window runs from the fault (a failover) or the playbook's start
  (the other kinds) to the playbook's end. Gaps under the client's `OUTAGE_FLOOR_S` are not
  outages; with none in the window the RTO is recorded as that floor (the client's
  resolution), never as zero. A client that still failed when it stopped saw no recovery: no
  RTO, the target missed.
- **Lost writes** are the acknowledged writes the serving database lacks afterwards.
- **RPO** (恢复点) is the span those writes cover: write N was due at
  `started_at + (N - first_seq) / rate`, so it is the time from the first lost write's due time
  to the last one's, plus one write's interval; 0 when none is lost.

A test drill is measured on production: it must see no outage, no failed write and lose
nothing, while the isolated copy's time to validation is its RTO and its replication lag at
promotion its RPO.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from dr import levels
from govcloud.model import DrPolicy
from govcloud.registry.dr_state import DrillKind
from lab.workload.client import OUTAGE_FLOOR_S

# A test drill must leave production as it was: no outage the client can see.
TEST_PRODUCTION_OUTAGE_S: Final = 0.0


@dataclass(frozen=True)
class Outage:
    """A gap between acknowledgements, in the drill's clock (unix seconds)."""

    began_at: float
    seconds: float

    @property
    def ended_at(self) -> float:
        """When writes were acknowledged again."""
        return self.began_at + self.seconds


@dataclass(frozen=True)
class Measurement:
    """One system's figures in a drill, and whether they meet the policy's targets."""

    rto_s: float | None
    rpo_s: float | None
    lost_writes: int | None
    recovered: bool
    outages: tuple[Outage, ...]
    level_claimed: int
    level_met: int | None
    met: bool
    why: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """The measurement for JSON and the registry's detail."""
        return {
            "rto_s": self.rto_s,
            "rpo_s": self.rpo_s,
            "lost_writes": self.lost_writes,
            "recovered": self.recovered,
            "outages": [{"began_at": o.began_at, "seconds": o.seconds} for o in self.outages],
            "level_claimed": self.level_claimed,
            "level_met": self.level_met,
            "met": self.met,
            "why": list(self.why),
        }


def outages(tally: Mapping[str, Any]) -> tuple[Outage, ...]:
    """The client's outages on the drill's clock (the probe adds the client's `started_at`)."""
    started = float(tally["started_at"])
    return tuple(
        Outage(round(started + float(o["began_s"]), 3), float(o["seconds"]))
        for o in tally.get("outages", [])
    )


def still_failing(tally: Mapping[str, Any]) -> bool:
    """Whether the client stopped with writes it could not get acknowledged."""
    return bool(tally.get("unacknowledged"))


def rto(tally: Mapping[str, Any], window: tuple[float, float]) -> tuple[float | None, bool]:
    """The outage covering the window (see the module docstring) and whether it ended."""
    if still_failing(tally):
        return None, False
    start, end = window
    covering = [o for o in outages(tally) if o.began_at <= end and o.ended_at >= start]
    if not covering:
        return OUTAGE_FLOOR_S, True
    return round(covering[-1].ended_at - covering[0].began_at, 3), True


def acknowledged(tally: Mapping[str, Any]) -> set[int]:
    """The numbers the client had acknowledged."""
    first, last = int(tally["first_seq"]), int(tally["last_seq"])
    return set(range(first, last + 1)) - {int(n) for n in tally.get("unacknowledged", [])}


def rpo(tally: Mapping[str, Any], lost: Sequence[int]) -> float:
    """The span of time the lost writes cover (see the module docstring)."""
    if not lost:
        return 0.0
    rate = float(tally["rate"])
    return round((max(lost) - min(lost) + 1) / rate, 3)


def measure(
    kind: DrillKind,
    policy: DrPolicy,
    tally: Mapping[str, Any],
    lost: Sequence[int] | None,
    window: tuple[float, float],
    *,
    validation: Mapping[str, Any] | None = None,
    copy_ready_s: float | None = None,
) -> Measurement:
    """The figures of one system's drill and the verdict against its policy.

    `lost` is what the serving database lacks of the acknowledged writes (None when it could
    not be read); `validation` is the playbook's; `copy_ready_s` (test drills) the time the
    isolated copy took to be validated."""
    claimed = levels.claimed(policy).number
    seen = outages(tally)
    why: list[str] = []
    outage_s, recovered = rto(tally, window)
    lost_writes = None if lost is None else len(lost)
    if kind is DrillKind.TEST:
        # Production is measured for harm; the copy for its recovery.
        production_hurt = (
            not recovered
            or any(o.began_at <= window[1] and o.ended_at >= window[0] for o in seen)
            or bool(lost)
            or int(tally.get("failed_attempts") or 0) > 0
        )
        if production_hurt:
            why.append(
                "the test drill disturbed production (an outage, a failed write or a lost one)"
            )
        rto_s = copy_ready_s
        lag = (validation or {}).get("lag_s")
        rpo_s = float(lag) if isinstance(lag, int | float) else None
    else:
        rto_s = outage_s
        rpo_s = None if lost is None else rpo(tally, lost)
        if not recovered:
            why.append("the service had not recovered when the client stopped")
    if lost is None:
        why.append("the serving database could not be read: lost writes unknown")
    if validation is not None and not validation.get("ok", False):
        why.append("the playbook's validation failed")
    if rto_s is not None and rto_s > policy.rto_s:
        why.append(f"RTO {rto_s:g} s over the target {policy.rto_s:g} s")
    if rpo_s is not None and rpo_s > policy.rpo_s:
        why.append(f"RPO {rpo_s:g} s over the target {policy.rpo_s:g} s")
    if kind in (DrillKind.SWITCHOVER, DrillKind.FAILBACK) and lost:
        why.append(f"a planned {kind.value} lost {len(lost)} acknowledged writes")
    if kind is DrillKind.TEST and rto_s is None:
        why.append("the isolated copy was never validated")
    reached = levels.met(policy, rpo_s, rto_s) if rpo_s is not None and rto_s is not None else None
    return Measurement(
        rto_s=rto_s,
        rpo_s=rpo_s,
        lost_writes=lost_writes,
        recovered=recovered,
        outages=seen,
        level_claimed=claimed,
        level_met=None if reached is None else reached.number,
        met=not why,
        why=tuple(why),
    )


def copy_ready(events: Sequence[Mapping[str, Any]], started_at: float) -> float | None:
    """Seconds from the playbook's start to its `validated` event (None without one)."""
    times = [float(e["at"]) for e in events if e.get("step") == "validated"]
    return round(min(times) - started_at, 3) if times else None
