"""Where a department's server sits on its tenant networks, as the live cloud reports it.

The lab realises a cloud server (the fake compute driver runs no guest) as a namespace at the
addresses Neutron gave its port; migration targets and DR replicas are found this way, by the
names the stacks give them (`tenant_resource_name`) in the department's project.
"""

from __future__ import annotations

from dataclasses import dataclass

import netaddr

from cloud.inventory import Snapshot, Subnet
from govcloud.conventions import project_name, tenant_resource_name
from govcloud.errors import BadInputError


@dataclass(frozen=True)
class ServerPort:
    """A server's addresses with their subnets' lengths and gateways (IPv6 when it has one)."""

    server: str
    server_id: str
    region: str
    ipv4: str
    gateway4: str
    ipv6: str | None
    gateway6: str | None

    @property
    def subnets(self) -> tuple[str, ...]:
        """The server's subnets, IPv4 first."""
        found = [str(netaddr.IPNetwork(self.ipv4).cidr)]
        if self.ipv6:
            found.append(str(netaddr.IPNetwork(self.ipv6).cidr))
        return tuple(found)


def server_port(
    snapshot: Snapshot, *, county: str, department: str, name: str, region: str
) -> ServerPort:
    """The port of the department's server `name` in `region`; BadInputError naming the fix."""
    project = project_name(county, department)
    project_ids = {p.id for p in snapshot.projects if p.name == project}
    physical = tenant_resource_name(department, name)
    servers = [
        s
        for s in snapshot.servers
        if s.name == physical and s.region == region and s.project_id in project_ids
    ]
    if len(servers) != 1:
        found = "no server" if not servers else f"{len(servers)} servers"
        raise BadInputError(
            f"cloud {snapshot.cloud!r} holds {found} named {physical} in project {project} "
            f"({region}); declare it (a migration plan or the DR tier) and deploy the stack"
        )
    server = servers[0]
    subnets = [s for s in snapshot.subnets if s.region == region]
    v4 = _on_subnet(server.addresses, subnets, 4)
    v6 = _on_subnet(server.addresses, subnets, 6)
    if v4 is None:
        raise BadInputError(f"server {physical} ({region}) has no IPv4 address on a subnet")
    return ServerPort(
        server=physical,
        server_id=server.id,
        region=region,
        ipv4=v4[0],
        gateway4=v4[1],
        ipv6=v6[0] if v6 else None,
        gateway6=v6[1] if v6 else None,
    )


def _on_subnet(
    addresses: tuple[str, ...], subnets: list[Subnet], version: int
) -> tuple[str, str] | None:
    """(address/length, gateway) of the first address of this IP version, on the narrowest
    subnet that holds it (the county's external network may span the tenant subnets)."""
    for address in addresses:
        ip = netaddr.IPAddress(address)
        if ip.version != version:
            continue
        holding = [
            (netaddr.IPNetwork(s.cidr), s)
            for s in subnets
            if ip in netaddr.IPNetwork(s.cidr) and s.gateway_ip
        ]
        if holding:
            network, subnet = max(holding, key=lambda pair: pair[0].prefixlen)
            return f"{ip}/{network.prefixlen}", str(subnet.gateway_ip)
    return None
