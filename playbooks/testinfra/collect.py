"""Gather everything the node tests look at in one remote command (standard library only).

testinfra runs each command over SSH; on a busy machine a round trip costs more than the
check. conftest.py sends this script once per node with the addresses to probe, and the tests
assert on the JSON it prints: addresses, default routes, listening sockets, the recorded
phase, nftables tables, routing sessions, `ip route get` and pings. `govcloud audit drift
--network --hosts` sends it an `audit` request as well and reads the running configurations
(FRR, BIRD, nftables) in the same round trip; the desired nftables file is loaded by the
node's own nft in a throwaway network namespace, so both sides are nft's own JSON.
"""

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def run(command):
    result = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)  # noqa: S602
    return {"rc": result.returncode, "out": result.stdout, "err": result.stderr}


def as_json(command, default):
    result = run(command)
    try:
        return json.loads(result["out"]) if result["rc"] == 0 and result["out"].strip() else default
    except ValueError:
        return default


def run_with_input(command, text):
    result = subprocess.run(command, input=text, capture_output=True, text=True, check=False)
    return {"rc": result.returncode, "out": result.stdout, "err": result.stderr}


def read_file(path):
    try:
        return {"rc": 0, "out": Path(path).read_text(encoding="utf-8"), "err": ""}
    except OSError as error:
        return {"rc": 1, "out": "", "err": str(error)}


def audit_facts(request, phase):
    """The running configurations the audit compares (nothing on the node is changed)."""
    facts = {}
    if request.get("frr"):
        facts["running_config"] = run("vtysh -c 'show running-config'")
    if request.get("bird_config"):
        facts["bird_config"] = read_file(request["bird_config"])
        facts["bird_protocols"] = run("birdc -s /run/bird/bird.ctl show protocols")
    desired = request.get("nft_desired")
    if desired:
        facts["nft_ruleset"] = run("nft -j list ruleset")
        text = desired.get(phase or "legacy")
        if text is None:
            facts["nft_desired"] = {"rc": 1, "out": "", "err": f"no rendering for {phase!r}"}
        else:
            # A network namespace of its own: the node's ruleset is never touched.
            loader = "nft -f - && nft -j list ruleset"
            facts["nft_desired"] = run_with_input(["unshare", "--net", "sh", "-c", loader], text)
        pinholes = Path(request.get("nft_pinholes", "/etc/govcloud/nftables.d"))
        facts["nft_pinholes"] = sorted(p.name for p in pinholes.glob("*.nft"))
    return facts


def main():
    request = json.loads(sys.argv[1])
    marker = Path("/etc/govcloud/network-phase")
    phase = marker.read_text(encoding="utf-8").strip() if marker.exists() else None
    facts = {
        "addresses": as_json("ip -json address show", []),
        "routes4": as_json("ip -json -4 route show default", []),
        "routes6": as_json("ip -json -6 route show default", []),
        "listening": run("ss -Hltn")["out"],
        "phase": phase,
        "nft_filter": run("nft list table inet govcloud_filter"),
        "nft_nat": run("nft list table ip govcloud_nat"),
    }
    if request.get("frr"):
        facts["ospf"] = as_json("vtysh -c 'show ip ospf neighbor json'", {})
        facts["ospf6"] = as_json("vtysh -c 'show ipv6 ospf6 neighbor json'", {})
        facts["daemons"] = run("vtysh -c 'show daemons'")["out"]
    if request.get("bird"):
        facts["bird"] = run("birdc -s /run/bird/bird.ctl show protocols")["out"]
    if request.get("audit"):
        facts["audit"] = audit_facts(request["audit"], phase)
    facts["route_get"] = {a: run(f"ip route get {a}") for a in request.get("route_get", [])}
    pings = request.get("ping", [])
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = pool.map(lambda a: run(f"ping -c1 -W2 -n -q {a}")["rc"] == 0, pings)
        facts["ping"] = dict(zip(pings, answers, strict=True))
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
