"""Approved portal requests in the stacks, under Pulumi mocks: exactly what was granted, in the
department's tenant, and nothing for requests that are not granted (URNs in failures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from portal_kit import Portal
from stackfixtures import by_name, num

from cloud.plan.items import Item
from cloud.plan.stack_items import desired_items
from desired import network_plan
from desired.stack_settings import load_settings
from desired.state import DesiredState, build_desired
from govcloud.conventions import OpenStackType
from govcloud.errors import BadInputError
from govcloud.model import Quota
from modules.dr import dr_site_quota
from modules.quotas import TenantQuotas, tenant_quotas
from stacks.mockrun import DesiredResource, StackRun, run_stack

REPO = Path(__file__).resolve().parents[2]
WORKLOAD = "county:compute:Workload"
PRIMARY_REGION = "RegionOne"
# What each state takes from a new request (the small county: alpha's head is head-a).
STEPS: dict[str, list[tuple[str, str]]] = {
    "draft": [],
    "submitted": [],
    "rejected": [("head-a", "reject")],
    "withdrawn": [("req-a", "withdraw")],
    "ops_approved": [("head-a", "approve"), ("ops", "approve")],
    "deployed": [("head-a", "approve"), ("ops", "approve"), ("ops", "deploy")],
    "in_use": [("head-a", "approve"), ("ops", "approve"), ("ops", "deploy"), ("req-a", "accept")],
    "decommission_requested": [
        ("head-a", "approve"),
        ("ops", "approve"),
        ("ops", "deploy"),
        ("req-a", "decommission"),
    ],
    "decommissioned": [
        ("head-a", "approve"),
        ("ops", "approve"),
        ("ops", "deploy"),
        ("req-a", "decommission"),
        ("ops", "approve"),
    ],
}


def request(portal: Portal, state: str = "ops_approved", **body: Any) -> dict[str, Any]:
    """An alpha request in `state`, moved there through the API as people would."""
    created = portal.submit("req-a", submit=state != "draft", **body)
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    for who, action in STEPS[state]:
        done = portal.post(who, f"/requests/{rid}/{action}", {"reason": "test"})
        assert done.status_code == 200, done.text
    found: dict[str, Any] = portal.get("ops", f"/requests/{rid}").json()
    assert found["state"] == state, found
    return found


def record_plan(portal: Portal) -> None:
    """Record the network plan in the registry, as `govcloud net plan` does before a deploy."""
    with portal.context.sessions() as session:
        network_plan.plan_and_apply(session, portal.county, actor="test")
        session.commit()


def desired(portal: Portal, stack: str = "primary") -> DesiredState:
    """The stack's desired state over the portal's registry."""
    url = portal.context.engine.url.render_as_string(hide_password=False)
    return build_desired(load_settings(REPO, stack), county=portal.county, registry_url=url)


def primary(portal: Portal) -> StackRun:
    return run_stack(desired(portal))


def both(portal: Portal) -> tuple[StackRun, StackRun]:
    """The primary run, and the DR run against the primary's outputs."""
    first = primary(portal)
    dr = desired(portal, "dr")
    return first, run_stack(dr, {dr.settings.primary_stack: first.outputs})


def department_of(run: StackRun, resource: DesiredResource, primary_run: StackRun) -> str:
    """The department whose tenant a resource lives in (by project input or provider)."""
    project_id = resource.inputs.get("projectId") or resource.inputs.get("tenantId")
    if project_id is None and resource.provider_id:
        project_id = run.by_id()[resource.provider_id].inputs["tenantId"]
    project = primary_run.by_id()[str(project_id)]
    return str(project.inputs["name"]).split("-", 1)[1]


def quota_inputs(quotas: TenantQuotas) -> dict[str, dict[str, int]]:
    """Every quota field the stack sets, by resource type, as the provider names them."""
    net, vol = quotas.network, quotas.volume
    return {
        OpenStackType.LIMIT: quotas.compute.as_limits(),
        OpenStackType.NET_QUOTA: {
            "network": net.networks,
            "subnet": net.subnets,
            "port": net.ports,
            "router": net.routers,
            "floatingip": net.floating_ips,
            "securityGroup": net.security_groups,
            "securityGroupRule": net.security_group_rules,
            "subnetpool": net.subnet_pools,
            "rbacPolicy": net.rbac_policies,
        },
        OpenStackType.VOL_QUOTA: {
            "volumes": vol.volumes,
            "gigabytes": vol.gigabytes,
            "snapshots": vol.snapshots,
            "backups": vol.backups,
            "backupGigabytes": vol.backup_gigabytes,
            "perVolumeGigabytes": vol.per_volume_gigabytes,
            "groups": vol.groups,
        },
    }


def declared_quotas(run: StackRun, primary_run: StackRun) -> dict[str, dict[str, dict[str, int]]]:
    """Per department, every quota field the run declares, by resource type."""
    found: dict[str, dict[str, dict[str, int]]] = {}
    for resource in (*run.of_type(OpenStackType.NET_QUOTA), *run.of_type(OpenStackType.VOL_QUOTA)):
        fields = found.setdefault(department_of(run, resource, primary_run), {})
        fields[resource.type] = {
            k: num(v) for k, v in resource.inputs.items() if k not in ("projectId", "region")
        }
    for limit in run.of_type(OpenStackType.LIMIT):
        fields = found.setdefault(department_of(run, limit, primary_run), {})
        fields.setdefault(OpenStackType.LIMIT, {})[str(limit.inputs["resourceName"])] = num(
            limit.inputs["resourceLimit"]
        )
    return found


def comparable(items: list[Item]) -> list[tuple[str, tuple[str, ...], str]]:
    return sorted((i.kind, i.key, repr(sorted(i.attrs.items()))) for i in items)


# -- compute -------------------------------------------------------------------------------------
@pytest.mark.parametrize("state", ["ops_approved", "deployed", "in_use", "decommission_requested"])
def test_an_approved_compute_request_adds_exactly_its_servers(
    sqlite_portal: Portal, state: str
) -> None:
    before = primary(sqlite_portal)
    rid = request(sqlite_portal, state, kind="compute", flavor="m1.medium", count=2)["id"]
    after = primary(sqlite_portal)

    old, new = (
        by_name(before.of_type(OpenStackType.SERVER)),
        by_name(after.of_type(OpenStackType.SERVER)),
    )
    assert set(old) <= set(new), f"servers went missing: {sorted(set(old) - set(new))}"
    added = {name: new[name] for name in set(new) - set(old)}
    assert sorted(added) == [f"alpha-req{rid}-1", f"alpha-req{rid}-2"]
    office = by_name(after.of_type(OpenStackType.NETWORK))["alpha-office"].id
    for server in added.values():
        assert server.inputs["flavorName"] == "m1.medium", f"{server.urn} has the wrong flavor"
        assert server.parent_type == WORKLOAD and server.name.startswith("alpha-work-"), (
            f"{server.urn} is not in alpha's Workload"
        )
        assert department_of(after, server, after) == "alpha", f"{server.urn} not in alpha"
        assert server.inputs["networks"] == [{"uuid": office}], (
            f"{server.urn} is not on alpha's first network"
        )
        assert server.inputs["metadata"] == {
            "govcloud:request": str(rid),
            "govcloud:tier": "general",
            "govcloud:role": "primary",
        }, f"{server.urn} metadata"
    assert sorted(by_name(after.of_type(OpenStackType.VOLUME))) == sorted(
        by_name(before.of_type(OpenStackType.VOLUME))
    ), "a compute request grants no volume"


def test_request_servers_keep_their_names_as_other_requests_come(sqlite_portal: Portal) -> None:
    first = request(sqlite_portal, kind="compute", flavor="m1.small", count=1)["id"]
    names = set(by_name(primary(sqlite_portal).of_type(OpenStackType.SERVER)))
    second = request(sqlite_portal, kind="compute", flavor="m1.small", count=1)["id"]
    request(sqlite_portal, "decommissioned", kind="compute", flavor="m1.small", count=1)
    again = set(by_name(primary(sqlite_portal).of_type(OpenStackType.SERVER)))
    assert f"alpha-req{first}-1" in names
    assert (names <= again, again - names) == (True, {f"alpha-req{second}-1"})


# -- storage -------------------------------------------------------------------------------------
def test_an_approved_storage_request_adds_standalone_volumes_of_its_sizes(
    sqlite_portal: Portal,
) -> None:
    before = primary(sqlite_portal)
    rid = request(sqlite_portal, kind="storage", storage_gb=31, volumes=2)["id"]
    after = primary(sqlite_portal)

    old, new = (
        by_name(before.of_type(OpenStackType.VOLUME)),
        by_name(after.of_type(OpenStackType.VOLUME)),
    )
    assert set(old) <= set(new), f"volumes went missing: {sorted(set(old) - set(new))}"
    added = {name: new[name] for name in set(new) - set(old)}
    sizes = {name: num(volume.inputs["size"]) for name, volume in added.items()}
    assert sizes == {f"alpha-req{rid}-1": 16, f"alpha-req{rid}-2": 15}
    attached = {a.inputs["volumeId"] for a in after.of_type(OpenStackType.ATTACH)}
    for volume in added.values():
        assert volume.id not in attached, f"{volume.urn} is attached; granted volumes stand alone"
        assert volume.parent_type == WORKLOAD, f"{volume.urn} is not in a Workload"
        assert department_of(after, volume, after) == "alpha", f"{volume.urn} not in alpha"
        assert volume.inputs["metadata"]["govcloud:request"] == str(rid), f"{volume.urn}"
    assert sorted(by_name(after.of_type(OpenStackType.SERVER))) == sorted(
        by_name(before.of_type(OpenStackType.SERVER))
    ), "a storage request grants no server"


# -- quota changes -------------------------------------------------------------------------------
def test_an_approved_quota_change_raises_exactly_that_departments_quotas(
    sqlite_portal: Portal,
) -> None:
    county = sqlite_portal.county
    request(
        sqlite_portal,
        kind="quota_change",
        vcpu=4,
        ram_gb=8,
        storage_gb=50,
        floating_ips=2,
        networks=1,
    )
    alpha, beta = county.department("alpha").quota, county.department("beta").quota
    raised = Quota(vcpu=12, ram_gb=24, storage_gb=150, floating_ips=3, networks=3)
    assert alpha != raised, "test bug: the change must change alpha's quota"
    want = {"alpha": quota_inputs(tenant_quotas(raised)), "beta": quota_inputs(tenant_quotas(beta))}
    first, dr = both(sqlite_portal)

    declared = declared_quotas(first, first)
    for resource in (
        *first.of_type(OpenStackType.LIMIT),
        *first.of_type(OpenStackType.NET_QUOTA),
        *first.of_type(OpenStackType.VOL_QUOTA),
    ):
        code = department_of(first, resource, first)
        assert declared[code][resource.type] == want[code][resource.type], (
            f"{resource.urn}: {code}'s quota is not the county's plus its approved changes"
        )
    assert set(declared) == {"alpha", "beta"}
    # The DR site's quota follows the systems it protects, not the department's grant.
    systems = desired(sqlite_portal, "dr").grants.departments["alpha"].systems
    at_dr = quota_inputs(tenant_quotas(dr_site_quota(systems, county.dr.policies)))
    assert declared_quotas(dr, first) == {"alpha": at_dr}, "alpha has an important system"


def test_a_quota_change_with_a_county_quota_since_cut_is_refused_naming_the_fix(
    sqlite_portal: Portal,
) -> None:
    request(sqlite_portal, kind="quota_change", vcpu=-6)
    county = sqlite_portal.county
    cut = county.model_copy(
        update={
            "departments": [
                d.model_copy(update={"quota": d.quota.model_copy(update={"vcpu": 4})})
                if d.code == "alpha"
                else d
                for d in county.departments
            ]
        }
    )
    url = sqlite_portal.context.engine.url.render_as_string(hide_password=False)
    with pytest.raises(BadInputError, match=r"alpha: .*departments/alpha\.yaml.* \(vcpu -2\)"):
        build_desired(load_settings(REPO, "primary"), county=cut, registry_url=url)


# -- networks ------------------------------------------------------------------------------------
def test_a_granted_network_is_a_dual_stack_tenant_network_with_its_prefixes(
    sqlite_portal: Portal,
) -> None:
    found = request(sqlite_portal, kind="network", name="video", hosts=100)
    allocation, rid = found["allocation"], found["id"]
    first, dr = both(sqlite_portal)
    name = f"alpha-req-{rid}-video"
    at_dr = sorted(by_name(dr.of_type(OpenStackType.NETWORK)))
    assert name not in at_dr, f"the DR site has alpha's DR network alone: {at_dr}"

    networks = by_name(first.of_type(OpenStackType.NETWORK))
    assert name in networks, f"the {first.stack} stack has no network {name}: {sorted(networks)}"
    network = networks[name]
    assert network.inputs["region"] == "RegionOne", f"{network.urn} region"
    assert department_of(first, network, first) == "alpha", f"{network.urn} not in alpha"
    subnets = by_name(first.of_type(OpenStackType.SUBNET))
    v4, v6 = subnets[f"{name}-v4"], subnets[f"{name}-v6"]
    for subnet in (v4, v6):
        assert subnet.inputs["networkId"] == network.id, f"{subnet.urn} network"
    assert (v4.inputs["cidr"], v4.inputs["gatewayIp"]) == (
        allocation["ipv4"],
        allocation["ipv4_gateway"],
    ), f"{v4.urn} is not the allocated IPv4 prefix"
    assert (v6.inputs["cidr"], v6.inputs["gatewayIp"]) == (
        allocation["ipv6"],
        allocation["ipv6_gateway"],
    ), f"{v6.urn} is not the allocated IPv6 /64"
    assert (v6.inputs["ipv6RaMode"], v6.inputs["ipv6AddressMode"]) == ("slaac", "slaac"), (
        f"{v6.urn} is not SLAAC"
    )
    router = by_name(first.of_type(OpenStackType.ROUTER))["alpha-router"]
    joined = {
        i.inputs["subnetId"]
        for i in first.of_type(OpenStackType.INTERFACE)
        if i.inputs["routerId"] == router.id
    }
    assert {v4.id, v6.id} <= joined, f"{router.urn} lacks {name}'s subnets"


# -- what is not granted -------------------------------------------------------------------------
NOT_GRANTED = {
    "draft": ("compute", "storage", "network", "quota_change"),
    "rejected": ("compute", "storage", "network", "quota_change"),
    "withdrawn": ("compute", "storage", "network", "quota_change"),
    "submitted": ("compute", "storage", "network", "quota_change"),
    "decommissioned": ("compute", "storage", "network"),  # a quota change is never decommissioned
}
BODIES: dict[str, dict[str, Any]] = {
    "compute": {"kind": "compute", "flavor": "m1.small", "count": 2},
    "storage": {"kind": "storage", "storage_gb": 30, "volumes": 2},
    "network": {"kind": "network", "name": "video", "hosts": 20},
    "quota_change": {"kind": "quota_change", "vcpu": 2, "floating_ips": 1},
}


@pytest.mark.parametrize("state", sorted(NOT_GRANTED))
def test_requests_that_are_not_granted_add_nothing(sqlite_portal: Portal, state: str) -> None:
    record_plan(sqlite_portal)  # so that a network approval adds its own prefixes only
    before = comparable(desired_items(primary(sqlite_portal))[0])
    for kind in NOT_GRANTED[state]:
        request(sqlite_portal, state, **BODIES[kind])
    after = desired_items(primary(sqlite_portal))[0]
    extra = [i for i in after if (i.kind, i.key, repr(sorted(i.attrs.items()))) not in before]
    assert not extra, f"{state} requests changed the desired state: {[i.ref for i in extra]}"
    assert comparable(after) == before


# -- govcloud plan -------------------------------------------------------------------------------
def test_plan_compares_granted_servers_volumes_and_quotas(sqlite_portal: Portal) -> None:
    compute = request(sqlite_portal, kind="compute", flavor="m1.small", count=1)["id"]
    storage = request(sqlite_portal, kind="storage", storage_gb=20)["id"]
    request(sqlite_portal, kind="quota_change", storage_gb=30)
    items, _ = desired_items(primary(sqlite_portal))
    by_key = {(i.kind, i.key): i for i in items}
    project = f"{sqlite_portal.county.code}-alpha"

    server = by_key[("server", (PRIMARY_REGION, project, f"alpha-req{compute}-1"))]
    assert server.attrs["flavor"] == "m1.small", f"{server.ref} flavor"
    assert server.attrs["metadata"]["govcloud:request"] == str(compute), f"{server.ref}"
    volume = by_key[("volume", (PRIMARY_REGION, project, f"alpha-req{storage}-1"))]
    assert dict(volume.attrs) == {"size_gb": 20, "attached_to": []}, f"{volume.ref}"
    quota = by_key[("volume_quota", (project, PRIMARY_REGION))]
    assert quota.attrs["gigabytes"] == 130, f"{quota.ref}: 100 GB + 30 GB approved"
    limit = by_key[("limit", (project, PRIMARY_REGION, "class:DISK_GB"))]
    assert limit.attrs["resource_limit"] == 130, f"{limit.ref}: 100 GB + 30 GB approved"
