"""TenantNetwork: a department's dual-stack networks, router and extranet gateway."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from desired.network_plan import PlannedNetwork
from govcloud.conventions import IPV6_MODE, TOKEN_PREFIX, county_tags, tenant_resource_name
from network.plan import gateway


@dataclass(frozen=True)
class TenantNetworkArgs:
    """Inputs of a department's networks at one site."""

    county_code: str
    department: str
    region: str
    project_id: pulumi.Input[str]
    networks: tuple[PlannedNetwork, ...]
    external_network_id: pulumi.Input[str]
    ipv4_pool_id: pulumi.Input[str]
    ipv6_pool_id: pulumi.Input[str]


class TenantNetwork(pulumi.ComponentResource):
    """Per planned network: a network, an IPv4 and an IPv6 (SLAAC) subnet, a router port."""

    network_ids: dict[str, pulumi.Output[str]]
    router_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: TenantNetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"{TOKEN_PREFIX}:network:TenantNetwork", name, None, opts)
        child = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=self))
        tags = county_tags(args.county_code)
        router = openstack.networking.Router(
            f"{name}-router",
            name=f"{args.department}-router",
            tenant_id=args.project_id,
            external_network_id=args.external_network_id,
            # The extranet routes tenant prefixes (one address scope): no NAT on the way out.
            enable_snat=False,
            tags=tags,
            region=args.region,
            opts=child,
        )
        self.network_ids = {}
        for planned in args.networks:
            physical = tenant_resource_name(args.department, planned.name)
            network = openstack.networking.Network(
                f"{name}-{planned.name}",
                name=physical,
                tenant_id=args.project_id,
                tags=tags,
                region=args.region,
                opts=child,
            )
            v4 = openstack.networking.Subnet(
                f"{name}-{planned.name}-v4",
                name=f"{physical}-v4",
                network_id=network.id,
                tenant_id=args.project_id,
                ip_version=4,
                cidr=planned.ipv4,
                gateway_ip=gateway(planned.ipv4),
                enable_dhcp=True,
                subnetpool_id=args.ipv4_pool_id,
                tags=tags,
                region=args.region,
                opts=child,
            )
            v6 = openstack.networking.Subnet(
                f"{name}-{planned.name}-v6",
                name=f"{physical}-v6",
                network_id=network.id,
                tenant_id=args.project_id,
                ip_version=6,
                cidr=planned.ipv6,
                gateway_ip=gateway(planned.ipv6),
                enable_dhcp=True,
                ipv6_ra_mode=IPV6_MODE,
                ipv6_address_mode=IPV6_MODE,
                subnetpool_id=args.ipv6_pool_id,
                tags=tags,
                region=args.region,
                opts=child,
            )
            for family, subnet in (("v4", v4), ("v6", v6)):
                openstack.networking.RouterInterface(
                    f"{name}-{planned.name}-{family}-interface",
                    router_id=router.id,
                    subnet_id=subnet.id,
                    region=args.region,
                    opts=child,
                )
            self.network_ids[planned.name] = network.id
        self.router_id = router.id
        self.register_outputs({"network_ids": self.network_ids, "router_id": self.router_id})
