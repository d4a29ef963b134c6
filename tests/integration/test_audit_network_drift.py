"""`govcloud audit drift --network --hosts` against a live lab: routers and hosts read over SSH.

A two-department lab of its own (sfj: BIRD, eBGP to the core, a LAN behind 1:1 NAT; zwfw:
FRR, OSPF) is merged by the playbook. With nothing changed, ten runs find nothing. Then the
network is changed by hand the ways auditors meet in the field: a static route added to FRR's
running configuration (vtysh), a route added to BIRD's configuration and loaded, an nftables
rule inserted that opens a LAN, a host's address removed, a host's default route deleted,
the hosts' services stopped; each is found with the right desired and live values, and the
catalogue's item for default deny at department boundaries fails on the opened LAN. A
suppression hides a finding until it expires. A node whose host key does not match is
unchecked (exit 3), and with no node readable the run is exit 3 and never clean.

The tests run in order against one lab (module scope). They need root; without it they
fail, never skip.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clirunner import run_cli

from audit import nodes
from audit.catalogue import Verdict, network_default_deny
from audit.network_drift import boundaries, network_drift
from govcloud.loader import load_county
from lab.netlab import netns
from lab.netlab.manager import NetLab
from lab.netlab.topology import build_topology
from network.phases import DAEMON_FRR, ROLE_HOST, ROLE_ROUTER, Phase, host_state, router_state
from network.plan import plan_network

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "audit-network"
LAB = "auditnet"
DEPARTMENTS = ("sfj", "zwfw")
BIRD = ("sfj",)
STABLE_RUNS = 10  # the issue: 10 runs with nothing changed find nothing
SUPPRESSION_S = 45  # long enough for one drift run to finish inside it, on a busy machine
# What the test adds by hand, inside the lab's benchmark range (no traffic goes there).
FRR_ROUTE = "198.18.250.0/24"
BIRD_ROUTE = "198.18.251.0/24"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetLab]:
    """The two-department lab, merged, for the whole module; torn down after it."""
    if os.geteuid() != 0:
        pytest.fail(
            "the network drift tests need root (network namespaces, per-node daemons, the "
            "lab's management network): run them as root"
        )
    root = tmp_path_factory.mktemp("labs")
    for old in ARTIFACTS.glob("*.json"):
        old.unlink()
    lab = NetLab(root, LAB)
    if lab.ours():  # what a killed run left
        lab.down()
    county = load_county(REPO / "county")
    topology = build_topology(county, plan_network(county), DEPARTMENTS, lab=LAB, bird=BIRD)
    lab.up(topology)
    try:
        merge = lab.run(
            ["ansible-playbook", "playbooks/network-merge.yml"],
            capture=True,
            env={"ANSIBLE_NOCOLOR": "1", "GOVCLOUD_STATE_DIR": str(root / "ansible-state")},
        )
        assert merge.returncode == 0, (merge.stdout + merge.stderr)[-4000:]
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def env(lab: NetLab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The CLI's environment: a registry of its own, the lab's state directory."""
    state = tmp_path_factory.mktemp("state")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
    environment |= {
        "GOVCLOUD_STATE_DIR": str(state),
        "GOVCLOUD_LAB_DIR": str(lab.root.parent),
        "GOVCLOUD_ACTOR": "test:network-audit",
    }
    assert run_cli(("db", "upgrade"), env=environment).returncode == 0
    return environment


def drift(env: dict[str, str], *extra: str) -> tuple[int, dict[str, Any]]:
    """`govcloud audit drift --network --hosts --skip-cloud --lab LAB --json`."""
    result = run_cli(
        ("audit", "drift", "--network", "--hosts", "--skip-cloud", "--lab", LAB, *extra, "--json"),
        env=env,
        timeout=300,
    )
    assert result.returncode in {0, 1, 3}, result.stdout + result.stderr
    # Keep every run's document for whoever reads a failure (test-artifacts/ is not versioned).
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    number = len(list(ARTIFACTS.glob("*.json"))) + 1
    (ARTIFACTS / f"{number:02d}-drift-exit{result.returncode}.json").write_text(result.stdout)
    return result.returncode, dict(json.loads(result.stdout))


def in_node(lab: NetLab, node: str, command: list[str], stdin: str | None = None) -> str:
    """Run a command inside a node, as someone logged in there would."""
    return netns.run(netns.nsenter(lab.state()["anchors"][node], command), stdin=stdin)


def nodes_of(lab: NetLab, role: str) -> dict[str, dict[str, Any]]:
    return {n: v for n, v in lab.state()["nodes"].items() if v["role"] == role}


def router(lab: NetLab, daemon: str) -> tuple[str, dict[str, Any]]:
    found = [(n, v) for n, v in nodes_of(lab, ROLE_ROUTER).items() if (v["daemon"] == daemon)]
    return found[0]


def host_of(lab: NetLab, department: str, *, index: int = 0) -> tuple[str, dict[str, Any]]:
    found = sorted(
        (n, v) for n, v in nodes_of(lab, ROLE_HOST).items() if v["department"] == department
    )
    return found[index]


def by_attribute(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["resource"], f["attribute"]): f for f in document["findings"]}


def target(lab: NetLab) -> nodes.Target:
    return nodes.lab_target(lab.root.parent, LAB)


def test_ten_runs_with_nothing_changed_find_nothing(lab: NetLab, env: dict[str, str]) -> None:
    for run in range(STABLE_RUNS - 1):  # in-process: the same reading and comparison
        readings = nodes.read(target(lab))
        report = network_drift(readings, network=True, hosts=True)
        assert report.findings == [], (run, [f.as_dict() for f in report.findings])
        assert not report.unreachable, report.unchecked
        assert readings.sessions == len(readings.nodes) == 6
        assert all(r["managed"] == r["all"] for r in report.coverage.values()), report.coverage
    code, document = drift(env)  # and the command itself, recorded in the audit log
    assert code == 0, document
    assert document["clean"] is True and document["findings"] == []
    assert document["parts"] == ["network", "hosts"] and document["ssh_sessions"] == 6
    parts = {u["part"] for u in document["unchecked"]}
    assert "cloud" in parts  # --skip-cloud: listed as not requested, never as clean
    assert document["coverage"]["frr_statement"]["all"] > 0
    assert document["coverage"]["bird_statement"]["all"] > 0
    assert document["coverage"]["nft_rule"]["all"] > 0
    # The catalogue's network item holds on the merged lab: every LAN denies by default.
    verdict, evidence = check_network_default_deny_on(lab)
    assert verdict is Verdict.PASS, evidence
    assert len(evidence["denied_by_default"]) >= 4


def check_network_default_deny_on(lab: NetLab) -> tuple[Verdict, dict[str, Any]]:
    """The catalogue's item over a fresh reading of the routers."""
    return network_default_deny(boundaries(nodes.read(target(lab))))


def test_hand_changes_are_found_with_desired_and_live(lab: NetLab, env: dict[str, str]) -> None:
    frr, frr_node = router(lab, DAEMON_FRR)
    bird, _ = next((n, v) for n, v in nodes_of(lab, ROLE_ROUTER).items() if n != frr)
    lan_prefix = router_state(frr_node, Phase.MERGED)["protected4"][0]
    # 1. FRR: a static route added to the running configuration.
    in_node(
        lab, frr, ["vtysh", "-c", "configure terminal", "-c", f"ip route {FRR_ROUTE} blackhole"]
    )
    # 2. BIRD: a route added to its configuration file and loaded.
    in_node(
        lab,
        bird,
        [
            "sed",
            "-i",
            f"s|^protocol static static4 {{|&\\n  route {BIRD_ROUTE} blackhole;|",
            "/etc/bird/bird.conf",
        ],
    )
    in_node(lab, bird, ["birdc", "-s", "/run/bird/bird.ctl", "configure"])
    # 3. nftables: a rule that lets everything from the extranet into one LAN, first.
    in_node(
        lab,
        frr,
        ["nft", "insert", "rule", "inet", "govcloud_filter", "from_extranet", "ip", "daddr",
         lan_prefix, "accept"],
    )  # fmt: skip
    # 4. A host's address removed; 5. another host's default route deleted.
    renumbered, renumbered_node = host_of(lab, frr_node["department"])
    address = host_state(renumbered_node, Phase.MERGED)["ipv4"][0]
    in_node(lab, renumbered, ["ip", "address", "del", address, "dev", "eth0"])
    other, other_node = host_of(lab, frr_node["department"], index=1)
    gateway = host_state(other_node, Phase.MERGED)["gateway4"]
    in_node(lab, other, ["ip", "route", "del", "default"])
    # 6. The hosts' services stopped (the lab's one listener process, by the PID up recorded).
    os.kill(lab.state()["services_pid"], signal.SIGTERM)
    time.sleep(0.5)

    code, document = drift(env)
    assert code == 1, document
    found = by_attribute(document)
    frr_route = found[(f"router {frr}", f"frr › ip route {FRR_ROUTE} blackhole")]
    assert frr_route["kind"] == "unmanaged" and frr_route["desired"] is None
    assert frr_route["live"] == f"ip route {FRR_ROUTE} blackhole"
    assert frr_route["evidence"]["source"] == "vtysh -c 'show running-config'"
    assert frr_route["evidence"]["phase"] == "merged"
    bird_route = found[
        (f"router {bird}", f"bird › protocol static static4 › route {BIRD_ROUTE} blackhole")
    ]
    assert (
        bird_route["kind"] == "unmanaged" and bird_route["live"] == f"route {BIRD_ROUTE} blackhole"
    )
    opened = found[
        (
            f"router {frr}",
            f"nftables › chain inet govcloud_filter from_extranet › ip daddr {lan_prefix} accept",
        )
    ]
    assert opened["kind"] == "unmanaged" and opened["severity"] == "high"
    assert opened["live"] == f"ip daddr {lan_prefix} accept" and opened["control"] == "8.1.3.2"
    removed = found[(f"host {renumbered}", f"address › eth0 › {address}")]
    assert removed["kind"] == "missing"
    assert (removed["desired"], removed["live"]) == (address, None)
    route = found[(f"host {other}", f"route › IPv4 › default via {gateway}")]
    assert (route["kind"], route["desired"], route["live"]) == (
        "missing",
        f"default via {gateway}",
        None,
    )
    stopped = found[(f"host {other}", "service › tcp/443 on any address")]
    assert (stopped["desired"], stopped["live"]) == ("listening on any address", None)
    # Nothing else of the change is misread: every finding is on a node the test touched.
    touched = {f"router {frr}", f"router {bird}"} | {f"host {n}" for n in nodes_of(lab, ROLE_HOST)}
    assert {f["resource"] for f in document["findings"]} <= touched
    # The catalogue's boundary item now fails on the opened LAN, naming the rule.
    verdict, evidence = check_network_default_deny_on(lab)
    assert verdict is Verdict.FAIL
    assert [(f["router"], f["prefix"]) for f in evidence["failures"]] == [(frr, lan_prefix)]
    assert "accept" in evidence["failures"][0]["rule"]


def test_a_suppression_hides_a_finding_until_it_expires(lab: NetLab, env: dict[str, str]) -> None:
    frr, _ = router(lab, DAEMON_FRR)
    _, document = drift(env)
    finding = by_attribute(document)[(f"router {frr}", f"frr › ip route {FRR_ROUTE} blackhole")]
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=SUPPRESSION_S)).isoformat()
    accepted = run_cli(
        ("audit", "accept", finding["id"], "--owner", "网络组", "--reason", "测试路由",
         "--expires", until),
        env=env,
    )  # fmt: skip
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    _, hidden = drift(env)
    assert finding["id"] not in {f["id"] for f in hidden["findings"]}
    assert finding["id"] in {s["finding"]["id"] for s in hidden["suppressed"]}
    time.sleep(
        max(0.0, (dt.datetime.fromisoformat(until) - dt.datetime.now(dt.UTC)).total_seconds()) + 1
    )
    _, back = drift(env)
    again = {f["id"]: f for f in back["findings"]}[finding["id"]]
    assert again["evidence"]["suppression_expired"]["owner"] == "网络组"
    history = run_cli(("audit", "log", "--action", "audit.", "--json"), env=env)
    actions = [e["action"] for e in json.loads(history.stdout)]
    assert "audit.suppress" in actions and actions.count("audit.drift") >= 3


def test_unreadable_nodes_are_unchecked_and_exit_3(lab: NetLab, env: dict[str, str]) -> None:
    known = lab.ssh_dir / "known_hosts"
    original = known.read_text()
    frr, _ = router(lab, DAEMON_FRR)
    lines = original.splitlines()
    keys = {line.split()[0]: line for line in lines}
    # One node answers with a key the lab's known_hosts does not hold for it.
    donor = next(n for n in keys if n != frr)
    swapped = [
        keys[donor].replace(donor, frr, 1) if line.startswith(f"{frr} ") else line for line in lines
    ]
    try:
        known.write_text("\n".join(swapped) + "\n")
        code, document = drift(env)
        assert code == 3, document
        assert document["clean"] is False
        unchecked = {u.get("resource"): u for u in document["unchecked"]}
        assert "Host key verification failed" in unchecked[f"router {frr}"]["reason"]
        assert document["findings"], "the nodes that were read are still reported"
        assert all(not f["resource"].endswith(f" {frr}") for f in document["findings"])
        # No node readable: exit 3, nothing found, nothing clean.
        known.write_text("")
        code, document = drift(env)
        assert code == 3 and document["clean"] is False and document["findings"] == []
        assert document["coverage"]["nodes_read"] == {"managed": 0, "all": 6, "ratio": 0.0}
    finally:
        known.write_text(original)
