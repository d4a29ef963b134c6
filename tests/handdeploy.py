"""Create a stack's desired items in a cloud through openstacksdk, as `pulumi up` would.

The Pulumi engine is not on the build machines, so the plan's integration test and the live
plan benchmark (`bench/bench_stacks.py --live`) deploy the plan's desired items
(`cloud.plan.items`) themselves: county-wide resources first, then each department's
project and everything in it, several departments at once. `remove_county` deletes
everything one county code owns, whatever state an interrupted run left it in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import openstack
from openstack import exceptions as sdk_exceptions
from openstack.connection import Connection

from cloud.deploy import project_of
from cloud.plan.items import ANY, Item
from govcloud.conventions import DEFAULT_IMAGE, ROLE_OPERATOR, TAG_COUNTY

DEFAULT_DOMAIN = "default"
SERVER_WAIT_S = 900  # the fake driver builds one server at a time per region
VOLUME_WAIT_S = 300
ROUTER_INTERFACE_OWNER = "network:router_interface"
# Kinds deployed with their department, in the order a deployment creates them.
DEPARTMENT_ORDER = (
    "project",
    "group",
    "role_assignment",
    "limit",
    "network_quota",
    "volume_quota",
    "network",
    "subnet",
    "security_group",
    "security_group_rule",
    "router",
    "server",
    "volume",
)


def connect(cloud: str, region: str, project_id: str | None = None) -> Connection:
    """An admin connection, scoped to a tenant when given (Nova and Cinder create in the
    caller's project)."""
    base = openstack.connect(cloud=cloud, region_name=region)
    if project_id is None:
        return base
    auth = base.config.get_auth_args()
    return openstack.connect(
        auth_url=auth["auth_url"],
        username=auth["username"],
        password=auth["password"],
        user_domain_name=auth.get("user_domain_name") or "Default",
        project_id=project_id,
        region_name=region,
        identity_api_version="3",
    )


def by_department(items: Iterable[Item]) -> tuple[list[Item], dict[str, list[Item]]]:
    """County-wide items, and each department project's items (groups go with the project
    their roles are on)."""
    items = list(items)
    group_projects = {i.key[1]: i.key[0] for i in items if i.kind == "role_assignment"}
    county: list[Item] = []
    departments: dict[str, list[Item]] = {}
    for item in items:
        project = project_of(item.kind, item.key, group_projects)
        if project:
            departments.setdefault(project, []).append(item)
        else:
            county.append(item)
    return county, departments


@dataclass
class HandDeployment:
    """Deploys items into one region of one cloud; `ids` maps county-wide names to IDs."""

    cloud: str
    region: str
    image: str = DEFAULT_IMAGE
    ids: dict[str, str] = field(default_factory=dict)

    def county_wide(self, items: Iterable[Item]) -> None:
        """Address scopes, pools, the external network and its subnets; existing ones (by
        name) are kept, so an interrupted run resumes."""
        c = connect(self.cloud, self.region)
        kinds = _by_kind(items)
        for item in kinds.get("address_scope", []):
            found = c.network.find_address_scope(item.key[1])
            self.ids[item.key[1]] = (
                found
                or c.network.create_address_scope(
                    name=item.key[1],
                    ip_version=item.attrs["ip_version"],
                    is_shared=item.attrs["shared"],
                )
            ).id
        for item in kinds.get("subnet_pool", []):
            a = item.attrs
            pool = c.network.find_subnet_pool(item.key[1])
            # Neutron derives a pool's IP version from its prefixes and refuses it in a POST.
            self.ids[item.key[1]] = (
                pool
                or c.network.create_subnet_pool(
                    name=item.key[1],
                    prefixes=a["prefixes"],
                    default_prefix_length=a["default_prefixlen"],
                    address_scope_id=self.ids[a["address_scope"]],
                    is_shared=a["shared"],
                )
            ).id
        for item in kinds.get("network", []):
            a = item.attrs
            network = c.network.find_network(item.key[2])
            if network is None:
                network = c.network.create_network(
                    name=item.key[2],
                    is_router_external=a["external"],
                    is_shared=a["shared"],
                    provider_network_type=a.get("provider_network_type"),
                    provider_physical_network=a.get("provider_physical_network"),
                )
                c.network.set_tags(network, a["tags"])
            self.ids[item.key[2]] = network.id
        for item in kinds.get("subnet", []):
            if c.network.find_subnet(item.key[2]) is None:
                self._subnet(c, item, project_id=None, ids=self.ids)

    def department(self, items: Iterable[Item]) -> None:
        """One department's project and everything in it (after `county_wide`)."""
        c = connect(self.cloud, self.region)
        identity: Any = c.identity
        kinds = _by_kind(items)
        (project_item,) = kinds["project"]
        a = project_item.attrs
        project = identity.create_project(
            name=project_item.key[0],
            domain_id=DEFAULT_DOMAIN,
            description=a["description"],
            is_enabled=a["enabled"],
            tags=list(a["tags"]),
        )
        ids = dict(self.ids)
        roles = {r.name: r.id for r in identity.roles()}
        for item in kinds.get("group", []):
            # Groups outlive a half-built project (they are not in it): reuse them on a resume.
            group = identity.find_group(item.key[0], domain_id=DEFAULT_DOMAIN)
            ids[item.key[0]] = (
                group
                or identity.create_group(
                    name=item.key[0],
                    description=item.attrs["description"],
                    domain_id=DEFAULT_DOMAIN,
                )
            ).id
        for item in kinds.get("role_assignment", []):
            _, group, role = item.key
            identity.assign_project_role_to_group(project.id, ids[group], roles[role])
        if kinds.get("limit"):
            compute = next(s for s in identity.services() if s.type == "compute")
        for item in kinds.get("limit", []):
            identity.create_limit(
                service_id=compute.id,
                project_id=project.id,
                region_id=item.key[1],
                resource_name=item.key[2],
                resource_limit=item.attrs["resource_limit"],
            )
        for item in kinds.get("network_quota", []):
            c.network.update_quota(project.id, **item.attrs)
        for item in kinds.get("volume_quota", []):
            c.block_storage.update_quota_set(project.id, **item.attrs)
        self._networking(c, kinds, project.id, ids)
        if kinds.get("server") or kinds.get("volume"):
            # The deployer's own role in the tenant, as the stack gives it where servers run.
            identity.assign_project_role_to_user(
                project.id, identity.get_user(c.current_user_id), roles[ROLE_OPERATOR]
            )
            self._compute(connect(self.cloud, self.region, project.id), kinds, ids)

    def _subnet(
        self, c: Connection, item: Item, *, project_id: str | None, ids: dict[str, str]
    ) -> None:
        a = item.attrs
        subnet = c.network.create_subnet(
            name=item.key[2],
            network_id=ids[a["network"]],
            ip_version=a["ip_version"],
            cidr=a["cidr"],
            gateway_ip=a["gateway_ip"],
            is_dhcp_enabled=a["enable_dhcp"],
            ipv6_ra_mode=a["ipv6_ra_mode"],
            ipv6_address_mode=a["ipv6_address_mode"],
            **({"project_id": project_id} if project_id else {}),
            **({"subnet_pool_id": ids[a["subnet_pool"]]} if a["subnet_pool"] else {}),
        )
        c.network.set_tags(subnet, a["tags"])
        ids[item.key[2]] = subnet.id

    def _networking(
        self, c: Connection, kinds: Mapping[str, list[Item]], project_id: str, ids: dict[str, str]
    ) -> None:
        for item in kinds.get("network", []):
            network = c.network.create_network(name=item.key[2], project_id=project_id)
            c.network.set_tags(network, item.attrs["tags"])
            ids[item.key[2]] = network.id
        for item in kinds.get("subnet", []):
            self._subnet(c, item, project_id=project_id, ids=ids)
        for item in kinds.get("security_group", []):
            group = c.network.create_security_group(
                name=item.key[2], description=item.attrs["description"], project_id=project_id
            )
            for rule in group.security_group_rules or ():  # delete_default_rules
                c.network.delete_security_group_rule(rule["id"])
            c.network.set_tags(group, item.attrs["tags"])
            ids[item.key[2]] = group.id
        for item in kinds.get("security_group_rule", []):
            _, _, group_name, direction, ethertype, protocol, ports, remote = item.key
            low, _, high = ports.partition("-")
            remote_group = remote.removeprefix("group:") if remote.startswith("group:") else None
            c.network.create_security_group_rule(
                security_group_id=ids[group_name],
                project_id=project_id,
                direction=direction,
                ethertype=ethertype,
                protocol=None if protocol == ANY else protocol,
                port_range_min=None if ports == ANY else int(low),
                port_range_max=None if ports == ANY else int(high or low),
                remote_ip_prefix=None if remote == ANY or remote_group else remote,
                remote_group_id=ids[remote_group] if remote_group else None,
            )
        for item in kinds.get("router", []):
            a = item.attrs
            gateway = (
                {"network_id": ids[a["external_network"]], "enable_snat": False}
                if a["external_network"]
                else None
            )
            router = c.network.create_router(
                name=item.key[2], project_id=project_id, external_gateway_info=gateway
            )
            c.network.set_tags(router, a["tags"])
            for subnet in a["interfaces"]:
                c.network.add_interface_to_router(router, subnet=ids[subnet])

    def _compute(self, p: Connection, kinds: Mapping[str, list[Item]], ids: dict[str, str]) -> None:
        image = p.image.find_image(self.image, ignore_missing=False)
        first_network = next((i.key[2] for i in kinds.get("network", [])), None)
        servers = []
        for item in kinds.get("server", []):
            a = item.attrs
            flavor = p.compute.find_flavor(a["flavor"], ignore_missing=False)
            servers.append(
                p.compute.create_server(
                    name=item.key[2],
                    flavor_id=flavor.id,
                    image_id=image.id,
                    networks=[{"uuid": ids[first_network]}] if first_network else "none",
                    security_groups=[{"name": name} for name in a["security_groups"]],
                    metadata=dict(a["metadata"]),
                )
            )
        for server in servers:
            ids[server.name] = p.compute.wait_for_server(server, wait=SERVER_WAIT_S).id
        volumes = []
        for item in kinds.get("volume", []):
            volume = p.block_storage.create_volume(name=item.key[2], size=item.attrs["size_gb"])
            volumes.append((volume, item.attrs["attached_to"]))
        for volume, attached_to in volumes:
            p.block_storage.wait_for_status(volume, "available", wait=VOLUME_WAIT_S)
            for server_name in attached_to:
                p.compute.create_volume_attachment(ids[server_name], volume_id=volume.id)
        for volume, attached_to in volumes:
            if attached_to:
                p.block_storage.wait_for_status(volume, "in-use", wait=VOLUME_WAIT_S)


def deploy(
    cloud: str,
    region: str,
    items: Iterable[Item],
    *,
    workers: int = 1,
    skip: Iterable[str] = (),
    done: Callable[[str], None] | None = None,
) -> None:
    """Deploy the items: county-wide first, then the departments (`workers` at a time),
    but those named in `skip` (already complete)."""
    county, departments = by_department(items)
    deployment = HandDeployment(cloud, region)
    deployment.county_wide(county)
    skipped = set(skip)

    def one(name: str) -> None:
        deployment.department(departments[name])
        if done is not None:
            done(name)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, sorted(set(departments) - skipped)))


def _by_kind(items: Iterable[Item]) -> dict[str, list[Item]]:
    kinds: dict[str, list[Item]] = {}
    for item in items:
        kinds.setdefault(item.kind, []).append(item)
    return kinds


def remove_project(cloud: str, regions: Iterable[str], project: Any) -> None:
    """Delete one project and everything in it, in every region."""
    for region in regions:
        c = connect(cloud, region)
        servers = list(c.compute.servers(all_projects=True, project_id=project.id))
        for server in servers:
            c.compute.delete_server(server)
        for server in servers:
            c.compute.wait_for_delete(server, wait=SERVER_WAIT_S)
        volumes = list(c.block_storage.volumes(all_projects=True, project_id=project.id))
        for volume in volumes:
            with contextlib.suppress(
                sdk_exceptions.ResourceTimeout, sdk_exceptions.ResourceFailure
            ):
                c.block_storage.wait_for_status(volume, "available", wait=VOLUME_WAIT_S)
            c.block_storage.delete_volume(volume.id, force=True)
        for volume in volumes:
            c.block_storage.wait_for_delete(volume, wait=VOLUME_WAIT_S)
        for router in c.network.routers(project_id=project.id):
            for port in c.network.ports(device_id=router.id, device_owner=ROUTER_INTERFACE_OWNER):
                c.network.remove_interface_from_router(router, port=port.id)
            c.network.delete_router(router)
        for network in c.network.networks(project_id=project.id):
            for port in c.network.ports(network_id=network.id):
                c.network.delete_port(port)
            c.network.delete_network(network)
        for group in c.network.security_groups(project_id=project.id):
            c.network.delete_security_group(group)
        c.network.delete_quota(project.id)
        c.block_storage.revert_quota_set(project.id)
    identity: Any = connect(cloud, next(iter(regions))).identity
    for limit in identity.limits(project_id=project.id):
        identity.delete_limit(limit)
    identity.delete_project(project)


def remove_county(cloud: str, regions: Iterable[str], code: str, *, workers: int = 1) -> int:
    """Delete everything county `code` owns in the cloud; the number of projects removed."""
    regions = tuple(regions)
    identity: Any = connect(cloud, regions[0]).identity
    # By tag, or by name: a test may have removed the tag by hand.
    ours = [
        p
        for p in identity.projects()
        if f"{TAG_COUNTY}{code}" in (p.tags or []) or p.name.startswith(f"{code}-")
    ]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda p: remove_project(cloud, regions, p), ours))
    for group in identity.groups():
        if group.name.startswith(f"{code}-"):
            identity.delete_group(group)
    prefix = f"{code}-extranet"
    for region in regions:
        c = connect(cloud, region)
        for network in c.network.networks():
            if network.name.startswith(prefix):
                for port in c.network.ports(network_id=network.id):
                    c.network.delete_port(port)
                c.network.delete_network(network)
        for subnet_pool in c.network.subnet_pools():
            if subnet_pool.name.startswith(prefix):
                c.network.delete_subnet_pool(subnet_pool)
        for scope in c.network.address_scopes():
            if scope.name.startswith(prefix):
                c.network.delete_address_scope(scope)
    return len(ours)
