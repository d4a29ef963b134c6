"""Live usage from a constructed Snapshot, compared with the ledger."""

from __future__ import annotations

from snapshot_kit import DR, PRIMARY, SNAPSHOT, project, server, snapshot

from portal.observed import ObservedUsage, compare, department_of, flagged, observed_usage
from portal.quota import Amounts


def test_projects_map_to_departments_by_tag_then_name() -> None:
    assert [department_of(p) for p in SNAPSHOT.projects] == ["alpha", "beta", "admin"]


def test_usage_counts_the_primary_region_only() -> None:
    usage = observed_usage(SNAPSHOT, ["alpha", "beta", "gamma"], [PRIMARY])
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
    both = observed_usage(SNAPSHOT, ["alpha"], [PRIMARY, DR])["alpha"]
    assert (both.vcpu, both.storage_gb) == (7, 550)


def test_half_gigabyte_flavors_count_as_fractions() -> None:
    tiny = snapshot(projects=[project("p", "alpha")], servers=[server("t", "p", "m1.tiny")])
    assert observed_usage(tiny, ["alpha"], [PRIMARY])["alpha"].ram_gb == 0.5


def test_differences_are_flagged_per_resource() -> None:
    ledger_used = Amounts(vcpu=3, ram_gb=8, storage_gb=40, floating_ips=1, networks=1)
    seen = observed_usage(SNAPSHOT, ["alpha"], [PRIMARY])["alpha"]
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
