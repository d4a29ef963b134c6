"""Workload: the servers and volumes granted to a department, in its tenant.

Migrated systems get a server with an attached data volume each; servers and volumes granted
through the portal are created as requested (a compute request's servers have no data volume,
a storage request's volumes stand alone until the department attaches them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_openstack as openstack

from desired.grants import RequestServer, RequestVolume, ServerGrant
from govcloud.conventions import (
    META_REPLICATION,
    META_REQUEST,
    META_ROLE,
    META_SYSTEM,
    META_TIER,
    TOKEN_PREFIX,
    WORKLOAD_PRIMARY,
    tenant_resource_name,
)
from govcloud.model import Replication, Tier


def system_ref(grant: ServerGrant) -> str:
    """`department/system`, as the county model names a system."""
    return f"{grant.department}/{grant.system}"


@dataclass(frozen=True)
class WorkloadArgs:
    """Inputs of a department's granted servers and volumes at one site."""

    department: str
    region: str
    grants: tuple[ServerGrant, ...]
    network_ids: Mapping[str, pulumi.Input[str]]
    security_groups: tuple[str, ...]
    # A provider scoped to the tenant: Nova and Cinder create in the caller's project.
    provider: pulumi.ProviderResource
    role: str = WORKLOAD_PRIMARY
    # The replication token of each tier's DR policy, for the metadata of the DR site's copies.
    replication: Mapping[Tier, Replication] = field(default_factory=dict)
    servers: tuple[RequestServer, ...] = ()
    volumes: tuple[RequestVolume, ...] = ()


class Workload(pulumi.ComponentResource):
    """Per granted system a server and its data volume; the portal's servers and volumes."""

    server_ids: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"{TOKEN_PREFIX}:compute:Workload", name, None, opts)
        child = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(parent=self, provider=args.provider)
        )
        self.server_ids = {}
        for grant in args.grants:
            metadata = {
                META_SYSTEM: system_ref(grant),
                META_TIER: grant.tier.value,
                META_ROLE: args.role,
            }
            if grant.tier in args.replication:
                metadata[META_REPLICATION] = args.replication[grant.tier].value
            physical = tenant_resource_name(grant.department, grant.system)
            server = openstack.compute.Instance(
                f"{name}-{grant.system}",
                name=physical,
                flavor_name=grant.flavor,
                image_name=grant.image,
                networks=_networks(args, grant.network),
                security_groups=list(args.security_groups),
                metadata=metadata,
                region=args.region,
                opts=child,
            )
            volume = openstack.blockstorage.Volume(
                f"{name}-{grant.system}-data",
                name=f"{physical}-data",
                size=grant.volume_gb,
                metadata=metadata,
                region=args.region,
                opts=child,
            )
            openstack.compute.VolumeAttach(
                f"{name}-{grant.system}-attach",
                instance_id=server.id,
                volume_id=volume.id,
                region=args.region,
                opts=child,
            )
            self.server_ids[grant.system] = server.id
        for requested in args.servers:
            server = openstack.compute.Instance(
                f"{name}-{requested.name}",
                name=tenant_resource_name(requested.department, requested.name),
                flavor_name=requested.flavor,
                image_name=requested.image,
                networks=_networks(args, requested.network),
                security_groups=list(args.security_groups),
                metadata={
                    META_REQUEST: str(requested.request_id),
                    META_TIER: requested.tier.value,
                    META_ROLE: args.role,
                },
                region=args.region,
                opts=child,
            )
            self.server_ids[requested.name] = server.id
        for standalone in args.volumes:
            openstack.blockstorage.Volume(
                f"{name}-{standalone.name}",
                name=tenant_resource_name(standalone.department, standalone.name),
                size=standalone.size_gb,
                metadata={META_REQUEST: str(standalone.request_id), META_ROLE: args.role},
                region=args.region,
                opts=child,
            )
        self.register_outputs({"server_ids": self.server_ids})


def _networks(
    args: WorkloadArgs, network: str | None
) -> list[openstack.compute.InstanceNetworkArgs]:
    """The server's one network port, on a planned network of the tenant (or none)."""
    if network is None:
        return []
    return [openstack.compute.InstanceNetworkArgs(uuid=args.network_ids[network])]
