"""The DR placement from a lab's recorded state: the variables the dr-*.yml playbooks get, and
the refusals naming what to do (no cloud server, nothing at the DR site, no such workload)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_lab_dr_site import PRIMARY, STANDBY

from dr import labdrill, labsite
from govcloud.errors import BadInputError
from govcloud.loader import load_county
from lab.netlab.manager import NetLab
from lab.netlab.topology import WorkloadSpec, build_topology
from lab.workload import schema, servers
from network.phases import ROLE_HOST
from network.plan import plan_network

REPO = Path(__file__).resolve().parents[2]


def _lab(tmp_path: Path, *workloads: WorkloadSpec) -> NetLab:
    """A lab whose state is recorded as `lab up` records it (no namespaces needed to read it)."""
    county = load_county(REPO / "county")
    plan = plan_network(county, dr_departments=["gaj", "bmz"])
    topology = build_topology(county, plan, ("cgj",), lab="t", workloads=list(workloads))
    lab = NetLab(tmp_path, "t")
    lab.root.mkdir(parents=True)
    lab.state_path.write_text(json.dumps({"nodes": topology.nodes}))
    return lab


def test_the_placement_names_both_servers_and_the_policy(tmp_path: Path) -> None:
    lab = _lab(tmp_path, WorkloadSpec("gaj/portal", 8, PRIMARY, STANDBY))
    placement = labsite.placement(lab, "gaj/portal")
    variables = placement.variables
    assert (placement.system, placement.department) == ("gaj/portal", "gaj")
    assert {k: variables[k] for k in ("dr_primary", "dr_standby", "dr_replication")} == {
        "dr_primary": "gaj-portal-cloud",
        "dr_standby": "gaj-portal-dr",
        "dr_replication": "streaming-async",
    }
    assert (variables["dr_primary_address"], variables["dr_standby_address"]) == (
        "198.18.41.20",
        "198.18.60.5",
    )
    assert variables["dr_standby_address6"] == "2001:db8:4000:1::5"
    assert variables["dr_name"] == "portal.gaj.svc.extranet.example"
    assert variables["dr_verify_query"] == schema.RECORDS_STATS
    assert variables["dr_cluster"] == servers.CLUSTER
    assert variables["dr_backup_dir"] == ""
    assert all(key.startswith("dr_") for key in variables)
    # Never a secret: the playbooks read it from the environment.
    assert "dr_secret" not in variables and labsite.SECRET_ENV == "GOVCLOUD_DR_SECRET"  # noqa: S105


def test_a_backup_system_gets_its_backup_directory(tmp_path: Path) -> None:
    lab = _lab(tmp_path, WorkloadSpec("bmz/bianmin", 1, PRIMARY, None, "bmz-bianmin-backup"))
    variables = labsite.placement(lab, "bmz/bianmin").variables
    assert variables["dr_replication"] == "backup"
    assert variables["dr_backup_dir"] == "/srv/govcloud/dr-backup/bmz-bianmin-backup"


def test_a_system_without_anything_at_the_dr_site_is_refused(tmp_path: Path) -> None:
    lab = _lab(tmp_path, WorkloadSpec("gaj/portal", 8, PRIMARY))
    with pytest.raises(BadInputError, match="the DR stack be deployed"):
        labsite.placement(lab, "gaj/portal")
    with pytest.raises(BadInputError, match="runs no workload 'gaj/nothing'"):
        labsite.placement(lab, "gaj/nothing")


def test_a_legacy_system_has_no_cloud_server_to_protect(tmp_path: Path) -> None:
    lab = _lab(tmp_path, WorkloadSpec("cgj/zhifa", 8))
    with pytest.raises(BadInputError, match="no cloud server for it; deploy the primary stack"):
        labsite.placement(lab, "cgj/zhifa")


def test_the_probe_writes_from_the_lab_s_hosts_when_the_system_s_department_stays_out(
    tmp_path: Path,
) -> None:
    lab = _lab(tmp_path, WorkloadSpec("gaj/portal", 8, PRIMARY, STANDBY))
    cgj_hosts = sorted(
        name
        for name, node in lab.state()["nodes"].items()
        if node.get("role") == ROLE_HOST and node.get("department") == "cgj"
    )
    assert cgj_hosts  # the lab's own department has LAN hosts
    # gaj is not in the lab (a system already on the cloud): its clients are cgj's hosts.
    assert labdrill.client_host(lab, "gaj") == cgj_hosts[0]
    assert labdrill.client_host(lab, "cgj") == cgj_hosts[0]
