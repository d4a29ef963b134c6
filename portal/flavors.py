"""The server flavors departments can request, and what each costs in quota.

The same m1 flavors the local cloud creates (lab/localcloud/bootstrap.py FLAVORS, checked equal
by a test), without m1.tiny: its 512 MiB is not a whole GB of the ram_gb quota, and it exists
for the tests' throw-away servers.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB_PER_GB = 1024


@dataclass(frozen=True, slots=True)
class Flavor:
    """A server size: vCPUs, RAM in MiB (as Nova counts it) and root disk in GiB."""

    name: str
    vcpu: int
    ram_mib: int
    disk_gb: int

    @property
    def ram_gb(self) -> int:
        """RAM in whole GB, as the quota counts it (rounded up)."""
        return -(-self.ram_mib // MIB_PER_GB)


# Every flavor the cloud has, by name (observed usage counts all of them).
ALL: dict[str, Flavor] = {
    f.name: f
    for f in (
        Flavor("m1.tiny", 1, 512, 1),
        Flavor("m1.small", 1, 2048, 20),
        Flavor("m1.medium", 2, 4096, 40),
        Flavor("m1.large", 4, 8192, 80),
        Flavor("m1.xlarge", 8, 16384, 160),
    )
}
# What the request form offers.
REQUESTABLE: dict[str, Flavor] = {name: f for name, f in ALL.items() if name != "m1.tiny"}
