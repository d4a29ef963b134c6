"""`govcloud dr ...`: disaster recovery (灾备) drills: status, drill, failback, report, history.

The work is `dr/`'s: the DR stack's replicas and its plan against the live DR region
(`dr.stackside`), the gate, the lock and the engine (`dr.engine`, `dr.store`), the lab's probe
and faults (`dr.labdrill`), the reports (`dr.report`). This module parses, calls and prints.
Exit codes: `dr drill` 0 every target met, 1 one missed (or it fell back or stopped), 2 refused
(nothing changed), 3 a target that could not be reached.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from cli.cloud import CloudOption
from cli.kit import CountyOption, JsonOption, actor, err, out, print_json
from cli.stacks import ProjectDirOption
from govcloud import constants
from govcloud.errors import BadInputError
from govcloud.model import Replication
from govcloud.registry import db
from govcloud.registry.dr_state import DrillKind
from govcloud.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from dr.engine import DrillReport, Engine, FaultKind
    from dr.targets import Scope

dr_app = typer.Typer(
    help="Disaster recovery (灾备): replication status, drills (test, switchover, failover), "
    "failback, reports with their SM3 digest, history.",
    no_args_is_help=True,
)

HISTORY_LIMIT = 50

LabOption = Annotated[
    str, typer.Option("--lab", help="the lab the systems run in (govcloud lab up --workloads)")
]
SystemOption = Annotated[
    str | None, typer.Option("--system", help="one system, as dept/system", show_default=False)
]
DepartmentOption = Annotated[
    str | None,
    typer.Option(
        "--department", help="every replicated system of a department", show_default=False
    ),
]
TierOption = Annotated[
    str | None,
    typer.Option("--tier", help="every replicated system of a tier", show_default=False),
]


@contextmanager
def _registry() -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(get_settings().registry_url())
    try:
        db.require_current(engine)
        yield db.session_factory(engine)
    finally:
        engine.dispose()


def _lab_engine(sessions: sessionmaker[Session], lab_name: str) -> Engine:
    """The engine with the lab as its site."""
    from dr import labdrill, labsite  # noqa: PLC0415  (keeps --help fast)
    from dr.engine import Engine, Site  # noqa: PLC0415
    from lab.netlab.manager import NetLab  # noqa: PLC0415

    settings = get_settings()
    lab = NetLab(settings.lab_root(), lab_name)
    lab.state()  # a lab that is not up says so now (exit 2), before anything runs
    return Engine(
        sessions=sessions,
        site=Site(
            placement=lambda system: labsite.placement(lab, system),
            execute=labsite.executor(lab),
            probe=labdrill.probe_factory(lab),
            faults=labdrill.LabFaults(lab),
        ),
        root=settings.dr_root().resolve(),
        actor=actor(),
        progress=lambda message: err.print(f"· {message}", markup=False),
    )


def _drill(
    kind: DrillKind,
    scope: Scope,
    *,
    fault: FaultKind | None,
    lab: str,
    cloud: str | None,
    county_option: Path | None,
    project_dir: Path,
    as_json: bool,
) -> None:
    from dr import report, stackside, store, targets  # noqa: PLC0415
    from dr.engine import refused  # noqa: PLC0415

    with _registry() as sessions:
        with sessions() as session:
            store.check_free(session)  # a drill already running: refused before any work
        stack = stackside.load(project_dir, county_option)
        chosen = targets.select(stack.county, targets.replicated(stack.outputs), scope)
        check = stackside.check(stack, cloud)
        drifted = check.problem()
        if drifted is not None:  # refused before the site is asked anything
            raise refused(kind, [drifted])
        engine = _lab_engine(sessions, lab)
        extra = {} if fault is None else {"fault": fault}
        done = engine.drill(kind, scope, chosen, check, **extra)
        with sessions() as session:
            document = report.document(session, done.drill)
    _print_drill(document, done, as_json)


def _print_drill(document: dict[str, Any], done: DrillReport, as_json: bool) -> None:
    if as_json:
        print_json(document)
    else:
        table = Table(
            title=f"演练 drill {document['drill']} ({document['kind']})", box=box.SIMPLE_HEAD
        )
        for column in ("system", "RPO s", "RTO s", "lost", "level", "met", "left at"):
            table.add_column(column)
        for system in document["systems"]:
            table.add_row(
                system["system"],
                _number(system["rpo_s"]),
                _number(system["rto_s"]),
                _number(system["lost_writes"]),
                _number(system["level"]),
                "[green]✓[/]" if system["met"] else "[red]✗[/]",
                system["state"],
            )
        out.print(table)
        out.print(f"outcome: {document['outcome']}; report: {document['report']}")
    if done.exit_code:
        raise typer.Exit(constants.EXIT_FINDINGS)


def _number(value: Any) -> str:
    return "—" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _scope(system: str | None, department: str | None, tier: str | None) -> Scope:
    from dr.targets import Scope  # noqa: PLC0415

    return Scope(system=system, department=department, tier=tier)


@dr_app.command("drill")
def dr_drill(  # noqa: PLR0917  (typer options)
    kind: Annotated[
        str, typer.Option("--kind", help="test | switchover | failover", show_default=False)
    ],
    system: SystemOption = None,
    department: DepartmentOption = None,
    tier: TierOption = None,
    fault: Annotated[
        str,
        typer.Option(
            "--fault",
            help="a failover's fault: database (killed on its primary) or site (the primary "
            "site cut from the extranet)",
        ),
    ] = "database",
    lab: LabOption = "lab",
    cloud: CloudOption = None,
    county_option: CountyOption = None,
    project_dir: ProjectDirOption = Path(),
    as_json: JsonOption = False,
) -> None:
    """Drill the DR of a system, a department or a tier: the gate first (DR region as the DR
    stack declares, replication healthy and within bounds), one drill at a time, a numbering
    client measuring RTO and RPO throughout; a report with its SM3 in the audit log."""
    from dr.engine import FaultKind  # noqa: PLC0415

    drills = {k.value: k for k in DrillKind if k is not DrillKind.FAILBACK}
    if kind not in drills:
        raise BadInputError(
            f"--kind {kind}: choose one of {', '.join(drills)} (failback: `govcloud dr failback`)"
        )
    faults = {f.value: f for f in FaultKind}
    if fault not in faults:
        raise BadInputError(f"--fault {fault}: choose one of {', '.join(faults)}")
    if fault != FaultKind.DATABASE.value and drills[kind] is not DrillKind.FAILOVER:
        raise BadInputError("--fault applies to --kind failover only")
    _drill(
        drills[kind],
        _scope(system, department, tier),
        fault=faults[fault] if drills[kind] is DrillKind.FAILOVER else None,
        lab=lab,
        cloud=cloud,
        county_option=county_option,
        project_dir=project_dir,
        as_json=as_json,
    )


@dr_app.command("failback")
def dr_failback(  # noqa: PLR0917  (typer options)
    system: SystemOption = None,
    department: DepartmentOption = None,
    tier: TierOption = None,
    lab: LabOption = "lab",
    cloud: CloudOption = None,
    county_option: CountyOption = None,
    project_dir: ProjectDirOption = Path(),
    as_json: JsonOption = False,
) -> None:
    """Resynchronise systems served at the DR site and return them to their primary, measured
    like a drill (expected: no acknowledged write lost)."""
    _drill(
        DrillKind.FAILBACK,
        _scope(system, department, tier),
        fault=None,
        lab=lab,
        cloud=cloud,
        county_option=county_option,
        project_dir=project_dir,
        as_json=as_json,
    )


@dr_app.command("setup")
def dr_setup(  # noqa: PLR0917  (typer options)
    system: SystemOption = None,
    department: DepartmentOption = None,
    tier: TierOption = None,
    lab: LabOption = "lab",
    county_option: CountyOption = None,
    project_dir: ProjectDirOption = Path(),
    as_json: JsonOption = False,
) -> None:
    """Set replication up for the systems the DR stack replicates (dr-setup.yml, idempotent),
    each with the replication password the drills use (kept 0600 under the state directory)."""
    from dr import stackside, targets  # noqa: PLC0415

    scope = _scope(system, department, tier)
    stack = stackside.load(project_dir, county_option)
    chosen = targets.select(stack.county, targets.replicated(stack.outputs), scope)
    with _registry() as sessions:
        done = _lab_engine(sessions, lab).setup(chosen)
    if as_json:
        print_json({"systems": done})
    else:
        for row in done:
            mark = "[green]✓[/]" if row["ok"] else "[red]✗[/]"
            out.print(
                f"{mark} {row['system']}: {row['playbook']} (exit {row['exit']}); {row['log']}"
            )
    if not all(row["ok"] for row in done):
        raise typer.Exit(constants.EXIT_FINDINGS)


@dr_app.command("backup")
def dr_backup(  # noqa: PLR0917  (typer options)
    system: SystemOption = None,
    department: DepartmentOption = None,
    tier: TierOption = None,
    due: Annotated[
        bool,
        typer.Option(
            "--due",
            help="only systems whose last backup is as old as their policy's interval (run "
            "this every minute from cron or a systemd timer)",
        ),
    ] = False,
    lab: LabOption = "lab",
    county_option: CountyOption = None,
    project_dir: ProjectDirOption = Path(),
    as_json: JsonOption = False,
) -> None:
    """Back up the systems whose tier's policy is `backup` to the DR site (dr-backup.yml: a
    dump into the DR backup volume, read back before it counts), each audited; every such
    system of the county unless one is named. Systems that stream are left out (their copy is
    continuous); naming only such systems is refused."""
    from dr import stackside, targets  # noqa: PLC0415

    stack = stackside.load(project_dir, county_option)
    replicas = targets.replicated(stack.outputs)
    if system is None and department is None and tier is None:
        chosen, where = targets.all_targets(stack.county, replicas), "the county"
    else:
        scope = _scope(system, department, tier)
        chosen, where = targets.select(stack.county, replicas, scope), str(scope)
    backed = [t for t in chosen if t.policy.replication is Replication.BACKUP]
    if not backed:
        raise BadInputError(
            f"{where}: no system there keeps backups (its policy streams to the DR site "
            "continuously): nothing to back up"
        )
    with _registry() as sessions:
        done = _lab_engine(sessions, lab).backup(backed, due_only=due, now=time.time())
    if as_json:
        print_json({"systems": done})
    else:
        for row in done:
            mark = "[green]✓[/]" if row["ok"] else "[red]✗[/]"
            what = (
                f"{row['rows']} rows, {row['playbook']} (exit {row['exit']}); {row['log']}"
                if row["ran"]
                else row["reason"]
            )
            out.print(f"{mark} {row['system']}: {what}")
    if not all(row["ok"] for row in done):
        raise typer.Exit(constants.EXIT_FINDINGS)


@dr_app.command("status")
def dr_status(
    lab: Annotated[
        str | None,
        typer.Option(
            "--lab",
            help="read each replication live in this lab (dr-status.yml)",
            show_default=False,
        ),
    ] = None,
    county_option: CountyOption = None,
    project_dir: ProjectDirOption = Path(),
    as_json: JsonOption = False,
) -> None:
    """Per system: tier, policy, replication and lag, the last drill and its measured RPO/RTO,
    and whether a drill is overdue (county.yaml dr.drill_every_days)."""
    from dr import overview, stackside, store, targets  # noqa: PLC0415

    with _registry() as sessions:  # an unmigrated registry says so before the program runs
        stack = stackside.load(project_dir, county_option)
        replicas = targets.replicated(stack.outputs)
        live = None
        if lab is not None:
            engine = _lab_engine(sessions, lab)
            live = engine.statuses(targets.all_targets(stack.county, replicas))
        with sessions() as session:
            found = overview.status(session, stack.county, replicas, live, dt.datetime.now(dt.UTC))
            found["lock"] = store.lock_holder(session)
    if as_json:
        print_json(found)
        return
    table = Table(title="灾备状态 DR status", box=box.SIMPLE_HEAD, pad_edge=False)
    columns = ("system", "tier", "replication", "state", "lag s", "last drill", "RPO", "RTO")
    for column in (*columns, "overdue"):
        # Names and tokens stay whole; the state (free text from the site) wraps.
        table.add_column(column, no_wrap=column != "state")
    for row in found["systems"]:
        last = row["last_drill"] or {}
        table.add_row(
            row["system"],
            row["tier"],
            row["replication"],
            row["state"],
            _number(row["lag_s"]),
            f"#{last['drill']} {last['kind']}" if last else "—",
            _number(last.get("rpo_s")),
            _number(last.get("rto_s")),
            "[yellow]overdue[/]" if row["overdue"] else "",
        )
    out.print(table)
    if found["lock"]:
        lock = found["lock"]
        out.print(f"drill {lock['drill']} running since {lock['since']} by {lock['actor']}")


@dr_app.command("report")
def dr_report(
    drill: Annotated[int, typer.Argument(help="the drill's number (govcloud dr history)")],
    output_format: Annotated[
        str, typer.Option("--format", help="html or json, printed to standard output")
    ] = "json",
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="write report.html and report.json here; SM3 of each audited"),
    ] = None,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="check the written report against the SM3 in the audit log"),
    ] = False,
) -> None:
    """A drill's report, rendered from the registry; --out writes it (SM3 in the audit log),
    --verify checks the written files (exit 1 naming a changed or missing one)."""
    from dr import report  # noqa: PLC0415

    if output_format not in ("html", "json"):
        raise BadInputError(f"--format {output_format}: choose html or json")
    with _registry() as sessions:
        if verify:
            with sessions() as session:
                checked = report.verify(session, drill)
            print_json(checked)
            if not checked["ok"]:
                raise typer.Exit(constants.EXIT_FINDINGS)
            return
        if out_dir is not None:
            digests = report.write(sessions, drill, out_dir, actor=actor())
            for name, digest in digests.items():
                out.print(f"{out_dir / name}  SM3 {digest}")
            return
        with sessions() as session:
            document = report.document(session, drill)
    typer.echo(report.render(document)[f"report.{output_format}"], nl=False)


@dr_app.command("history")
def dr_history(
    limit: Annotated[int, typer.Option(min=1, help="how many drills")] = HISTORY_LIMIT,
    as_json: JsonOption = False,
) -> None:
    """The drills, newest first: kind, scope, outcome, each system's verdict, the report."""
    from dr import overview  # noqa: PLC0415

    with _registry() as sessions, sessions() as session:
        found = overview.history(session, limit)
    if as_json:
        print_json({"drills": found})
        return
    table = Table(title="演练记录 drill history", box=box.SIMPLE_HEAD)
    for column in ("#", "kind", "scope", "started", "outcome", "systems met"):
        table.add_column(column)
    for row in found:
        met = sum(s["met"] for s in row["systems"])
        table.add_row(
            str(row["drill"]),
            row["kind"],
            row["scope"],
            f"{row['started_at']:%Y-%m-%d %H:%M}",
            row["outcome"] or "running",
            f"{met}/{len(row['systems'])}",
        )
    out.print(table)


@dr_app.command("unlock")
def dr_unlock(
    drill: Annotated[int, typer.Argument(help="the drill holding the lock")],
    reason: Annotated[str, typer.Option("--reason", help="why it may go (audited)")],
) -> None:
    """Release the drill lock of a drill whose process is gone (on another machine: a lock
    held on this one is recovered by the next drill by itself); recorded as interrupted."""
    from dr import store  # noqa: PLC0415

    with _registry() as sessions:
        store.unlock(sessions, drill, actor=actor(), reason=reason)
    out.print(f"drill {drill}: lock released, recorded as interrupted")
