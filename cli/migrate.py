"""`govcloud migrate ...`: migration onto the cloud (迁移上云): the wave plan and its runbooks.

The planning is `migration/`'s (inventory, graph, waves, runbooks, store); this module reads
the county and the registry, calls it, and prints. More commands of the lifecycle join
`migrate_app`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from cli.kit import (
    CountyOption,
    JsonOption,
    actor,
    county_dir,
    err,
    out,
    print_json,
    registry_session,
    write_files,
)
from govcloud.loader import load_county_reporting
from govcloud.model import County
from migration import store
from migration.checks import check_migration
from migration.inventory import inventory
from migration.runbook import runbooks
from migration.waves import WavePlan, plan_waves

migrate_app = typer.Typer(
    help="Migration onto the cloud (迁移上云): waves, runbooks.", no_args_is_help=True
)

# Systems shown per wave in the table; --json lists every one.
SHOWN_PER_WAVE = 6


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
