"""`govcloud audit check` (the MLPS level-3 catalogue) against the live local cloud.

A small county with a core system on the cloud is deployed to both regions. Then four
violations are planted: SSH open to any address, the core system's DR standby deleted, an audit
entry altered in the registry, and a weak portal sign-in policy. Each is reported 不符合 under
its clause and test item, with the evidence that shows it; before, the same items held.
The platform items read the cloud's own settings: Keystone's password rule (the local cloud
sets one), the image the county's servers run (its SHA-512 as Glance recorded it), and the
volume types (the fake driver offers no encrypted one: 部分符合, saying so).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openstack
import pytest
from audit_site import CountySite, county_site

from govcloud.conventions import DEFAULT_IMAGE
from lab.localcloud.bootstrap import IMAGE_BYTES
from lab.localcloud.layout import CLOUD_NAME, COMPLEXITY_REGEX
from lab.localcloud.manager import LocalCloud

pytestmark = pytest.mark.cloud
CODE = "519926"  # a county of its own: other cloud tests use other codes
PRIMARY, DR = "RegionOne", "RegionTwo"


@pytest.fixture
def site(local_cloud: LocalCloud, tmp_path: Path) -> Iterator[CountySite]:
    # beta's core database moves to the cloud (it needs more storage for its m1.large).
    changes = {
        "departments/beta.yaml": ("location: legacy", "location: cloud"),
    }
    with county_site(local_cloud, tmp_path, CODE, "test:audit-check", changes) as found:
        beta = found.county / "departments" / "beta.yaml"
        beta.write_text(beta.read_text().replace("storage_gb: 50", "storage_gb: 300"))
        yield found


def check(site: CountySite) -> tuple[int, dict[str, dict[str, Any]]]:
    code, report = site.report("check")
    assert code in {0, 1}, report
    assert report["automated"] >= 40
    return code, {item["id"]: item for item in report["items"]}


PLANTED = {
    # rule id: (clause, test item)
    "no-open-management-ports-ipv4": ("8.1.4.4 c)", "L3-CES1-19"),
    "core-system-has-dr-replica": ("8.1.4.9 c)", "L3-CES1-31"),
    "audit-chain-intact": ("8.1.4.3 c)", "L3-CES1-14"),
    "portal-login-lockout": ("8.1.4.1 b)", "L3-CES1-02"),
    "portal-idle-timeout": ("8.1.4.1 b)", "L3-CES1-02"),
}


def test_planted_violations_are_reported_under_their_clauses(site: CountySite) -> None:
    site.deploy("primary")
    site.deploy("dr")
    _, before = check(site)
    for rule in PLANTED:
        assert before[rule]["verdict"] == "符合", before[rule]
    platform_items_read_the_live_settings(before)
    # The stacks tag every project with its level, no level above the platform's (issue 16).
    for rule in ("projects-tagged-with-level", "no-system-above-platform-level"):
        assert before[rule]["verdict"] == "符合", before[rule]

    # 1. SSH open to any address on beta's baseline.
    conn = openstack.connect(cloud=CLOUD_NAME, region_name=PRIMARY)
    beta = conn.identity.find_project(f"{CODE}-beta")
    baseline = conn.network.find_security_group("beta-baseline", project_id=beta.id)
    conn.network.create_security_group_rule(
        security_group_id=baseline.id,
        direction="ingress",
        ethertype="IPv4",
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
        remote_ip_prefix="0.0.0.0/0",
    )
    # 2. The core system's standby at the DR site deleted.
    dr = openstack.connect(cloud=CLOUD_NAME, region_name=DR)
    standby = [
        s
        for s in dr.compute.servers(all_projects=True, project_id=beta.id)
        if s.metadata.get("govcloud:role") == "dr-standby"
    ]
    assert standby, "the DR deploy made no standby for beta/db"
    for server in standby:
        dr.compute.delete_server(server)
        dr.compute.wait_for_delete(server, wait=600)
    # 3. An audit entry altered behind the registry's back.
    with sqlite3.connect(site.state / "registry.sqlite3") as registry:
        registry.execute("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2")
    # 4. A weak portal sign-in policy.
    site.env |= {
        "GOVCLOUD_PORTAL_MAX_FAILURES_PER_ACCOUNT": "50",
        "GOVCLOUD_PORTAL_IDLE_MINUTES": "240",
    }

    code, after = check(site)
    assert code == 1
    for rule, (clause, test_item) in PLANTED.items():
        item = after[rule]
        assert (item["verdict"], item["clause"], item["test_item"]) == (
            "不符合",
            clause,
            test_item,
        ), item
    ssh = after["no-open-management-ports-ipv4"]["evidence"]["failures"]
    assert [(f["project"], f["group"], f["ports"]) for f in ssh] == [
        (f"{CODE}-beta", "beta-baseline", [22])
    ]
    assert after["core-system-has-dr-replica"]["evidence"]["failures"] == ["beta/db"]
    chain = after["audit-chain-intact"]["evidence"]
    assert chain["broken_at"] == 2 and chain["kind"] == "altered"
    assert after["portal-login-lockout"]["evidence"]["max_failures_per_account"] == 50
    assert after["portal-idle-timeout"]["evidence"]["idle_minutes"] == 240
    # The stray rule is drift as well: 8.1.3.2 b) (no unapproved rules).
    assert after["no-stray-rules"]["verdict"] == "不符合"


def platform_items_read_the_live_settings(items: dict[str, dict[str, Any]]) -> None:
    """Keystone's rule, the servers' image and the volume types, as the deployed county has
    them; lockout, which Keystone's API does not answer, left to a person."""
    password = items["keystone-password-policy"]
    assert password["verdict"] == "符合" and password["automated"], password
    assert password["evidence"]["password_regex"] == COMPLEXITY_REGEX
    assert password["evidence"]["accepted_weak"] == []
    lockout = items["keystone-lockout"]
    assert (lockout["verdict"], lockout["clause"]) == ("人工核查", "8.1.4.1 b)"), lockout
    assert "lockout_failure_attempts" in lockout["evidence"]["collect"]

    images = items["image-integrity"]
    assert images["verdict"] == "符合", images
    records = images["evidence"]["images"]
    # Glance's multihash of the bytes the local cloud uploaded: read, not assumed.
    expected = hashlib.sha512(bytes(IMAGE_BYTES)).hexdigest()
    assert {(r["region"], r["name"], r["os_hash_algo"], r["os_hash_value"]) for r in records} == {
        (region, DEFAULT_IMAGE, "sha512", expected) for region in (PRIMARY, DR)
    }
    servers = [name for r in records for name in r["servers"]]
    assert any(name.startswith(f"{CODE}-beta/") for name in servers), servers

    volumes = items["volumes-encrypted"]
    assert volumes["verdict"] == "部分符合", volumes
    evidence = volumes["evidence"]
    assert evidence["failures"] == [] and evidence["unchecked"] == []
    assert all(t["encryption"] is None for t in evidence["volume_types"]), evidence
    unencrypted = evidence["unencrypted_where_no_type_offers_encryption"]
    assert all(v.startswith(f"{CODE}-") for vs in unencrypted.values() for v in vs), unencrypted
    assert PRIMARY in unencrypted and "offers no encrypted volume type" in evidence["reason"]
