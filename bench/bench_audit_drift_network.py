"""Benchmark `govcloud audit drift --network --hosts` on a merged lab. Needs root.

Builds a lab of the first `--departments` departments the lab can model (by code), runs the
merge playbook, then `--runs` times each, in the same run:

- baseline 1, `lab verify`: the reachability matrix probed from every host (what the
  playbooks verify with; no SSH);
- baseline 2, the read alone: one SSH session per router and host (testinfra, host keys
  checked) gathering addresses, routes, listeners and running configurations;
- the drift: that read plus rendering each node's phase and comparing (FRR, BIRD, nftables,
  addresses, routes, services).

Prints a Markdown row for docs/benchmarks.md with the SSH sessions per run, the findings
(0 expected; 1000 added when a node could not be read) and the machine's load. The lab
is torn down at the end.

Run: sudo .venv/bin/python bench/bench_audit_drift_network.py [--departments 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from audit import nodes
from audit.network_drift import network_drift
from govcloud.loader import load_county
from lab.netlab.manager import NetLab
from lab.netlab.topology import build_topology, choose_departments
from network.plan import plan_network

REPO = Path(__file__).resolve().parents[1]
LAB = "benchaud"  # lab names are at most 8 characters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departments", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: it builds a network lab")
    county = load_county(REPO / "county")
    departments = choose_departments(county, str(args.departments))
    topology = build_topology(county, plan_network(county), departments, lab=LAB)
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as root:
        lab = NetLab(Path(root), LAB)
        lab.up(topology)
        try:
            merge = lab.run(
                [
                    "ansible-playbook",
                    "playbooks/network-merge.yml",
                    "-e",
                    "extranet_merge_serial=10",
                ],
                capture=True,
                env={"GOVCLOUD_STATE_DIR": str(Path(root) / "state")},
            )
            if merge.returncode != 0:
                raise SystemExit(f"the merge failed:\n{merge.stdout[-3000:]}")
            target = nodes.lab_target(Path(root), LAB)
            verify_s, read_s, drift_s, sessions, findings = [], [], [], [], []
            for _ in range(args.runs):
                started = time.perf_counter()
                lab.verify()
                verify_s.append(time.perf_counter() - started)

                started = time.perf_counter()
                nodes.read(target)
                read_s.append(time.perf_counter() - started)

                started = time.perf_counter()
                readings = nodes.read(target)
                report = network_drift(readings, network=True, hosts=True)
                drift_s.append(time.perf_counter() - started)
                sessions.append(readings.sessions)
                findings.append(len(report.findings) + (1000 if report.unreachable else 0))
        finally:
            lab.down()
    verify, read, drift = (statistics.median(x) for x in (verify_s, read_s, drift_s))
    print(
        f"| {len(departments)} departments, {sessions[-1]} nodes, merged | "
        f"`lab verify`: {verify:.1f} s | read alone: {read:.1f} s, {sessions[-1]} SSH sessions | "
        f"drift (network + hosts): {drift:.1f} s, {sessions[-1]} SSH sessions "
        f"({drift / read:.2f}x the read), findings {findings} (1000+: a node unread) | "
        f"load {os.getloadavg()[0]:.1f} |"
    )


if __name__ == "__main__":
    main()
