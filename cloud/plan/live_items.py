"""Reduce a live inventory snapshot to items (see `items`), limited to what we manage.

Ours: projects tagged `county:<code>` and everything in them (but Neutron's automatic
`default` security group), county-wide resources named `<code>-extranet…`, Keystone groups
named `<code>-…` (groups take no tags) and the roles those groups hold on our projects.
Everything else in the cloud belongs to someone else and is never reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cloud.inventory import Snapshot
from cloud.plan.items import ANY, Item, rule_ports, rule_remote
from govcloud.conventions import TAG_COUNTY

DEFAULT_GROUP = "default"  # Neutron makes it in every project; the stacks never manage it


@dataclass(frozen=True)
class Scope:
    """What one stack manages: the county, its regions, and whether it owns the projects."""

    county_code: str
    regions: frozenset[str]
    projects: bool
    # Projects that are the county's by name even without its tag: the audit names them so a
    # tag removed by hand shows as a changed tag, not as a department gone missing.
    project_names: frozenset[str] = frozenset()

    @property
    def county_prefix(self) -> str:
        """Physical names of county-wide resources start with this."""
        return f"{self.county_code}-extranet"

    @property
    def group_prefix(self) -> str:
        """Names of the county's Keystone groups start with this (`<county>-<dept>-…`)."""
        return f"{self.county_code}-"


@dataclass
class _Reader:
    """The managed projects and the ID → name map one reduction needs."""

    snapshot: Snapshot
    scope: Scope
    managed: dict[str, str]
    names: dict[str, str]

    def owner(self, project_id: str, name: str) -> str | None:
        """The project name for the key ("" county-wide), or None when not ours."""
        if project_id in self.managed:
            return self.managed[project_id]
        return "" if name.startswith(self.scope.county_prefix) else None

    def regional(self, records: Iterable[Any]) -> Iterator[tuple[Any, str]]:
        """Records in the scope's regions that are ours, with their project name."""
        for record in records:
            if record.region in self.scope.regions:
                project = self.owner(record.project_id, record.name)
                if project is not None:
                    yield record, project

    def name(self, resource_id: str | None) -> str | None:
        """The name of a resource by ID (None for no ID)."""
        return self.names.get(resource_id, resource_id) if resource_id else None


def live_items(snapshot: Snapshot, scope: Scope) -> list[Item]:
    """The managed part of a snapshot, as items."""
    tag = f"{TAG_COUNTY}{scope.county_code}"
    names = {
        record.id: record.name
        for kind in (
            "address_scopes",
            "subnet_pools",
            "networks",
            "subnets",
            "security_groups",
            "servers",
        )
        for record in getattr(snapshot, kind)
    }
    managed = {
        p.id: p.name for p in snapshot.projects if tag in p.tags or p.name in scope.project_names
    }
    reader = _Reader(snapshot, scope, managed, names)
    return [
        *_keystone(reader),
        *_addressing(reader),
        *_networks(reader),
        *_security(reader),
        *_compute(reader),
    ]


def _keystone(reader: _Reader) -> Iterator[Item]:
    snapshot, scope, managed = reader.snapshot, reader.scope, reader.managed
    if scope.projects:
        for project in snapshot.projects:
            if project.id in managed:
                yield Item(
                    "project",
                    (project.name,),
                    {
                        "description": project.description,
                        "enabled": project.enabled,
                        "tags": sorted(project.tags),
                    },
                    project.id,
                )
        yield from _groups(reader)
    for limit in snapshot.limits:
        if limit.project_id in managed and limit.region in scope.regions:
            yield Item(
                "limit",
                (managed[limit.project_id], limit.region, limit.resource_name),
                {"resource_limit": limit.resource_limit},
                limit.project_id,
            )
    for quota in snapshot.quotas:
        if quota.project_id in managed and quota.region in scope.regions:
            yield Item(
                f"{quota.service}_quota",
                (managed[quota.project_id], quota.region),
                dict(quota.values),
                quota.project_id,
            )


def _groups(reader: _Reader) -> Iterator[Item]:
    """Our groups, and the roles they hold on our projects (a role of someone else's group
    on our project, or of our group on someone else's project, is not ours to report)."""
    snapshot, managed = reader.snapshot, reader.managed
    ours = {g.id: g.name for g in snapshot.groups if g.name.startswith(reader.scope.group_prefix)}
    for record in snapshot.groups:
        if record.id in ours:
            yield Item(
                "group",
                (record.name,),
                {"description": record.description, "domain": record.domain_id},
                record.id,
            )
    for assignment in snapshot.role_assignments:
        group = ours.get(assignment.group_id or "")
        if group is not None and assignment.project_id in managed:
            yield Item(
                "role_assignment",
                (managed[assignment.project_id], group, assignment.role),
                {},
                f"{assignment.project_id}/{assignment.group_id}/{assignment.role}",
            )


def _addressing(reader: _Reader) -> Iterator[Item]:
    for scope, _ in reader.regional(reader.snapshot.address_scopes):
        yield Item(
            "address_scope",
            (scope.region, scope.name),
            {"ip_version": scope.ip_version, "shared": scope.shared},
            scope.id,
        )
    for pool, _ in reader.regional(reader.snapshot.subnet_pools):
        yield Item(
            "subnet_pool",
            (pool.region, pool.name),
            {
                "ip_version": pool.ip_version,
                "prefixes": sorted(pool.prefixes),
                "default_prefixlen": pool.default_prefixlen,
                "address_scope": reader.name(pool.address_scope_id) or "",
                "shared": pool.shared,
            },
            pool.id,
        )


def _networks(reader: _Reader) -> Iterator[Item]:
    for network, project in reader.regional(reader.snapshot.networks):
        attrs: dict[str, Any] = {
            "external": network.external,
            "shared": network.shared,
            "tags": sorted(network.tags),
        }
        if network.external:
            attrs["provider_network_type"] = network.provider_network_type
            attrs["provider_physical_network"] = network.provider_physical_network
        yield Item("network", (network.region, project, network.name), attrs, network.id)
    for subnet, project in reader.regional(reader.snapshot.subnets):
        yield Item(
            "subnet",
            (subnet.region, project, subnet.name),
            {
                "network": reader.name(subnet.network_id),
                "ip_version": subnet.ip_version,
                "cidr": subnet.cidr,
                "gateway_ip": subnet.gateway_ip,
                "enable_dhcp": subnet.enable_dhcp,
                "ipv6_ra_mode": subnet.ipv6_ra_mode,
                "ipv6_address_mode": subnet.ipv6_address_mode,
                "subnet_pool": reader.name(subnet.subnet_pool_id),
                "tags": sorted(subnet.tags),
            },
            subnet.id,
        )
    for router, project in reader.regional(reader.snapshot.routers):
        yield Item(
            "router",
            (router.region, project, router.name),
            {
                "external_network": reader.name(router.external_network_id),
                "interfaces": sorted(str(reader.name(i.subnet_id)) for i in router.interfaces),
                "tags": sorted(router.tags),
            },
            router.id,
        )


def _security(reader: _Reader) -> Iterator[Item]:
    for group, project in reader.regional(reader.snapshot.security_groups):
        if group.name == DEFAULT_GROUP:
            continue
        yield Item(
            "security_group",
            (group.region, project, group.name),
            {"description": group.description, "tags": sorted(group.tags)},
            group.id,
        )
        for rule in group.rules:
            yield Item(
                "security_group_rule",
                (
                    group.region,
                    project,
                    group.name,
                    rule.direction,
                    rule.ethertype,
                    rule.protocol or ANY,
                    rule_ports(rule.port_range_min, rule.port_range_max),
                    rule_remote(rule.remote_ip_prefix, reader.name(rule.remote_group_id)),
                ),
                {},
                rule.id,
            )


def _compute(reader: _Reader) -> Iterator[Item]:
    for server, project in reader.regional(reader.snapshot.servers):
        yield Item(
            "server",
            (server.region, project, server.name),
            {
                "flavor": server.flavor,
                "networks": sorted(server.networks),
                "security_groups": sorted(server.security_groups),
                "metadata": dict(server.metadata),
            },
            server.id,
        )
    for volume, project in reader.regional(reader.snapshot.volumes):
        yield Item(
            "volume",
            (volume.region, project, volume.name),
            {
                "size_gb": volume.size_gb,
                "attached_to": sorted(str(reader.name(s)) for s in volume.attached_to),
            },
            volume.id,
        )
