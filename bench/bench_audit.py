"""Benchmark `govcloud audit drift` (the cloud part) against the plan's read alone, and the
compliance run (`govcloud audit check`).

For a county already deployed on a cloud (both stacks), in the same run and `--runs` times
each:
- the baseline: what `govcloud plan` reads for the two stacks (one region each, every
  project's quotas), in this process;
- the drift as an operator runs it, `govcloud audit drift --json` in a new process on one
  fresh registry: first with `--fresh` (the stack programs run under Pulumi mocks: a changed
  county or code), then without (their items reused from the desired cache: a scheduled run
  on an unchanged county). Each reports its API calls and its own split (read, desired side);
- the compliance run, `govcloud audit check --json`, in the same registry: the read, the
  drift, the registry's facts and every catalogue item.

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
from typing import Any

from cloud import inventory
from cloud.plan.run import stack_region
from govcloud.loader import load_county
from lab.localcloud.layout import default_cloud

CLI = (sys.executable, "-m", "cli")


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
    base_s, base_calls = [], []
    cold: list[dict[str, Any]] = []
    warm: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as state:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
        env |= {"GOVCLOUD_STATE_DIR": state, "GOVCLOUD_LOCALCLOUD_DIR": str(root.resolve())}
        subprocess.run([*CLI, "db", "upgrade"], env=env, check=True, capture_output=True)  # noqa: S603
        where = ["--county", str(args.county), "--project-dir", str(args.project_dir)]
        where += ["--cloud", args.cloud] if args.cloud else []
        for _ in range(args.runs):
            started = time.perf_counter()
            reads = [inventory.read(cloud, regions=[r], config_file=config) for r in regions]
            base_s.append(time.perf_counter() - started)
            base_calls.append(sum(r.api_calls for r in reads))
            cold.append(timed(env, ["audit", "drift", *where, "--fresh", "--json"]))
            warm.append(timed(env, ["audit", "drift", *where, "--json"]))
        check = [timed(env, ["audit", "check", *where, "--json"]) for _ in range(args.runs)]
    if any(run["document"]["desired"]["reused"] for run in cold) or not all(
        run["document"]["desired"]["reused"] for run in warm
    ):
        raise SystemExit("the desired cache did not behave: --fresh reused, or a rerun did not")
    baseline = statistics.median(base_s)
    print(
        f"| {county.code} ({len(county.departments)} departments), both regions "
        f"| plan's reads: {baseline:.1f} s, {base_calls[-1]} calls "
        f"| {drift_cell(cold, baseline)} | {drift_cell(warm, baseline)} "
        f"| {statistics.median(r['seconds'] for r in check):.1f} s, "
        f"{check[-1]['document']['totals']} | {os.getloadavg()[0]:.1f} |"
    )


def timed(env: dict[str, str], arguments: list[str]) -> dict[str, Any]:
    """One `govcloud` command, timed whole; its JSON document. Exit 0 or 1 only (3: unread)."""
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603  (our own command)
        [*CLI, *arguments], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode not in {0, 1}:
        raise SystemExit(
            f"{' '.join(arguments[:2])} exited {done.returncode}:\n{done.stderr[-3000:]}"
        )
    return {"seconds": seconds, "document": json.loads(done.stdout)}


def drift_cell(runs: list[dict[str, Any]], baseline: float) -> str:
    """Median time (and its read and desired side), calls, the ratio to the read, findings."""
    seconds = statistics.median(r["seconds"] for r in runs)
    split = {
        part: statistics.median(r["document"]["seconds"][part] for r in runs)
        for part in ("read", "desired")
    }
    findings = [len(r["document"]["findings"]) for r in runs]
    return (
        f"**{seconds:.1f} s** (read {split['read']:.1f} s, desired side {split['desired']:.1f} s), "
        f"{runs[-1]['document']['api_calls']} calls, {seconds / baseline:.2f}x the reads, "
        f"findings {findings}"
    )


if __name__ == "__main__":
    main()
