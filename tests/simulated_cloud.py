"""The live snapshot a faithful deployment of some items would leave (tests and benchmarks).

`snapshot_from_items(items)` is the inverse of `live.live_items`: a Snapshot whose managed
part reduces to exactly those items. Tests change it by hand (a quota, a rule, a deleted
subnet) to check the diff; the benchmark uses it as a live cloud of any size.
`holding_grants(county, grants, region)` is a cloud that holds exactly the portal's grants,
and `simulated_capacity(regions)` its Placement, for the portal's tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from cloud import inventory as inv
from cloud.capacity import Capacity, Inventory
from cloud.plan.items import ANY, Item
from desired.grants import Grants
from govcloud.conventions import (
    COMPUTE_SERVICE_TYPE,
    META_REQUEST,
    county_tags,
    project_name,
    project_tags,
    tenant_resource_name,
)
from govcloud.model import County
from modules.quotas import tenant_quotas

ADMIN_PROJECT = "admin-project-id"  # county-wide resources belong to the deployer's project
DEFAULT_DOMAIN = "default"
COMPUTE_SERVICE = "compute"


def _id(kind: str, key: tuple[str, ...]) -> str:
    return f"{kind}:{'/'.join(key)}"


def _ports(text: str) -> tuple[int | None, int | None]:
    if text == ANY:
        return None, None
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def snapshot_from_items(items: Iterable[Item], cloud: str = "simulated") -> inv.Snapshot:
    """A snapshot holding exactly these items (plus what Neutron adds: none here)."""
    by_kind: dict[str, list[Item]] = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item)
    projects = {i.key[0]: _id("project", i.key) for i in by_kind.get("project", [])}

    def project_id(name: str) -> str:
        return projects.get(name) or (ADMIN_PROJECT if not name else f"project:{name}")

    names: dict[tuple[str, str, str], str] = {}  # (kind, region, name) → id, project-blind
    for kind in ("address_scope", "subnet_pool", "network", "subnet", "security_group"):
        for item in by_kind.get(kind, []):
            names[(kind, item.key[0], item.key[-1])] = _id(kind, item.key)

    def ref(kind: str, region: str, name: Any) -> str | None:
        return names.get((kind, region, str(name))) if name else None

    records: dict[str, list[Any]] = {}
    for item in by_kind.get("project", []):
        a = item.attrs
        records.setdefault("projects", []).append(
            inv.Project(
                id=projects[item.key[0]],
                name=item.key[0],
                domain_id=DEFAULT_DOMAIN,
                description=a["description"],
                enabled=a["enabled"],
                tags=tuple(sorted(a["tags"])),
            )
        )
    groups = {i.key[0]: _id("group", i.key) for i in by_kind.get("group", [])}
    for item in by_kind.get("group", []):
        records.setdefault("groups", []).append(
            inv.Group(
                id=groups[item.key[0]],
                name=item.key[0],
                domain_id=item.attrs.get("domain", DEFAULT_DOMAIN),
                description=item.attrs["description"],
            )
        )
    for item in by_kind.get("role_assignment", []):
        project, group, role = item.key
        records.setdefault("role_assignments", []).append(
            inv.RoleAssignment(
                project_id=project_id(project),
                role=role,
                user_id=None,
                group_id=groups.get(group, f"group:{group}"),
            )
        )
    for item in by_kind.get("limit", []):
        name, region, resource = item.key
        records.setdefault("limits", []).append(
            inv.Limit(
                project_id=project_id(name),
                region=region,
                service=COMPUTE_SERVICE,
                resource_name=resource,
                resource_limit=item.attrs["resource_limit"],
            )
        )
    for kind, service in (("network_quota", "network"), ("volume_quota", "volume")):
        for item in by_kind.get(kind, []):
            records.setdefault("quotas", []).append(
                inv.Quota(
                    project_id=project_id(item.key[0]),
                    region=item.key[1],
                    service=service,
                    values=dict(item.attrs),
                )
            )
    for item in by_kind.get("address_scope", []):
        region, name = item.key
        records.setdefault("address_scopes", []).append(
            inv.AddressScope(
                id=_id("address_scope", item.key),
                region=region,
                project_id=ADMIN_PROJECT,
                name=name,
                ip_version=item.attrs["ip_version"],
                shared=item.attrs["shared"],
            )
        )
    for item in by_kind.get("subnet_pool", []):
        region, name = item.key
        a = item.attrs
        records.setdefault("subnet_pools", []).append(
            inv.SubnetPool(
                id=_id("subnet_pool", item.key),
                region=region,
                project_id=ADMIN_PROJECT,
                name=name,
                ip_version=a["ip_version"],
                prefixes=tuple(a["prefixes"]),
                default_prefixlen=a["default_prefixlen"],
                address_scope_id=ref("address_scope", region, a["address_scope"]),
                shared=a["shared"],
                is_default=False,
            )
        )
    _networking(by_kind, records, project_id, ref)
    _compute(by_kind, records, project_id)
    return inv.Snapshot(
        cloud=cloud,
        regions=tuple(sorted({i.key[0] for i in by_kind.get("network", [])})),
        taken_at=time.time(),
        seconds=0.0,
        api_calls=0,
        **{
            kind: tuple(records.get(kind, []))
            for kind in ("projects", "groups", "role_assignments", "limits", *inv.REGIONAL_KINDS)
        },
    )


def _networking(
    by_kind: dict[str, list[Item]],
    records: dict[str, list[Any]],
    project_id: Any,
    ref: Any,
) -> None:
    for item in by_kind.get("network", []):
        region, project, name = item.key
        a = item.attrs
        records.setdefault("networks", []).append(
            inv.Network(
                id=_id("network", item.key),
                region=region,
                project_id=project_id(project),
                name=name,
                external=a["external"],
                shared=a["shared"],
                provider_network_type=a.get("provider_network_type"),
                provider_physical_network=a.get("provider_physical_network"),
                provider_segmentation_id=None,
                tags=tuple(a["tags"]),
            )
        )
    for item in by_kind.get("subnet", []):
        region, project, name = item.key
        a = item.attrs
        records.setdefault("subnets", []).append(
            inv.Subnet(
                id=_id("subnet", item.key),
                region=region,
                project_id=project_id(project),
                network_id=ref("network", region, a["network"]) or "",
                name=name,
                ip_version=a["ip_version"],
                cidr=a["cidr"],
                gateway_ip=a["gateway_ip"],
                enable_dhcp=a["enable_dhcp"],
                ipv6_ra_mode=a["ipv6_ra_mode"],
                ipv6_address_mode=a["ipv6_address_mode"],
                subnet_pool_id=ref("subnet_pool", region, a["subnet_pool"]),
                tags=tuple(a["tags"]),
            )
        )
    for item in by_kind.get("router", []):
        region, project, name = item.key
        a = item.attrs
        records.setdefault("routers", []).append(
            inv.Router(
                id=_id("router", item.key),
                region=region,
                project_id=project_id(project),
                name=name,
                external_network_id=ref("network", region, a["external_network"]),
                routes=(),
                interfaces=tuple(
                    inv.RouterInterface(
                        subnet_id=ref("subnet", region, subnet) or subnet,
                        port_id=f"port:{name}:{subnet}",
                        ip_address="",
                    )
                    for subnet in a["interfaces"]
                ),
                tags=tuple(a["tags"]),
            )
        )
    rules: dict[tuple[str, str, str], list[inv.SecurityGroupRule]] = {}
    for item in by_kind.get("security_group_rule", []):
        region, project, group, direction, ethertype, protocol, ports, remote = item.key
        low, high = _ports(ports)
        remote_group = remote.removeprefix("group:") if remote.startswith("group:") else None
        rules.setdefault((region, project, group), []).append(
            inv.SecurityGroupRule(
                id=_id("security_group_rule", item.key),
                direction=direction,
                ethertype=ethertype,
                protocol=None if protocol == ANY else protocol,
                port_range_min=low,
                port_range_max=high,
                remote_ip_prefix=None if remote == ANY or remote_group else remote,
                remote_group_id=ref("security_group", region, remote_group),
            )
        )
    for item in by_kind.get("security_group", []):
        region, project, name = item.key
        records.setdefault("security_groups", []).append(
            inv.SecurityGroup(
                id=_id("security_group", item.key),
                region=region,
                project_id=project_id(project),
                name=name,
                description=item.attrs["description"],
                rules=tuple(rules.get((region, project, name), [])),
                tags=tuple(item.attrs["tags"]),
            )
        )


def _compute(
    by_kind: dict[str, list[Item]], records: dict[str, list[Any]], project_id: Any
) -> None:
    for item in by_kind.get("server", []):
        region, project, name = item.key
        a = item.attrs
        records.setdefault("servers", []).append(
            inv.Server(
                id=_id("server", item.key),
                region=region,
                project_id=project_id(project),
                name=name,
                status="ACTIVE",
                flavor=a["flavor"],
                image_id=None,
                addresses=(),
                networks=tuple(a["networks"]),
                security_groups=tuple(a["security_groups"]),
                metadata=dict(a["metadata"]),
            )
        )
    for item in by_kind.get("volume", []):
        region, project, name = item.key
        records.setdefault("volumes", []).append(
            inv.Volume(
                id=_id("volume", item.key),
                region=region,
                project_id=project_id(project),
                name=name,
                size_gb=item.attrs["size_gb"],
                status="available",
                volume_type=None,
                attached_to=tuple(
                    _id("server", (region, project, server)) for server in item.attrs["attached_to"]
                ),
            )
        )


def holding_grants(
    county: County, grants: Grants, region: str, cloud: str = "simulated"
) -> inv.Snapshot:
    """A snapshot of a cloud that holds exactly what `grants` grant, in `region`: each
    department's project (tagged as the stacks tag it), the servers, volumes and networks of
    its approved requests, and its limits and quotas as the stacks derive them. Tests whose
    requests must pass `deploy` read it; what the stacks really build is checked against the
    stacks under Pulumi mocks (test_holdings.py) and against the local cloud
    (test_portal_cloud.py)."""
    records: dict[str, list[Any]] = {}
    kinds = {d.code: d.kind.value for d in county.departments}
    levels = {d.code: county.department_level(d) for d in county.departments}
    for code, granted in grants.departments.items():
        project = f"project:{project_name(county.code, code)}"
        records.setdefault("projects", []).append(
            inv.Project(
                id=project,
                name=project_name(county.code, code),
                domain_id=DEFAULT_DOMAIN,
                description=code,
                enabled=True,
                tags=tuple(sorted(project_tags(county.code, code, kinds[code], levels[code]))),
            )
        )
        for server in granted.servers:
            name = tenant_resource_name(code, server.name)
            records.setdefault("servers", []).append(
                inv.Server(
                    id=f"server:{name}",
                    region=region,
                    project_id=project,
                    name=name,
                    status="ACTIVE",
                    flavor=server.flavor,
                    image_id=None,
                    addresses=(),
                    security_groups=(),
                    metadata={META_REQUEST: str(server.request_id)},
                )
            )
        for volume in granted.volumes:
            name = tenant_resource_name(code, volume.name)
            records.setdefault("volumes", []).append(
                inv.Volume(
                    id=f"volume:{name}",
                    region=region,
                    project_id=project,
                    name=name,
                    size_gb=volume.size_gb,
                    status="available",
                    volume_type=None,
                    attached_to=(),
                )
            )
        for network in granted.networks:
            name = tenant_resource_name(code, network.network)
            records.setdefault("networks", []).append(
                inv.Network(
                    id=f"network:{name}",
                    region=region,
                    project_id=project,
                    name=name,
                    external=False,
                    shared=False,
                    provider_network_type=None,
                    provider_physical_network=None,
                    provider_segmentation_id=None,
                    tags=tuple(county_tags(county.code)),
                )
            )
        quotas = tenant_quotas(granted.quota)
        for resource, value in quotas.compute.as_limits().items():
            records.setdefault("limits", []).append(
                inv.Limit(
                    project_id=project,
                    region=region,
                    service=COMPUTE_SERVICE_TYPE,
                    resource_name=resource,
                    resource_limit=value,
                )
            )
        for service, fields, values in (
            ("network", inv.NETWORK_QUOTA_FIELDS, quotas.network),
            ("volume", inv.VOLUME_QUOTA_FIELDS, quotas.volume),
        ):
            records.setdefault("quotas", []).append(
                inv.Quota(
                    project_id=project,
                    region=region,
                    service=service,
                    values={f: getattr(values, f) for f in fields},
                )
            )
    return inv.Snapshot(
        cloud=cloud,
        regions=(region,),
        taken_at=time.time(),
        seconds=0.0,
        api_calls=0,
        **{
            kind: tuple(records.get(kind, []))
            for kind in ("projects", "groups", "role_assignments", "limits", *inv.REGIONAL_KINDS)
        },
    )


# The simulated cloud's Placement: one compute host per region, as the local cloud has.
SIMULATED_INVENTORY = {"VCPU": (64, 4, 4.0, 10), "MEMORY_MB": (262144, 512, 1.5, 20480)}
SIMULATED_INVENTORY |= {"DISK_GB": (2000, 0, 1.0, 300)}


def simulated_capacity(regions: Iterable[str], cloud: str = "simulated") -> Capacity:
    """Placement's view of the simulated cloud: per region one provider with
    SIMULATED_INVENTORY's (total, reserved, allocation ratio, used) per class."""
    regions = tuple(regions)
    return Capacity(
        cloud=cloud,
        regions=regions,
        taken_at=time.time(),
        seconds=0.0,
        api_calls=0,
        inventories=tuple(
            Inventory(
                region=region,
                provider=f"compute-{region}",
                resource_class=rc,
                total=total,
                reserved=reserved,
                allocation_ratio=ratio,
                used=used,
            )
            for region in regions
            for rc, (total, reserved, ratio, used) in SIMULATED_INVENTORY.items()
        ),
    )
