"""The grants interface the stacks read: the county model's systems and the portal's approved
requests (servers, volumes, quota changes)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from netaddr import IPSet
from portal_kit import Portal
from small_county import write_county

from desired import network_plan
from desired.grants import (
    RequestServer,
    RequestVolume,
    ServerGrant,
    grants_from_model,
    read_grants,
)
from govcloud.conventions import DR_NETWORK, MIGRATION_NETWORK, MIGRATION_NETWORK_HOSTS
from govcloud.errors import BadInputError
from govcloud.loader import load_county
from govcloud.model import County, Quota, Tier
from govcloud.registry.migration_state import MigrationState
from govcloud.registry.tables import MigrationSystem
from network.plan import RequestedNetwork, plan_network


def test_only_non_classified_systems_on_the_cloud_are_granted(tmp_path: Path) -> None:
    county = load_county(
        write_county(
            tmp_path,
            {"departments/beta.yaml": ("    location: legacy\n", "    location: cloud\n")},
        )
    )
    assert grants_from_model(county) == (
        ServerGrant("alpha", "web", Tier.IMPORTANT, "m1.medium", "govcloud-tiny", 10, "office"),
        ServerGrant("beta", "db", Tier.CORE, "m1.large", "govcloud-tiny", 100, "office"),
    )


def test_classified_systems_are_never_granted(sample_county_dir: Path) -> None:
    county = load_county(sample_county_dir)
    classified = {(d.code, s.code) for d in county.departments for s in d.systems if s.classified}
    assert classified, "the sample county has classified systems"
    assert not classified & {(g.department, g.system) for g in read_grants(county).systems}


def test_a_system_without_data_still_gets_a_minimal_volume(tmp_path: Path) -> None:
    county = load_county(
        write_county(tmp_path, {"departments/alpha.yaml": ("data_gb: 10", "data_gb: 0")})
    )
    (grant,) = grants_from_model(county)
    assert grant.volume_gb == 1


def test_grants_are_sorted_and_one_per_system(sample_county_dir: Path) -> None:
    grants = read_grants(load_county(sample_county_dir)).systems
    keys = [(g.department, g.system) for g in grants]
    assert keys == sorted(set(keys))


def approved(portal: Portal, **body: Any) -> int:
    """An alpha request approved by its head and cloud ops; its id."""
    created = portal.submit("req-a", **body)
    assert created.status_code == 201, created.text
    rid: int = created.json()["id"]
    assert portal.approve_twice(rid).json()["state"] == "ops_approved"
    return rid


def read(portal: Portal, county: County | None = None) -> Any:
    with portal.context.sessions() as session:
        return read_grants(county or portal.county, session)


def test_without_a_session_the_grants_are_the_county_models(sample_county_dir: Path) -> None:
    county = load_county(sample_county_dir)
    grants = read_grants(county)
    assert grants.systems == grants_from_model(county)
    for department in county.departments:
        tenant = grants.departments[department.code]
        assert (tenant.quota, tenant.servers, tenant.volumes) == (department.quota, (), ())


def test_an_empty_portal_grants_what_the_county_model_does(sqlite_portal: Portal) -> None:
    assert read(sqlite_portal) == read_grants(sqlite_portal.county)


def test_request_servers_and_volumes_are_named_after_their_request(
    sqlite_portal: Portal,
) -> None:
    compute = approved(sqlite_portal, kind="compute", flavor="m1.large", count=2)
    storage = approved(sqlite_portal, kind="storage", storage_gb=10, volumes=3)
    alpha = read(sqlite_portal).departments["alpha"]
    assert alpha.servers == tuple(
        RequestServer("alpha", f"req{compute}-{n}", compute, "m1.large", "govcloud-tiny", "office")
        for n in (1, 2)
    )
    assert alpha.servers[0].tier is Tier.GENERAL
    assert alpha.volumes == (
        RequestVolume("alpha", f"req{storage}-1", storage, 4),
        RequestVolume("alpha", f"req{storage}-2", storage, 3),
        RequestVolume("alpha", f"req{storage}-3", storage, 3),
    )
    assert alpha.has_workload and not read(sqlite_portal).departments["beta"].has_workload


def test_quota_changes_add_to_the_county_quota_of_their_department_only(
    sqlite_portal: Portal,
) -> None:
    approved(sqlite_portal, kind="quota_change", vcpu=2, networks=1)
    approved(sqlite_portal, kind="quota_change", vcpu=-1, storage_gb=5)
    departments = read(sqlite_portal).departments
    assert departments["alpha"].quota == Quota(
        vcpu=9, ram_gb=16, storage_gb=105, floating_ips=1, networks=3
    )
    assert departments["beta"].quota == sqlite_portal.county.department("beta").quota


def test_without_legacy_networks_request_servers_join_the_oldest_granted_network(
    sqlite_portal: Portal,
) -> None:
    video = approved(sqlite_portal, kind="network", name="video", hosts=20)
    approved(sqlite_portal, kind="network", name="audio", hosts=20)
    approved(sqlite_portal, kind="compute", flavor="m1.small")
    county = sqlite_portal.county
    no_legacy = county.model_copy(
        update={
            "departments": [
                d.model_copy(update={"legacy_networks": []}) if d.code == "alpha" else d
                for d in county.departments
            ]
        }
    )
    (server,) = read(sqlite_portal, no_legacy).departments["alpha"].servers
    assert server.network == f"req-{video}-video"


def test_a_system_named_like_a_request_server_is_refused_naming_the_fix(
    sqlite_portal: Portal, tmp_path: Path
) -> None:
    rid = approved(sqlite_portal, kind="compute", flavor="m1.small")
    renamed = load_county(
        write_county(
            tmp_path / "renamed", {"departments/alpha.yaml": ("code: web", f"code: req{rid}-1")}
        )
    )
    with pytest.raises(BadInputError, match=rf"alpha: the systems req{rid}-1 .* rename"):
        read(sqlite_portal, renamed)


def test_a_system_being_migrated_is_granted_its_target_server(sqlite_portal: Portal) -> None:
    before = {(g.department, g.system) for g in read(sqlite_portal).systems}
    assert ("beta", "db") not in before  # legacy, not migrating yet
    with sqlite_portal.context.sessions() as session, session.begin():
        session.add(
            MigrationSystem(
                system="beta/db",
                department="beta",
                state=MigrationState.PLANNED.value,
                updated_at=dt.datetime.now(dt.UTC),
            )
        )
    after = read(sqlite_portal).systems
    assert {(g.department, g.system) for g in after} == before | {("beta", "db")}
    (target,) = [g for g in after if g.system == "db"]
    assert (target.flavor, target.volume_gb) == ("m1.large", 100)  # core tier, its data
    # On a network of its own, planned for the department, never on its LAN's prefix, and on
    # top of the networks the department may request.
    assert target.network == MIGRATION_NETWORK
    quota = sqlite_portal.county.department("beta").quota
    assert read(sqlite_portal).departments["beta"].quota.networks == quota.networks + 1
    with sqlite_portal.context.sessions() as session:
        requested = network_plan.load_requested(session)
    assert RequestedNetwork("beta", MIGRATION_NETWORK, MIGRATION_NETWORK_HOSTS) in requested
    plan = plan_network(sqlite_portal.county, requested=requested)
    beta = [a for a in plan.allocations if a.department == "beta" and a.family == 4]
    (migrated,) = [IPSet([a.prefix]) for a in beta if a.network == MIGRATION_NETWORK]
    others = IPSet([a.prefix for a in beta if a.network != MIGRATION_NETWORK])
    assert others and not migrated & others


def test_a_department_gets_its_dr_network_once_a_system_of_it_migrates(
    sqlite_portal: Portal,
) -> None:
    county = sqlite_portal.county
    with sqlite_portal.context.sessions() as session, session.begin():
        first = network_plan.plan_and_apply(session, county, actor="test")
    dr = {(a.department, a.family) for a in first.allocations if a.network == DR_NETWORK}
    assert dr == {("alpha", 4), ("alpha", 6)}, "alpha's web runs on the cloud; beta is legacy"
    with sqlite_portal.context.sessions() as session, session.begin():
        session.add(
            MigrationSystem(
                system="beta/db",
                department="beta",
                state=MigrationState.PLANNED.value,
                updated_at=dt.datetime.now(dt.UTC),
            )
        )
    with sqlite_portal.context.sessions() as session, session.begin():
        second = network_plan.plan_and_apply(session, county, actor="test")
    assert set(first.allocations) <= set(second.allocations), "nothing recorded moves"
    assert {(a.department, a.network, a.family) for a in second.added} == {
        ("beta", MIGRATION_NETWORK, 4),
        ("beta", MIGRATION_NETWORK, 6),
        ("beta", DR_NETWORK, 4),
        ("beta", DR_NETWORK, 6),
    }
