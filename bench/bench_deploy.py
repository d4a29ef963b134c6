"""Benchmark: `govcloud localcloud deploy` of the sample county onto an empty local cloud.

For each stack (primary, then DR): the deploy from nothing (wall time, API calls, peak RSS of
the deploy process) against, in the same run, the plan's read of the cloud it built (the
baseline: one full snapshot of the region); then a second deploy with nothing to change. The
county is removed first and, unless --keep, afterwards.

Run (root, the local cloud up or startable):
    .venv/bin/python bench/bench_deploy.py [--workers 4] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# The hand deployer's county removal is test support the benchmarks share.
sys.path.insert(0, str(REPO / "tests"))


def govcloud(env: dict[str, str], *args: str) -> tuple[dict[str, Any], float, int]:
    """Run one govcloud command; its JSON, wall seconds and the peak RSS (MiB) of children."""
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603  (our own command)
        [sys.executable, "-m", "cli", *args, "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if result.returncode not in {0, 1}:
        raise SystemExit(f"govcloud {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return json.loads(result.stdout), seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="leave the county deployed")
    options = parser.parse_args()

    from handdeploy import remove_county  # noqa: PLC0415

    from cloud import inventory  # noqa: PLC0415
    from govcloud.loader import load_county  # noqa: PLC0415
    from lab.localcloud.layout import CLOUD_NAME, REGIONS  # noqa: PLC0415
    from lab.localcloud.manager import LocalCloud  # noqa: PLC0415

    cloud = LocalCloud(REPO / ".govcloud" / "localcloud")
    cloud.up()
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(cloud.paths.clouds_yaml)
    county = load_county(REPO / "county")
    regions = [r.name for r in REGIONS]
    remove_county(CLOUD_NAME, regions, county.code, workers=options.workers)
    rows = []
    with tempfile.TemporaryDirectory() as state:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
        env |= {
            "GOVCLOUD_STATE_DIR": state,
            "GOVCLOUD_LOCALCLOUD_DIR": str(cloud.paths.root),
        }
        subprocess.run(
            [sys.executable, "-m", "cli", "db", "upgrade"], cwd=REPO, env=env, check=True
        )
        try:
            for stack, region in (("primary", "RegionOne"), ("dr", "RegionTwo")):
                args = ("localcloud", "deploy", "--stack", stack, "--workers", str(options.workers))
                first, first_s, peak = govcloud(env, *args)
                read = inventory.read(CLOUD_NAME, regions=[region])
                second, second_s, _ = govcloud(env, *args)
                rows.append((stack, first, first_s, peak, read, second, second_s))
            report(rows)
        finally:
            if not options.keep:  # after the report: removing 60 departments takes minutes
                remove_county(CLOUD_NAME, regions, county.code, workers=options.workers)


def report(rows: list[tuple[Any, ...]]) -> None:
    """The results as a Markdown table, with the load average they were taken under."""
    load = os.getloadavg()
    print(f"load average before the report: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("| stack | deploy from nothing | baseline: the plan's read | ratio | nothing to change |")
    print("|---|---|---|---|---|")
    for stack, first, first_s, peak, read, second, second_s in rows:
        created = first["totals"]["create"]
        print(
            f"| {stack} ({created} created, {first['departments']} departments, "
            f"remaining {first['remaining']}) | {first_s:.0f} s, {first['api_calls']} API calls, "
            f"peak RSS {peak} MiB | {read.seconds:.1f} s, {read.api_calls} API calls | "
            f"{first_s / read.seconds:.0f}x | {second_s:.1f} s, {second['api_calls']} API calls "
            f"in the deploy itself, {second['totals']} |"
        )
        sys.stdout.flush()
    total = sum(row[2] for row in rows)
    again = sum(row[6] for row in rows)
    print(
        f"both stacks from nothing: {total:.0f} s wall (goal 300 s); "
        f"both again with nothing to change: {again:.1f} s (goal 30 s each)"
    )


if __name__ == "__main__":
    main()
