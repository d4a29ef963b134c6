"""The plan for review (YAML, CSV) and as NetBox bulk-import CSV for teams that run NetBox."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from ruamel.yaml import YAML

from govcloud.model import County
from network.plan import Allocation, AllocationKind

PLAN_FIELDS = ("department", "network", "family", "kind", "prefix", "parent", "inside")
# NetBox's prefix import columns (Prefix bulk import: IPAM > Prefixes > Import).
NETBOX_FIELDS = ("prefix", "vrf", "tenant", "status", "role", "is_pool", "description")
NETBOX_VRF = "extranet"
# Planned prefixes are reserved until the merge runs; containers hold other prefixes.
NETBOX_STATUS = {AllocationKind.BLOCK: "container"}
NETBOX_DEFAULT_STATUS = "reserved"


def to_yaml(county: County, allocations: Iterable[Allocation]) -> str:
    """The plan as a YAML document, one mapping per allocation."""
    document = {
        "county": county.code,
        "name": county.name,
        "allocations": [a.as_dict() for a in allocations],
    }
    buffer = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.dump(document, buffer)
    return "---\n" + buffer.getvalue()


def to_csv(allocations: Iterable[Allocation]) -> str:
    """The plan as CSV with a header row."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=PLAN_FIELDS, lineterminator="\n")
    writer.writeheader()
    for allocation in allocations:
        writer.writerow({k: ("" if v is None else v) for k, v in allocation.as_dict().items()})
    return buffer.getvalue()


def to_netbox(county: County, allocations: Iterable[Allocation]) -> str:
    """NetBox prefix bulk-import CSV: pools, blocks and every planned prefix, with tenants."""
    names = {d.code: d.name for d in county.departments}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=NETBOX_FIELDS, lineterminator="\n")
    writer.writeheader()
    for pool in county.extranet.ipv4_pools:
        writer.writerow(
            {
                "prefix": pool,
                "vrf": NETBOX_VRF,
                "tenant": "",
                "status": "container",
                "role": "",
                "is_pool": "false",
                "description": f"{county.name} extranet IPv4 pool",
            }
        )
    writer.writerow(
        {
            "prefix": county.extranet.ipv6_prefix,
            "vrf": NETBOX_VRF,
            "tenant": "",
            "status": "container",
            "role": "",
            "is_pool": "false",
            "description": f"{county.name} extranet IPv6 prefix",
        }
    )
    for allocation in allocations:
        writer.writerow(
            {
                "prefix": allocation.prefix,
                "vrf": NETBOX_VRF,
                "tenant": names.get(allocation.department, ""),
                "status": NETBOX_STATUS.get(allocation.kind, NETBOX_DEFAULT_STATUS),
                "role": allocation.kind.value,
                "is_pool": "false",
                "description": _description(allocation),
            }
        )
    return buffer.getvalue()


def _description(allocation: Allocation) -> str:
    owner = allocation.department or "county"
    text = f"{owner} {allocation.network} ({allocation.kind.value})"
    if allocation.kind is AllocationKind.NAT:
        text += f": 1:1 NAT of legacy {allocation.inside}"
    return text
