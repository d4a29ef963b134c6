"""Lab workloads in the topology: a system's own server on its LAN, its cloud server behind
the cloud gateway at the addresses Neutron gave it, and the routes that reach it."""

from __future__ import annotations

from ipaddress import ip_interface
from pathlib import Path

import pytest
from small_county import write_county

from cloud.addresses import ServerPort
from govcloud.conventions import system_service_name
from govcloud.errors import BadInputError
from govcloud.loader import load_county
from govcloud.model import County
from lab.netlab.ansible_inventory import groups, template_vars
from lab.netlab.configs import core_config
from lab.netlab.topology import WorkloadSpec, build_topology
from lab.workload import servers
from network.phases import ROLE_CLOUD_SERVER, ROLE_HOST, Phase, system_names
from network.plan import plan_network
from network.reachability import expected_checks

PORT = ServerPort(
    server="cgj-zhifa",
    server_id="c0ffee",
    region="RegionOne",
    ipv4="198.18.40.20/26",
    gateway4="198.18.40.1",
    ipv6="2001:db8:0:4000::20/64",
    gateway6="2001:db8:0:4000::1",
)


@pytest.fixture(scope="module")
def county() -> County:
    return load_county(Path(__file__).resolve().parents[2] / "county")


def test_a_workload_gets_a_server_on_its_lan_and_one_on_the_cloud(county: County) -> None:
    topology = build_topology(
        county,
        plan_network(county),
        ("cgj",),
        workloads=[WorkloadSpec("cgj/zhifa", 8, PORT)],
    )
    source = topology.nodes["cgj-zhifa"]
    assert source["role"] == ROLE_HOST
    assert source["systems"] == [{"ref": "cgj/zhifa", "depends_on": ["cgj/shuzi"]}]
    assert source["legacy"].endswith(".2/24")  # below the LAN's hosts (.10 up)
    assert source["workload"]["name"] == system_service_name("cgj/zhifa")
    assert all(s["ref"] != "cgj/zhifa" for s in topology.nodes["cgj-office-h1"]["systems"])
    target = topology.nodes["cgj-zhifa-cloud"]
    assert (target["role"], target["ipv4"], target["gateway6"]) == (
        ROLE_CLOUD_SERVER,
        "198.18.40.20/26",
        "2001:db8:0:4000::1",
    )
    assert topology.nodes["cloud-gw"]["tenants"] == [
        {"bridge": "t0", "ipv4": "198.18.40.1/26", "ipv6": "2001:db8:0:4000::1/64"}
    ]
    routes = topology.nodes["core-rtr"]["static_routes"]
    # The DR site's IPv6 block goes to its gateway; the deployed server's subnets to the cloud.
    assert [r["prefix"] for r in routes] == [
        "198.18.40.0/26",
        "2001:db8:0:4000::/64",
        "2001:db8:4000::/36",
    ]
    config = core_config(topology, template_vars("lab"))
    assert "ip route 198.18.40.0/26 198.19.253.10" in config
    assert " redistribute static" in config
    inventory = groups(topology)["all"]["children"]
    assert list(inventory["workload_sources"]["hosts"]) == ["cgj-zhifa"]
    assert list(inventory["cloud_servers"]["hosts"]) == ["cgj-zhifa-cloud"]
    # The cloud server is the migration's business, not the network change's.
    assert "cgj-zhifa-cloud" not in inventory["dept_cgj"]["hosts"]
    assert servers.names(topology.nodes) == [
        (source["legacy"].split("/")[0], "zhifa.cgj.svc.extranet.example")
    ]
    checks = expected_checks(topology.nodes, {"cgj": "legacy"})
    assert any(c.source == "cgj-zhifa" for c in checks)


def test_without_a_deployed_server_only_the_source_runs(county: County) -> None:
    topology = build_topology(
        county, plan_network(county), ("cgj",), workloads=[WorkloadSpec("cgj/zhifa", 8)]
    )
    assert "cgj-zhifa" in topology.nodes
    assert not [n for n, v in topology.nodes.items() if v["role"] == ROLE_CLOUD_SERVER]
    assert [r["prefix"] for r in topology.nodes["core-rtr"]["static_routes"]] == [
        "2001:db8:4000::/36"  # the DR site's block only
    ]


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("cgj/nothing", "cgj/nothing: no such system in cgj"),
        ("gaj/zhian", "gaj/zhian: no such system in gaj"),
        ("gaj/xueliang", "its department is not in the lab"),
        ("nope", "its department is not in the lab"),
    ],
)
def test_workloads_that_cannot_run_are_refused(county: County, ref: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        build_topology(county, plan_network(county), ("cgj",), workloads=[WorkloadSpec(ref, 1)])


def test_a_classified_system_never_runs_as_a_workload(county: County) -> None:
    classified = next(
        (d.code, s.code) for d in county.departments for s in d.systems if s.classified
    )
    department, system = classified
    with pytest.raises(BadInputError, match="classified"):
        build_topology(
            county,
            plan_network(county),
            (department,),
            workloads=[WorkloadSpec(f"{department}/{system}", 1)],
        )


def test_a_cloud_server_on_its_department_lans_prefix_is_refused(county: County) -> None:
    plan = plan_network(county)
    topology = build_topology(county, plan, ("cgj",))
    office = topology.nodes["cgj-rtr"]["lans"][0]["extranet"]  # the LAN's router address
    address = office.split("/")[0].rsplit(".", 1)[0] + ".42/" + office.split("/")[1]
    clashing = ServerPort("cgj-zhifa", "c0ffee", "RegionOne", address, "198.18.0.1", None, None)
    with pytest.raises(BadInputError, match="overlaps a department LAN"):
        build_topology(county, plan, ("cgj",), workloads=[WorkloadSpec("cgj/zhifa", 8, clashing)])


def test_the_merge_moves_a_renumbered_systems_name_with_its_server(county: County) -> None:
    topology = build_topology(
        county, plan_network(county), ("cgj",), workloads=[WorkloadSpec("cgj/zhifa", 8, PORT)]
    )
    source = topology.nodes["cgj-zhifa"]
    assert source["renumber"], "cgj renumbers into the extranet in the sample county"
    legacy, extranet = (source[k].split("/")[0] for k in ("legacy", "extranet"))
    name = system_service_name("cgj/zhifa")
    nodes = list(topology.nodes.values())
    assert system_names(nodes, Phase.LEGACY) == [
        {"name": name, "address": legacy, "stale": [extranet]}
    ]
    assert system_names(nodes, Phase.MERGED) == [
        {"name": name, "address": extranet, "stale": [legacy]}
    ]
    # Cloud servers and plain hosts name nothing: only a system's own server does.
    assert system_names([topology.nodes["cgj-zhifa-cloud"], topology.nodes["cgj-office-h1"]],
                        Phase.MERGED) == []  # fmt: skip


def _alpha_with_systems(tmp_path: Path, count: int) -> County:
    listed = "".join(
        f"  - code: s{n:02d}\n    name: 业务系统{n}\n    tier: general\n    data_gb: 1\n"
        "    max_downtime_min: 120\n    location: legacy\n"
        for n in range(1, count + 1)
    )
    changes = {
        "departments/alpha.yaml": (
            "    depends_on: [beta/db]\n",
            "    depends_on: [beta/db]\n" + listed,
        )
    }
    return load_county(write_county(tmp_path, changes))


def _last_octet(interface_address: str) -> int:
    return ip_interface(interface_address).ip.packed[-1]


def test_a_lan_takes_workload_servers_above_its_hosts_once_below_is_full(tmp_path: Path) -> None:
    county = _alpha_with_systems(tmp_path, 10)
    specs = [WorkloadSpec(f"alpha/s{n:02d}", 1) for n in range(1, 11)]
    nodes = build_topology(county, plan_network(county), ("alpha",), workloads=specs).nodes
    servers_at = [_last_octet(nodes[f"alpha-s{n:02d}"]["extranet"]) for n in range(1, 11)]
    hosts_at = [
        _last_octet(v["extranet"]) for k, v in nodes.items() if k.startswith("alpha-office")
    ]
    assert servers_at[:8] == list(range(2, 10))  # below the hosts (.10 up)
    # ...then above the room kept for the LAN's hosts (.10 to .13).
    assert servers_at[8:] == [14, 15] and max(hosts_at) < 14
    legacy = [v["legacy"] for v in nodes.values() if v["role"] == ROLE_HOST]
    assert len(legacy) == len(set(legacy))


def test_more_workloads_than_a_lan_has_room_for_are_refused(tmp_path: Path) -> None:
    # alpha's extranet LAN is a /25: 8 below the hosts (.2-.9), .14 to .126 above them.
    room = 8 + (126 - 14 + 1)
    county = _alpha_with_systems(tmp_path, room + 1)
    specs = [WorkloadSpec(f"alpha/s{n:02d}", 1) for n in range(1, room + 2)]
    with pytest.raises(BadInputError, match=f"has room for {room} workload servers"):
        build_topology(county, plan_network(county), ("alpha",), workloads=specs)
