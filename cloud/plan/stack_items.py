"""Reduce a mock run of the stack program to items (see `items`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloud.plan.items import (
    ANY,
    NETWORK_QUOTA_INPUTS,
    VOLUME_QUOTA_INPUTS,
    Item,
    rule_ports,
    rule_remote,
)
from govcloud.conventions import OpenStackType
from stacks.mockrun import DesiredResource, StackRun, mock_role_name

# The deployer's own role in a tenant: its user ID is known only when the stack runs for real.
USER_ROLE_ASSIGNMENT = f"{OpenStackType.ROLE_ASSIGNMENT} (user)"
FOLDED = frozenset(
    {OpenStackType.INTERFACE, OpenStackType.ATTACH}
)  # joins, compared as their parent's attribute


def _int(value: Any) -> int:
    return int(value)


def _sorted(values: Iterable[Any] | None) -> list[str]:
    return sorted(str(v) for v in values or ())


@dataclass
class _Reducer:
    """Collects items while resolving mocked IDs back to physical names."""

    by_id: Mapping[str, DesiredResource]
    items: list[Item] = field(default_factory=list)
    not_compared: dict[str, int] = field(default_factory=dict)

    def name_of(self, resource_id: Any) -> str:
        """The physical name behind a mocked ID ("" when it is not ours)."""
        found = self.by_id.get(str(resource_id)) if resource_id else None
        return str(found.inputs.get("name", "")) if found else ""

    def project_of(self, resource: DesiredResource) -> str:
        """The project a resource lives in: its tenant input, else its provider's tenant."""
        tenant = resource.inputs.get("tenantId") or resource.inputs.get("projectId")
        if tenant is None and resource.provider_id:
            provider = self.by_id.get(resource.provider_id)
            tenant = provider.inputs.get("tenantId") if provider else None
        return self.name_of(tenant)

    def add(
        self, kind: str, key: tuple[str, ...], attrs: dict[str, Any], r: DesiredResource
    ) -> None:
        self.items.append(Item(kind, key, attrs, r.urn))

    def skip(self, what: str) -> None:
        """Count a resource the plan cannot compare (listed as such in the report)."""
        self.not_compared[what] = self.not_compared.get(what, 0) + 1


def desired_items(
    run: StackRun, references: Iterable[StackRun] = ()
) -> tuple[list[Item], dict[str, int]]:
    """Items of a run, and how many resources of each type have no live counterpart to read.

    `references` are runs whose resources this one refers to through a StackReference (the
    primary run, for the DR stack), so their IDs resolve to names.
    """
    by_id: dict[str, DesiredResource] = {}
    for other in references:
        by_id.update(other.by_id())
    by_id.update(run.by_id())
    reducer = _Reducer(by_id)
    joins: dict[str, list[str]] = {}  # router ID → subnet names, volume ID → server names
    for resource in run.resources:
        if resource.type == OpenStackType.INTERFACE:
            router = str(resource.inputs["routerId"])
            joins.setdefault(router, []).append(reducer.name_of(resource.inputs["subnetId"]))
        elif resource.type == OpenStackType.ATTACH:
            volume = str(resource.inputs["volumeId"])
            joins.setdefault(volume, []).append(reducer.name_of(resource.inputs["instanceId"]))
    for resource in run.cloud_resources():
        _reduce(reducer, resource, joins)
    return reducer.items, reducer.not_compared


@dataclass(frozen=True)
class _Context:
    """What every per-type reducer needs besides the resource."""

    region: str
    name: str
    project: str
    joins: Mapping[str, list[str]]


def _project(reducer: _Reducer, r: DesiredResource, ctx: _Context) -> None:
    inputs, name = r.inputs, ctx.name
    reducer.add(
        "project",
        (name,),
        {
            "description": inputs.get("description", ""),
            "enabled": bool(inputs.get("enabled", True)),
            "tags": _sorted(inputs.get("tags")),
        },
        r,
    )


def _group(reducer: _Reducer, r: DesiredResource, ctx: _Context) -> None:
    inputs = r.inputs
    attrs: dict[str, Any] = {"description": inputs.get("description", "")}
    if inputs.get("domainId"):  # unset: the deployer's domain, whatever its ID
        attrs["domain"] = str(inputs["domainId"])
    reducer.add("group", (ctx.name,), attrs, r)


def _role_assignment(reducer: _Reducer, r: DesiredResource, ctx: _Context) -> None:
    inputs = r.inputs
    if not inputs.get("groupId"):
        reducer.skip(USER_ROLE_ASSIGNMENT)
        return
    reducer.add(
        "role_assignment",
        (ctx.project, reducer.name_of(inputs["groupId"]), mock_role_name(inputs["roleId"])),
        {},
        r,
    )


def _limit(reducer: _Reducer, r: DesiredResource, ctx: _Context) -> None:
    inputs, region, project = r.inputs, ctx.region, ctx.project
    reducer.add(
        "limit",
        (project, region, str(inputs["resourceName"])),
        {"resource_limit": _int(inputs["resourceLimit"])},
        r,
    )


def _quota(reducer: _Reducer, r: DesiredResource, ctx: _Context) -> None:
    inputs, region, project = r.inputs, ctx.region, ctx.project
    fields = NETWORK_QUOTA_INPUTS if r.type == OpenStackType.NET_QUOTA else VOLUME_QUOTA_INPUTS
    kind = "network_quota" if r.type == OpenStackType.NET_QUOTA else "volume_quota"
    reducer.add(
        kind,
        (project, region),
        {live: _int(inputs[given]) for given, live in fields.items() if given in inputs},
        r,
    )


def _scope(reducer: _Reducer, r: DesiredResource, ctx: _Context) -> None:
    inputs, region, name = r.inputs, ctx.region, ctx.name
    reducer.add(
        "address_scope",
        (region, name),
        {"ip_version": _int(inputs["ipVersion"]), "shared": bool(inputs.get("shared"))},
        r,
    )


def _pool(reducer: _Reducer, r: DesiredResource, ctx: _Context) -> None:
    inputs, region, name = r.inputs, ctx.region, ctx.name
    reducer.add(
        "subnet_pool",
        (region, name),
        {
            "ip_version": _int(inputs["ipVersion"]),
            "prefixes": _sorted(inputs.get("prefixes")),
            "default_prefixlen": _int(inputs["defaultPrefixlen"]),
            "address_scope": reducer.name_of(inputs.get("addressScopeId")),
            "shared": bool(inputs.get("shared")),
        },
        r,
    )


def _network(reducer: _Reducer, r: DesiredResource, ctx: _Context) -> None:
    inputs, region, name, project = r.inputs, ctx.region, ctx.name, ctx.project
    attrs: dict[str, Any] = {
        "external": bool(inputs.get("external", False)),
        "shared": bool(inputs.get("shared", False)),
        "tags": _sorted(inputs.get("tags")),
    }
    for segment in inputs.get("segments") or ():
        attrs["provider_network_type"] = segment.get("networkType")
        attrs["provider_physical_network"] = segment.get("physicalNetwork")
    reducer.add("network", (region, project, name), attrs, r)


def _subnet(reducer: _Reducer, r: DesiredResource, ctx: _Context) -> None:
    inputs, region, name, project = r.inputs, ctx.region, ctx.name, ctx.project
    reducer.add(
        "subnet",
        (region, project, name),
        {
            "network": reducer.name_of(inputs["networkId"]),
            "ip_version": _int(inputs["ipVersion"]),
            "cidr": inputs["cidr"],
            "gateway_ip": inputs.get("gatewayIp"),
            "enable_dhcp": bool(inputs.get("enableDhcp", True)),
            "ipv6_ra_mode": inputs.get("ipv6RaMode"),
            "ipv6_address_mode": inputs.get("ipv6AddressMode"),
            "subnet_pool": reducer.name_of(inputs.get("subnetpoolId")) or None,
            "tags": _sorted(inputs.get("tags")),
        },
        r,
    )


def _router(reducer: _Reducer, r: DesiredResource, ctx: _Context) -> None:
    inputs, region, name, project = r.inputs, ctx.region, ctx.name, ctx.project
    reducer.add(
        "router",
        (region, project, name),
        {
            "external_network": reducer.name_of(inputs.get("externalNetworkId")) or None,
            "interfaces": sorted(ctx.joins.get(r.id, [])),
            "tags": _sorted(inputs.get("tags")),
        },
        r,
    )


def _secgroup(reducer: _Reducer, r: DesiredResource, ctx: _Context) -> None:
    inputs, region, name, project = r.inputs, ctx.region, ctx.name, ctx.project
    reducer.add(
        "security_group",
        (region, project, name),
        {"description": inputs.get("description", ""), "tags": _sorted(inputs.get("tags"))},
        r,
    )


def _rule(reducer: _Reducer, r: DesiredResource, ctx: _Context) -> None:
    inputs, region, project = r.inputs, ctx.region, ctx.project
    reducer.add(
        "security_group_rule",
        (
            region,
            project,
            reducer.name_of(inputs["securityGroupId"]),
            str(inputs["direction"]),
            str(inputs["ethertype"]),
            str(inputs.get("protocol") or ANY),
            rule_ports(inputs.get("portRangeMin"), inputs.get("portRangeMax")),
            rule_remote(inputs.get("remoteIpPrefix"), reducer.name_of(inputs.get("remoteGroupId"))),
        ),
        {},
        r,
    )


def _server(reducer: _Reducer, r: DesiredResource, ctx: _Context) -> None:
    inputs, region, name, project = r.inputs, ctx.region, ctx.name, ctx.project
    reducer.add(
        "server",
        (region, project, name),
        {
            "flavor": inputs.get("flavorName"),
            "networks": sorted(
                reducer.name_of(n.get("uuid")) for n in inputs.get("networks") or []
            ),
            "security_groups": _sorted(inputs.get("securityGroups")),
            "metadata": dict(inputs.get("metadata") or {}),
        },
        r,
    )


def _volume(reducer: _Reducer, r: DesiredResource, ctx: _Context) -> None:
    inputs, region, name, project = r.inputs, ctx.region, ctx.name, ctx.project
    reducer.add(
        "volume",
        (region, project, name),
        {"size_gb": _int(inputs["size"]), "attached_to": sorted(ctx.joins.get(r.id, []))},
        r,
    )


_REDUCERS: dict[str, Callable[[_Reducer, DesiredResource, _Context], None]] = {
    OpenStackType.PROJECT: _project,
    OpenStackType.GROUP: _group,
    OpenStackType.ROLE_ASSIGNMENT: _role_assignment,
    OpenStackType.LIMIT: _limit,
    OpenStackType.NET_QUOTA: _quota,
    OpenStackType.VOL_QUOTA: _quota,
    OpenStackType.SCOPE: _scope,
    OpenStackType.POOL: _pool,
    OpenStackType.NETWORK: _network,
    OpenStackType.SUBNET: _subnet,
    OpenStackType.ROUTER: _router,
    OpenStackType.SECGROUP: _secgroup,
    OpenStackType.RULE: _rule,
    OpenStackType.SERVER: _server,
    OpenStackType.VOLUME: _volume,
}


def _reduce(reducer: _Reducer, r: DesiredResource, joins: Mapping[str, list[str]]) -> None:
    if r.type in FOLDED:
        return  # compared as the router's interfaces and the volume's attachments
    reduce = _REDUCERS.get(r.type)
    if reduce is None:
        reducer.skip(r.type)
        return
    context = _Context(
        region=str(r.inputs.get("region", "")),
        name=str(r.inputs.get("name", "")),
        project=reducer.project_of(r),
        joins=joins,
    )
    reduce(reducer, r, context)
