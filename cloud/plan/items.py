"""The common form of desired and live resources: a kind, a key that matches them, attributes.

Keys are names (and the project's name, the region), never IDs: a resource is the same
resource when it has the same name in the same place. Only attributes that both the stack
program sets and the live reader reads are compared; everything else is listed as such.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# Kinds in the order a deployment creates them (and the report lists them).
KINDS: Final = (
    "project",
    "group",
    "role_assignment",
    "limit",
    "network_quota",
    "volume_quota",
    "address_scope",
    "subnet_pool",
    "network",
    "subnet",
    "router",
    "security_group",
    "security_group_rule",
    "server",
    "volume",
)
# Quotas always exist (a project has its defaults): they are updated, never created or deleted.
ALWAYS_PRESENT: Final = frozenset({"network_quota", "volume_quota"})
# What a key's parts are, per kind (for people and JSON).
KEY_FIELDS: Final = {
    "project": ("name",),
    "group": ("name",),
    "role_assignment": ("project", "group", "role"),
    "limit": ("project", "region", "resource"),
    "network_quota": ("project", "region"),
    "volume_quota": ("project", "region"),
    "address_scope": ("region", "name"),
    "subnet_pool": ("region", "name"),
    "network": ("region", "project", "name"),
    "subnet": ("region", "project", "name"),
    "router": ("region", "project", "name"),
    "security_group": ("region", "project", "name"),
    "security_group_rule": (
        "region",
        "project",
        "group",
        "direction",
        "ethertype",
        "protocol",
        "ports",
        "remote",
    ),
    "server": ("region", "project", "name"),
    "volume": ("region", "project", "name"),
}
# Quota fields both sides know: stack input name → Neutron/Cinder name (as the reader reads).
NETWORK_QUOTA_INPUTS: Final = {
    "network": "networks",
    "subnet": "subnets",
    "port": "ports",
    "router": "routers",
    "floatingip": "floating_ips",
    "securityGroup": "security_groups",
    "securityGroupRule": "security_group_rules",
    "subnetpool": "subnet_pools",
}
VOLUME_QUOTA_INPUTS: Final = {
    "volumes": "volumes",
    "gigabytes": "gigabytes",
    "snapshots": "snapshots",
    "backups": "backups",
    "backupGigabytes": "backup_gigabytes",
}
ANY: Final = "any"
WHOLE_SPACE: Final = frozenset({"0.0.0.0/0", "::/0"})


@dataclass(frozen=True)
class Item:
    """One resource in the common form; `ref` is its URN (desired) or ID (live)."""

    kind: str
    key: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    ref: str = ""

    @property
    def label(self) -> str:
        """A readable name: the key's parts joined, empty parts left out."""
        return "/".join(part for part in self.key if part)


def rule_ports(low: Any, high: Any) -> str:
    """A rule's port range as text: `22`, `1000-2000`, or `any`."""
    if low is None:
        return ANY
    low, high = int(low), int(high if high is not None else low)
    return str(low) if low == high else f"{low}-{high}"


def rule_remote(prefix: str | None, group: str | None) -> str:
    """A rule's source or destination: a prefix, `group:<name>`, or `any`.

    0.0.0.0/0 and ::/0 are `any`, like no remote at all: Neutron treats them as the same rule.
    """
    if prefix in WHOLE_SPACE:
        return ANY
    if prefix:
        return prefix
    if group:
        return f"group:{group}"
    return ANY
