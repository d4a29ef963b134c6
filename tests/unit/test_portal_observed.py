"""Live usage from a constructed Snapshot, compared with the ledger."""

from __future__ import annotations

from pathlib import Path

from simulated_cloud import snapshot_from_items
from small_county import CODE, LEVEL, write_county
from snapshot_kit import DR, PRIMARY, SNAPSHOT, project, server, snapshot

from cloud.plan.run import collect_desired, load_stacks
from cloud.usage import ObservedUsage, compare, department_of, flagged, observed_usage
from govcloud.conventions import FLAVORS, project_tags
from govcloud.loader import load_county
from govcloud.quota import Amounts

REPO = Path(__file__).resolve().parents[2]
# beta's database runs on the cloud too, so both departments hold a workload.
MOVED_DB = ("location: legacy", "location: cloud")


def test_projects_map_to_departments_by_the_stacks_tags() -> None:
    found = [department_of(p, CODE) for p in SNAPSHOT.projects]
    assert found == ["alpha", "beta", None, None]  # admin is untagged, p-elsewhere not ours
    untagged = project("p-x", "alpha")  # a project merely named like a department
    assert department_of(untagged, CODE) is None


def test_usage_counts_the_primary_region_only() -> None:
    usage = observed_usage(SNAPSHOT, CODE, ["alpha", "beta", "gamma"], [PRIMARY])
    assert usage["alpha"] == ObservedUsage(
        vcpu=3, ram_gb=6, storage_gb=50, floating_ips=None, networks=1
    )
    # beta runs a server of a flavor nobody knows: its CPU and RAM cannot be told.
    assert usage["beta"] == ObservedUsage(
        vcpu=None, ram_gb=None, storage_gb=10, floating_ips=None, networks=1
    )
    assert usage["gamma"] == ObservedUsage(
        vcpu=0, ram_gb=0, storage_gb=0, floating_ips=None, networks=0
    )
    both = observed_usage(SNAPSHOT, CODE, ["alpha"], [PRIMARY, DR])["alpha"]
    assert (both.vcpu, both.storage_gb) == (7, 550)


def test_half_gigabyte_flavors_count_as_fractions() -> None:
    tagged = project_tags(CODE, "alpha", "bureau", LEVEL)
    tiny = snapshot(
        projects=[project("p", "a", tuple(tagged))], servers=[server("t", "p", "m1.tiny")]
    )
    assert observed_usage(tiny, CODE, ["alpha"], [PRIMARY])["alpha"].ram_gb == 0.5


def test_differences_are_flagged_per_resource() -> None:
    ledger_used = Amounts(vcpu=3, ram_gb=8, storage_gb=40, floating_ips=1, networks=1)
    seen = observed_usage(SNAPSHOT, CODE, ["alpha"], [PRIMARY])["alpha"]
    differences = compare(ledger_used, seen)
    assert [(d.resource, d.ledger, d.observed, d.status) for d in differences] == [
        ("vcpu", 3, 3, "ok"),
        ("ram_gb", 8, 6, "under"),  # granted, not (yet) all built
        ("storage_gb", 40, 50, "over"),  # the cloud holds more than was granted
        ("floating_ips", 1, None, "unknown"),
        ("networks", 1, 1, "ok"),
    ]
    assert flagged(differences)
    agreeing = compare(Amounts(vcpu=3, ram_gb=6, storage_gb=50, networks=1), seen)
    assert not flagged(agreeing)


def test_without_a_snapshot_nothing_can_be_told() -> None:
    differences = compare(Amounts(vcpu=1), None)
    assert {d.status for d in differences} == {"unknown"}
    assert not flagged(differences)


def test_a_tenant_the_stacks_build_is_counted(tmp_path: Path) -> None:
    """Deploy the stacks' desired state (as a snapshot of what they would build) and read it
    back through the portal's live usage: the writer's tags and the reader's must agree."""
    county = load_county(write_county(tmp_path, {"departments/beta.yaml": MOVED_DB}))
    side = collect_desired("primary", stacks=load_stacks(REPO, "primary"), county=county)
    built = snapshot_from_items(side.items)
    codes = [d.code for d in county.departments]
    usage = observed_usage(built, county.code, codes, [side.state.site.region])
    for code in codes:
        granted = side.state.grants.departments[code]
        flavors = [FLAVORS[g.flavor] for g in granted.systems]
        assert flavors, f"{code}: the test county should run a system on the cloud"
        assert usage[code] == ObservedUsage(
            vcpu=sum(f.vcpu for f in flavors),
            ram_gb=sum(f.ram_mib for f in flavors) / 1024,
            storage_gb=sum(g.volume_gb for g in granted.systems),
            floating_ips=None,
            networks=len(side.state.networks[code]),
        ), code
    # Another county's reader sees none of it.
    elsewhere = observed_usage(built, "519902", codes, [side.state.site.region])
    assert all(u.vcpu == 0 and u.networks == 0 for u in elsewhere.values())
