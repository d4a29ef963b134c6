"""ExtranetFabric: the extranet provider network, address scopes and subnet pools of a site."""

from __future__ import annotations

from dataclasses import dataclass

import netaddr
import pulumi
import pulumi_openstack as openstack

from govcloud.conventions import TOKEN_PREFIX, county_tags, slug

# A flat provider network: the extranet is a routed underlay outside OpenStack.
EXTRANET_NETWORK_TYPE = "flat"
# IPv4 tenant subnets are never larger than a /16 nor smaller than a /29 (room for a gateway,
# a VRRP pair and hosts); the plan's LANs lie in between.
IPV4_MIN_PREFIXLEN = 16
IPV4_MAX_PREFIXLEN = 29
IPV4_DEFAULT_PREFIXLEN = 24


@dataclass(frozen=True)
class ExtranetFabricArgs:
    """Inputs of the extranet fabric at one site."""

    county_code: str
    region: str
    ipv4_pools: tuple[str, ...]
    ipv6_prefix: str
    ipv6_subnet_prefixlen: int
    uplink: tuple[str, ...]
    physical_network: str


class ExtranetFabric(pulumi.ComponentResource):
    """The extranet at one site: external network, IPv4/IPv6 address scopes and subnet pools."""

    network_id: pulumi.Output[str]
    ipv4_pool_id: pulumi.Output[str]
    ipv6_pool_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: ExtranetFabricArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"{TOKEN_PREFIX}:network:ExtranetFabric", name, None, opts)
        child = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=self))
        prefix = f"{args.county_code}-extranet"
        scopes = {
            version: openstack.networking.AddressScope(
                f"{name}-scope-v{version}",
                name=f"{prefix}-v{version}",
                ip_version=version,
                shared=True,
                region=args.region,
                opts=child,
            )
            for version in (4, 6)
        }
        v4 = openstack.networking.SubnetPool(
            f"{name}-pool-v4",
            name=f"{prefix}-v4",
            ip_version=4,
            prefixes=list(args.ipv4_pools),
            default_prefixlen=IPV4_DEFAULT_PREFIXLEN,
            min_prefixlen=IPV4_MIN_PREFIXLEN,
            max_prefixlen=IPV4_MAX_PREFIXLEN,
            address_scope_id=scopes[4].id,
            shared=True,
            tags=county_tags(args.county_code),
            region=args.region,
            opts=child,
        )
        v6 = openstack.networking.SubnetPool(
            f"{name}-pool-v6",
            name=f"{prefix}-v6",
            ip_version=6,
            prefixes=[args.ipv6_prefix],
            default_prefixlen=args.ipv6_subnet_prefixlen,
            min_prefixlen=args.ipv6_subnet_prefixlen,
            max_prefixlen=args.ipv6_subnet_prefixlen,
            address_scope_id=scopes[6].id,
            shared=True,
            tags=county_tags(args.county_code),
            region=args.region,
            opts=child,
        )
        network = openstack.networking.Network(
            f"{name}-network",
            name=prefix,
            external=True,
            shared=False,
            segments=[
                openstack.networking.NetworkSegmentArgs(
                    network_type=EXTRANET_NETWORK_TYPE, physical_network=args.physical_network
                )
            ],
            tags=county_tags(args.county_code),
            region=args.region,
            opts=child,
        )
        for uplink in args.uplink:
            version = netaddr.IPNetwork(uplink).version
            openstack.networking.Subnet(
                f"{name}-uplink-{slug(uplink)}",
                name=f"{prefix}-uplink-v{version}",
                network_id=network.id,
                ip_version=version,
                cidr=uplink,
                # The uplink is routed by the extranet, not served by DHCP or RAs.
                enable_dhcp=False,
                tags=county_tags(args.county_code),
                region=args.region,
                opts=child,
            )
        self.network_id = network.id
        self.ipv4_pool_id = v4.id
        self.ipv6_pool_id = v6.id
        self.register_outputs(
            {
                "network_id": self.network_id,
                "ipv4_pool_id": self.ipv4_pool_id,
                "ipv6_pool_id": self.ipv6_pool_id,
            }
        )
