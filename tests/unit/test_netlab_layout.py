"""The lab's layout without building it: address mapping, department choice, nodes, inventory."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml
from small_county import write_county

from govcloud.errors import BadInputError
from govcloud.loader import load_county
from govcloud.model import County
from lab.netlab.addressing import LAB_IPV4, build_address_map, identity_map, legacy_blocks
from lab.netlab.ansible_inventory import render_inventory, template_vars
from lab.netlab.configs import core_config, router_files
from lab.netlab.topology import (
    DEFAULT_DEPARTMENTS,
    build_topology,
    choose_departments,
    default_bird,
    namespace_prefix,
)
from network.phases import Phase
from network.plan import plan_network
from network.prefixes import parse

REPO = Path(__file__).resolve().parents[2]
RFC1918 = [ipaddress.ip_network(p) for p in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


@pytest.fixture(scope="module")
def sample() -> County:
    return load_county(REPO / "county")


def test_legacy_blocks_are_the_largest_aligned_cover() -> None:
    blocks = legacy_blocks(["192.168.0.0/24", "192.168.1.0/24", "10.50.0.0/20", "10.50.16.0/20"])
    assert [str(b) for b in blocks] == ["10.50.0.0/19", "192.168.0.0/23"]


def test_address_map_keeps_pools_and_moves_legacy_lans_into_the_benchmark_range(
    sample: County,
) -> None:
    legacy = ["192.168.0.0/24", "192.168.0.0/24", "10.50.0.0/20", "172.16.10.0/24"]
    amap = build_address_map(sample, legacy)
    assert amap.extranet("198.18.4.1/25") == "198.18.4.1/25"
    assert amap.extranet("2001:db8:1000::1/64") == "2001:db8:1000::1/64"
    mapped = [amap.legacy(p) for p in legacy]
    # Overlapping data overlaps in the lab, and nothing lands in RFC 1918 or the pools.
    assert mapped[0] == mapped[1]
    for prefix in mapped:
        network = ipaddress.ip_network(prefix)
        assert network.subnet_of(ipaddress.ip_network(str(LAB_IPV4)))
        assert not any(network.overlaps(r) for r in RFC1918)
        assert not any(
            network.overlaps(ipaddress.ip_network(p)) for p in sample.extranet.ipv4_pools
        )
    assert amap.legacy("10.50.0.10/20") == "198.19.64.10/20"  # offsets survive
    with pytest.raises(KeyError):
        amap.legacy("10.99.0.1/24")


def test_pools_outside_the_lab_range_move_whole(tmp_path: Path) -> None:
    changes = {
        "county.yaml": ("    - 198.18.0.0/16\n    - 198.19.0.0/18\n", "    - 10.200.0.0/16\n")
    }
    county = load_county(write_county(tmp_path, changes))
    amap = build_address_map(county, ["192.168.1.0/24"])
    moved = amap.extranet("10.200.4.1/25")
    assert moved == "198.18.4.1/25"
    assert parse(amap.legacy("192.168.1.0/24")).overlaps(parse("198.19.0.0/16"))


def test_identity_map_is_for_real_sites(sample: County) -> None:
    amap = identity_map(sample, ["192.168.0.0/24"])
    assert amap.legacy("192.168.0.1/24") == "192.168.0.1/24"


def test_choose_departments(sample: County) -> None:
    assert choose_departments(sample, None) == DEFAULT_DEPARTMENTS
    assert choose_departments(sample, "3") == ("bmz", "cgj", "cgz")
    assert choose_departments(sample, "zwfw, gaj") == ("gaj", "zwfw")
    with pytest.raises(BadInputError, match="nope: no such department"):
        choose_departments(sample, "gaj,nope")
    with pytest.raises(BadInputError, match="its own LANs overlap"):
        choose_departments(sample, "jyj")
    with pytest.raises(BadInputError, match="choose 1 to 58"):
        choose_departments(sample, "59")
    assert default_bird(("a", "b", "c", "d", "e", "f")) == ("b", "f")


def test_default_lab_topology(sample: County) -> None:
    topology = build_topology(sample, plan_network(sample), DEFAULT_DEPARTMENTS)
    assert topology.bird == ("gaj",)
    assert list(topology.nodes)[:5] == ["core-rtr", "cgj-rtr", "gaj-rtr", "sfj-rtr", "zwfw-rtr"]
    # The two sites' gateways come last: the primary's cloud, then the DR region's.
    assert list(topology.nodes)[-2:] == ["cloud-gw", "dr-gw"]
    hosts = topology.by_role("lan_host")
    assert len(hosts) == 9 and "gaj-police-h1" in hosts
    assert topology.namespace("gaj-rtr") == "gcl-lab-gaj-rtr" == namespace_prefix("lab") + "gaj-rtr"
    management = [n["management"]["ipv4"] for n in topology.nodes.values()]
    assert len(set(management)) == len(management)
    # The overlapping pair: cgj and gaj both use 192.168.0.0/24 for their office.
    assert (
        topology.nodes["cgj-rtr"]["lans"][0]["legacy"]
        == topology.nodes["gaj-rtr"]["lans"][0]["legacy"]
    )
    names = {v.a_if for v in topology.veths} | {v.b_if for v in topology.veths}
    assert max(len(n) for n in names) <= 15  # IFNAMSIZ


def test_labs_differ_in_their_ipv6_management_prefix(sample: County) -> None:
    plan = plan_network(sample)
    one = build_topology(sample, plan, ("gaj",), lab="one")
    two = build_topology(sample, plan, ("gaj",), lab="two")
    assert one.nodes["gaj-rtr"]["management"]["ipv6"] != two.nodes["gaj-rtr"]["management"]["ipv6"]
    with pytest.raises(BadInputError, match="lab name"):
        build_topology(sample, plan, ("gaj",), lab="Bad-Name")


def test_inventory_groups_and_role_prefixed_variables(sample: County) -> None:
    topology = build_topology(sample, plan_network(sample), DEFAULT_DEPARTMENTS)
    files = render_inventory(topology, ssh_config="/lab/ssh/config")
    hosts = yaml.safe_load(files["hosts.yml"])["all"]["children"]
    assert list(hosts["department_routers"]["children"]["bird_routers"]["hosts"]) == ["gaj-rtr"]
    assert set(hosts["dept_gaj"]["hosts"]) == {
        "gaj-rtr",
        "gaj-office-h1",
        "gaj-police-h1",
        "gaj-video-h1",
    }
    for name, text in files.items():
        if name.startswith("group_vars/all/") and not name.endswith("connection.yml"):
            role = Path(name).stem
            assert all(key.startswith(f"{role}_") for key in yaml.safe_load(text)), name
    host_vars = yaml.safe_load(files["host_vars/gaj-rtr.yml"])
    assert list(host_vars) == ["netstate_node"]
    connection = yaml.safe_load(files["group_vars/all/connection.yml"])
    assert connection["ansible_ssh_common_args"] == "-F /lab/ssh/config"


def test_committed_inventories_are_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """inventories/lab/ and inventories/example/ are what `govcloud lab inventory` renders."""
    from typer.testing import CliRunner  # noqa: PLC0415

    from cli.main import app  # noqa: PLC0415

    # The committed lab inventory names the default state directory, relative to the checkout.
    monkeypatch.delenv("GOVCLOUD_STATE_DIR", raising=False)
    monkeypatch.delenv("GOVCLOUD_LAB_DIR", raising=False)
    for flavour, flags in (("lab", []), ("example", ["--example"])):
        committed = REPO / "inventories" / flavour
        rendered = tmp_path / flavour
        result = CliRunner().invoke(
            app,
            ["lab", "inventory", "--out", str(rendered), "--county", str(REPO / "county"), *flags],
        )
        assert result.exit_code == 0, result.output
        want = {p.relative_to(rendered): p.read_text() for p in rendered.rglob("*.yml")}
        have = {p.relative_to(committed): p.read_text() for p in committed.rglob("*.yml")}
        assert have == want, (
            f"inventories/{flavour} is stale: run `govcloud lab inventory "
            f"--out inventories/{flavour} {' '.join(flags)}`"
        )


def test_configs_render_from_the_role_templates(sample: County) -> None:
    topology = build_topology(sample, plan_network(sample), DEFAULT_DEPARTMENTS)
    variables = template_vars("lab")
    legacy = router_files(topology.nodes["cgj-rtr"], Phase.LEGACY, variables)
    assert "router ospf" not in legacy["frr/frr.conf"]
    assert legacy["govcloud/network-phase"] == "legacy\n"
    merged = router_files(topology.nodes["cgj-rtr"], Phase.MERGED, variables)["frr/frr.conf"]
    assert " ip ospf hello-interval 1\n" in merged and "passive-interface lan0" in merged
    bird = router_files(topology.nodes["gaj-rtr"], Phase.DUALSTACK, variables)["bird/bird.conf"]
    assert "protocol bgp core4" in bird and "protocol bgp core6" in bird and "protocol radv" in bird
    core = core_config(topology, variables)
    assert "neighbor 198.18.148.21 remote-as 64523" in core
    assert "ip prefix-list EXTRANET4 seq 5 deny 198.18.148.0/23 le 32" in core
