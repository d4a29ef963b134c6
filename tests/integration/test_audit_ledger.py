"""Ledger drift on a real registry (SQLite, then PostgreSQL) whose ledger the portal's own
requests filled, against constructed Snapshot values; then against the live local cloud.

The live-cloud test (marked `cloud`) needs the local cloud: `make test` starts it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audit_site import county_site
from clirunner import govcloud
from portal_kit import Portal
from ports import free_port
from small_county import CODE, LEVEL, write_county, write_project
from snapshot_kit import PRIMARY, project, server, snapshot, volume

from audit.ledger import ledger_drift
from govcloud.conventions import project_tags
from govcloud.quota import Amounts
from govcloud.registry.ledger import used_by_department
from lab.localcloud.manager import LocalCloud

LIVE_CODE = "519917"  # a county of its own on the local cloud: other cloud tests use others
ALPHA = f"ledger {PRIMARY}/{CODE}-alpha"


def granted(portal: Portal) -> dict[str, Amounts]:
    compute = portal.submit("req-a", kind="compute", flavor="m1.medium", count=2)
    assert compute.status_code == 201, compute.text
    assert portal.approve_twice(compute.json()["id"]).json()["state"] == "ops_approved"
    storage = portal.submit("req-b", kind="storage", storage_gb=30)
    assert storage.status_code == 201, storage.text
    approved = portal.approve_twice(storage.json()["id"], head="head-b")
    assert approved.json()["state"] == "ops_approved"
    with portal.context.sessions() as session:
        return dict(used_by_department(session))


def test_the_ledger_the_portal_kept_against_the_cloud(portal: Portal) -> None:
    used = granted(portal)
    assert (used["alpha"].vcpu, used["alpha"].ram_gb) == (4, 8)
    assert used["beta"].storage_gb == 30
    alpha = project("p-a", f"{CODE}-alpha", tuple(project_tags(CODE, "alpha", "bureau", LEVEL)))
    beta = project("p-b", f"{CODE}-beta", tuple(project_tags(CODE, "beta", "township", LEVEL)))
    built = snapshot(
        projects=[alpha, beta],
        servers=[server("s1", "p-a", "m1.medium"), server("s2", "p-a", "m1.medium")],
        volumes=[volume("v1", "p-b", 30)],
    )
    departments = [d.code for d in portal.county.departments]
    clean = ledger_drift(
        used,
        built,
        county_code=CODE,
        departments=departments,
        region=PRIMARY,
    )
    assert clean.findings == []
    # One granted server removed by hand, one volume added by hand.
    changed = snapshot(
        projects=[alpha, beta],
        servers=[server("s1", "p-a", "m1.medium")],
        volumes=[volume("v1", "p-b", 30), volume("v2", "p-b", 5)],
    )
    report = ledger_drift(
        used,
        changed,
        county_code=CODE,
        departments=departments,
        region=PRIMARY,
    )
    assert sorted((f.resource, f.attribute, f.desired, f.live) for f in report.findings) == [
        (ALPHA, "ram_gb", 8, 4),
        (ALPHA, "vcpu", 4, 2),
        (f"ledger {PRIMARY}/{CODE}-beta", "storage_gb", 30, 35),
    ]


def dead_cloud(directory: Path) -> Path:
    """A clouds.yaml whose only cloud nobody answers for (as test_audit_drift's)."""
    path = directory / "clouds.yaml"
    path.write_text(
        "clouds:\n  dead:\n    auth:\n"
        f"      auth_url: http://127.0.0.1:{free_port()}/v3\n"
        "      username: nobody\n      password: unused\n      project_name: none\n"
        "      user_domain_name: Default\n      project_domain_name: Default\n"
        "    identity_api_version: 3\n    api_timeout: 5\n"
    )
    return path


def test_drift_ledger_through_the_cli_without_a_cloud(tmp_path: Path) -> None:
    """Usage errors exit 2; a cloud that does not answer is exit 3, unchecked, and recorded."""
    where = (
        "--county",
        str(write_county(tmp_path / "county")),
        "--project-dir",
        str(write_project(tmp_path / "project", CODE)),
    )
    env = {"GOVCLOUD_STATE_DIR": str(tmp_path / "state"), "GOVCLOUD_ACTOR": "test:ledger"}
    assert govcloud("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    both = govcloud("audit", "drift", "--ledger", "--stack", "dr", *where, cwd=tmp_path, env=env)
    assert both.returncode == 2 and "leave out --stack" in both.stderr
    env["OS_CLIENT_CONFIG_FILE"] = str(dead_cloud(tmp_path))
    result = govcloud(
        "audit", "drift", "--ledger", "--cloud", "dead", *where, "--json", cwd=tmp_path, env=env
    )
    assert result.returncode == 3, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["part"] == "ledger" and document["clean"] is False
    assert [(u["part"], u["region"]) for u in document["unchecked"]] == [("ledger", PRIMARY)]
    log = json.loads(
        govcloud("audit", "log", "--action", "audit.drift", "--json", cwd=tmp_path, env=env).stdout
    )
    assert log[0]["after"]["part"] == "ledger" and log[0]["after"]["exit"] == 3
    assert log[0]["after"]["report_sm3"] == document["report_sm3"]


@pytest.mark.cloud
def test_audit_drift_ledger_against_the_local_cloud(
    local_cloud: LocalCloud, tmp_path: Path
) -> None:
    """Deployed from the county model alone, the ledger is empty and the cloud holds only the
    stacks' own resources: what the county model builds shows as more than the ledger holds
    (docs/audit.md says why); then an unreachable cloud is exit 3, never clean."""
    with county_site(local_cloud, tmp_path, LIVE_CODE, "test:audit-ledger") as site:
        site.deploy("primary")
        code, document = site.report("drift", "--ledger")
        assert document["part"] == "ledger" and document["report_sm3"]
        assert code == (1 if document["findings"] else 0)
        for finding in document["findings"]:
            assert finding["id"].startswith("ledger-") and finding["kind"] == "changed"
            assert finding["evidence"]["status"] == "over"  # the ledger granted nothing
        log = site.govcloud("audit", "log", "--action", "audit.drift", "--json")
        assert '"part": "ledger"' in log.stdout
        site.env["OS_CLIENT_CONFIG_FILE"] = str(dead_cloud(tmp_path))
        unreachable, document = site.report("drift", "--ledger", "--cloud", "dead")
        assert unreachable == 3 and document["clean"] is False and document["findings"] == []
        assert [(u["part"], u["region"]) for u in document["unchecked"]] == [("ledger", PRIMARY)]
