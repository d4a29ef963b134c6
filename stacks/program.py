"""The two stacks, as functions of the desired state; each returns its stack outputs.

Components are built in dependency order: the extranet fabric, then per department its
tenant, networks, security baseline and workloads (primary), or its DR replica (dr). The
entry point (`stacks/__main__.py`) exports what these return; `govcloud plan` runs the same
functions under Pulumi mocks.
"""

from __future__ import annotations

import functools
from typing import Any

import pulumi
import pulumi_openstack as openstack

from desired.network_plan import PlannedNetwork
from desired.state import DesiredState
from govcloud.conventions import (
    COMPUTE_SERVICE_TYPE,
    ROLE_APPROVER,
    ROLE_OPERATOR,
    ROLE_REQUESTER,
)
from govcloud.model import SiteRole, Tier
from modules.dr import DrReplica, DrReplicaArgs, protected, replication_settings
from modules.extranet import ExtranetFabric, ExtranetFabricArgs
from modules.quotas import tenant_quotas
from modules.security import SecurityBaseline, SecurityBaselineArgs
from modules.tenant import DepartmentTenant, DepartmentTenantArgs
from modules.tenant_network import TenantNetwork, TenantNetworkArgs
from modules.workload import Workload, WorkloadArgs, system_ref

# The auth scope data source needs a name; any constant works.
AUTH_SCOPE = "deployer"


class MissingTenantError(Exception):
    """The DR stack needs a department tenant the primary stack does not export."""


def _fabric(desired: DesiredState) -> ExtranetFabric:
    county, settings = desired.county, desired.settings
    return ExtranetFabric(
        f"extranet-{desired.site.name}",
        ExtranetFabricArgs(
            county_code=county.code,
            region=desired.site.region,
            ipv4_pools=tuple(county.extranet.ipv4_pools),
            ipv6_prefix=county.extranet.ipv6_prefix,
            ipv6_subnet_prefixlen=county.extranet.ipv6_plan.subnet,
            uplink=settings.extranet_uplink,
            physical_network=settings.extranet_physical_network,
        ),
    )


def _tenant_provider(name: str, project_id: pulumi.Input[str], region: str) -> openstack.Provider:
    """A provider scoped to a tenant (credentials from OS_CLOUD / clouds.yaml as usual)."""
    return openstack.Provider(name, tenant_id=project_id, region=region)


def build_primary(desired: DesiredState) -> dict[str, Any]:
    """The primary site: extranet fabric, and every department's tenant with its workloads."""
    county, region = desired.county, desired.site.region
    fabric = _fabric(desired)
    roles = {
        role: openstack.identity.get_role_output(name=role).id
        for role in sorted({ROLE_REQUESTER, ROLE_APPROVER, ROLE_OPERATOR})
    }
    compute = openstack.identity.get_service_output(type=COMPUTE_SERVICE_TYPE).id
    operator = openstack.identity.get_auth_scope_output(name=AUTH_SCOPE).user_id
    tenants: dict[str, pulumi.Output[str]] = {}
    for department in sorted(county.departments, key=lambda d: d.code):
        code = department.code
        granted = desired.grants.departments[code]
        tenant = DepartmentTenant(
            code,
            DepartmentTenantArgs(
                county_code=county.code,
                department=code,
                description=department.name,
                kind=department.kind.value,
                mlps_level=county.department_level(department),
                region=region,
                quotas=tenant_quotas(granted.quota),
                role_ids=roles,
                compute_service_id=compute,
                operator_user_id=operator if granted.has_workload else None,
            ),
        )
        network = TenantNetwork(
            f"{code}-net",
            TenantNetworkArgs(
                county_code=county.code,
                department=code,
                region=region,
                project_id=tenant.project_id,
                networks=desired.networks[code],
                external_network_id=fabric.network_id,
                ipv4_pool_id=fabric.ipv4_pool_id,
                ipv6_pool_id=fabric.ipv6_pool_id,
            ),
        )
        security = SecurityBaseline(
            f"{code}-sec",
            SecurityBaselineArgs(
                county_code=county.code,
                department=code,
                region=region,
                project_id=tenant.project_id,
                management_prefixes=desired.settings.ops_management_prefixes,
                replication_peers=_prefixes(desired.dr_networks.get(code)),
            ),
        )
        if granted.has_workload:
            Workload(
                f"{code}-work",
                WorkloadArgs(
                    department=code,
                    region=region,
                    grants=granted.systems,
                    network_ids=network.network_ids,
                    security_groups=tuple(security.group_names),
                    provider=_tenant_provider(f"{code}-tenant", tenant.project_id, region),
                    servers=granted.servers,
                    volumes=granted.volumes,
                ),
                opts=pulumi.ResourceOptions(depends_on=[security]),
            )
        tenants[code] = tenant.project_id
    return {
        "region": region,
        "tenants": tenants,
        "extranet": {
            "network_id": fabric.network_id,
            "ipv4_pool_id": fabric.ipv4_pool_id,
            "ipv6_pool_id": fabric.ipv6_pool_id,
        },
        "systems": {system_ref(g): g.tier.value for g in desired.grants.systems},
        "core_systems": sorted(
            system_ref(g) for g in desired.grants.systems if g.tier is Tier.CORE
        ),
    }


def _prefixes(*networks: PlannedNetwork | None) -> tuple[str, ...]:
    """The IPv4 and IPv6 prefixes of these networks, in pairs."""
    return tuple(p for n in networks if n is not None for p in (n.ipv4, n.ipv6))


def _project_of(tenants: Any, *, code: str, reference: str) -> str:
    if not isinstance(tenants, dict) or code not in tenants:
        raise MissingTenantError(
            f"the primary stack {reference} exports no tenant for {code}: "
            "deploy the primary stack first"
        )
    return str(tenants[code])


def build_dr(desired: DesiredState) -> dict[str, Any]:
    """The DR site: extranet fabric, and per department with systems a DR policy protects its
    DR network and what each policy keeps there."""
    county, region = desired.county, desired.site.region
    reference = desired.settings.primary_stack
    primary = pulumi.StackReference(reference)
    tenants = primary.get_output("tenants")
    fabric = _fabric(desired)
    compute = openstack.identity.get_service_output(type=COMPUTE_SERVICE_TYPE).id
    replicated: list[str] = []
    for department in sorted(county.departments, key=lambda d: d.code):
        code = department.code
        # Portal-granted servers and volumes are no county system: nothing at the DR site.
        systems = protected(county, desired.grants.departments[code].systems)
        if not systems:
            continue
        project_id: pulumi.Output[str] = tenants.apply(
            functools.partial(_project_of, code=code, reference=reference)
        )
        replica = DrReplica(
            f"{code}-dr",
            DrReplicaArgs(
                county_code=county.code,
                department=code,
                region=region,
                project_id=project_id,
                compute_service_id=compute,
                network=desired.dr_networks[code],
                primary_prefixes=_prefixes(*desired.networks[code]),
                management_prefixes=desired.settings.ops_management_prefixes,
                external_network_id=fabric.network_id,
                ipv4_pool_id=fabric.ipv4_pool_id,
                ipv6_pool_id=fabric.ipv6_pool_id,
                grants=systems,
                policies=county.dr.policies,
                provider=_tenant_provider(f"{code}-dr-tenant", project_id, region),
            ),
        )
        replicated += replica.replicated
    primary_region = desired.county.site(SiteRole.PRIMARY).region
    settings = replication_settings(county, desired.grants.systems, primary_region, region)
    return {
        "region": region,
        "primary_stack": reference,
        "dr_replicas": [s.as_dict() for s in settings],
        "replicated_systems": sorted(replicated),
        "dr_networks": {
            code: {"ipv4": network.ipv4, "ipv6": network.ipv6}
            for code, network in sorted(desired.dr_networks.items())
        },
    }


def build(desired: DesiredState) -> dict[str, Any]:
    """The stack for the desired state's site."""
    if desired.settings.site_role is SiteRole.PRIMARY:
        return build_primary(desired)
    return build_dr(desired)
