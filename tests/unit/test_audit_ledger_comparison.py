"""Ledger drift on constructed Snapshot values: one finding per department and resource where
the ledger and the live cloud differ, with the cloud drift's shape; what the cloud cannot tell
is unchecked, never clean."""

from __future__ import annotations

from small_county import CODE, LEVEL
from snapshot_kit import DR, PRIMARY, SNAPSHOT, project, server, snapshot

from audit.findings import FindingKind, Severity
from audit.ledger import ledger_drift
from govcloud.conventions import project_tags
from govcloud.quota import Amounts

ALPHA = f"ledger {PRIMARY}/{CODE}-alpha"
BETA = f"ledger {PRIMARY}/{CODE}-beta"


def test_differences_are_findings_with_the_ledger_as_desired_and_the_cloud_as_live() -> None:
    used = {"alpha": Amounts(vcpu=3, ram_gb=8, storage_gb=40, floating_ips=1, networks=1)}
    report = ledger_drift(
        used, SNAPSHOT, county_code=CODE, departments=["alpha", "beta", "gamma"], region=PRIMARY
    )
    found = {(f.resource, f.attribute): f for f in report.findings}
    assert {key: (f.desired, f.live, f.severity) for key, f in found.items()} == {
        (ALPHA, "ram_gb"): (8, 6, Severity.MEDIUM),  # granted, not all built
        (ALPHA, "storage_gb"): (40, 50, Severity.HIGH),  # more than was granted
        (BETA, "storage_gb"): (0, 10, Severity.HIGH),  # beta was granted nothing
        (BETA, "networks"): (0, 1, Severity.HIGH),
    }
    ram = found[(ALPHA, "ram_gb")]
    assert ram.kind is FindingKind.CHANGED and ram.control == "8.1.4.2"
    assert ram.id.startswith("ledger-") and ram.as_dict()["kind"] == "changed"
    assert ram.evidence["status"] == "under" and ram.evidence["department"] == "alpha"
    assert ram.evidence["ledger"] == "portal_ledger.used_ram_gb"
    assert ram.evidence["region"] == PRIMARY and ram.evidence["cloud"] == SNAPSHOT.cloud
    assert report.exit_code == 1 and not report.unreachable
    assert report.coverage == {"ledger": {"managed": 1, "all": 3, "ratio": 1 / 3}}  # gamma


def test_what_the_cloud_cannot_tell_is_unchecked_not_clean() -> None:
    report = ledger_drift(
        {}, SNAPSHOT, county_code=CODE, departments=["alpha", "beta"], region=PRIMARY
    )
    unchecked = {(u["resource"], u["attribute"]) for u in report.unchecked}
    # No reader of floating IPs; beta runs a server of a flavor nobody defined.
    assert unchecked == {
        (ALPHA, "floating_ips"),
        (BETA, "floating_ips"),
        (BETA, "vcpu"),
        (BETA, "ram_gb"),
    }
    assert all(u["part"] == "ledger" and u["reason"] for u in report.unchecked)
    assert (BETA, "vcpu") not in {(f.resource, f.attribute) for f in report.findings}


def test_ids_are_stable_and_only_the_primary_region_counts() -> None:
    tags = tuple(project_tags(CODE, "alpha", "bureau", LEVEL))
    granted = {"alpha": Amounts(vcpu=2, ram_gb=4)}
    holds = snapshot(
        projects=[project("p", f"{CODE}-alpha", tags)],
        servers=[server("s", "p", "m1.medium"), server("r", "p", "m1.large", region=DR)],
    )
    clean = ledger_drift(granted, holds, county_code=CODE, departments=["alpha"], region=PRIMARY)
    assert clean.findings == [] and clean.exit_code == 0  # the DR replica is not counted
    empty = snapshot(projects=[project("p", f"{CODE}-alpha", tags)])
    first = ledger_drift(granted, empty, county_code=CODE, departments=["alpha"], region=PRIMARY)
    again = ledger_drift(granted, empty, county_code=CODE, departments=["alpha"], region=PRIMARY)
    assert [f.id for f in first.findings] == [f.id for f in again.findings]
    assert [(f.attribute, f.desired, f.live) for f in first.findings] == [
        ("vcpu", 2, 0),
        ("ram_gb", 4, 0),
    ]
