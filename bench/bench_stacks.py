"""Benchmarks for the stacks: the program under Pulumi mocks, and the plan's diff.

For a synthetic county of N departments (2 networks and 3 cloud systems each, one per tier):
- the primary stack program under mocks (what `govcloud plan` and the stack tests run):
  time and peak RSS, against a baseline of registering the same resources with the same
  inputs as plain values, flat, under the same mocks (the SDK's own cost, no components,
  no Outputs between resources);
- the DR stack (which runs the primary first, for its StackReference);
- the plan against a live snapshot of the same size (a faithful deployment with one changed
  quota per ten departments), against a baseline of indexing both sides and comparing whole
  attribute dicts (which finds changed resources, not attributes).
Each measurement runs in its own child process, so every peak RSS belongs to it alone.

Run: make bench  (or .venv/bin/python bench/bench_stacks.py --departments 60 600)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
COUNTY_YAML = """\
---
code: "519901"
name: 基准县
sites:
  - {name: primary, role: primary, region: RegionOne}
  - {name: dr, role: dr, region: RegionTwo}
extranet:
  ipv4_pools: [198.18.0.0/15]
  ipv6_prefix: 2001:db8::/32
"""
TIERS = ("core", "important", "general")
QUOTA_CHANGE_EVERY = 10  # one hand-changed quota per ten departments in the live snapshot


def stack_county(root: Path, departments: int) -> Path:
    """Write a county whose every department has 2 networks and 3 cloud systems."""
    (root / "departments").mkdir(parents=True)
    (root / "county.yaml").write_text(COUNTY_YAML, encoding="utf-8")
    for number in range(departments):
        code = f"d{number:04d}"
        lines = [
            "---",
            f"code: {code}",
            f"name: 部门{number}",
            "kind: department",
            "quota: {vcpu: 16, ram_gb: 32, storage_gb: 1000, floating_ips: 1, networks: 2}",
            "legacy_networks:",
            "  - {name: office, prefix: 192.168.1.0/24, hosts: 20}",
            f"  - {{name: business, prefix: 10.{number % 256}.0.0/24, hosts: 60, vlan: 20}}",
            "systems:",
        ]
        for index, tier in enumerate(TIERS):
            lines += [
                f"  - code: s{index}",
                f"    name: 系统{index}",
                f"    tier: {tier}",
                "    data_gb: 100",
                "    max_downtime_min: 60",
                "    location: cloud",
            ]
        (root / "departments" / f"{code}.yaml").write_text("\n".join(lines) + "\n", "utf-8")
    return root


def synthetic_side(county: Any, stack: str) -> Any:
    """The stack's desired side with addresses laid out directly (one /24 and one /48 per
    department): the network planner's router loopback and link blocks hold 256 departments,
    so a 600-department county cannot be planned (the planner has its own benchmark)."""
    from govcloud.grants import read_grants  # noqa: PLC0415
    from govcloud.stackplan.desired import desired_items  # noqa: PLC0415
    from govcloud.stackplan.run import DesiredSide  # noqa: PLC0415
    from modules.tenant_network import PlannedNetwork  # noqa: PLC0415
    from stacks.desired import DesiredState  # noqa: PLC0415
    from stacks.mockrun import run_stack  # noqa: PLC0415
    from stacks.settings import STACK_SITE, load_settings  # noqa: PLC0415

    networks = {}
    for number, department in enumerate(sorted(county.departments, key=lambda d: d.code)):
        v4 = f"198.{18 + number // 256}.{number % 256}"
        v6 = f"2001:db8:{0x1000 + number:x}"
        networks[department.code] = (
            PlannedNetwork(department.code, "office", f"{v4}.0/27", f"{v6}:0::/64"),
            PlannedNetwork(department.code, "business", f"{v4}.128/25", f"{v6}:1::/64"),
        )
    grants = read_grants(county)

    def state(name: str) -> DesiredState:
        settings = load_settings(REPO, name)
        site = county.site(STACK_SITE[name])
        return DesiredState(county, settings, site, networks, grants, ())

    start = time.perf_counter()
    primary_state = state("primary")
    primary = run_stack(primary_state)
    if stack == "primary":
        chosen, run, references = primary_state, primary, []
    else:
        chosen = state(stack)
        run = run_stack(chosen, {chosen.settings.primary_stack: primary.outputs})
        references = [primary]
    items, not_compared = desired_items(run, references)
    return DesiredSide(stack, chosen, run, items, not_compared, time.perf_counter() - start)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_program(departments: int, stack: str, dump: str = "") -> dict[str, Any]:
    """Run one stack under mocks (time, peak RSS); for primary also plan it against a live
    snapshot of the same size, and dump the cloud resources' inputs for the baseline."""
    from govcloud.loader import load_county  # noqa: PLC0415
    from govcloud.stackplan.diff import diff  # noqa: PLC0415
    from govcloud.stackplan.live import live_items  # noqa: PLC0415
    from govcloud.stackplan.run import plan_against  # noqa: PLC0415
    from govcloud.stackplan.simulate import snapshot_from_items  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as scratch:
        county = load_county(stack_county(Path(scratch) / "county", departments))
    side = synthetic_side(county, stack)
    seconds = side.seconds
    result: dict[str, Any] = {
        "seconds": seconds,
        "resources": len(side.run.resources),
        "cloud_resources": len(side.run.cloud_resources()),
        "peak_mib": _peak_mib(),
    }
    if dump:
        Path(dump).write_text(
            json.dumps([[r.type, r.name, r.inputs] for r in side.run.cloud_resources()])
        )
    if stack != "primary":
        return result
    snapshot = snapshot_from_items(side.items)
    quotas = tuple(
        q.model_copy(update={"values": {**q.values, "networks": 99}})
        if q.service == "network" and int(q.project_id.rsplit("d", 1)[-1]) % QUOTA_CHANGE_EVERY == 0
        else q
        for q in snapshot.quotas
    )
    snapshot = snapshot.model_copy(update={"quotas": quotas})
    start = time.perf_counter()
    plan = plan_against(side, snapshot)
    planned = time.perf_counter() - start
    live = live_items(snapshot, side.scope)
    start = time.perf_counter()
    diff(side.items, live)
    engine = time.perf_counter() - start
    start = time.perf_counter()
    want = {(i.kind, i.key): dict(i.attrs) for i in side.items}
    have = {(i.kind, i.key): dict(i.attrs) for i in live}
    sum(1 for key, attrs in want.items() if have.get(key) != attrs)
    naive = time.perf_counter() - start
    result.update(
        plan_seconds=planned,
        diff_seconds=engine,
        naive_seconds=naive,
        items=len(side.items),
        live=len(live),
        changes=len(plan.report.changes),
    )
    return result


def child_baseline(dump: str) -> dict[str, Any]:
    """Register the same cloud resources with the same (plain) inputs, flat: the SDK floor."""
    import pulumi  # noqa: PLC0415
    from pulumi.runtime.mocks import MockMonitor  # noqa: PLC0415

    from stacks.mockrun import RecordingMocks, _without_source_positions  # noqa: PLC0415

    resources = json.loads(Path(dump).read_text())
    mocks = RecordingMocks({})
    pulumi.runtime.set_mocks(mocks, "bench", "bench", False, monitor=MockMonitor(mocks))

    def program() -> None:
        for type_, name, inputs in resources:
            pulumi.CustomResource(type_, name, inputs)

    start = time.perf_counter()
    with _without_source_positions():  # the same shortcut the program runs with
        pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]
    return {"seconds": time.perf_counter() - start, "peak_mib": _peak_mib()}


CHILDREN = {"program": child_program, "baseline": child_baseline}


def _in_child(*args: str) -> dict[str, Any]:
    # Our own script with our own arguments: no user input reaches the command line.
    result = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departments", type=int, nargs="+", default=[60, 600])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, *rest = args.child
        values: list[Any] = [int(rest[0]), *rest[1:]] if rest[0].isdigit() else rest
        print(json.dumps(CHILDREN[what](*values)))
        return
    print("| what | ours | baseline (same run) | ratio |")
    print("|---|---|---|---|")
    for departments in args.departments:
        with tempfile.TemporaryDirectory() as scratch:
            dump = str(Path(scratch) / "inputs.json")
            program = _in_child("program", str(departments), "primary", dump)
            base = _in_child("baseline", dump)
        print(
            f"| primary stack under mocks, {departments} departments "
            f"({program['resources']:,} resources, {program['cloud_resources']:,} in the cloud) "
            f"| {program['seconds']:.1f} s, peak RSS {program['peak_mib']:.0f} MiB "
            f"| the same {program['cloud_resources']:,} resources and inputs, flat: "
            f"{base['seconds']:.1f} s, peak RSS {base['peak_mib']:.0f} MiB "
            f"| {program['seconds'] / base['seconds']:.2f}x |"
        )
        print(
            f"| plan of that stack against a live snapshot of the same size "
            f"({program['items']:,} desired, {program['live']:,} live, "
            f"{program['changes']} changes) | {program['plan_seconds'] * 1000:.0f} ms "
            f"(diff alone {program['diff_seconds'] * 1000:.0f} ms) "
            f"| whole-dict compare {program['naive_seconds'] * 1000:.0f} ms "
            f"| {program['diff_seconds'] / program['naive_seconds']:.1f}x |"
        )
        if departments == min(args.departments):
            dr = _in_child("program", str(departments), "dr")
            print(
                f"| DR stack under mocks (primary run included), {departments} departments "
                f"({dr['resources']:,} resources) | {dr['seconds']:.1f} s, peak RSS "
                f"{dr['peak_mib']:.0f} MiB | — | — |"
            )


if __name__ == "__main__":
    main()
