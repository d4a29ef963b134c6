"""Benchmark `govcloud audit drift` (the cloud part) against the plan's read alone, and the
compliance run (`govcloud audit check`).

For a county already deployed on a cloud (both stacks), in the same run and `--runs` times
each: the baseline is what `govcloud plan` reads for the two stacks (one region each, every
project's quotas); the drift is the audit's own read (both regions at once, the county's
quotas only) plus the stacks under Pulumi mocks and the comparison. Both count their API calls.
The compliance run is the whole command, `govcloud audit check --json`, in a new process on a
fresh registry: the read, the drift, the registry's facts and every catalogue item.

Run: .venv/bin/python bench/bench_audit.py --county DIR --project-dir DIR [--cloud NAME]
(a county deployed with `govcloud localcloud deploy --stack primary|dr`; the local cloud by
default). Prints a Markdown row for docs/benchmarks.md with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from audit.drift import cloud_drift
from cloud import inventory
from cloud.plan.run import collect_stacks, load_stacks, stack_region
from govcloud.conventions import TAG_COUNTY
from govcloud.loader import load_county
from lab.localcloud.layout import default_cloud


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--county", type=Path, required=True)
    parser.add_argument("--project-dir", type=Path, default=Path())
    parser.add_argument("--cloud", default=None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(os.environ.get("GOVCLOUD_LOCALCLOUD_DIR", ".govcloud/localcloud"))
    name, config = default_cloud(root)
    cloud = args.cloud or name
    county = load_county(args.county)
    regions = [stack_region(s, county) for s in ("primary", "dr")]
    tag, prefix = f"{TAG_COUNTY}{county.code}", f"{county.code}-"
    base_s, base_calls, drift_s, drift_calls, findings = [], [], [], [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        reads = [inventory.read(cloud, regions=[r], config_file=config) for r in regions]
        base_s.append(time.perf_counter() - started)
        base_calls.append(sum(r.api_calls for r in reads))

        started = time.perf_counter()
        snapshot = inventory.read(
            cloud,
            regions=regions,
            config_file=config,
            quotas_of=lambda p: tag in p.tags or p.name.startswith(prefix),
        )
        sides = collect_stacks(
            ["primary", "dr"], stacks=load_stacks(args.project_dir, "dr"), county=county
        )
        report = cloud_drift(
            sides,
            lambda _region, s=snapshot: s,
            county_code=county.code,
            departments=[d.code for d in county.departments],
        )
        drift_s.append(time.perf_counter() - started)
        drift_calls.append(snapshot.api_calls)
        findings.append(len(report.findings))
    check_s, totals = compliance_runs(args, root)
    load = os.getloadavg()[0]
    print(
        f"| {county.code} ({len(county.departments)} departments), both regions | "
        f"plan's reads: {statistics.median(base_s):.1f} s, {base_calls[-1]} calls | "
        f"drift: {statistics.median(drift_s):.1f} s, {drift_calls[-1]} calls "
        f"({statistics.median(drift_s) / statistics.median(base_s):.2f}x the reads), "
        f"findings {findings} | check: {statistics.median(check_s):.1f} s, {totals} | "
        f"load {load:.1f} |"
    )


def compliance_runs(args: argparse.Namespace, root: Path) -> tuple[list[float], dict[str, int]]:
    """`govcloud audit check --json` timed `--runs` times; its verdict totals (the last run)."""
    seconds, totals = [], {}
    with tempfile.TemporaryDirectory() as state:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
        env |= {"GOVCLOUD_STATE_DIR": state, "GOVCLOUD_LOCALCLOUD_DIR": str(root.resolve())}
        command = [sys.executable, "-m", "cli"]
        subprocess.run([*command, "db", "upgrade"], env=env, check=True, capture_output=True)  # noqa: S603
        county = ("--county", str(args.county), "--project-dir", str(args.project_dir))
        cloud = ("--cloud", args.cloud) if args.cloud else ()
        for _ in range(args.runs):
            started = time.perf_counter()
            done = subprocess.run(  # noqa: S603  (our own command)
                [*command, "audit", "check", *county, *cloud, "--json"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            seconds.append(time.perf_counter() - started)
            if done.returncode not in {0, 1}:
                raise SystemExit(f"audit check exited {done.returncode}:\n{done.stderr[-3000:]}")
            totals = json.loads(done.stdout)["totals"]
    return seconds, totals


if __name__ == "__main__":
    main()
