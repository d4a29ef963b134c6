"""Network and host drift's comparison on outputs read from a lab (no service needed).

The fixtures (tests/fixtures/network_drift/) are what `audit.nodes.read` gathered from a
two-department lab (sfj: BIRD with a NAT'd LAN; zwfw: FRR) after the merge and after the
dual-stack playbook: each node's inventory data and the collector's facts (FRR's running
configuration, BIRD's file and protocols, nft's JSON of the live and the desired ruleset,
addresses, routes, listeners). On them: nothing is found when nothing changed, what FRR, BIRD
and nft print differently but mean alike is never found, and each change is found once with
its desired and live values.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import pytest

from audit import netconfig
from audit.catalogue import Verdict, network_default_deny
from audit.network_drift import boundaries, listeners, network_drift
from audit.nodes import NodeReading, Readings, Target, _hardened, _request
from govcloud.errors import BadInputError
from network.phases import DAEMON_FRR, ROLE_HOST, ROLE_ROUTER, Phase, host_state, router_state

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "network_drift"
PHASES = ("merged", "dualstack")
READ_AT = "2026-12-05T15:40:00+00:00"
IPV6 = re.compile(r"\b2001:db8:[0-9a-f:]*/\d+")


def load(phase: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"readings-{phase}.json").read_text()))


def readings(data: dict[str, Any]) -> Readings:
    found = Readings(Target(Path("inventory/hosts.yml"), label="lab cap16d"), sessions=len(data))
    for name, item in data.items():
        found.nodes[name] = NodeReading(
            name, item["node"], item["variables"], facts=item["facts"], read_at=READ_AT
        )
    return found


def drift(data: dict[str, Any]) -> list[dict[str, Any]]:
    report = network_drift(readings(data), network=True, hosts=True)
    assert not report.unreachable, report.unchecked
    return [f.as_dict() for f in report.findings]


def only(findings: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(findings) == 1, json.dumps(findings, indent=1, ensure_ascii=False)[:3000]
    return findings[0]


def node_named(data: dict[str, Any], role: str, daemon: str | None = None) -> str:
    return next(
        n
        for n, item in sorted(data.items())
        if item["node"]["role"] == role and (daemon is None or item["node"]["daemon"] == daemon)
    )


def audit_output(data: dict[str, Any], node: str, key: str) -> dict[str, Any]:
    return dict(data[node]["facts"]["audit"][key])


@pytest.mark.parametrize("phase", PHASES)
def test_the_lab_as_read_has_no_drift(phase: str) -> None:
    data = load(phase)
    report = network_drift(readings(data), network=True, hosts=True)
    assert [f.as_dict() for f in report.findings] == []
    assert not report.unreachable
    assert {n["facts"]["phase"].strip() for n in data.values()} == {phase}
    for kind in ("frr_statement", "bird_statement", "nft_rule", "address"):
        row = report.coverage[kind]
        assert row["managed"] == row["all"] > 0, (kind, row)


def test_what_frr_prints_differently_is_not_drift() -> None:
    data = load("dualstack")
    frr = node_named(data, ROLE_ROUTER, DAEMON_FRR)
    shown = audit_output(data, frr, "running_config")
    text = shown["out"]
    # Areas as numbers, addresses spelt long, blocks in another order, comments anywhere.
    blocks = text.split("!\n")
    reordered = "!\n".join([blocks[0], *reversed(blocks[1:])])
    reordered = reordered.replace("area 0.0.0.0", "area 0")
    reordered = reordered.replace("\nexit\n", "\n ! a note\nexit\n")
    reordered = IPV6.sub(lambda m: ipaddress.ip_interface(m.group(0)).exploded.upper(), reordered)
    assert reordered != text
    data[frr]["facts"]["audit"]["running_config"]["out"] = reordered
    assert drift(data) == []


def test_a_line_added_to_frr_is_one_unmanaged_finding() -> None:
    data = load("merged")
    frr = node_named(data, ROLE_ROUTER, DAEMON_FRR)
    shown = data[frr]["facts"]["audit"]["running_config"]
    shown["out"] = shown["out"].replace(
        "router ospf\n", "ip route 198.18.250.0/24 blackhole\n!\nrouter ospf\n"
    )
    found = only(drift(data))
    assert found["resource"] == f"router {frr}"
    assert found["attribute"] == "frr › ip route 198.18.250.0/24 blackhole"
    assert (found["kind"], found["desired"], found["live"]) == (
        "unmanaged",
        None,
        "ip route 198.18.250.0/24 blackhole",
    )
    assert found["severity"] == "high" and found["id"].startswith("net-")
    assert found["evidence"]["source"] == "vtysh -c 'show running-config'"
    assert "ip route 198.18.250.0/24 blackhole" in found["evidence"]["output"]
    assert found["evidence"]["phase"] == "merged" and found["evidence"]["node"] == frr


def test_a_changed_frr_setting_is_one_changed_finding_with_both_lines() -> None:
    data = load("merged")
    frr = node_named(data, ROLE_ROUTER, DAEMON_FRR)
    shown = data[frr]["facts"]["audit"]["running_config"]
    assert " ip ospf hello-interval 1\n" in shown["out"]
    shown["out"] = shown["out"].replace(
        " ip ospf hello-interval 1\n", " ip ospf hello-interval 5\n"
    )
    found = only(drift(data))
    assert found["kind"] == "changed"
    assert found["attribute"] == "frr › interface up0 › ip ospf hello-interval"
    assert (found["desired"], found["live"]) == (
        "ip ospf hello-interval 1",
        "ip ospf hello-interval 5",
    )


def test_ids_are_stable_and_name_what_and_where() -> None:
    first, second = load("merged"), load("merged")
    for data in (first, second):
        frr = node_named(data, ROLE_ROUTER, DAEMON_FRR)
        shown = data[frr]["facts"]["audit"]["running_config"]
        shown["out"] = shown["out"].replace(
            " ip ospf hello-interval 1\n", " ip ospf hello-interval 7\n"
        )
    assert drift(first)[0]["id"] == drift(second)[0]["id"]


def test_bird_file_and_protocols() -> None:
    data = load("dualstack")
    bird = node_named(data, ROLE_ROUTER, "bird")
    config = data[bird]["facts"]["audit"]["bird_config"]
    original = config["out"]
    # Comments, blank lines and indentation mean nothing.
    config["out"] = "# read by the audit\n" + original.replace("\n  ", "\n\t  ").replace(
        ";\n", ";  /* c */\n"
    )
    assert drift(data) == []
    config["out"] = original.replace(
        "protocol static static4 {\n",
        "protocol static static4 {\n  route 198.18.251.0/24 blackhole;\n",
    )
    found = only(drift(data))
    assert found["attribute"] == "bird › protocol static static4 › route 198.18.251.0/24 blackhole"
    assert (found["kind"], found["live"]) == ("unmanaged", "route 198.18.251.0/24 blackhole")
    assert found["evidence"]["source"] == "cat /etc/bird/bird.conf"
    config["out"] = original
    protocols = data[bird]["facts"]["audit"]["bird_protocols"]
    lines = protocols["out"].splitlines()
    protocols["out"] = "\n".join(
        line.replace(" up ", " down ", 1) if line.startswith("core6 ") else line for line in lines
    )
    found = only(drift(data))
    assert found["attribute"] == "bird protocols › core6 › state"
    assert (found["kind"], found["desired"], found["live"]) == ("changed", "up", "down")


def _ruleset(data: dict[str, Any], node: str, key: str = "nft_ruleset") -> dict[str, Any]:
    return dict(json.loads(data[node]["facts"]["audit"][key]["out"]))


def _set_ruleset(data: dict[str, Any], node: str, ruleset: dict[str, Any]) -> None:
    data[node]["facts"]["audit"]["nft_ruleset"]["out"] = json.dumps(ruleset)


def _rules(ruleset: dict[str, Any], chain: str) -> list[int]:
    return [i for i, e in enumerate(ruleset["nftables"]) if e.get("rule", {}).get("chain") == chain]


def test_nftables_rules_added_and_reordered() -> None:
    data = load("merged")
    frr = node_named(data, ROLE_ROUTER, DAEMON_FRR)
    ruleset = _ruleset(data, frr)
    positions = _rules(ruleset, "from_extranet")
    accept = copy.deepcopy(ruleset["nftables"][positions[-1]])
    accept["rule"]["expr"] = [accept["rule"]["expr"][0], {"accept": None}]
    accept["rule"]["handle"] = 999
    prefix = router_state(data[frr]["node"], Phase.MERGED)["protected4"][-1]
    ruleset["nftables"].insert(positions[0], accept)
    _set_ruleset(data, frr, ruleset)
    found = only(drift(data))
    assert found["attribute"] == (
        f"nftables › chain inet govcloud_filter from_extranet › ip daddr {prefix} accept"
    )
    assert (found["kind"], found["desired"], found["live"]) == (
        "unmanaged",
        None,
        f"ip daddr {prefix} accept",
    )
    assert found["control"] == "8.1.3.2" and found["severity"] == "high"
    assert f"ip daddr {prefix} accept" in found["evidence"]["output"]
    # The catalogue's boundary item fails on it, naming the rule that opens the LAN.
    verdict, evidence = network_default_deny(boundaries(readings(data)))
    assert verdict is Verdict.FAIL
    assert [(f["router"], f["prefix"]) for f in evidence["failures"]] == [(frr, prefix)]
    # The same rules in another order are drift too: the first match decides.
    data = load("merged")
    ruleset = _ruleset(data, frr)
    positions = _rules(ruleset, "from_extranet")
    first, last = positions[1], positions[-1]
    entries = ruleset["nftables"]
    entries[first], entries[last] = entries[last], entries[first]
    _set_ruleset(data, frr, ruleset)
    found = only(drift(data))
    assert found["kind"] == "changed"
    assert found["attribute"] == "nftables › chain inet govcloud_filter from_extranet › order"


def test_a_table_nobody_declared_is_unmanaged() -> None:
    data = load("merged")
    bird = node_named(data, ROLE_ROUTER, "bird")
    ruleset = _ruleset(data, bird)
    ruleset["nftables"].append({"table": {"family": "inet", "name": "handmade", "handle": 40}})
    _set_ruleset(data, bird, ruleset)
    found = only(drift(data))
    assert found["attribute"] == "nftables › table inet handmade"
    assert found["kind"] == "unmanaged"


def test_the_boundary_denies_by_default_as_read() -> None:
    for phase in PHASES:
        verdict, evidence = network_default_deny(boundaries(readings(load(phase))))
        assert verdict is Verdict.PASS, evidence
        assert all("reject" in row["rule"] for row in evidence["denied_by_default"])
        routers = {row["router"] for row in evidence["denied_by_default"]}
        assert len(routers) == 2


def _host(data: dict[str, Any], department_of: str) -> str:
    return next(
        n
        for n, item in sorted(data.items())
        if item["node"]["role"] == ROLE_HOST and item["node"]["department"] == department_of
    )


def test_a_host_address_removed_and_a_route_missing() -> None:
    data = load("merged")
    frr = node_named(data, ROLE_ROUTER, DAEMON_FRR)
    host = _host(data, data[frr]["node"]["department"])
    state = host_state(data[host]["node"], Phase.MERGED)
    address = state["ipv4"][0]
    for link in data[host]["facts"]["addresses"]:
        link["addr_info"] = [
            a for a in link.get("addr_info", []) if f"{a['local']}/{a['prefixlen']}" != address
        ]
    data[host]["facts"]["routes4"] = []
    findings = {f["attribute"]: f for f in drift(data)}
    assert set(findings) == {
        f"address › eth0 › {address}",
        f"route › IPv4 › default via {state['gateway4']}",
    }
    removed = findings[f"address › eth0 › {address}"]
    assert (removed["kind"], removed["desired"], removed["live"]) == ("missing", address, None)
    assert removed["resource"] == f"host {host}" and removed["id"].startswith("host-")
    route = findings[f"route › IPv4 › default via {state['gateway4']}"]
    assert (route["kind"], route["live"]) == ("missing", None)


def test_a_service_not_listening_and_sshd_outside_management() -> None:
    data = load("dualstack")
    host = node_named(data, ROLE_HOST)
    facts = data[host]["facts"]
    kept = [line for line in facts["listening"].splitlines() if ":443 " not in line]
    facts["listening"] = "\n".join([*kept, "LISTEN 0 128 0.0.0.0:22 0.0.0.0:*"]) + "\n"
    findings = {f["attribute"]: f for f in drift(data)}
    assert set(findings) == {"service › tcp/443 on any address", "service › tcp/22 on any address"}
    stopped = findings["service › tcp/443 on any address"]
    assert (stopped["kind"], stopped["desired"], stopped["live"]) == (
        "missing",
        "listening on any address",
        None,
    )
    assert findings["service › tcp/22 on any address"]["kind"] == "unmanaged"


def test_listeners_read_every_spelling_of_ss() -> None:
    text = (
        "LISTEN 0 128 198.19.254.12:22 0.0.0.0:*\n"
        "LISTEN 0 128 [fd00:ff:0:1::12]:22 [::]:*\n"
        "LISTEN 0 128 *:443 *:*\n"
        "LISTEN 0 128 [::]:8080 [::]:*\n"
        "LISTEN 0 128 0.0.0.0:5432 0.0.0.0:*\n"
    )
    assert listeners(text) == {
        (22, "198.19.254.12"),
        (22, "fd00:ff:0:1::12"),
        (443, "any address"),
        (8080, "any address"),
        (5432, "any address"),
    }


def test_a_node_not_read_is_unchecked_never_clean() -> None:
    data = load("merged")
    found = readings(data)
    frr = node_named(data, ROLE_ROUTER, DAEMON_FRR)
    found.nodes[frr].facts = None
    found.nodes[frr].error = "SSH failed: Host key verification failed."
    report = network_drift(found, network=True, hosts=True)
    assert report.unreachable and report.exit_code == 3
    assert {"part": "network", "resource": f"router {frr}", "reason": found.nodes[frr].error} in (
        report.unchecked
    )
    assert report.findings == []
    for reading in found.nodes.values():
        reading.facts, reading.error = None, "SSH failed: Connection refused"
    report = network_drift(found, network=True, hosts=True)
    assert report.exit_code == 3 and not report.as_dict()["clean"]
    assert report.coverage["nodes_read"] == {"managed": 0, "all": len(data), "ratio": 0.0}


def test_a_missing_daemon_reading_is_unchecked() -> None:
    data = load("merged")
    frr = node_named(data, ROLE_ROUTER, DAEMON_FRR)
    data[frr]["facts"]["audit"]["running_config"] = {
        "rc": 1,
        "out": "",
        "err": "zebra is not running",
    }
    report = network_drift(readings(data), network=True, hosts=True)
    assert report.unreachable
    reasons = [u["reason"] for u in report.unchecked if u.get("resource") == f"router {frr}"]
    assert reasons and "zebra is not running" in reasons[0]


def test_inventories_that_turn_host_key_checking_off_are_refused() -> None:
    inventory = {
        "_meta": {
            "hostvars": {
                "r1": {"ansible_ssh_common_args": "-F cfg -o StrictHostKeyChecking=no"},
                "h1": {},
            }
        }
    }
    with pytest.raises(BadInputError, match=r"r1's ansible_ssh_common_args turns host-key"):
        _hardened(inventory, Path("site/hosts.yml"))
    inventory["_meta"]["hostvars"]["r1"] = {
        "ansible_ssh_extra_args": "-o UserKnownHostsFile=/dev/null"
    }
    with pytest.raises(BadInputError, match="host-key checking off"):
        _hardened(inventory, Path("site/hosts.yml"))
    inventory["_meta"]["hostvars"]["r1"] = {"ansible_ssh_common_args": "-F cfg"}
    hardened = _hardened(inventory, Path("site/hosts.yml"))
    for hostvars in hardened["_meta"]["hostvars"].values():
        assert "-o StrictHostKeyChecking=yes" in hostvars["ansible_ssh_extra_args"]
        assert "-o ControlPath=none" in hostvars["ansible_ssh_extra_args"]


def test_the_collector_is_asked_for_every_phase_of_a_router() -> None:
    data = load("merged")
    frr = node_named(data, ROLE_ROUTER, DAEMON_FRR)
    item = data[frr]
    request = _request(NodeReading(frr, item["node"], item["variables"]))["audit"]
    assert request["frr"] is True and set(request["nft_desired"]) == {p.value for p in Phase}
    assert "table inet govcloud_filter" in request["nft_desired"]["merged"]


def test_frr_statements_follow_blocks_and_drop_noise() -> None:
    text = (
        "Building configuration...\n\nCurrent configuration:\n!\nfrr version 8.4.4\n"
        "hostname r\n!\ninterface lo\n ip address 198.18.156.3/32\n ip ospf area 0\nexit\n!\n"
        "router ospf\n ospf router-id 198.18.156.3\nexit\n!\ninterface up0\nexit\n!\nend\n"
    )
    assert netconfig.frr_statements(text) == [
        ("hostname r",),
        ("interface lo", "ip address 198.18.156.3/32"),
        ("interface lo", "ip ospf area 0.0.0.0"),
        ("router ospf", "ospf router-id 198.18.156.3"),
    ]


def test_a_boundary_not_read_fails_the_item_never_passes() -> None:
    data = load("merged")
    found = readings(data)
    frr = node_named(data, ROLE_ROUTER, DAEMON_FRR)
    found.nodes[frr].facts, found.nodes[frr].error = None, "SSH failed: Connection refused"
    verdict, evidence = network_default_deny(boundaries(found))
    assert verdict is Verdict.FAIL
    assert evidence["failures"] == [{"router": frr, "reason": "its ruleset was not read"}]
