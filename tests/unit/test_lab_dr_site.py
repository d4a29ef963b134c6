"""The lab's DR site: the DR region's gateway on a core link of its own, a system already on the
cloud running at its cloud server, its DR standby (or backup agent) behind the DR gateway, the
routes that reach them, and what the lab refuses to build."""

from __future__ import annotations

from pathlib import Path

import pytest
from small_county import write_county

from cloud.addresses import ServerPort
from govcloud.errors import BadInputError
from govcloud.loader import load_county
from govcloud.model import County
from lab.netlab.ansible_inventory import groups, template_vars
from lab.netlab.configs import core_config
from lab.netlab.topology import (
    CORE_SITE_INTERFACES,
    WorkloadSpec,
    build_topology,
    dr_server_node,
)
from lab.workload import servers
from network.phases import ROLE_CLOUD, ROLE_CLOUD_SERVER
from network.plan import plan_network
from network.reachability import expected_checks

SYSTEM = "gaj/portal"  # important, on the cloud; gaj stays out of the lab (its LANs are its own)
PRIMARY = ServerPort(
    server="gaj-portal",
    server_id="p1",
    region="RegionOne",
    ipv4="198.18.41.20/26",
    gateway4="198.18.41.1",
    ipv6="2001:db8:3000:41::20/64",
    gateway6="2001:db8:3000:41::1",
)
STANDBY = ServerPort(
    server="gaj-portal",
    server_id="s1",
    region="RegionTwo",
    ipv4="198.18.60.5/25",
    gateway4="198.18.60.1",
    ipv6="2001:db8:4000:1::5/64",
    gateway6="2001:db8:4000:1::1",
)


@pytest.fixture(scope="module")
def county() -> County:
    return load_county(Path(__file__).resolve().parents[2] / "county")


def _lab(county: County, *workloads: WorkloadSpec, departments: tuple[str, ...] = ("cgj",)):
    plan = plan_network(county, dr_departments=["gaj", "cgj", "bmz"])
    return build_topology(county, plan, departments, workloads=list(workloads))


def test_the_dr_gateway_has_a_core_link_of_its_own_and_the_sites_block(county: County) -> None:
    topology = _lab(county)
    gateway = topology.nodes["dr-gw"]
    core = topology.nodes["core-rtr"]
    assert (gateway["role"], gateway["region"], gateway["site"]) == (
        ROLE_CLOUD,
        "RegionTwo",
        "shili-dr",
    )
    assert gateway["ipv4"] == "198.19.252.10/24" and gateway["gateway4"] == "198.19.252.1"
    # The DR site's segment is the first /64 of its block, as the cloud's is of the primary's.
    assert gateway["ipv6"] == "2001:db8:4000::a/64"
    assert core["dr_interface"] == {
        "interface": CORE_SITE_INTERFACES["dr"],
        "ipv4": "198.19.252.1/24",
        "ipv6": "2001:db8:4000::1/64",
    }
    assert any(v.a == "core-rtr" and v.a_if == "dr0" and v.b == "dr-gw" for v in topology.veths)
    assert core["static_routes"] == [{"prefix": "2001:db8:4000::/36", "via": "2001:db8:4000::a"}]
    assert gateway["unreachable"] == ["2001:db8:4000::/36"]  # no loop back to the core
    config = core_config(topology, template_vars("lab"))
    assert "interface dr0\n description the DR site\n ip address 198.19.252.1/24" in config
    assert " passive-interface dr0" in config
    assert "ipv6 route 2001:db8:4000::/36 2001:db8:4000::a" in config
    # BIRD departments learn the DR segment too.
    assert "permit 198.19.252.0/24 le 32" in config
    assert list(groups(topology)["all"]["children"]["cloud_gateways"]["hosts"]) == [
        "cloud-gw",
        "dr-gw",
    ]


def test_a_county_without_a_dr_site_has_no_dr_gateway(tmp_path: Path) -> None:
    county = load_county(
        write_county(
            tmp_path, {"county.yaml": ("  - name: dr\n    role: dr\n    region: RegionTwo\n", "")}
        )
    )
    topology = build_topology(county, plan_network(county), ("alpha",))
    assert "dr-gw" not in topology.nodes
    assert "dr_interface" not in topology.nodes["core-rtr"]
    assert "interface dr0" not in core_config(topology, template_vars("lab"))
    with pytest.raises(BadInputError, match="alpha/web: the county has no DR site"):
        build_topology(
            county,
            plan_network(county),
            ("beta",),
            workloads=[WorkloadSpec("alpha/web", 1, PRIMARY, STANDBY)],
        )


def test_a_system_on_the_cloud_runs_at_its_cloud_server_with_a_standby_at_the_dr_site(
    county: County,
) -> None:
    topology = _lab(county, WorkloadSpec(SYSTEM, 8, PRIMARY, STANDBY))
    primary = topology.nodes["gaj-portal-cloud"]
    assert primary["workload"]["data_mb"] == 8 and primary["workload"]["source"] is None
    assert primary["workload"]["dr_server"] == dr_server_node(SYSTEM) == "gaj-portal-dr"
    assert primary["workload"]["dr_replication"] == "streaming-async"  # important's policy
    standby = topology.nodes["gaj-portal-dr"]
    assert (standby["role"], standby["region"], standby["site"]) == (
        ROLE_CLOUD_SERVER,
        "RegionTwo",
        "dr",
    )
    assert (standby["ipv4"], standby["gateway6"]) == ("198.18.60.5/25", "2001:db8:4000:1::1")
    assert standby["workload"]["primary"] == "gaj-portal-cloud"
    assert "data_mb" not in standby["workload"]  # it starts bare, as a new server does
    assert topology.nodes["dr-gw"]["tenants"] == [
        {"bridge": "d0", "ipv4": "198.18.60.1/25", "ipv6": "2001:db8:4000:1::1/64"}
    ]
    assert any(
        v.a == "dr-gw" and v.b == "gaj-portal-dr" and v.bridge == "d0" for v in topology.veths
    )
    routes = {r["prefix"]: r["via"] for r in topology.nodes["core-rtr"]["static_routes"]}
    assert routes["198.18.60.0/25"] == "198.19.252.10"
    assert routes["198.18.41.0/26"] == "198.19.253.10"
    assert "2001:db8:4000:1::/64" not in routes  # inside the site's block, routed whole
    # Clients find the system at its cloud server from the start.
    assert servers.names(topology.nodes) == [("198.18.41.20", "portal.gaj.svc.extranet.example")]
    children = groups(topology)["all"]["children"]
    assert list(children["dr_servers"]["hosts"]) == ["gaj-portal-dr"]
    assert set(children["cloud_servers"]["hosts"]) == {"gaj-portal-cloud", "gaj-portal-dr"}
    assert "workload_sources" not in children
    # The DR gateway is a cloud the department's hosts reach, not a second name for the cloud.
    checks = expected_checks(topology.nodes, {"cgj": "merged"})
    assert any(c.target == "dr-gw" and c.probe == "ping" for c in checks)
    assert not any(c.target == "dr-gw" and c.probe == "name" for c in checks)


def test_a_backup_systems_dr_node_holds_its_backup_volume(county: County) -> None:
    topology = _lab(county, WorkloadSpec("bmz/bianmin", 1, PRIMARY, None, "bmz-bianmin-backup"))
    agent = topology.nodes["bmz-bianmin-dr"]
    workload = agent["workload"]
    assert (workload["replication"], workload["standby"]) == ("backup", "cold")
    assert workload["backup_dir"] == "/srv/govcloud/dr-backup/bmz-bianmin-backup"
    # On bmz's DR network as the plan gives it, near its end; the gateway first.
    plan = plan_network(county, dr_departments=["gaj", "cgj", "bmz"])
    dr4 = next(a.prefix for a in plan.allocations if a.key[:3] == ("bmz", "dr-site", 4))
    network, length = dr4.split("/")
    assert agent["ipv4"].endswith(f"/{length}") and agent["ipv4"] != f"{network}/{length}"
    assert agent["gateway4"].rsplit(".", 1)[1] == str(int(network.rsplit(".", 1)[1]) + 1)
    assert topology.nodes["bmz-bianmin-cloud"]["workload"]["dr_server"] == "bmz-bianmin-dr"


@pytest.mark.parametrize(
    ("spec", "departments", "message"),
    [
        (WorkloadSpec(SYSTEM, 1), ("cgj",), "the cloud holds no server for it; deploy the primary"),
        (
            WorkloadSpec(SYSTEM, 1, PRIMARY),
            ("cgj", "gaj"),
            "leave gaj out of --departments",
        ),
    ],
)
def test_a_system_on_the_cloud_that_cannot_run_is_refused(
    county: County, spec: WorkloadSpec, departments: tuple[str, ...], message: str
) -> None:
    # gaj's LAN is the prefix of its first tenant network, where its cloud systems sit.
    if "gaj" in departments:
        lan = build_topology(county, plan_network(county), ("gaj",)).nodes["gaj-rtr"]["lans"][0]
        address = lan["extranet"] or lan["nat_outside"]
        base, length = address.split("/")
        spec = WorkloadSpec(
            SYSTEM,
            1,
            ServerPort("gaj-portal", "p1", "RegionOne", f"{base}/{length}", base, None, None),
        )
    with pytest.raises(BadInputError, match=message):
        _lab(county, spec, departments=departments)


def test_a_backup_system_needs_its_departments_dr_network_in_the_plan(county: County) -> None:
    plan = plan_network(county)  # no DR networks recorded
    with pytest.raises(BadInputError, match="no DR network for bmz; record it"):
        build_topology(
            county,
            plan,
            ("cgj",),
            workloads=[WorkloadSpec("bmz/bianmin", 1, PRIMARY, None, "bmz-bianmin-backup")],
        )
