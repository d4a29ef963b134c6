"""The live-state reader: one normalised, typed snapshot of a cloud, for every region.

`govcloud plan`, the audit and the portal all read the live cloud through this module. It talks
to OpenStack through openstacksdk's proxy layer and uses list calls (per resource type, and per
project only where the API has no list across projects: Cinder's quotas), never one GET per
resource; a region's calls run side by side.
Every HTTP request is counted with keystoneauth's timing collection, so the snapshot says how
many calls it cost.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final

from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions as sdk_exceptions
from openstack.config.loader import OpenStackConfig
from openstack.connection import Connection
from pydantic import BaseModel, ConfigDict

from govcloud.errors import BadInputError, UnreachableError

# Neutron quota fields the stacks set explicitly (terraform-provider-openstack #1838: unset
# fields are zeroed), and Cinder's.
NETWORK_QUOTA_FIELDS = (
    "networks",
    "subnets",
    "ports",
    "routers",
    "floating_ips",
    "security_groups",
    "security_group_rules",
    "subnet_pools",
)
VOLUME_QUOTA_FIELDS = ("volumes", "gigabytes", "snapshots", "backups", "backup_gigabytes")
ROUTER_INTERFACE_OWNER = "network:router_interface"
# List calls in flight at once per region: the APIs are separate services, and a reply is
# parsed here while the next is being answered.
READ_THREADS: Final = 6
# Nova's ports carry `compute:<availability zone>` as their device owner.
COMPUTE_OWNER_PREFIX = "compute:"
# Snapshot fields read per region, in the order the reader fills them.
REGIONAL_KINDS = (
    "quotas",
    "address_scopes",
    "subnet_pools",
    "networks",
    "subnets",
    "routers",
    "security_groups",
    "servers",
    "ports",
    "volumes",
)


class Record(BaseModel):
    """Base of every snapshot record: immutable, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Regional(Record):
    """A resource that lives in one region and belongs to one project."""

    id: str
    region: str
    project_id: str
    name: str


class Project(Record):
    """A Keystone project (a department tenant carries its code and kind as tags)."""

    id: str
    name: str
    domain_id: str
    description: str
    enabled: bool
    tags: tuple[str, ...]


class Group(Record):
    """A Keystone group (groups carry no tags: the stacks name theirs `<county>-…`)."""

    id: str
    name: str
    domain_id: str
    description: str


class RoleAssignment(Record):
    """A role given to a user or group on a project."""

    project_id: str
    role: str
    user_id: str | None
    group_id: str | None


class Limit(Record):
    """A Keystone unified limit for one project, service and region."""

    project_id: str
    region: str | None
    service: str
    resource_name: str
    resource_limit: int


class Quota(Record):
    """Quota values of one project in one region for one service (network or volume)."""

    project_id: str
    region: str
    service: str
    values: dict[str, int]


class AddressScope(Regional):
    """A Neutron address scope."""

    ip_version: int
    shared: bool


class SubnetPool(Regional):
    """A Neutron subnet pool."""

    ip_version: int
    prefixes: tuple[str, ...]
    default_prefixlen: int | None
    address_scope_id: str | None
    shared: bool
    is_default: bool


class Network(Regional):
    """A Neutron network."""

    external: bool
    shared: bool
    provider_network_type: str | None
    provider_physical_network: str | None
    provider_segmentation_id: int | None
    tags: tuple[str, ...]


class Subnet(Regional):
    """A Neutron subnet, with its IPv6 modes."""

    network_id: str
    ip_version: int
    cidr: str
    gateway_ip: str | None
    enable_dhcp: bool
    ipv6_ra_mode: str | None
    ipv6_address_mode: str | None
    subnet_pool_id: str | None
    tags: tuple[str, ...]


class RouterInterface(Record):
    """A router's port on a subnet."""

    subnet_id: str
    port_id: str
    ip_address: str


class Router(Regional):
    """A Neutron router with its gateway and interfaces."""

    external_network_id: str | None
    routes: tuple[tuple[str, str], ...]
    interfaces: tuple[RouterInterface, ...]
    tags: tuple[str, ...]


class SecurityGroupRule(Record):
    """One rule of a security group."""

    id: str
    direction: str
    ethertype: str
    protocol: str | None
    port_range_min: int | None
    port_range_max: int | None
    remote_ip_prefix: str | None
    remote_group_id: str | None


class SecurityGroup(Regional):
    """A security group and its rules."""

    description: str
    rules: tuple[SecurityGroupRule, ...]
    tags: tuple[str, ...]


class Server(Regional):
    """A Nova server."""

    status: str
    flavor: str | None
    image_id: str | None
    addresses: tuple[str, ...]
    networks: tuple[str, ...] = ()  # the networks it has a port on, by name
    security_groups: tuple[str, ...]
    metadata: dict[str, str]


class Port(Record):
    """A server's Neutron port: its security groups are set per port, and a change made to
    the port behind Nova's back shows only here (terraform-provider-openstack #552)."""

    id: str
    region: str
    project_id: str
    server_id: str
    network_id: str
    addresses: tuple[str, ...]
    security_groups: tuple[str, ...]  # security group IDs


class Volume(Regional):
    """A Cinder volume."""

    size_gb: int
    status: str
    volume_type: str | None
    attached_to: tuple[str, ...]
    metadata: dict[str, str] = {}


class Snapshot(Record):
    """Everything the stacks manage, read at one moment, for every region."""

    cloud: str
    regions: tuple[str, ...]
    taken_at: float
    seconds: float
    api_calls: int
    projects: tuple[Project, ...]
    groups: tuple[Group, ...]
    role_assignments: tuple[RoleAssignment, ...]
    limits: tuple[Limit, ...]
    quotas: tuple[Quota, ...]
    address_scopes: tuple[AddressScope, ...]
    subnet_pools: tuple[SubnetPool, ...]
    networks: tuple[Network, ...]
    subnets: tuple[Subnet, ...]
    routers: tuple[Router, ...]
    security_groups: tuple[SecurityGroup, ...]
    servers: tuple[Server, ...]
    volumes: tuple[Volume, ...]
    ports: tuple[Port, ...] = ()

    def counts(self) -> dict[str, dict[str, int]]:
        """Resources per region and type (Keystone records under "all")."""
        result: dict[str, dict[str, int]] = {
            "all": {
                "projects": len(self.projects),
                "groups": len(self.groups),
                "role_assignments": len(self.role_assignments),
                "limits": len(self.limits),
            }
        }
        for kind in REGIONAL_KINDS:
            for record in getattr(self, kind):
                result.setdefault(record.region, {}).setdefault(kind, 0)
                result[record.region][kind] += 1
        return result


def _tags(resource: Any) -> tuple[str, ...]:
    return tuple(sorted(getattr(resource, "tags", None) or ()))


def _sorted(records: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(
        sorted(
            records,
            key=lambda r: (
                getattr(r, "region", "") or "",
                getattr(r, "project_id", ""),
                getattr(r, "name", ""),
                getattr(r, "id", ""),
            ),
        )
    )


def connect(cloud: str, region: str | None = None, config_file: str | None = None) -> Connection:
    """A connection that counts its HTTP requests; `config_file` is a clouds.yaml to read
    instead of the usual places ($OS_CLIENT_CONFIG_FILE still comes first)."""
    try:
        config = OpenStackConfig(config_files=[config_file] if config_file else None)
        return Connection(config=config.get_one(cloud=cloud, region_name=region, timing=True))
    except sdk_exceptions.ConfigException as error:
        where = os.environ.get("OS_CLIENT_CONFIG_FILE") or config_file or "clouds.yaml"
        raise BadInputError(f"no cloud named {cloud!r} in {where}: {error}") from None


def api_calls(connections: Iterable[Connection]) -> int:
    """HTTP requests the connections made (each is opened with timing on)."""
    return sum(len(c.session.get_timings()) for c in connections)


# What a read of a cloud can end with when the cloud does not answer or refuses.
READ_ERRORS = (
    ksa_exceptions.ConnectFailure,
    ksa_exceptions.DiscoveryFailure,
    sdk_exceptions.SDKException,
    ksa_exceptions.ClientException,
)


def read(
    cloud: str,
    regions: Iterable[str] | None = None,
    config_file: str | None = None,
    quotas_of: Callable[[Project], bool] | None = None,
) -> Snapshot:
    """Read the whole cloud; raise UnreachableError when it does not answer.

    Quotas take two calls per project and region: `quotas_of` limits them to the projects a
    reader cares about (the audit reads its county's only); by default every project's."""
    started = time.monotonic()
    try:
        return _read(cloud, regions, started, config_file, quotas_of)
    except READ_ERRORS as error:
        raise UnreachableError(f"cannot read cloud {cloud!r}: {error}") from None


def _read(
    cloud: str,
    regions: Iterable[str] | None,
    started: float,
    config_file: str | None,
    quotas_of: Callable[[Project], bool] | None = None,
) -> Snapshot:
    identity_conn = connect(cloud, config_file=config_file)
    identity: Any = identity_conn.identity
    region_names = tuple(regions) if regions else tuple(sorted(r.id for r in identity.regions()))
    projects = [
        Project(
            id=p.id,
            name=p.name,
            domain_id=p.domain_id or "",
            description=p.description or "",
            enabled=bool(p.is_enabled),
            tags=_tags(p),
        )
        for p in identity.projects()
    ]
    groups = [
        Group(
            id=g.id,
            name=g.name,
            domain_id=g.domain_id or "",
            description=g.description or "",
        )
        for g in identity.groups()
    ]
    role_names = {r.id: r.name for r in identity.roles()}
    assignments = [
        RoleAssignment(
            project_id=a.scope["project"]["id"],
            role=role_names.get(a.role["id"], a.role["id"]),
            user_id=(a.user or {}).get("id"),
            group_id=(a.group or {}).get("id"),
        )
        for a in identity.role_assignments()
        if a.scope and "project" in a.scope
    ]
    services = {s.id: s.type for s in identity.services()}
    limits = [
        Limit(
            project_id=item.project_id,
            region=item.region_id,
            service=services.get(item.service_id, item.service_id),
            resource_name=item.resource_name,
            resource_limit=item.resource_limit,
        )
        for item in identity.limits()
    ]
    connections = [identity_conn]
    regional: dict[str, list[Any]] = {kind: [] for kind in REGIONAL_KINDS}
    for region in region_names:
        conn = connect(cloud, region, config_file)
        connections.append(conn)
        quota_projects = [p for p in projects if quotas_of is None or quotas_of(p)]
        for kind, records in _read_region(conn, region, quota_projects).items():
            regional[kind] += records
    return Snapshot(
        cloud=cloud,
        regions=region_names,
        taken_at=time.time(),
        seconds=time.monotonic() - started,
        api_calls=api_calls(connections),
        projects=_sorted(projects),
        groups=_sorted(groups),
        role_assignments=tuple(
            sorted(
                assignments, key=lambda a: (a.project_id, a.role, a.user_id or "", a.group_id or "")
            )
        ),
        limits=tuple(
            sorted(
                limits,
                key=lambda item: (
                    item.project_id,
                    item.region or "",
                    item.service,
                    item.resource_name,
                ),
            )
        ),
        quotas=tuple(sorted(regional["quotas"], key=lambda q: (q.region, q.project_id, q.service))),
        **{kind: _sorted(records) for kind, records in regional.items() if kind != "quotas"},
    )


def _read_region(conn: Connection, region: str, projects: list[Project]) -> dict[str, list[Any]]:
    """One region's records, its list calls made side by side (READ_THREADS): each API
    answers while another's reply is parsed."""
    network, compute, volume = conn.network, conn.compute, conn.block_storage
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        lists: dict[str, Future[list[Any]]] = {
            kind: pool.submit(read_kind, network, region)
            for kind, read_kind in (
                ("address_scopes", _address_scopes),
                ("subnet_pools", _subnet_pools),
                ("networks", _networks),
                ("subnets", _subnets),
                ("security_groups", _security_groups),
            )
        }
        routers = pool.submit(lambda: list(network.routers()))
        ports = pool.submit(_ports, network, region)
        servers = pool.submit(
            lambda: [_server(s, region) for s in compute.servers(details=True, all_projects=True)]
        )
        volumes = pool.submit(
            lambda: [_volume(v, region) for v in volume.volumes(details=True, all_projects=True)]
        )
        network_quotas = pool.submit(_network_quotas, network, region, projects)
        volume_quotas = [pool.submit(_volume_quota, volume, region, p) for p in projects]
        found = {kind: future.result() for kind, future in lists.items()}
        server_ports, interfaces = ports.result()
        # A router's interfaces come from the port listing: built once both are read.
        with_interfaces = [_router(r, region, interfaces.get(r.id, [])) for r in routers.result()]
        quotas = [*network_quotas.result(), *(q.result() for q in volume_quotas)]
        return {
            "quotas": quotas,
            **found,
            "routers": with_interfaces,
            "servers": servers.result(),
            "ports": server_ports,
            "volumes": volumes.result(),
        }


def _address_scopes(network: Any, region: str) -> list[AddressScope]:
    return [
        AddressScope(
            id=s.id,
            region=region,
            project_id=s.project_id or "",
            name=s.name,
            ip_version=s.ip_version,
            shared=bool(s.is_shared),
        )
        for s in network.address_scopes()
    ]


def _subnet_pools(network: Any, region: str) -> list[SubnetPool]:
    return [
        SubnetPool(
            id=p.id,
            region=region,
            project_id=p.project_id or "",
            name=p.name,
            ip_version=p.ip_version,
            prefixes=tuple(sorted(p.prefixes or ())),
            default_prefixlen=p.default_prefix_length,
            address_scope_id=p.address_scope_id,
            shared=bool(p.is_shared),
            is_default=bool(p.is_default),
        )
        for p in network.subnet_pools()
    ]


def _networks(network: Any, region: str) -> list[Network]:
    return [
        Network(
            id=n.id,
            region=region,
            project_id=n.project_id or "",
            name=n.name,
            external=bool(n.is_router_external),
            shared=bool(n.is_shared),
            provider_network_type=n.provider_network_type,
            provider_physical_network=n.provider_physical_network,
            provider_segmentation_id=n.provider_segmentation_id,
            tags=_tags(n),
        )
        for n in network.networks()
    ]


def _subnets(network: Any, region: str) -> list[Subnet]:
    return [
        Subnet(
            id=s.id,
            region=region,
            project_id=s.project_id or "",
            network_id=s.network_id,
            name=s.name,
            ip_version=s.ip_version,
            cidr=s.cidr,
            gateway_ip=s.gateway_ip,
            enable_dhcp=bool(s.is_dhcp_enabled),
            ipv6_ra_mode=s.ipv6_ra_mode,
            ipv6_address_mode=s.ipv6_address_mode,
            subnet_pool_id=s.subnet_pool_id,
            tags=_tags(s),
        )
        for s in network.subnets()
    ]


def _ports(network: Any, region: str) -> tuple[list[Port], dict[str, list[RouterInterface]]]:
    """Servers' ports, and routers' interfaces by router: one listing for both, the same
    number of calls as one."""
    interfaces: dict[str, list[RouterInterface]] = {}
    ports: list[Port] = []
    for port in network.ports():
        owner = port.device_owner or ""
        if owner == ROUTER_INTERFACE_OWNER:
            for fixed in port.fixed_ips or ():
                interfaces.setdefault(port.device_id, []).append(
                    RouterInterface(
                        subnet_id=fixed["subnet_id"],
                        port_id=port.id,
                        ip_address=fixed["ip_address"],
                    )
                )
        elif owner.startswith(COMPUTE_OWNER_PREFIX):
            ports.append(
                Port(
                    id=port.id,
                    region=region,
                    project_id=port.project_id or "",
                    server_id=port.device_id or "",
                    network_id=port.network_id,
                    addresses=tuple(sorted(f["ip_address"] for f in port.fixed_ips or ())),
                    security_groups=tuple(sorted(port.security_group_ids or ())),
                )
            )
    return ports, interfaces


def _router(router: Any, region: str, interfaces: list[RouterInterface]) -> Router:
    return Router(
        id=router.id,
        region=region,
        project_id=router.project_id or "",
        name=router.name,
        external_network_id=(router.external_gateway_info or {}).get("network_id"),
        routes=tuple(sorted((x["destination"], x["nexthop"]) for x in router.routes or ())),
        interfaces=tuple(sorted(interfaces, key=lambda i: (i.subnet_id, i.ip_address))),
        tags=_tags(router),
    )


def _security_groups(network: Any, region: str) -> list[SecurityGroup]:
    return [_security_group(g, region) for g in network.security_groups()]


def _volume(v: Any, region: str) -> Volume:
    return Volume(
        id=v.id,
        region=region,
        project_id=v.project_id or "",
        name=v.name or "",
        size_gb=v.size,
        status=v.status,
        volume_type=v.volume_type,
        attached_to=tuple(sorted(a["server_id"] for a in v.attachments or ())),
        metadata=dict(v.metadata or {}),
    )


def _network_quotas(network: Any, region: str, projects: list[Project]) -> list[Quota]:
    """Neutron's quotas of `projects` in two calls: its listing holds every project with a
    quota of its own (defaults filled in); the others have the defaults."""
    if not projects:
        return []
    wanted = {p.id for p in projects}
    values = {
        q.project_id: {f: int(getattr(q, f)) for f in NETWORK_QUOTA_FIELDS}
        for q in network.quotas()
        if q.project_id in wanted
    }
    if rest := wanted - values.keys():
        default = network.get_quota_default(projects[0].id)
        fallback = {f: int(getattr(default, f)) for f in NETWORK_QUOTA_FIELDS}
        values |= dict.fromkeys(rest, fallback)
    return [
        Quota(project_id=project_id, region=region, service="network", values=found)
        for project_id, found in values.items()
    ]


def _volume_quota(volume: Any, region: str, project: Project) -> Quota:
    """Cinder's quotas of one project: Cinder has no listing across projects."""
    found = volume.get_quota_set(project.id)
    return Quota(
        project_id=project.id,
        region=region,
        service="volume",
        values={f: int(getattr(found, f)) for f in VOLUME_QUOTA_FIELDS},
    )


def _security_group(group: Any, region: str) -> SecurityGroup:
    rules = tuple(
        sorted(
            (
                SecurityGroupRule(
                    id=r["id"],
                    direction=r["direction"],
                    ethertype=r["ethertype"],
                    protocol=r.get("protocol"),
                    port_range_min=r.get("port_range_min"),
                    port_range_max=r.get("port_range_max"),
                    remote_ip_prefix=r.get("remote_ip_prefix"),
                    remote_group_id=r.get("remote_group_id"),
                )
                for r in group.security_group_rules or ()
            ),
            key=lambda r: (
                r.direction,
                r.ethertype,
                r.protocol or "",
                r.port_range_min or 0,
                r.remote_ip_prefix or "",
                r.id,
            ),
        )
    )
    return SecurityGroup(
        id=group.id,
        region=region,
        project_id=group.project_id or "",
        name=group.name,
        description=group.description or "",
        rules=rules,
        tags=_tags(group),
    )


def _server(server: Any, region: str) -> Server:
    addresses = sorted(
        entry["addr"] for entries in (server.addresses or {}).values() for entry in entries
    )
    flavor = server.flavor or {}
    image = server.image or {}
    return Server(
        id=server.id,
        region=region,
        project_id=server.project_id or "",
        name=server.name,
        status=server.status,
        flavor=flavor.get("original_name") or flavor.get("name"),
        image_id=image.get("id") if isinstance(image, dict) else None,
        addresses=tuple(addresses),
        networks=tuple(sorted((server.addresses or {}).keys())),
        security_groups=tuple(sorted({g["name"] for g in server.security_groups or ()})),
        metadata=dict(server.metadata or {}),
    )
