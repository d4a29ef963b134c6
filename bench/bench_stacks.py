"""Benchmarks for the stacks: the program under Pulumi mocks, and the plan's diff.

For a synthetic county of N departments (2 networks and 3 cloud systems each, one per tier):
- the primary stack program under mocks (what `govcloud plan` and the stack tests run):
  time and peak RSS, against a baseline of registering the same resources with the same
  inputs as plain values, flat, under the same mocks (the SDK's own cost, no components,
  no Outputs between resources);
- the DR stack (which runs the primary first, for its StackReference);
- the plan against a simulated snapshot of the same size (a faithful deployment with one changed
  quota per ten departments), against a baseline of indexing both sides and comparing whole
  attribute dicts (which finds changed resources, not attributes).
Each measurement runs in its own child process, so every peak RSS belongs to it alone.

With --live (default 60 departments) it plans against a real cloud instead: it seeds the local
cloud with the county's whole desired primary stack through openstacksdk (`handdeploy`,
four departments at a time, under a random county code of its own), changes the same quotas
by hand, times `govcloud plan`'s reader and diff against it, and compares with the plan of the
same county against the simulated snapshot in the same run; then removes the county (unless
--keep). An interrupted seeding resumes with --county-code: departments the plan finds
complete are kept, incomplete ones rebuilt; --cleanup-only removes a county.

Run: make bench  (or .venv/bin/python bench/bench_stacks.py --departments 60 600)
     .venv/bin/python bench/bench_stacks.py --live [--departments 60] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# The simulated cloud and the hand deployer are test support that the benchmarks share.
sys.path.insert(0, str(REPO / "tests"))
COUNTY_CODE = "519901"
COUNTY_YAML = """\
---
code: "{code}"
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
CHANGED_NETWORKS = 99  # the hand-changed quota value
# --live: the local cloud's fake compute offers 800,000 MB of RAM (no overcommit); a department
# of core + important + general systems needs 14 GiB (m1.large, medium, small), so 60 do not
# fit. Live runs make every system general (m1.small): the same resources, 2 GiB each.
LIVE_TIERS = ("general", "general", "general")
LIVE_DEPARTMENTS = 60
LIVE_SEED_WORKERS = 4
LIVE_READS = 2  # the first read as `govcloud plan` does it (cold), then one warm
LIVE_CODE_PREFIX = "58"  # the plan's integration tests use 59xxxx


def stack_county(
    root: Path, departments: int, *, code: str = COUNTY_CODE, tiers: tuple[str, ...] = TIERS
) -> Path:
    """Write a county whose every department has 2 networks and 3 cloud systems."""
    (root / "departments").mkdir(parents=True)
    (root / "county.yaml").write_text(COUNTY_YAML.replace("{code}", code), encoding="utf-8")
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
        for index, tier in enumerate(tiers):
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
    department), so the stack program is measured without the network planner (which has its
    own benchmark)."""
    from cloud.plan.run import DesiredSide  # noqa: PLC0415
    from cloud.plan.stack_items import desired_items  # noqa: PLC0415
    from desired.grants import read_grants  # noqa: PLC0415
    from desired.network_plan import PlannedNetwork  # noqa: PLC0415
    from desired.stack_settings import load_settings  # noqa: PLC0415
    from desired.state import DesiredState  # noqa: PLC0415
    from govcloud.conventions import DR_NETWORK, STACK_SITE  # noqa: PLC0415
    from stacks.mockrun import run_stack  # noqa: PLC0415

    networks = {}
    dr_networks = {}
    for number, department in enumerate(sorted(county.departments, key=lambda d: d.code)):
        v4 = f"198.{18 + number // 256}.{number % 256}"
        v6 = f"2001:db8:{0x1000 + number:x}"
        networks[department.code] = (
            PlannedNetwork(department.code, "office", f"{v4}.0/27", f"{v6}::/64"),
            PlannedNetwork(department.code, "business", f"{v4}.128/25", f"{v6}:1::/64"),
        )
        dr_v6 = f"2001:db8:{0x4000 + number:x}::/64"
        dr_networks[department.code] = PlannedNetwork(
            department.code, DR_NETWORK, f"{v4}.64/26", dr_v6
        )
    grants = read_grants(county)

    def state(name: str) -> DesiredState:
        settings = load_settings(REPO, name)
        site = county.site(STACK_SITE[name])
        return DesiredState(
            county,
            settings,
            site,
            networks,
            grants,
            dr_networks=dr_networks,
            warnings=(),
        )

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
    return DesiredSide(stack, chosen, items, not_compared, time.perf_counter() - start, run=run)


def hand_changed(project_name: str) -> bool:
    """Whether the benchmark changes this department's network quota by hand (every tenth)."""
    return int(project_name.rsplit("-d", 1)[-1]) % QUOTA_CHANGE_EVERY == 0


def changed_by_hand(snapshot: Any) -> Any:
    """The simulated snapshot with every tenth department's network quota changed by hand."""
    names = {p.id: p.name for p in snapshot.projects}
    quotas = tuple(
        q.model_copy(update={"values": {**q.values, "networks": CHANGED_NETWORKS}})
        if q.service == "network" and hand_changed(names[q.project_id])
        else q
        for q in snapshot.quotas
    )
    return snapshot.model_copy(update={"quotas": quotas})


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_program(departments: int, stack: str, dump: str = "") -> dict[str, Any]:
    """Run one stack under mocks (time, peak RSS); for primary also plan it against a live
    snapshot of the same size, and dump the cloud resources' inputs for the baseline."""
    from simulated_cloud import snapshot_from_items  # noqa: PLC0415

    from cloud.plan.diff import diff  # noqa: PLC0415
    from cloud.plan.live_items import live_items  # noqa: PLC0415
    from cloud.plan.run import plan_against  # noqa: PLC0415
    from govcloud.loader import load_county  # noqa: PLC0415

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
    snapshot = changed_by_hand(snapshot_from_items(side.items))
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


# -- --live: the plan against the local cloud seeded with the county ---------------------------
def _live_cloud() -> tuple[str, tuple[str, ...]]:
    """Start (or find) the local cloud; its cloud name and regions."""
    from lab.localcloud.layout import CLOUD_NAME  # noqa: PLC0415
    from lab.localcloud.manager import LocalCloud  # noqa: PLC0415

    root = Path(os.environ.get("GOVCLOUD_LOCALCLOUD_DIR", REPO / ".govcloud" / "localcloud"))
    cloud = LocalCloud(root)
    cloud.up()
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(cloud.paths.clouds_yaml)
    return CLOUD_NAME, ("RegionOne", "RegionTwo")


def seed_live(side: Any, cloud: str, regions: tuple[str, ...]) -> dict[str, Any]:
    """Deploy the county by hand, keeping the departments a previous run completed."""
    import handdeploy  # noqa: PLC0415

    from cloud import inventory  # noqa: PLC0415
    from cloud.deploy import project_of  # noqa: PLC0415
    from cloud.plan.items import ALWAYS_PRESENT  # noqa: PLC0415
    from cloud.plan.run import plan_against  # noqa: PLC0415

    region = side.state.site.region
    report = plan_against(side, inventory.read(cloud, regions=[region])).report
    group_projects = {i.key[1]: i.key[0] for i in side.items if i.kind == "role_assignment"}
    incomplete = {
        project_of(c.kind, c.key, group_projects)
        for c in report.changes
        if c.kind not in ALWAYS_PRESENT  # quotas are set again below
    }
    identity: Any = handdeploy.connect(cloud, region).identity
    tag = f"county:{side.state.county.code}"
    present = {p.name: p for p in identity.projects() if tag in (p.tags or [])}
    for name in sorted(incomplete & present.keys()):
        print(f"rebuilding incomplete {name}", file=sys.stderr)
        handdeploy.remove_project(cloud, regions, present.pop(name))
    _, departments = handdeploy.by_department(side.items)
    todo = sorted(departments.keys() - present.keys())
    seeded = [i for name in todo for i in departments[name]]
    done: list[str] = []

    def progress(name: str) -> None:
        done.append(name)
        print(f"  {len(done)}/{len(todo)} {name}", file=sys.stderr, flush=True)

    start = time.monotonic()
    handdeploy.deploy(
        cloud, region, side.items, workers=LIVE_SEED_WORKERS, skip=present, done=progress
    )
    seconds = time.monotonic() - start
    c = handdeploy.connect(cloud, region)
    for item in side.items:  # kept departments may carry an earlier run's hand change
        if item.kind == "network_quota" and item.key[0] in present:
            c.network.update_quota(present[item.key[0]].id, **item.attrs)
    return {
        "seconds": seconds,
        "departments": len(todo),
        "kept": len(present),
        "items": len(seeded),
        "servers": sum(i.kind == "server" for i in seeded),
        "volumes": sum(i.kind == "volume" for i in seeded),
    }


def change_live_by_hand(side: Any, cloud: str) -> None:
    """The same hand changes as the simulated snapshot's: every tenth network quota."""
    import handdeploy  # noqa: PLC0415

    c = handdeploy.connect(cloud, side.state.site.region)
    identity: Any = c.identity
    for item in side.items:
        if item.kind == "project" and hand_changed(item.key[0]):
            project = identity.find_project(item.key[0], ignore_missing=False)
            c.network.update_quota(project.id, networks=CHANGED_NETWORKS)


def measure_live(side: Any, cloud: str) -> dict[str, Any]:
    """Plan against the live cloud (read + diff, LIVE_READS times) and the simulated snapshot."""
    from simulated_cloud import snapshot_from_items  # noqa: PLC0415

    from cloud import inventory  # noqa: PLC0415
    from cloud.plan.run import plan_against  # noqa: PLC0415

    region = side.state.site.region
    reads = []
    for _ in range(LIVE_READS):
        snapshot = inventory.read(cloud, regions=[region])
        start = time.perf_counter()
        plan = plan_against(side, snapshot)
        reads.append((snapshot, time.perf_counter() - start, plan))
    simulated = changed_by_hand(snapshot_from_items(side.items))
    simulated_s = []
    for _ in range(LIVE_READS):  # as often as the live plan, so both are as warm
        start = time.perf_counter()
        expected = plan_against(side, simulated)
        simulated_s.append(time.perf_counter() - start)

    def changes(plan: Any) -> set[tuple[Any, ...]]:
        return {(c.action.value, c.kind, c.key, c.attribute) for c in plan.report.changes}

    live_changes, want = changes(reads[0][2]), changes(expected)
    return {
        "reads": [
            {
                "read_s": snap.seconds,
                "calls": snap.api_calls,
                "diff_s": diff_s,
                "records": sum(sum(v.values()) for v in snap.counts().values()),
                "projects": len(snap.projects),
                "simulated_s": simulated,
            }
            for (snap, diff_s, _), simulated in zip(reads, simulated_s, strict=True)
        ],
        "desired": reads[0][2].desired,
        "live": reads[0][2].live,
        "changes": len(live_changes),
        "simulated_changes": len(want),
        "only_live": sorted(live_changes - want)[:10],
        "only_simulated": sorted(want - live_changes)[:10],
    }


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def live(departments: int, *, code: str | None, keep: bool, cleanup_only: bool) -> None:
    """--live: seed, plan, compare with the simulated plan, clean up; print the rows."""
    import handdeploy  # noqa: PLC0415

    from govcloud.loader import load_county  # noqa: PLC0415

    cloud, regions = _live_cloud()
    if cleanup_only:
        if code is None:
            raise SystemExit("--cleanup-only needs --county-code")
        removed = handdeploy.remove_county(cloud, regions, code, workers=LIVE_SEED_WORKERS)
        print(f"removed county {code} ({removed} projects)")
        return
    code = code or f"{LIVE_CODE_PREFIX}{secrets.randbelow(10**4):04d}"
    print(
        f"county {code}; if interrupted, resume with --county-code {code} "
        f"or remove it with --cleanup-only --county-code {code}",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory() as scratch:
        county_dir = stack_county(
            Path(scratch) / "county", departments, code=code, tiers=LIVE_TIERS
        )
        county = load_county(county_dir)
    side = synthetic_side(county, "primary")
    print(f"load before seeding: {_load()}", file=sys.stderr)
    seeding = seed_live(side, cloud, regions)
    try:
        change_live_by_hand(side, cloud)
        load = _load()
        result = measure_live(side, cloud)
        load = f"{load} / {_load()}"
    finally:
        if not keep:
            start = time.monotonic()
            handdeploy.remove_county(cloud, regions, code, workers=LIVE_SEED_WORKERS)
            print(f"removed county {code} in {time.monotonic() - start:.0f} s", file=sys.stderr)
    _print_live(departments, side, seeding, result, load)


def _print_live(
    departments: int, side: Any, seeding: dict[str, Any], result: dict[str, Any], load: str
) -> None:
    per_department = seeding["seconds"] / max(seeding["departments"], 1)
    print(
        f"seeded {seeding['departments']} departments ({seeding['kept']} kept from an earlier "
        f"run): {seeding['items']:,} items ({seeding['servers']} servers, {seeding['volumes']} "
        f"volumes) in {seeding['seconds']:.0f} s with {LIVE_SEED_WORKERS} workers = "
        f"{seeding['items'] / max(seeding['seconds'], 1e-9):.2f} items/s, "
        f"{per_department:.1f} s per department"
    )
    print(f"program under mocks: {side.seconds:.1f} s; load average (1/5/15 min) {load}")
    print("| what | ours | baseline (same run) | ratio |")
    print("|---|---|---|---|")
    for number, read in enumerate(result["reads"]):
        total, simulated = read["read_s"] + read["diff_s"], read["simulated_s"]
        print(
            f"| plan against the live local cloud, {departments} departments, "
            f"{'cold' if number == 0 else 'warm'} ({result['desired']:,} desired, "
            f"{result['live']:,} live, {result['changes']} changes; {read['projects']} projects, "
            f"{read['records']:,} records read) | read {read['read_s']:.1f} s with "
            f"{read['calls']} API calls + diff {read['diff_s'] * 1000:.0f} ms = {total:.1f} s "
            f"| the same county against the simulated snapshot: {simulated * 1000:.0f} ms "
            f"({result['simulated_changes']} changes) | {total / simulated:.0f}x "
            f"(diff alone {read['diff_s'] / simulated:.2f}x) |"
        )
    if result["only_live"] or result["only_simulated"]:
        print(f"live and simulated plans differ: live only {result['only_live']}")
        print(f"simulated only {result['only_simulated']}")
    else:
        print("live and simulated plans report exactly the same changes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departments", type=int, nargs="+", default=None)
    parser.add_argument("--live", action="store_true", help="plan against the local cloud")
    parser.add_argument("--keep", action="store_true", help="--live: keep the seeded county")
    parser.add_argument("--county-code", help="--live: resume or remove this county")
    parser.add_argument("--cleanup-only", action="store_true", help="--live: remove and stop")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.live:
        (departments,) = args.departments or [LIVE_DEPARTMENTS]
        live(departments, code=args.county_code, keep=args.keep, cleanup_only=args.cleanup_only)
        return
    args.departments = args.departments or [60, 600]
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
