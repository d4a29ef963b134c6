"""Gather everything the node tests look at in one remote command (standard library only).

testinfra runs each command over SSH; on a busy machine a round trip costs more than the
check. conftest.py sends this script once per node with the addresses to probe, and the tests
assert on the JSON it prints: addresses, default routes, listening sockets, the recorded
phase, nftables tables, routing sessions, `ip route get` and pings.
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
    facts["route_get"] = {a: run(f"ip route get {a}") for a in request.get("route_get", [])}
    pings = request.get("ping", [])
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = pool.map(lambda a: run(f"ping -c1 -W2 -n -q {a}")["rc"] == 0, pings)
        facts["ping"] = dict(zip(pings, answers, strict=True))
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
