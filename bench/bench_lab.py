"""Benchmarks for the network lab (issue: the lab and the merge/IPv6 playbooks). Needs root.

1. `lab up` and `lab down` for 5, 20 and 50 departments (the first N the lab can model, by
   code), with the growth per department between the smallest and the largest lab, and the
   time `lab verify` takes over the legacy matrix.
2. The three playbooks on 20 departments with forks 10 and serial 5: merge, dual-stack (with
   its continuous IPv4 probe) and cutover, each followed by a second run (changed=0 expected).

Baselines in the same run, so the ratios mean something on a loaded machine: for `up`/`down`,
the floor every namespace lab pays (as many bare namespaces as the lab has nodes, each with a
veth pair and its loopback up, made and removed with one `ip -batch` each); for the playbooks,
`ansible all -m ping` over the same inventory and forks (one SSH round trip per node).

Run: sudo .venv/bin/python bench/bench_lab.py [--sizes 5 20 50] [--playbook-departments 20]
Results go to docs/benchmarks.md with the command and the machine's load at the time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from govcloud.loader import load_county
from lab.netlab import netns
from lab.netlab.manager import NetLab
from lab.netlab.topology import build_topology, choose_departments
from network.plan import plan_network

REPO = Path(__file__).resolve().parents[1]
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", re.M)
PLAYBOOKS = (
    ("network-merge", "extranet_merge"),
    ("ipv6-dualstack", "ipv6_dualstack"),
    ("ipv6-cutover", "ipv6_cutover"),
)


def load_average() -> float:
    return os.getloadavg()[0]


def lab_for(count: int, root: Path) -> tuple[NetLab, Any]:
    county = load_county(REPO / "county")
    departments = choose_departments(county, str(count))
    topology = build_topology(county, plan_network(county), departments, lab="bench")
    lab = NetLab(root, "bench")
    if lab.ours():
        lab.down()
    return lab, topology


BASELINE_PREFIX = "gcbase"


def bare_namespaces(nodes: int) -> tuple[float, float]:
    """Seconds to make and to remove `nodes` namespaces with a veth pair each (the floor)."""
    names = [f"{BASELINE_PREFIX}{i}" for i in range(nodes)]
    started = time.monotonic()
    netns.batch(f"netns add {name}" for name in names)
    netns.batch(f"link add {name}a netns {name} type veth peer name {name}b" for name in names)
    for name in names:
        netns.batch(["link set lo up", f"link set {name}a up"], namespace=name)
    made = time.monotonic() - started
    started = time.monotonic()
    netns.batch(f"link del {name}b" for name in names)
    netns.batch(f"netns del {name}" for name in names)
    return made, time.monotonic() - started


def up_down(count: int, root: Path) -> dict[str, Any]:
    lab, topology = lab_for(count, root)
    load = load_average()
    started = time.monotonic()
    timings = lab.up(topology)
    up = time.monotonic() - started
    started = time.monotonic()
    _, results = lab.verify(wait=0)
    verify = time.monotonic() - started
    started = time.monotonic()
    lab.down()
    down = time.monotonic() - started
    base_up, base_down = bare_namespaces(len(topology.nodes))
    return {
        "departments": count,
        "nodes": len(topology.nodes),
        "up_s": round(up, 2),
        "steps_s": timings,
        "verify_s": round(verify, 2),
        "checks": len(results),
        "down_s": round(down, 2),
        "bare_up_s": round(base_up, 2),
        "bare_down_s": round(base_down, 2),
        "load": round(load, 1),
    }


def playbooks(count: int, root: Path) -> list[dict[str, Any]]:
    lab, topology = lab_for(count, root)
    lab.up(topology)
    rows = []
    try:
        load = load_average()
        started = time.monotonic()
        ping = lab.run(["ansible", "all", "-m", "ping", "--forks", "10"], capture=True)
        rows.append(
            {
                "playbook": "baseline: ansible all -m ping",
                "run": "first",
                "seconds": round(time.monotonic() - started, 1),
                "rc": ping.returncode,
                "changed": 0,
                "failed": ping.stdout.count("UNREACHABLE") + ping.stdout.count("FAILED"),
                "load": round(load, 1),
            }
        )
        for name, prefix in PLAYBOOKS:
            for attempt in ("first", "second"):
                load = load_average()
                started = time.monotonic()
                result = lab.run(
                    [
                        "ansible-playbook",
                        f"playbooks/{name}.yml",
                        "--forks",
                        "10",
                        "-e",
                        f"{prefix}_serial=5",
                    ],
                    capture=True,
                    env={"ANSIBLE_NOCOLOR": "1"},
                )
                seconds = time.monotonic() - started
                recap = RECAP.findall(result.stdout)
                rows.append(
                    {
                        "playbook": name,
                        "run": attempt,
                        "seconds": round(seconds, 1),
                        "rc": result.returncode,
                        "changed": sum(int(c) for _, c, _ in recap),
                        "failed": sum(int(f) for _, _, f in recap),
                        "load": round(load, 1),
                    }
                )
                print(json.dumps(rows[-1]), file=sys.stderr)
                if result.returncode != 0:
                    print(result.stdout[-3000:], file=sys.stderr)
                    return rows
    finally:
        lab.down()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 20, 50])
    parser.add_argument("--playbook-departments", type=int, default=20)
    parser.add_argument("--skip-playbooks", action="store_true")
    parser.add_argument("--root", type=Path, default=REPO / ".govcloud" / "bench-lab")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_lab.py needs root (network namespaces)")
    sizes = [up_down(n, args.root) for n in args.sizes]
    for row in sizes:
        print(json.dumps(row), file=sys.stderr)
    print(
        "| departments | nodes | up | bare namespaces | ratio | verify (checks) | down "
        "| bare | ratio | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in sizes:
        print(
            f"| {row['departments']} | {row['nodes']} | {row['up_s']:.1f} s | "
            f"{row['bare_up_s']:.2f} s | {row['up_s'] / row['bare_up_s']:.0f}x | "
            f"{row['verify_s']:.1f} s ({row['checks']}) | {row['down_s']:.1f} s | "
            f"{row['bare_down_s']:.2f} s | {row['down_s'] / row['bare_down_s']:.0f}x | "
            f"{row['load']} |"
        )
    if len(sizes) > 1:
        first, last = sizes[0], sizes[-1]
        span = last["departments"] - first["departments"]
        print(
            f"\ngrowth per department: up {(last['up_s'] - first['up_s']) / span * 1000:.0f} ms, "
            f"down {(last['down_s'] - first['down_s']) / span * 1000:.0f} ms"
        )
    if args.skip_playbooks:
        return
    rows = playbooks(args.playbook_departments, args.root)
    ping_s = rows[0]["seconds"]
    print("\n| playbook | run | time | x ansible ping | changed | failed | load |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['playbook']} | {row['run']} | {row['seconds']:.0f} s | "
            f"{row['seconds'] / ping_s:.1f} | {row['changed']} | {row['failed']} | {row['load']} |"
        )


if __name__ == "__main__":
    main()
