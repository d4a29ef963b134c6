"""The network lab end to end: merge, dual-stack, cutover on four departments, verified.

The departments: cl, dag, sfj and zwfw. cl, sfj and zwfw all reuse 192.168.1.0/24 (the
overlapping set); sfj keeps its `sifa` LAN behind 1:1 NAT (`renumber: false`) and runs BIRD
(eBGP to the core); zwfw is `ipv6_ready`, so the cutover withdraws its IPv4; dag gets the
injected fault (a router that refuses IPv6 routes) during the dual-stack rollout.

The tests run in order against one lab (module scope): each step starts from the state the
previous one left. They need root (network namespaces); without it they fail, never skip.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from govcloud.loader import load_county
from lab.netlab import netns
from lab.netlab.manager import NetLab
from lab.netlab.topology import build_topology
from network.phases import Phase
from network.plan import plan_network

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "lab"
LAB = "itest"
DEPARTMENTS = ("cl", "dag", "sfj", "zwfw")
BIRD = ("sfj",)
FAULTY = "dag"
# Two departments per batch, and a threshold that lets the faulty batch continue (1 of 2).
BATCHES = ("-e", "{prefix}_serial=2", "-e", "{prefix}_max_fail_percentage=50")
RECAP = re.compile(
    r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)"
    r"\s+unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)
LAB_RANGES = [
    ipaddress.ip_network(n) for n in ("198.18.0.0/15", "2001:db8::/32", "fd00::/8", "fe80::/10")
]


@dataclass
class Run:
    """An ansible-playbook run: exit code, output, and the recap per host."""

    returncode: int
    output: str

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        return {
            m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
            for m in RECAP.finditer(self.output)
        }

    def changed(self) -> dict[str, int]:
        return {host: counts["changed"] for host, counts in self.recap.items()}

    def explain(self) -> str:
        return self.output[-6000:]


@pytest.fixture(scope="module")
def lab() -> Iterator[NetLab]:
    """The four-department lab, up for the whole module and torn down after it."""
    if os.geteuid() != 0:
        pytest.fail(
            "the lab tests need root (network namespaces, veth links, per-node daemons): "
            "run `make test` as root"
        )
    root = Path(os.environ.get("GOVCLOUD_TEST_LAB_DIR", REPO / ".govcloud" / "test-lab"))
    lab = NetLab(root, LAB)
    if lab.ours():
        lab.down()
    for old in ARTIFACTS.glob("*.log"):
        old.unlink()
    county = load_county(REPO / "county")
    topology = build_topology(county, plan_network(county), DEPARTMENTS, lab=LAB, bird=BIRD)
    lab.up(topology)
    try:
        yield lab
    finally:
        if lab.ours():
            lab.down()


def playbook(lab: NetLab, name: str, *args: str) -> Run:
    prefix = {
        "network-merge": "extranet_merge",
        "ipv6-dualstack": "ipv6_dualstack",
        "ipv6-cutover": "ipv6_cutover",
    }[name]
    batches = [a.format(prefix=prefix) for a in BATCHES]
    result = lab.run(
        ["ansible-playbook", f"playbooks/{name}.yml", *batches, *args],
        capture=True,
        env={"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
    )
    output = result.stdout + result.stderr
    # Keep every run's output for whoever reads a failure (test-artifacts/ is not versioned).
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    number = len(list(ARTIFACTS.glob("*.log"))) + 1
    (ARTIFACTS / f"{number:02d}-{name}.log").write_text(output)
    return Run(result.returncode, output)


def losses(run: Run) -> list[str]:
    """The continuous IPv4 probe's lines that report a loss."""
    return re.findall(r"\S+ → \S+ \([^)]*\): \d+/\d+ echo replies, lost [1-9]\d*", run.output)


def verify(lab: NetLab) -> tuple[dict[str, Phase], list[str]]:
    phases, results = lab.verify(wait=10)
    return phases, [f"{r.check.label()}: {r.detail}" for r in results if not r.matches]


def snapshot(lab: NetLab) -> dict[str, Any]:
    """What a change could touch: addresses, routes and rules of every node, and its /etc."""
    state = lab.state()
    seen: dict[str, Any] = {}
    for node in state["nodes"]:
        namespace = lab.namespace(node)
        commands = {
            "addresses": ["ip", "-json", "address", "show"],
            "routes4": ["ip", "-json", "-4", "route", "show"],
            "routes6": ["ip", "-json", "-6", "route", "show", "scope", "global"],
            "rules": ["nft", "list", "ruleset"],
        }
        node_state = {
            key: netns.run(["ip", "netns", "exec", namespace, *command])
            for key, command in commands.items()
        }
        for key in ("addresses",):
            links = json.loads(node_state[key])
            for link in links:  # lifetimes count down; they are not configuration
                for info in link.get("addr_info", []):
                    info.pop("valid_life_time", None)
                    info.pop("preferred_life_time", None)
            node_state[key] = json.dumps(links, sort_keys=True)
        upper = lab.node_dir(node) / "upper"
        node_state["files"] = {
            str(p.relative_to(upper)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(upper.rglob("*"))
            if p.is_file()
        }
        seen[node] = node_state
    return seen


def test_up_builds_every_department_in_its_legacy_state(lab: NetLab) -> None:
    state, rows = lab.status()
    assert state["departments"] == list(DEPARTMENTS)
    assert all(r.present and all(r.daemons.values()) for r in rows), rows
    phases, mismatches = verify(lab)
    assert set(phases.values()) == {Phase.LEGACY}
    assert mismatches == []
    # The lab lives in the benchmark and documentation ranges: the RFC 1918 legacy LANs of the
    # data were mapped, and no node holds any other address.
    for node in state["nodes"]:
        output = netns.run(["ip", "-n", lab.namespace(node), "-json", "address", "show"])
        for link in json.loads(output):
            for info in link.get("addr_info", []):
                address = ipaddress.ip_address(info["local"])
                if address.is_loopback:
                    continue
                assert any(address in r for r in LAB_RANGES), f"{node}: {address}"
    # SSH keeps host-key checking on: a login with the lab's known_hosts succeeds.
    login = lab.run(
        [
            "ssh",
            "-F",
            str(lab.ssh_dir / "config"),
            "-o",
            "StrictHostKeyChecking=yes",
            "sfj-rtr",
            "hostname",
        ],
        capture=True,
    )
    assert login.stdout.strip() == "sfj-rtr"


def test_merge_in_check_mode_changes_nothing(lab: NetLab) -> None:
    before = snapshot(lab)
    run = playbook(lab, "network-merge", "--check", "--diff")
    assert run.returncode == 0, run.explain()
    assert all(run.changed()[f"{code}-rtr"] > 0 for code in DEPARTMENTS), run.recap
    assert "+ ip address" in run.output  # --diff shows the router configuration to come
    assert snapshot(lab) == before


def test_merge_connects_every_department(lab: NetLab) -> None:
    run = playbook(lab, "network-merge")
    assert run.returncode == 0, run.explain()
    assert all(counts["failed"] == 0 for counts in run.recap.values()), run.recap
    phases, mismatches = verify(lab)
    assert set(phases.values()) == {Phase.MERGED}
    assert mismatches == []


def test_merge_again_changes_nothing(lab: NetLab) -> None:
    run = playbook(lab, "network-merge")
    assert run.returncode == 0, run.explain()
    assert set(run.changed().values()) == {0}, run.recap


def test_dualstack_rolls_back_only_the_department_that_fails(lab: NetLab) -> None:
    lab.fault(FAULTY, "refuse-ipv6-routes")
    run = playbook(lab, "ipv6-dualstack")
    assert run.returncode != 0
    message = re.search(
        rf"{FAULTY}: IPv6 dual-stack to dualstack failed and was rolled back to merged\. "
        r"Failed: (.*)",
        run.output,
    )
    assert message, run.explain()
    assert "IPv6" in message.group(1) and "cloud-gw" in message.group(1)
    assert run.recap[f"{FAULTY}-rtr"]["failed"] == 1
    assert all(run.recap[f"{c}-rtr"]["failed"] == 0 for c in DEPARTMENTS if c != FAULTY)
    phases, mismatches = verify(lab)
    assert phases == {
        code: Phase.MERGED if code == FAULTY else Phase.DUALSTACK for code in DEPARTMENTS
    }
    # The rolled-back department works on IPv4 as before; everyone else has IPv6 too.
    assert mismatches == []
    assert re.search(r"echo replies, lost 0", run.output), run.explain()
    assert losses(run) == []


def test_dualstack_completes_once_the_fault_is_cleared(lab: NetLab) -> None:
    lab.fault(FAULTY, "refuse-ipv6-routes", clear=True)
    run = playbook(lab, "ipv6-dualstack")
    assert run.returncode == 0, run.explain()
    changed = run.changed()
    assert changed[f"{FAULTY}-rtr"] > 0
    # The departments already in dual-stack: a second run changes nothing there.
    assert all(changed[f"{c}-rtr"] == 0 for c in DEPARTMENTS if c != FAULTY), run.recap
    # The continuous probe between departments saw no IPv4 loss during the rollout.
    assert re.search(r"echo replies, lost 0", run.output), run.explain()
    assert losses(run) == []
    phases, mismatches = verify(lab)
    assert set(phases.values()) == {Phase.DUALSTACK}
    assert mismatches == []


def test_verify_reports_drift(lab: NetLab) -> None:
    lab.fault("cl", "refuse-ipv6-routes")
    try:
        # The OSPFv3 adjacency times out (dead interval 4 s) before cl's IPv6 routes go.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            _, results = lab.verify(department="cl")
            if any(not r.matches for r in results):
                break
            time.sleep(1)
        result = subprocess.run(
            [
                str(REPO / ".venv" / "bin" / "govcloud"),
                "lab",
                "verify",
                "--name",
                LAB,
                "--wait",
                "0",
                "--json",
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "GOVCLOUD_LAB_DIR": str(lab.root.parent)},
        )
    finally:
        lab.fault("cl", "refuse-ipv6-routes", clear=True)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    wrong = [r for r in report["results"] if not r["matches"]]
    assert wrong and all(r["family"] == 6 for r in wrong)
    assert all(r["source"].startswith("cl-") or r["target"].startswith("cl-") for r in wrong)
    # Once the fault is gone, routing converges and the matrix holds again.
    _, mismatches = verify(lab)
    assert mismatches == []


def test_cutover_prefers_ipv6_and_withdraws_ipv4_where_ready(lab: NetLab) -> None:
    run = playbook(lab, "ipv6-cutover")
    assert run.returncode == 0, run.explain()
    phases, mismatches = verify(lab)
    assert set(phases.values()) == {Phase.CUTOVER}
    assert mismatches == []
    state = lab.state()
    for name, node in state["nodes"].items():
        if node.get("department") != "zwfw" or node["role"] != "lan_host":
            continue
        addresses = netns.run(
            ["ip", "-n", lab.namespace(name), "-4", "-o", "address", "show", "dev", "eth0"]
        )
        assert addresses.strip() == "", f"{name} kept IPv4: {addresses}"


def test_cutover_again_in_check_mode_reports_no_change(lab: NetLab) -> None:
    run = playbook(lab, "ipv6-cutover", "--check")
    assert run.returncode == 0, run.explain()
    assert set(run.changed().values()) == {0}, run.recap


def test_testinfra_runs_on_its_own(lab: NetLab) -> None:
    result = lab.run(
        [
            "python",
            "-m",
            "pytest",
            "playbooks/testinfra",
            "-q",
            "-p",
            "no:cacheprovider",
            "--hosts=ansible://all",
            f"--ansible-inventory={lab.inventory_dir / 'hosts.yml'}",
        ],
        capture=True,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert re.search(r"\d+ passed", result.stdout)


def test_down_removes_exactly_what_up_made(lab: NetLab) -> None:
    namespaces = lab.state()["namespaces"]
    others = [n for n in netns.namespaces() if n not in namespaces]
    removed = lab.down()
    assert sorted(removed) == sorted(namespaces)
    assert lab.ours() == []
    assert [n for n in netns.namespaces() if n not in namespaces] == others
    assert not lab.root.exists()
