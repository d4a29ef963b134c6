"""Benchmarks of 灾备 (disaster recovery) drills in the lab (issue 15). Needs root and the
local cloud.

A small county of its own on the local cloud: beta's three systems on the cloud, one per tier
(core beta/ledger streaming-sync, important beta/notes streaming-async, general beta/files
backup), each holding `--workload-mb` of data, both stacks deployed, the lab built with them
(`govcloud lab up --workloads`), replication set up (`govcloud dr setup`) and a first backup
taken (`govcloud dr backup`). Everything runs through the CLI as an operator would; each
drill's own probe writes 200 writes/s by the service name from a department's host and
measures it.

1. **Failover per tier**, `--runs` rounds of `govcloud dr drill --system S --kind failover
   --fault database` then `govcloud dr failback --system S` for each tier in turn (rounds, so a
   change in the machine's load falls on every tier alike): RPO, RTO, lost writes and met
   against the tier's targets (core RPO 0, RTO 30 s; important 5 s, 120 s; general the backup
   interval, 600 s), the failback's outage, time and lost writes. Baseline in the same run:
   restoring the same data from a backup alone, the general system's restore test (`govcloud
   dr drill --kind test` on it restores its latest backup into a scratch cluster at the DR
   site), from the playbook's start to `restored`; every system holds the same data. Ratio =
   failover RTO / that restore.
2. **A whole department**: `govcloud dr drill --department beta --kind failover` (every tier,
   in recovery order) and its `govcloud dr failback`. Goal: under 10 minutes.
3. **A test drill** of the department (`--kind test`) under a production client (the
   numbering client at 200 writes/s on the core system, whose test copies the synchronous
   standby production commits wait for; the drill's own probe writes beside it): its errors,
   outages, lost writes and latency, beside the same client's latency at rest just before.
   Goal: 0 errors.

A client keeps 200 writes/s while a write takes up to 100 ms (`client.threads_for`); it falls
behind when writes slow down further, so each figure comes with the pace its client kept.

Before each drill the replication is read (`govcloud dr status --lab`) until the drill's gate
would let it go ahead; a backup older than its tier allows is taken again (`govcloud dr
backup`). A missed target is a result: recorded, and the run goes on. A refused drill, one
that stopped, or a failback that did not bring its systems back ends the run (exit 1). The
county and its lab are removed at the end either way; the local cloud is stopped only if this
run started it.

Run: sudo .venv/bin/python bench/bench_dr_lab.py [--runs 5] [--workload-mb 1024]
     [--tiers core,important,general] [--skip-department] [--fault database|site] [--out FILE]
It ends with a markdown block for docs/benchmarks.md (progress goes to standard error).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from dr.gate import ReplicationStatus, replication_problem
from govcloud.model import DrPolicy
from govcloud.registry.dr_state import DrillOutcome, SystemState
from lab.localcloud.layout import CLOUD_NAME, REGIONS
from lab.localcloud.manager import LocalCloud
from lab.netlab.manager import NetLab

REPO: Final = Path(__file__).resolve().parents[1]
# The DR lab's county, the numbering client and the county's removal are test support the
# benchmarks share (found on this path at run time; mypy does not look there).
sys.path.insert(0, str(REPO / "tests"))
from clirunner import run_cli  # type: ignore[import-not-found]  # noqa: E402
from dr_county import (  # type: ignore[import-not-found]  # noqa: E402
    BY_TIER,
    CLIENT,
    CORE,
    DEPARTMENT,
    GENERAL,
    write_dr_county,
)
from handdeploy import remove_county  # type: ignore[import-not-found]  # noqa: E402
from small_county import write_project  # type: ignore[import-not-found]  # noqa: E402
from workload_kit import Load  # type: ignore[import-not-found]  # noqa: E402

CODE: Final = "519943"  # a county of its own: the cloud tests use 519944, 519986-519988
LAB: Final = "drb"
RATE: Final = 200  # the production client's writes/s (the drill's probe writes as many)
COMMAND_TIMEOUT_S: Final = 3600.0  # one CLI command; a 1 GB general failback takes minutes
READY_TIMEOUT_S: Final = 300.0  # replication catching up after a failback
READY_PAUSE_S: Final = 5.0
REST_S: Final = 20.0  # the production client at rest, for its latency's baseline
CLIENT_MAX_S: Final = 3600  # the production client's longest run (its stop file ends it)
REST_START, DRILL_START = 1, 10_000_000  # the production client's numbers, apart per run
DEPARTMENT_GOAL_S: Final = 600.0  # issue 15: a whole department's drill under 10 minutes
# Outcomes after which the run cannot go on: the systems are not where a drill left them
# knowingly (a fell-back failover left them at the primary: recorded, the run goes on).
BROKEN: Final = frozenset({DrillOutcome.STOPPED.value, DrillOutcome.INTERRUPTED.value})
# The probe's figures kept per drill (its tally is in the drill's report).
PROBE_FIELDS: Final = (
    "issued",
    "acknowledged",
    "failed_attempts",
    "outage_s",
    "latency_ms",
    "seconds",
)


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def say(message: str) -> None:
    print(f"· {message} (load {load_average()})", file=sys.stderr, flush=True)


def unix(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


class Site:
    """The DR lab's county on the local cloud and its lab, driven through the CLI."""

    def __init__(self, root: Path, cloud_dir: Path) -> None:
        self.root = root
        self.county = Path(write_dr_county(root / "county", CODE))
        self.project = Path(write_project(root / "project", CODE))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVCLOUD_", "OS_"))}
        self.env |= {
            "GOVCLOUD_STATE_DIR": str(root / "state"),
            "GOVCLOUD_LOCALCLOUD_DIR": str(cloud_dir),
            "GOVCLOUD_LAB_DIR": str(root / "lab"),
            "GOVCLOUD_ACTOR": "bench:dr",
        }
        self.lab = NetLab(root / "lab", LAB)
        self.clouds_yaml = cloud_dir / "clouds.yaml"
        self.where = (
            "--lab",
            LAB,
            "--county",
            str(self.county),
            "--project-dir",
            str(self.project),
        )

    def govcloud(self, *args: str, ok: Sequence[int] = (0,)) -> subprocess.CompletedProcess[str]:
        result: subprocess.CompletedProcess[str] = run_cli(
            args, env=self.env, timeout=COMMAND_TIMEOUT_S
        )
        if result.returncode not in ok:
            raise SystemExit(
                f"govcloud {shlex.join(args)}: exit {result.returncode}\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def dr(self, *args: str) -> tuple[dict[str, Any], float]:
        """`govcloud dr ... --json` on this county and lab: its JSON and wall seconds. A drill
        that ran exits 0 (met) or 1 (missed, fell back or stopped); anything else (2 refused,
        3 unreachable) ends the run."""
        started = time.perf_counter()
        result = self.govcloud("dr", *args, *self.where, "--json", ok=(0, 1))
        seconds = time.perf_counter() - started
        try:
            return dict(json.loads(result.stdout)), seconds
        except ValueError:
            raise SystemExit(
                f"govcloud dr {shlex.join(args)}: exit {result.returncode} without its JSON\n"
                f"{result.stderr[-4000:]}"
            ) from None

    def prepare(self, mb: int, phases: dict[str, float]) -> None:
        """The county's stacks deployed, its lab built with the systems, the department
        merged, replication set up and a first backup taken: each step's time in `phases`."""
        county = ("--county", str(self.county))
        project = ("--project-dir", str(self.project))
        systems = ",".join(BY_TIER.values())
        steps: list[tuple[str, tuple[str, ...]]] = [
            ("db upgrade", ("db", "upgrade")),
            ("net plan", ("net", "plan", *county)),  # the DR networks recorded, as deployed
            ("deploy primary", ("localcloud", "deploy", "--stack", "primary", *county, *project)),
            ("deploy dr", ("localcloud", "deploy", "--stack", "dr", *county, *project)),
            ("lab up", ("lab", "up", "--departments", "alpha", "--workloads", systems,
                        "--workload-mb", str(mb), "--name", LAB, "--registry", *county)),
            ("network merge", ("lab", "run", "--name", LAB, "--",
                               "ansible-playbook", "playbooks/network-merge.yml")),
            ("dr setup", ("dr", "setup", "--department", DEPARTMENT, *self.where, "--json")),
            ("dr backup", ("dr", "backup", "--system", GENERAL, *self.where, "--json")),
        ]  # fmt: skip
        for name, args in steps:
            with phase(phases, name):
                self.govcloud(*args)

    def ready(self, systems: Sequence[str]) -> float:
        """Wait until each system's replication is as the drill's gate wants it (taking a
        backup where the last is too old); the seconds waited. After the timeout the drill
        goes ahead, and its gate's refusal says why."""
        started = time.monotonic()
        backed_up: set[str] = set()
        while True:
            status, _ = self.dr("status")
            now = time.time()
            problems = {}
            for row in status["systems"]:
                if row["system"] in systems:
                    found = ReplicationStatus.from_document(row["system"], row)
                    policy = DrPolicy.model_validate(row["policy"])
                    problem = replication_problem(policy, found, now)
                    if problem is not None:
                        problems[row["system"]] = (problem, policy)
            if not problems:
                return round(time.monotonic() - started, 1)
            for system, (problem, policy) in problems.items():
                if policy.backup_every_min is not None and system not in backed_up:
                    say(f"{problem}: backing it up")
                    self.govcloud("dr", "backup", "--system", system, *self.where, "--json")
                    backed_up.add(system)
            if time.monotonic() - started > READY_TIMEOUT_S:
                say(f"still not ready, the gate decides: {[p for p, _ in problems.values()]}")
                return round(time.monotonic() - started, 1)
            time.sleep(READY_PAUSE_S)

    def missing(self, system: str, tally: dict[str, Any], workdir: Path) -> int:
        """The acknowledged writes of `tally` the system's serving database lacks, asked
        through its app from the client's host (`python -m dr.probe missing`, the drills' own)."""
        info = self.lab.app(system)
        url = f"http://{info['name']}:{info['port']}"
        tally_file = workdir / f"{system.replace('/', '-')}-production.tally.json"
        tally_file.write_text(json.dumps(tally))
        out = tally_file.with_suffix(".missing.json")
        self.govcloud(
            "lab", "exec", CLIENT, "--name", LAB, "--",
            "python", "-m", "dr.probe", "missing", url, "--tally", str(tally_file),
            "--out", str(out),
        )  # fmt: skip
        return len(json.loads(out.read_text())["missing"])

    def tear_down(self) -> None:
        if self.lab.ours():
            self.lab.down()
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(self.clouds_yaml)
        remove_county(CLOUD_NAME, [r.name for r in REGIONS], CODE)


@contextmanager
def phase(phases: dict[str, float], name: str) -> Iterator[None]:
    """Time a phase of the run into `phases` (a failed one too: its time up to the failure)."""
    say(name)
    started = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = round(phases.get(name, 0.0) + time.perf_counter() - started, 1)


def measured(document: dict[str, Any], system: str, wall_s: float) -> dict[str, Any]:
    """One system's figures in a drill's JSON, with its steps (and the drill's own) in order,
    in seconds from the start of its window (the fault for a failover, its playbook's start
    otherwise), and the pace its probe kept."""
    found = next(s for s in document["systems"] if s["system"] == system)
    window = found.get("window") or [None, None]
    steps = []
    if window[0] is not None:
        steps = sorted(
            (
                (e["step"], round(unix(e["at"]) - float(window[0]), 1))
                for e in document["timeline"]
                if e["system"] in (system, None)
            ),
            key=lambda step: step[1],
        )
    probe = {k: (found.get("probe") or {}).get(k) for k in PROBE_FIELDS}
    if probe["acknowledged"] and probe["seconds"]:
        probe["writes_per_s"] = round(probe["acknowledged"] / probe["seconds"], 1)
    return {
        "system": system,
        "drill": document["drill"],
        "outcome": document["outcome"],
        "rpo_s": found["rpo_s"],
        "rto_s": found["rto_s"],
        "lost_writes": found["lost_writes"],
        "met": found["met"],
        "level": found["level"],
        "state": found["state"],
        "target": found["target"],
        "why": found["why"],
        "notes": found["notes"],
        "probe": probe,
        "steps_s": steps,
        "drill_s": round(unix(document["finished_at"]) - unix(document["started_at"]), 1),
        "wall_s": round(wall_s, 1),
    }


def step_at(row: dict[str, Any], step: str) -> float | None:
    """When a drill first noted `step` for the row's system (seconds, as in `measured`)."""
    return next((float(at) for name, at in row["steps_s"] if name == step), None)


def unbroken(document: dict[str, Any], what: str) -> None:
    """End the run when a drill left its systems where the next cannot start from."""
    if document["outcome"] in BROKEN:
        states = {s["system"]: (s["state"], s["notes"]) for s in document["systems"]}
        raise SystemExit(
            f"{what}: drill {document['drill']} {document['outcome']}: {states}; "
            f"its report: {document['report']}"
        )


def returned(document: dict[str, Any], what: str) -> None:
    """End the run when a failback left a system away from its primary."""
    unbroken(document, what)
    away = [s["system"] for s in document["systems"] if s["state"] != SystemState.PRIMARY.value]
    if away:
        raise SystemExit(
            f"{what}: drill {document['drill']} left {away} away from the primary; "
            f"its report: {document['report']}"
        )


def baseline_restore(site: Site) -> dict[str, Any]:
    """The general system's restore test: its latest backup restored at the DR site."""
    site.ready([GENERAL])
    document, wall = site.dr("drill", "--system", GENERAL, "--kind", "test")
    unbroken(document, "the baseline restore test")
    row = measured(document, GENERAL, wall)
    restored = step_at(row, "restored")
    if restored is None:
        raise SystemExit(f"the restore test noted no restore: {row}")
    validation = next(s for s in document["systems"] if s["system"] == GENERAL)["validation"]
    row |= {
        "restore_s": restored,
        "backup_rows": validation.get("backup_rows"),
        "data_rows": validation.get("data_rows"),
    }
    return row


def failover(site: Site, system: str, fault: str) -> dict[str, Any]:
    """One failover drill of a system and its failback."""
    waited = site.ready([system])
    document, wall = site.dr("drill", "--system", system, "--kind", "failover", "--fault", fault)
    unbroken(document, f"the failover of {system}")
    row = measured(document, system, wall) | {"ready_s": waited}
    say(f"{system}: failover {row['outcome']}, RPO {row['rpo_s']}, RTO {row['rto_s']}")
    if document["outcome"] == DrillOutcome.FELL_BACK.value:
        row["failback"] = None  # the drill itself returned it to its primary
        return row
    document, wall = site.dr("failback", "--system", system)
    returned(document, f"the failback of {system}")
    row["failback"] = measured(document, system, wall)
    return row


def department_drill(site: Site, fault: str) -> dict[str, Any]:
    """The whole department's failover and its failback."""
    systems = list(BY_TIER.values())
    waited = site.ready(systems)
    document, wall = site.dr(
        "drill", "--department", DEPARTMENT, "--kind", "failover", "--fault", fault
    )
    unbroken(document, f"the failover of {DEPARTMENT}")
    found: dict[str, Any] = {
        "drill": document["drill"],
        "outcome": document["outcome"],
        "drill_s": round(unix(document["finished_at"]) - unix(document["started_at"]), 1),
        "wall_s": round(wall, 1),
        "ready_s": waited,
        "systems": [measured(document, s["system"], wall) for s in document["systems"]],
        "failback": None,
    }
    if document["outcome"] != DrillOutcome.FELL_BACK.value:
        back, back_wall = site.dr("failback", "--department", DEPARTMENT)
        returned(back, f"the failback of {DEPARTMENT}")
        found["failback"] = {
            "drill": back["drill"],
            "outcome": back["outcome"],
            "drill_s": round(unix(back["finished_at"]) - unix(back["started_at"]), 1),
            "wall_s": round(back_wall, 1),
            "systems": [measured(back, s["system"], back_wall) for s in back["systems"]],
        }
    return found


def production(tally: dict[str, Any]) -> dict[str, Any]:
    """The production client's figures."""
    return {
        "issued": tally["issued"],
        "acknowledged": tally["acknowledged"],
        "failed_attempts": tally["failed_attempts"],
        "unacknowledged": len(tally["unacknowledged"]),
        "errors": tally["failed_attempts"] + len(tally["unacknowledged"]),
        "outages": tally["outages"],
        "latency_ms": tally["latency_ms"],
        "seconds": tally["seconds"],
        "writes_per_s": round(tally["acknowledged"] / tally["seconds"], 1)
        if tally["seconds"]
        else None,
    }


def under_test_drill(site: Site, workdir: Path) -> dict[str, Any]:
    """The department's test drill under the production client, and that client at rest."""
    site.ready(list(BY_TIER.values()))
    rest = Load(
        site.lab, CORE, CLIENT, REST_START, workdir / "rest.json", RATE, seconds=CLIENT_MAX_S
    )
    time.sleep(REST_S)
    at_rest = production(rest.finish())
    load = Load(
        site.lab, CORE, CLIENT, DRILL_START, workdir / "drill.json", RATE, seconds=CLIENT_MAX_S
    )
    try:
        document, wall = site.dr("drill", "--department", DEPARTMENT, "--kind", "test")
    finally:
        tally = load.finish()
    unbroken(document, f"the test drill of {DEPARTMENT}")
    return {
        "drill": document["drill"],
        "outcome": document["outcome"],
        "drill_s": round(unix(document["finished_at"]) - unix(document["started_at"]), 1),
        "wall_s": round(wall, 1),
        "systems": [measured(document, s["system"], wall) for s in document["systems"]],
        "production": production(tally) | {"lost": site.missing(CORE, tally, workdir)},
        "at_rest": at_rest,
    }


# -- the markdown block ----------------------------------------------------------------------
def number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def spread(values: Sequence[float | None], digits: int = 1) -> str:
    found = [v for v in values if v is not None]
    if not found:
        return "—"
    middle = statistics.median(found)
    return " / ".join(f"{v:.{digits}f}" for v in (min(found), middle, max(found)))


def met(row: dict[str, Any]) -> str:
    if row["outcome"] == DrillOutcome.FELL_BACK.value:
        return "fell back"
    return "yes" if row["met"] else "no"


def misses(rows: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """What each row that missed missed (the drill's own words), or "none"."""
    found = [
        f"{label}: {'; '.join(row['why']) or row['outcome']}"
        for label, row in rows
        if row is not None and not row["met"]
    ]
    return "; ".join(found) or "none"


def pace(row: dict[str, Any]) -> str:
    return number(row["probe"].get("writes_per_s"))


def markdown(results: dict[str, Any]) -> str:
    """The results as docs/benchmarks.md records them."""
    options = results["options"]
    lines = [
        "## 灾备 (disaster recovery) drills in the lab (issue 15)",
        "",
        f"Command: `.venv/bin/python bench/bench_dr_lab.py {results['argv']}`, "
        f"{results['date']}. Each system holds {options['workload_mb']} MB; each drill's probe "
        f"writes at {RATE} writes/s (the pace it kept is shown) from a department host; "
        f"failover fault: {options['fault']}. Load average before {results['load_before']}, "
        f"after {results['load_after']}.",
        "",
        "| tier (system) | run | RPO s | RTO s | lost writes | met | probe writes/s "
        "| failback RTO s | failback time s | failback lost | failback met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    tiers = results["tiers"]
    labelled = []
    for tier, runs in tiers.items():
        for count, row in enumerate(runs, 1):
            back = row["failback"]
            labelled += [(f"{tier} run {count}", row), (f"{tier} run {count} failback", back)]
            lines.append(
                f"| {tier} ({BY_TIER[tier]}) | {count} | {number(row['rpo_s'], 3)} "
                f"| {number(row['rto_s'])} | {number(row['lost_writes'])} | {met(row)} "
                f"| {pace(row)} | {number((back or {}).get('rto_s'))} "
                f"| {number((back or {}).get('wall_s'))} "
                f"| {number((back or {}).get('lost_writes'))} "
                f"| {met(back) if back else '—'} |"
            )
    restore = results["baseline"]["restore_s"]
    lines += [
        "",
        f"Missed: {misses(labelled)}.",
        "",
        "| tier | RPO s min / median / max | RTO s min / median / max | target RPO / RTO s "
        "| met | baseline: restore from backup (same run) | ratio (median RTO / restore) |",
        "|---|---|---|---|---|---|---|",
    ]
    for tier, runs in tiers.items():
        rtos = [r["rto_s"] for r in runs]
        present = [r for r in rtos if r is not None]
        ratio = f"{statistics.median(present) / restore:.2f}x" if present and restore else "—"
        target = runs[0]["target"]
        lines.append(
            f"| {tier} | {spread([r['rpo_s'] for r in runs], 3)} | {spread(rtos)} "
            f"| {number(target['rpo_s'], 0)} / {number(target['rto_s'], 0)} "
            f"| {sum(bool(r['met']) for r in runs)}/{len(runs)} | {restore:.1f} s | {ratio} |"
        )
    baseline = results["baseline"]
    lines += [
        "",
        f"Baseline: `govcloud dr drill --system {GENERAL} --kind test`, the restore test: the "
        f"latest backup ({number(baseline['data_rows'])} rows of data, "
        f"{number(baseline['backup_rows'])} records) restored into a scratch cluster at the DR "
        f"site, {restore:.1f} s from its playbook's start to `restored` "
        f"({number(step_at(baseline, 'validated'))} s to `validated`).",
    ]
    department = results.get("department")
    if department:
        back = department["failback"] or {}
        per_system = "; ".join(
            f"{s['system']} RPO {number(s['rpo_s'], 3)} s, RTO {number(s['rto_s'])} s, "
            f"{number(s['lost_writes'])} lost, met {met(s)}"
            for s in department["systems"]
        )
        verdict = "met" if department["drill_s"] <= DEPARTMENT_GOAL_S else "missed"
        lines += [
            "",
            f"Department drill (`govcloud dr drill --department {DEPARTMENT} --kind failover`, "
            f"every tier): {department['drill_s']:.1f} s recorded ({department['wall_s']:.1f} s "
            f"the command), goal {DEPARTMENT_GOAL_S:.0f} s {verdict}; outcome "
            f"{department['outcome']}. In recovery order: {per_system}. Missed: "
            f"{misses([(s['system'], s) for s in department['systems']])}. Its failback: "
            f"{number(back.get('drill_s'))} s ({number(back.get('wall_s'))} s the command), "
            f"outcome {back.get('outcome', '—')}; missed: "
            f"{misses([(s['system'], s) for s in back.get('systems', [])])}.",
        ]
    test = results["test"]
    used, rest = test["production"], test["at_rest"]
    lines += [
        "",
        f"Test drill (`govcloud dr drill --department {DEPARTMENT} --kind test`, "
        f"{test['drill_s']:.1f} s, outcome {test['outcome']}; missed: "
        f"{misses([(s['system'], s) for s in test['systems']])}) under a production client "
        f"at {RATE} writes/s on {CORE} (beside the drill's own probe on each system; it kept "
        f"{number(used['writes_per_s'])} writes/s): {used['errors']} errors "
        f"({used['failed_attempts']} failed attempts, {used['unacknowledged']} "
        f"unacknowledged), {len(used['outages'])} outages, {used['lost']} lost of "
        f"{used['acknowledged']}; latency p50 {number(used['latency_ms']['p50'], 2)} ms, p99 "
        f"{number(used['latency_ms']['p99'], 2)} ms. At rest just before ({REST_S:.0f} s, "
        f"{number(rest['writes_per_s'])} writes/s kept): p50 "
        f"{number(rest['latency_ms']['p50'], 2)} ms, p99 {number(rest['latency_ms']['p99'], 2)} "
        "ms.",
        "",
        "Phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in results["phases_s"].items()) + ".",
    ]
    return "\n".join(lines)


def run(site: Site, options: argparse.Namespace, results: dict[str, Any], root: Path) -> None:
    """Every part of the benchmark, in order, on one lab."""
    phases = results["phases_s"]
    site.prepare(options.workload_mb, phases)
    with phase(phases, "baseline restore test"):
        results["baseline"] = baseline_restore(site)
    results["tiers"] = {tier: [] for tier in options.tiers}
    with phase(phases, "failovers and failbacks"):
        for round_ in range(1, options.runs + 1):
            for tier in options.tiers:
                say(f"run {round_}/{options.runs}: {tier} failover")
                results["tiers"][tier].append(failover(site, BY_TIER[tier], options.fault))
    if not options.skip_department:
        with phase(phases, "department drill and failback"):
            results["department"] = department_drill(site, options.fault)
    workdir = root / "production"
    workdir.mkdir()
    with phase(phases, "test drill"):
        results["test"] = under_test_drill(site, workdir)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="failover drills per tier")
    parser.add_argument("--workload-mb", type=int, default=1024, help="data in each system")
    parser.add_argument("--tiers", default=",".join(BY_TIER), help="tiers drilled one by one")
    parser.add_argument("--skip-department", action="store_true")
    parser.add_argument("--fault", choices=("database", "site"), default="database")
    parser.add_argument("--out", type=Path, help="every measurement as JSON")
    options = parser.parse_args()
    options.tiers = [t.strip() for t in options.tiers.split(",") if t.strip()]
    if not options.tiers or any(t not in BY_TIER for t in options.tiers):
        parser.error(f"--tiers: some of {', '.join(BY_TIER)}, comma-separated")
    if options.runs < 1 or options.workload_mb < 0:
        parser.error("--runs must be at least 1, --workload-mb not negative")
    if os.geteuid() != 0:
        raise SystemExit("the lab needs root: sudo .venv/bin/python bench/bench_dr_lab.py")
    cloud = LocalCloud(
        Path(os.environ.get("GOVCLOUD_LOCALCLOUD_DIR", REPO / ".govcloud" / "localcloud"))
    )
    if not cloud.paths.clouds_yaml.is_file():
        # Installing one here would make a second local cloud on the same fixed ports.
        raise SystemExit(
            f"no local cloud at {cloud.paths.root}: start it (`govcloud localcloud up`), or "
            "point GOVCLOUD_LOCALCLOUD_DIR at the one this machine has"
        )
    results: dict[str, Any] = {
        "argv": shlex.join(sys.argv[1:]),
        "date": dt.date.today().isoformat(),
        "options": {k: v for k, v in vars(options).items() if k != "out"},
        "load_before": load_average(),
        "phases_s": {},
    }
    # The work directory (the state, the drills' reports, every playbook's log) is removed
    # only when the run succeeds.
    root = Path(tempfile.mkdtemp(prefix="bench-dr-"))
    was_running = all(row.healthy for row in cloud.status())
    try:
        with phase(results["phases_s"], "local cloud up"):
            cloud.up()
        site = Site(root, cloud.paths.root)
        try:
            run(site, options, results, root)
        finally:
            with phase(results["phases_s"], "tear down"):
                site.tear_down()
    except BaseException as error:
        results["error"] = f"{type(error).__name__}: {error}"
        print(f"the run failed: its logs are kept in {root}", file=sys.stderr)
        raise
    finally:
        if not was_running:
            with phase(results["phases_s"], "local cloud down"):
                cloud.down()
        results["load_after"] = load_average()
        if options.out is not None:
            options.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    shutil.rmtree(root)
    print(markdown(results))


if __name__ == "__main__":
    main()
