"""`govcloud localcloud deploy` against the local cloud: deploy, plan shows nothing; a county
change shows exactly that change and deploy converges; a hand change is repaired; other clouds
are refused; every run is in the audit log."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openstack
import pytest
from clirunner import run_cli
from handdeploy import remove_county
from small_county import LEVEL, write_county, write_project

from govcloud.conventions import DATABASE_PORTS, TAG_MLPS, mlps_tag
from lab.localcloud.layout import CLOUD_NAME, REGIONS
from lab.localcloud.manager import LocalCloud

pytestmark = pytest.mark.cloud
REPO = Path(__file__).resolve().parents[2]
CODE = "519977"  # a county of its own: other cloud tests use other codes
DEPLOY_TIMEOUT_S = 1800


@dataclass
class Site:
    """A small county, its registry, and the local cloud it deploys to."""

    county: Path
    project: Path
    env: dict[str, str]

    def govcloud(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(args, env=self.env, timeout=DEPLOY_TIMEOUT_S)

    def on_stack(self, *command: str, stack: str) -> subprocess.CompletedProcess[str]:
        """A stack command on this county and its project files, in JSON."""
        return self.govcloud(
            *command,
            "--stack",
            stack,
            "--county",
            str(self.county),
            "--project-dir",
            str(self.project),
            "--json",
        )

    def deploy(self, stack: str = "primary") -> dict[str, Any]:
        result = self.on_stack("localcloud", "deploy", stack=stack)
        assert result.returncode == 0, result.stdout + result.stderr
        return dict(json.loads(result.stdout))

    def plan(self, stack: str = "primary") -> tuple[int, dict[str, Any]]:
        result = self.on_stack("plan", stack=stack)
        assert result.returncode in {0, 1}, result.stdout + result.stderr
        return result.returncode, dict(json.loads(result.stdout))


@pytest.fixture
def site(local_cloud: LocalCloud, tmp_path: Path) -> Iterator[Site]:
    # beta's database moves to the cloud too, so both departments run a server; its m1.large
    # needs 80 GB of disk, more than beta's 50 GB storage quota allows Nova to place.
    county = write_county(
        tmp_path / "county",
        {
            "county.yaml": ('code: "519901"', f'code: "{CODE}"'),
            "departments/beta.yaml": ("location: legacy", "location: cloud"),
        },
    )
    beta = county / "departments" / "beta.yaml"
    beta.write_text(beta.read_text().replace("storage_gb: 50", "storage_gb: 300"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVCLOUD_", "OS_"))}
    env |= {
        "GOVCLOUD_STATE_DIR": str(tmp_path / "state"),
        "GOVCLOUD_LOCALCLOUD_DIR": str(local_cloud.paths.root),
        "GOVCLOUD_ACTOR": "test:deploy",
    }
    found = Site(county, write_project(tmp_path / "project", CODE), env)
    assert found.govcloud("db", "upgrade").returncode == 0
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(local_cloud.paths.clouds_yaml)
    try:
        yield found
    finally:
        remove_county(CLOUD_NAME, [r.name for r in REGIONS], CODE)


def _changes(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(c["action"], c["kind"], c["name"]) for c in report["changes"]}


def test_deploy_converges_and_repairs(site: Site) -> None:
    code, before = site.plan()
    assert code == 1 and before["totals"]["create"] > 0

    first = site.deploy()
    assert first["remaining"] == 0
    assert first["totals"]["create"] == before["totals"]["create"]
    code, now = site.plan()
    assert code == 0 and now["in_sync"] and now["blocked"] == []
    assert {p["status"] for p in now["policies"]} == {"passed"}, now["policies"]
    # Each tenant carries its MLPS level (alpha's important and beta's core system: level 3).
    conn = openstack.connect(cloud=CLOUD_NAME, region_name="RegionOne")
    for department in ("alpha", "beta"):
        tags = conn.identity.find_project(f"{CODE}-{department}").tags
        assert [t for t in tags if t.startswith(TAG_MLPS)] == [mlps_tag(LEVEL)], tags
    again = site.deploy()
    assert again["totals"] == {"create": 0, "update": 0, "delete": 0}, again

    # A county change: alpha's quota grows, beta's database goes back to its machine room.
    alpha = site.county / "departments" / "alpha.yaml"
    alpha.write_text(alpha.read_text().replace("vcpu: 8", "vcpu: 10"))
    beta = site.county / "departments" / "beta.yaml"
    beta.write_text(beta.read_text().replace("location: cloud", "location: legacy"))
    code, changed = site.plan()
    assert code == 1
    found = _changes(changed)
    deleted = [(c["kind"], c["name"]) for c in changed["changes"] if c["action"] == "delete"]
    # beta's server and volume go, and with them the database ports its DR network was admitted
    # to: beta protects nothing now, so neither its standby nor its replication needs them.
    pinhole = 2 * len(DATABASE_PORTS)  # IPv4 and IPv6
    kinds = Counter(k for k, _ in deleted)
    assert kinds == {"server": 1, "volume": 1, "security_group_rule": pinhole}, found
    assert all("beta" in n for _, n in deleted), found
    updated = {(k, n) for a, k, n in found if a == "update"}
    assert updated and all("alpha" in n for _, n in updated), found
    assert not [c for c in found if c[0] == "create"], found
    converged = site.deploy()
    assert converged["totals"]["delete"] == 2 + pinhole and converged["remaining"] == 0

    # A hand change: one rule of alpha's baseline deleted behind the county's back.
    project = conn.identity.find_project(f"{CODE}-alpha")
    group = conn.network.find_security_group("alpha-baseline", project_id=project.id)
    rule = group.security_group_rules[0]
    conn.network.delete_security_group_rule(rule["id"])
    code, drifted = site.plan()
    assert code == 1 and [(c["action"], c["kind"]) for c in drifted["changes"]] == [
        ("create", "security_group_rule")
    ]
    repaired = site.deploy()
    assert repaired["totals"]["create"] == 1 and site.plan()[0] == 0

    # The DR stack: the replicas and standby at the DR site.
    dr = site.deploy("dr")
    assert dr["remaining"] == 0 and dr["totals"]["create"] > 0
    assert site.plan("dr")[0] == 0

    log = site.govcloud("audit", "log", "--action", "localcloud.deploy", "--json")
    entries = json.loads(log.stdout)
    assert len(entries) == 5  # first, again, converged, repaired, DR
    assert all(e["actor"] == "test:deploy" and e["after"]["cloud"] == CLOUD_NAME for e in entries)


def test_deploy_refuses_other_clouds(site: Site) -> None:
    result = site.govcloud(
        "localcloud",
        "deploy",
        "--stack",
        "primary",
        "--cloud",
        "province-cloud",
        "--county",
        str(site.county),
    )
    assert result.returncode == 2
    assert "govcloud apply --stack primary" in result.stderr + result.stdout
    log = site.govcloud("audit", "log", "--action", "localcloud.deploy", "--json")
    assert json.loads(log.stdout) == []
