"""`govcloud migrate ...`: move department systems onto the cloud (迁移上云), step by step."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from cli.kit import JsonOption, actor, err, out, print_json, registry_session
from govcloud import constants
from govcloud.errors import BadInputError
from govcloud.registry import db
from govcloud.registry.migration_state import MigrationMode, MigrationState
from govcloud.settings import get_settings

if TYPE_CHECKING:
    from migration.runner import Outcome, Runner

migrate_app = typer.Typer(
    help="Move department systems onto the cloud: plan waves, replicate warm, test, cut over, "
    "verify, roll back, retire the source.",
    no_args_is_help=True,
)

SystemArgument = Annotated[str, typer.Argument(help="the system, as dept/system")]
LabOption = Annotated[
    str, typer.Option("--lab", help="the lab the system runs in (govcloud lab up --workloads)")
]
UNTIL = {"replicated": MigrationState.READY_FOR_TEST, "tested": MigrationState.READY_FOR_CUTOVER}


@contextmanager
def _runner(system: str, lab_name: str) -> Iterator[Runner]:
    """A runner for `system` in the lab, on the registry (the caller's commands)."""
    from lab.netlab.manager import NetLab  # noqa: PLC0415  (keeps --help fast)
    from migration.labsite import LabExecutor, placement  # noqa: PLC0415
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
            execute=LabExecutor(lab),
            root=settings.migration_root().resolve(),
            actor=actor(),
            progress=lambda message: err.print(f"· {message}", markup=False),
        )
    finally:
        engine.dispose()


def _report(outcome: Outcome, as_json: bool) -> None:
    if as_json:
        print_json(outcome.as_dict())
    else:
        mark = "[green]✓[/]" if outcome.ok else "[red]✗[/]"
        out.print(f"{mark} {outcome.system}: {outcome.state} ({outcome.mode})")
        for step in outcome.steps:
            out.print(
                f"  {'✓' if step['ok'] else '✗'} {step['step']:<13} {step['seconds']:>8.1f} s"
            )
        if outcome.downtime_s is not None:
            out.print(
                f"  writes stopped for {outcome.downtime_s:.2f} s; rows source "
                f"{outcome.rows_source}, cloud {outcome.rows_target}"
            )
        if outcome.error:
            err.print(f"[red]{outcome.error}[/]")
    if not outcome.ok:
        raise typer.Exit(constants.EXIT_FINDINGS)


def _act(system: str, lab: str, as_json: bool, action: Callable[[Runner], Outcome]) -> None:
    with _runner(system, lab) as runner:
        outcome = action(runner)
    _report(outcome, as_json)


@migrate_app.command("run")
def migrate_run(
    system: SystemArgument,
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
    """Move a system to its cloud server, resuming where the last run stopped; a cutover whose
    verification fails is rolled back (exit 1)."""
    if until is not None and until not in UNTIL:
        raise BadInputError(f"--until {until}: choose one of {', '.join(UNTIL)}")
    if cold and until is not None:
        raise BadInputError("--until applies to warm moves (a cold move has no copy to test)")
    mode = MigrationMode.COLD if cold else MigrationMode.WARM
    goal = UNTIL[until] if until else MigrationState.VALIDATED
    _act(system, lab, as_json, lambda runner: runner.run(mode, goal))


@migrate_app.command("rollback")
def migrate_rollback(
    system: SystemArgument, lab: LabOption = "lab", as_json: JsonOption = False
) -> None:
    """Return a system to its source from any state before finalize, with every write the
    cloud server took since the cutover."""
    _act(system, lab, as_json, lambda runner: runner.rollback())


@migrate_app.command("finalize")
def migrate_finalize(
    system: SystemArgument, lab: LabOption = "lab", as_json: JsonOption = False
) -> None:
    """Retire the source of a validated system (after its rollback window)."""
    _act(system, lab, as_json, lambda runner: runner.finalize())


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
