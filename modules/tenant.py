"""DepartmentTenant: a department's project, groups, roles and every quota field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from govcloud.conventions import (
    ROLE_APPROVER,
    ROLE_OPERATOR,
    ROLE_REQUESTER,
    TOKEN_PREFIX,
    project_name,
    project_tags,
)
from modules.quotas import TenantQuotas

# The role the deploying operator needs in a tenant to create its servers and volumes.


@dataclass(frozen=True)
class DepartmentTenantArgs:
    """Inputs of one department tenant."""

    county_code: str
    department: str
    description: str
    kind: str
    mlps_level: int
    region: str
    quotas: TenantQuotas
    role_ids: Mapping[str, pulumi.Input[str]]
    compute_service_id: pulumi.Input[str]
    operator_user_id: pulumi.Input[str] | None = None


def declare_quotas(
    name: str,
    *,
    project_id: pulumi.Input[str],
    region: str,
    quotas: TenantQuotas,
    compute_service_id: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> None:
    """Keystone compute limits, Neutron and Cinder quotas of a project in one region.

    Every field is set: the provider zeroes unset Neutron and Cinder fields
    (terraform-provider-openstack #1838).
    """
    for resource, value in quotas.compute.as_limits().items():
        # The SDK names the logical name `resource_name`, so Keystone's is `resource_name_`.
        openstack.identity.LimitV3(
            f"{name}-limit-{resource.replace('class:', '').lower()}",
            project_id=project_id,
            service_id=compute_service_id,
            resource_name_=resource,
            resource_limit=value,
            region=region,
            opts=opts,
        )
    net = quotas.network
    openstack.networking.QuotaV2(
        f"{name}-network-quota",
        project_id=project_id,
        network=net.networks,
        subnet=net.subnets,
        port=net.ports,
        router=net.routers,
        floatingip=net.floating_ips,
        security_group=net.security_groups,
        security_group_rule=net.security_group_rules,
        subnetpool=net.subnet_pools,
        rbac_policy=net.rbac_policies,
        region=region,
        opts=opts,
    )
    vol = quotas.volume
    openstack.blockstorage.QuoteSetV3(
        f"{name}-volume-quota",
        project_id=project_id,
        volumes=vol.volumes,
        gigabytes=vol.gigabytes,
        snapshots=vol.snapshots,
        backups=vol.backups,
        backup_gigabytes=vol.backup_gigabytes,
        per_volume_gigabytes=vol.per_volume_gigabytes,
        groups=vol.groups,
        region=region,
        opts=opts,
    )


class DepartmentTenant(pulumi.ComponentResource):
    """A department's Keystone project with its groups, role assignments and quotas."""

    project_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: DepartmentTenantArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"{TOKEN_PREFIX}:tenant:DepartmentTenant", name, None, opts)
        child = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=self))
        physical = project_name(args.county_code, args.department)
        project = openstack.identity.Project(
            f"{name}-project",
            name=physical,
            description=args.description,
            enabled=True,
            tags=project_tags(args.county_code, args.department, args.kind, args.mlps_level),
            opts=child,
        )
        for group_role, role in (("requesters", ROLE_REQUESTER), ("approvers", ROLE_APPROVER)):
            group = openstack.identity.GroupV3(
                f"{name}-{group_role}",
                name=f"{physical}-{group_role}",
                description=f"{args.description} {group_role}",
                opts=child,
            )
            openstack.identity.RoleAssignment(
                f"{name}-{group_role}-{role}",
                group_id=group.id,
                project_id=project.id,
                role_id=args.role_ids[role],
                opts=child,
            )
        if args.operator_user_id is not None:
            openstack.identity.RoleAssignment(
                f"{name}-operator-{ROLE_OPERATOR}",
                user_id=args.operator_user_id,
                project_id=project.id,
                role_id=args.role_ids[ROLE_OPERATOR],
                opts=child,
            )
        declare_quotas(
            name,
            project_id=project.id,
            region=args.region,
            quotas=args.quotas,
            compute_service_id=args.compute_service_id,
            opts=child,
        )
        self.project_id = project.id
        self.register_outputs({"project_id": self.project_id})
