"""The gate before a drill: the DR region is what the DR stack declares, and every target's
replication is healthy and within its tier's bound. Pure: it judges what the caller read.

- **The DR stack**: the plan of the DR stack against the live DR region (`cloud.plan`, as
  `govcloud plan --stack dr` prints it) shows no change; a drill on a drifted site proves
  nothing about the declared one.
- **Replication** (what `dr-status.yml` reports per system): the token is the policy's
  (`streaming-sync`, `streaming-async`, `backup`; `none` is broken), and the lag within the
  tier's bound: asynchronous streaming within the policy's `rpo_s`; synchronous streaming
  within `SYNC_LAG_TOLERANCE_S` (commits wait for the standby, so a longer replay lag means
  it stopped applying); backups no older than the policy's `rpo_s`. An unknown lag is not a
  healthy one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from govcloud.model import DrPolicy, Replication

# A synchronous standby applies each commit before it is acknowledged (remote_apply): what it
# still has to replay is at most the commit in flight. A second of lag means it stalled.
SYNC_LAG_TOLERANCE_S: Final = 1.0
STATUS_FIELDS: Final = ("system", "replication", "state", "lag_s", "lag_bytes", "last_backup_at")


@dataclass(frozen=True)
class ReplicationStatus:
    """One system's replication as `dr-status.yml` reports it."""

    system: str
    replication: str
    state: str
    lag_s: float | None
    lag_bytes: int | None
    last_backup_at: float | None

    @classmethod
    def from_document(cls, system: str, document: Mapping[str, Any]) -> ReplicationStatus:
        """Read the playbook's JSON; a missing or malformed document is a broken replication."""

        def number(key: str) -> float | None:
            value = document.get(key)
            return float(value) if isinstance(value, int | float) else None

        lag_bytes = document.get("lag_bytes")
        return cls(
            system=system,
            replication=str(document.get("replication") or Replication.NONE.value),
            state=str(document.get("state") or "unknown"),
            lag_s=number("lag_s"),
            lag_bytes=int(lag_bytes) if isinstance(lag_bytes, int) else None,
            last_backup_at=number("last_backup_at"),
        )

    def as_dict(self) -> dict[str, Any]:
        """The status as `dr status --json` prints it."""
        return {field: getattr(self, field) for field in STATUS_FIELDS}


def lag_bound_s(policy: DrPolicy) -> float:
    """How far behind the DR copy may be before a drill is refused."""
    if policy.replication is Replication.STREAMING_SYNC:
        return SYNC_LAG_TOLERANCE_S
    return float(policy.rpo_s)


def replication_problem(policy: DrPolicy, status: ReplicationStatus, now: float) -> str | None:
    """Why this system's replication does not let a drill go ahead, or None when it does."""
    wanted = policy.replication.value
    if status.replication != wanted:
        return (
            f"{status.system}: replication is {status.replication} ({status.state}), its "
            f"policy wants {wanted}: repair it (`dr-setup.yml`) before drilling"
        )
    bound = lag_bound_s(policy)
    if policy.replication is Replication.BACKUP:
        return _backup_problem(status, bound, now)
    if status.lag_s is None:
        return f"{status.system}: replication lag unknown ({status.state}): not healthy"
    if status.lag_s > bound:
        return (
            f"{status.system}: replication lags {status.lag_s:g} s, over the bound of "
            f"{bound:g} s for {wanted}: wait for it to catch up, or repair it"
        )
    return None


def _backup_problem(status: ReplicationStatus, bound: float, now: float) -> str | None:
    if status.last_backup_at is None:
        return f"{status.system}: no backup at the DR site yet: run `dr-backup.yml` first"
    age = now - status.last_backup_at
    if age > bound:
        return (
            f"{status.system}: the last backup is {age:.0f} s old, over the bound of "
            f"{bound:g} s (its policy's rpo_s): take a backup first"
        )
    return None


@dataclass(frozen=True)
class StackCheck:
    """The DR stack's plan against the live DR region, in counts."""

    in_sync: bool
    create: int
    update: int
    delete: int
    region: str

    def problem(self) -> str | None:
        """Why the DR region does not let a drill go ahead, or None when it does."""
        if self.in_sync:
            return None
        return (
            f"the DR region {self.region} differs from the DR stack ({self.create} to create, "
            f"{self.update} to update, {self.delete} to delete): `govcloud plan --stack dr` "
            "lists them; deploy the DR stack (or accept the change) before drilling"
        )

    def as_dict(self) -> dict[str, Any]:
        """The check as the drill's record keeps it."""
        return {
            "in_sync": self.in_sync,
            "create": self.create,
            "update": self.update,
            "delete": self.delete,
            "region": self.region,
        }
