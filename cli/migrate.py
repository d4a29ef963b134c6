"""`govcloud migrate ...`: migration onto the cloud (迁移上云).

`plan` makes the waves and their runbooks (`migration/`: inventory, graph, waves, runbooks,
store); `run`, `rollback`, `finalize` and `status` carry a system through its lifecycle
(`migration/`: lifecycle, journal, runner; the lab as a site: `migration.labsite`). This module
reads the county and the registry, calls them, and prints.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from cli.kit import (
    CountyOption,
    JsonOption,
    actor,
    county_dir,
    err,
    load,
    out,
    print_json,
    registry_session,
    write_files,
)
from desired import network_plan
from govcloud import charts, constants, progress
from govcloud.errors import BadInputError
from govcloud.loader import load_county_reporting
from govcloud.model import County
from govcloud.registry import db, migration_state
from govcloud.registry.migration_state import MigrationMode, MigrationState
from govcloud.settings import get_settings
from migration import store
from migration.checks import check_migration
from migration.inventory import inventory
from migration.runbook import runbooks
from migration.waves import WavePlan, plan_waves
from network.plan import PlanError

if TYPE_CHECKING:
    from migration.runner import Outcome, Runner

migrate_app = typer.Typer(
    help="Migration onto the cloud (迁移上云): plan waves and runbooks, replicate warm, test, "
    "cut over, verify, roll back, retire the source.",
    no_args_is_help=True,
)

# Systems shown per wave in the table; --json lists every one.
SHOWN_PER_WAVE = 6
CLOUD_RATE_CHART = "cloud-rate.svg"
WAVES_CHART = "waves.svg"


def load_for_migration(option: Path | None) -> County:
    """The county, checked for migration too; warnings go to standard error with their place."""
    county, warnings = load_county_reporting(county_dir(option), checks=[check_migration])
    for warning in warnings:
        err.print(str(warning), markup=False, soft_wrap=True)
    return county


def _plan_json(plan: WavePlan, saved: store.SaveResult | None) -> dict[str, Any]:
    return {
        "waves": [
            {
                "wave": wave.number,
                "systems": list(wave.systems),
                "why": wave.why,
                "date": wave.date,
                "data_gb": wave.data_gb,
            }
            for wave in plan.waves
        ],
        "unplanned": [{"system": u.system, "why": u.why} for u in plan.unplanned],
        "moved": [
            {"system": p.system, "from": p.previous_wave, "to": p.wave, "why": p.why}
            for p in plan.moved
        ],
        "window_gb": plan.window_gb,
        "max_systems_per_wave": plan.max_systems,
        "saved": None if saved is None else asdict(saved),
    }


@migrate_app.command("plan")
def migrate_plan(
    county_option: CountyOption = None,
    as_json: JsonOption = False,
    save: Annotated[
        bool,
        typer.Option(
            "--save", help="write the plan to the registry (new and moved systems, audited)"
        ),
    ] = False,
    runbooks_dir: Annotated[
        Path | None,
        typer.Option(
            "--runbooks", help="write each wave's runbook (Markdown, HTML) to this directory"
        ),
    ] = None,
) -> None:
    """Plan the systems that still run in machine rooms into waves; keep planned ones in place."""
    county = load_for_migration(county_option)
    found = inventory(county)
    saved = None
    with registry_session() as session, session.begin():
        store.lock(session)
        previous = store.load_assignments(session)
        plan = plan_waves(found, previous)
        if save:
            saved = store.save_plan(session, plan, previous, actor=actor())
            # Departments with systems to migrate get their migration network: its prefixes
            # are recorded with the plan, in the same transaction, so they never move.
            try:
                network_plan.plan_and_apply(session, county, actor=actor())
            except PlanError as error:
                raise BadInputError("; ".join(error.problems)) from None
            progress.take_baseline(session, county)
        if runbooks_dir is not None:
            # Inside the transaction: files that cannot be written leave the registry as it was.
            write_files(runbooks_dir, runbooks(plan, found))
        if not save:
            session.rollback()
    if as_json:
        print_json(_plan_json(plan, saved))
        return
    _print_plan(county, plan, saved, runbooks_dir)


def _print_plan(
    county: County, plan: WavePlan, saved: store.SaveResult | None, runbooks_dir: Path | None
) -> None:
    table = Table(
        title=f"{county.name} 迁移波次 migration waves",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in ("wave", "date", "systems", "GB", "why", "systems (first)"):
        numeric = column in ("wave", "systems", "GB")
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for wave in plan.waves:
        shown = ", ".join(wave.systems[:SHOWN_PER_WAVE])
        more = len(wave.systems) - SHOWN_PER_WAVE
        table.add_row(
            str(wave.number),
            str(wave.date or "—"),
            str(len(wave.systems)),
            f"{wave.data_gb:,.0f}",
            wave.why.split(";", 1)[0],
            shown + (f" … (+{more})" if more > 0 else ""),
        )
    out.print(table)
    planned = sum(len(w.systems) for w in plan.waves)
    out.print(
        f"{planned} systems in {len(plan.waves)} waves (at most {plan.max_systems} systems and "
        f"{plan.window_gb:,.0f} GB each); {len(plan.unplanned)} in none:"
    )
    # Reasons in a few words: "fits no wave: <the numbers>" counts as one.
    reasons = Counter(
        u.why.split(": ", 1)[0] if "wave:" in u.why else u.why for u in plan.unplanned
    )
    for reason, count in sorted(reasons.items()):
        out.print(f"  {count:>4}  {reason}")
    for placement in plan.moved:
        out.print(f"  moved {placement.system}: {placement.why}", markup=False)
    if saved is not None:
        out.print(
            f"saved to the registry: {saved.added} added, {saved.moved} moved, "
            f"{saved.removed} removed"
        )
    else:
        out.print("not saved: --save writes the plan to the registry; --json lists every reason")
    if runbooks_dir is not None:
        out.print(f"runbooks written to {runbooks_dir} (index.md)")


@migrate_app.command("progress")
def migrate_progress(
    county_option: CountyOption = None,
    as_json: JsonOption = False,
    charts_dir: Annotated[
        Path | None,
        typer.Option(
            "--charts",
            help="write cloud-rate.svg (上云率 over time against the targets) and waves.svg "
            "(the waves as a Gantt chart) to this directory",
        ),
    ] = None,
    department: Annotated[
        list[str] | None,
        typer.Option("--department", help="draw this department's curve too (repeatable)"),
    ] = None,
) -> None:
    """The on-cloud rate (上云率) now and over time against the yearly targets, and each
    wave's progress, from the registry."""
    county = load(county_option)
    with registry_session() as session:
        found = progress.progress(session, county)
    codes = tuple(department or ())
    unknown = sorted(set(codes) - {d.code for d in county.departments})
    if unknown:
        raise BadInputError(
            f"--department {', '.join(unknown)}: no such department in {county.name}"
        )
    if charts_dir is not None:
        write_files(
            charts_dir,
            {
                CLOUD_RATE_CHART: charts.svg_document(progress.rate_svg(found, codes)),
                WAVES_CHART: charts.svg_document(progress.waves_svg(found)),
            },
        )
    if as_json:
        print_json(progress.as_json(found))
        return
    total = found.status.total
    rate = "—" if total.cloud_rate is None else f"{total.cloud_rate:.1%}"
    out.print(
        f"{found.status.name} 上云率 on-cloud rate {rate} ({total.on_cloud}/{total.eligible}); "
        f"target {found.status.target:.0%} ({found.status.target_year}): "
        + ("[green]met[/]" if total.meets_target else "[yellow]not met[/]")
    )
    history = found.county_history
    if history:
        first, last = history[0], history[-1]
        out.print(
            f"{len(history)} samples since {first.at:%Y-%m-%d %H:%M}: "
            f"{first.on_cloud}/{first.eligible} → {last.on_cloud}/{last.eligible}"
        )
    else:
        out.print("no samples yet: `govcloud migrate plan --save` takes the first")
    table = Table(title="迁移波次 waves", box=box.SIMPLE_HEAD)
    for column in ("wave", "planned", "systems", "on cloud", "runs began", "last ended"):
        table.add_column(column)
    for wave in found.waves:
        table.add_row(
            str(wave.wave),
            f"{wave.planned[0]}→{wave.planned[1]:%m-%d}" if wave.planned else "—",
            str(wave.systems),
            str(wave.on_cloud),
            f"{wave.actual[0]:%Y-%m-%d %H:%M}" if wave.actual else "—",
            f"{wave.actual[1]:%Y-%m-%d %H:%M}" if wave.actual else "—",
        )
    out.print(table)
    if charts_dir is not None:
        out.print(f"charts written to {charts_dir} ({CLOUD_RATE_CHART}, {WAVES_CHART})")


SystemArgument = Annotated[str, typer.Argument(help="the system, as dept/system")]
OptionalSystem = Annotated[
    str | None, typer.Argument(help="the system, as dept/system", show_default=False)
]
WaveOption = Annotated[
    int | None,
    typer.Option("--wave", min=1, help="every system of this planned wave instead of one"),
]
LabOption = Annotated[
    str, typer.Option("--lab", help="the lab the system runs in (govcloud lab up --workloads)")
]
UNTIL = {"replicated": MigrationState.READY_FOR_TEST, "tested": MigrationState.READY_FOR_CUTOVER}


@contextmanager
def _runner(system: str, lab_name: str) -> Iterator[Runner]:
    """A runner for `system` in the lab, on the registry (the caller's commands)."""
    from lab.netlab.manager import NetLab  # noqa: PLC0415  (keeps --help fast)
    from migration.labsite import executor, placement  # noqa: PLC0415
    from migration.runner import Runner  # noqa: PLC0415

    if system.count("/") != 1:
        raise BadInputError(f"{system!r}: name a system as dept/system, e.g. cgj/zhifa")
    settings = get_settings()
    lab = NetLab(settings.lab_root(), lab_name)
    engine = db.make_engine(settings.registry_url())
    try:
        db.require_current(engine)
        yield Runner(
            sessions=db.session_factory(engine),
            placement=placement(lab, system),
            execute=executor(lab),
            root=settings.migration_root().resolve(),
            actor=actor(),
            progress=lambda message: err.print(f"· {message}", markup=False),
        )
    finally:
        engine.dispose()


def _report_lines(outcome: Outcome) -> None:
    mark = "[green]✓[/]" if outcome.ok else "[red]✗[/]"
    out.print(f"{mark} {outcome.system}: {outcome.state} ({outcome.mode})")
    for step in outcome.steps:
        out.print(f"  {'✓' if step['ok'] else '✗'} {step['step']:<13} {step['seconds']:>8.1f} s")
    if outcome.downtime_s is not None:
        out.print(
            f"  writes stopped for {outcome.downtime_s:.2f} s; rows source "
            f"{outcome.rows_source}, cloud {outcome.rows_target}"
        )
    if outcome.error:
        err.print(f"[red]{outcome.error}[/]")


def _report(outcome: Outcome, as_json: bool) -> None:
    if as_json:
        print_json(outcome.as_dict())
    else:
        _report_lines(outcome)
    if not outcome.ok:
        raise typer.Exit(constants.EXIT_FINDINGS)


def _act(system: str, lab: str, as_json: bool, action: Callable[[Runner], Outcome]) -> None:
    with _runner(system, lab) as runner:
        outcome = action(runner)
    _report(outcome, as_json)


def _one_of(system: str | None, wave: int | None) -> None:
    if (system is None) == (wave is None):
        raise BadInputError("name a system (dept/system) or a wave (--wave N), not both")


def _wave_systems(
    wave: int, county_option: Path | None, *, skip: frozenset[str], need: frozenset[str] | None
) -> tuple[list[str], list[str]]:
    """The wave's systems to act on, in dependency order, and those already past it; a
    BadInputError naming each system whose state the action cannot start from."""
    from migration.waves import run_order  # noqa: PLC0415

    county = load(county_option)
    with registry_session() as session:
        rows = {r.system: r.state for r in migration_state.systems(session) if r.wave == wave}
    if not rows:
        raise BadInputError(
            f"wave {wave} holds no system in the registry (see `govcloud migrate status`)"
        )
    blocked = sorted(
        s for s, state in rows.items() if need is not None and state not in need | skip
    )
    if blocked:
        raise BadInputError(
            f"wave {wave}: "
            + "; ".join(f"{s} is {rows[s]}" for s in blocked)
            + f"; every system must be {' or '.join(sorted(need or ()))} first"
        )
    order = run_order(county, rows)
    return [s for s in order if rows[s] not in skip], [s for s in order if rows[s] in skip]


def _act_on(  # noqa: PLR0917  (the command's choices, passed through)
    system: str | None,
    wave: int | None,
    county_option: Path | None,
    lab: str,
    as_json: bool,
    action: Callable[[Runner], Outcome],
    *,
    skip: frozenset[str],
    need: frozenset[str] | None = None,
) -> None:
    """`action` on one system, or on each of a wave's in dependency order: systems in a
    `skip` state are done already; the first that fails stops the wave (later ones may
    depend on it)."""
    _one_of(system, wave)
    if wave is None:
        assert system is not None  # noqa: S101  (_one_of)
        _act(system, lab, as_json, action)
        return
    systems, done = _wave_systems(wave, county_option, skip=skip, need=need)
    started = time.monotonic()
    outcomes: list[Outcome] = []
    for name in systems:
        with _runner(name, lab) as runner:
            outcomes.append(action(runner))
        if not outcomes[-1].ok:
            break
    seconds = round(time.monotonic() - started, 1)
    ok = all(o.ok for o in outcomes) and len(outcomes) == len(systems)
    left = systems[len(outcomes) :]
    if as_json:
        print_json(
            {
                "wave": wave,
                "ok": ok,
                "seconds": seconds,
                "systems": [o.as_dict() for o in outcomes],
                "not_started": left,
                "already_done": done,
            }
        )
    else:
        for outcome in outcomes:
            _report_lines(outcome)
        if done:
            out.print(f"already done: {', '.join(done)}")
        if left:
            err.print(f"[red]not started (the wave stopped): {', '.join(left)}[/]")
        out.print(f"wave {wave}: {len(outcomes)} of {len(systems)} systems in {seconds:.0f} s")
    if not ok:
        raise typer.Exit(constants.EXIT_FINDINGS)


@migrate_app.command("run")
def migrate_run(  # noqa: PLR0917  (typer options)
    system: OptionalSystem = None,
    wave: WaveOption = None,
    county_option: CountyOption = None,
    cold: Annotated[
        bool, typer.Option("--cold", help="stop, dump and restore instead of replicating warm")
    ] = False,
    until: Annotated[
        str | None,
        typer.Option(help="stop early: replicated (the copy follows) or tested (test launched)"),
    ] = None,
    lab: LabOption = "lab",
    as_json: JsonOption = False,
) -> None:
    """Move a system (or each of a wave's, dependencies first) to its cloud server, resuming
    where the last run stopped; a cutover whose verification fails is rolled back (exit 1), and
    stops the wave."""
    if until is not None and until not in UNTIL:
        raise BadInputError(f"--until {until}: choose one of {', '.join(UNTIL)}")
    if cold and until is not None:
        raise BadInputError("--until applies to warm moves (a cold move has no copy to test)")
    mode = MigrationMode.COLD if cold else MigrationMode.WARM
    goal = UNTIL[until] if until else MigrationState.VALIDATED
    # Systems at or past the goal are done; the rest move (or resume).
    order = list(MigrationState)
    past = frozenset(s.value for s in order[order.index(goal) :])
    _act_on(
        system, wave, county_option, lab, as_json, lambda runner: runner.run(mode, goal), skip=past
    )


@migrate_app.command("rollback")
def migrate_rollback(
    system: SystemArgument, lab: LabOption = "lab", as_json: JsonOption = False
) -> None:
    """Return a system to its source from any state before finalize, with every write the
    cloud server took since the cutover."""
    _act(system, lab, as_json, lambda runner: runner.rollback())


@migrate_app.command("finalize")
def migrate_finalize(
    system: OptionalSystem = None,
    wave: WaveOption = None,
    county_option: CountyOption = None,
    lab: LabOption = "lab",
    as_json: JsonOption = False,
) -> None:
    """Retire the source of a validated system, or of every system of a wave (after the
    rollback window); a wave with a system not yet validated is refused, nothing retired."""
    _act_on(
        system,
        wave,
        county_option,
        lab,
        as_json,
        lambda runner: runner.finalize(),
        skip=frozenset({MigrationState.FINALIZED.value}),
        need=frozenset({MigrationState.VALIDATED.value}),
    )


@migrate_app.command("status")
def migrate_status(
    system: Annotated[
        str | None, typer.Argument(help="one system's journal", show_default=False)
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Every system with a recorded migration: wave, state, mode, downtime; or one's journal."""
    from migration import journal  # noqa: PLC0415

    with registry_session() as session:
        if system is None:
            rows = [
                {
                    "system": r.system,
                    "department": r.department,
                    "wave": r.wave,
                    "state": r.state,
                    "mode": r.mode,
                    "downtime_s": (r.result or {}).get("downtime_s"),
                    "running": r.run_id is not None,
                    "updated_at": r.updated_at,
                }
                for r in journal.rows(session)
            ]
            if as_json:
                print_json({"systems": rows})
                return
            table = Table(box=box.SIMPLE_HEAD)
            for column in ("system", "wave", "state", "mode", "downtime (s)", "running"):
                table.add_column(column)
            columns = ("system", "wave", "state", "mode", "downtime_s", "running")
            for row in rows:
                table.add_row(*(str(row[c]) if row[c] is not None else "" for c in columns))
            out.print(table)
            return
        entries = [
            {
                "step": e.step,
                "action": e.action,
                "status": e.status,
                "started_at": e.started_at,
                "finished_at": e.finished_at,
                "detail": e.detail,
            }
            for e in journal.steps(session, system)
        ]
        if not entries:
            raise BadInputError(f"{system}: no migration recorded (see `govcloud migrate status`)")
        if as_json:
            print_json({"system": system, "steps": entries})
            return
        for entry in entries:
            out.print(
                f"{entry['started_at']:%Y-%m-%d %H:%M:%S}  {entry['action']:<9} "
                f"{entry['step']:<13} {entry['status']}"
            )
