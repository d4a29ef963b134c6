"""The `govcloud` command line: one entry point, a subcommand group per part.

Exit codes (docs/architecture.md): 0 ok, 1 findings where that is the question, 2 bad input or
usage, 3 an unreachable target. User mistakes print a message, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from cli.audit import audit_app
from cli.cloud import cloud_app
from cli.dr import dr_app
from cli.kit import (
    CountyOption,
    JsonOption,
    actor,
    err,
    load,
    out,
    print_json,
)
from cli.lab import lab_app
from cli.localcloud import localcloud_app
from cli.migrate import migrate_app
from cli.net import net_app
from cli.portal import portal_app
from cli.stacks import apply as stack_apply
from cli.stacks import plan as stack_plan
from govcloud import constants
from govcloud.errors import GovcloudError
from govcloud.loader import InputProblemsError
from govcloud.model import DepartmentKind, Tier
from govcloud.registry import db, migration_state
from govcloud.settings import get_settings
from govcloud.status import DepartmentStatus, county_status

app = typer.Typer(
    help="govcloud: the county government cloud (政务云) as code.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
db_app = typer.Typer(help="The registry database: migrations and state.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(net_app, name="net")
app.add_typer(localcloud_app, name="localcloud")
app.add_typer(cloud_app, name="cloud")
# The stacks: plan (mocks + live reader) and apply (the Pulumi engine).
app.command("plan")(stack_plan)
app.command("apply")(stack_apply)
app.add_typer(portal_app, name="portal")
app.add_typer(migrate_app, name="migrate")
app.add_typer(lab_app, name="lab")
app.add_typer(dr_app, name="dr")


@app.command()
def validate(
    directory: Annotated[
        Path | None, typer.Argument(help="county directory", show_default=False)
    ] = None,
    county_dir: CountyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the county data; print every problem as FILE:LINE:COL, or a summary."""
    county = load(directory or county_dir)
    systems = [s for d in county.departments for s in d.systems]
    networks = [n for d in county.departments for n in d.legacy_networks]
    summary: dict[str, Any] = {
        "county": county.code,
        "name": county.name,
        "sites": [{"name": s.name, "role": s.role, "region": s.region} for s in county.sites],
        "departments": sum(d.kind is DepartmentKind.DEPARTMENT for d in county.departments),
        "townships": sum(d.kind is DepartmentKind.TOWNSHIP for d in county.departments),
        "systems": len(systems),
        "systems_by_tier": {t.value: sum(s.tier is t for s in systems) for t in Tier},
        "classified_systems": sum(s.classified for s in systems),
        "legacy_networks": len(networks),
        "networks_kept_behind_nat": sum(not n.renumber for n in networks),
        "ipv4_pools": county.extranet.ipv4_pools,
        "ipv6_prefix": county.extranet.ipv6_prefix,
    }
    if as_json:
        print_json({"valid": True, **summary})
        return
    out.print(f"[bold green]✓[/] {county.name} ({county.code}) is valid")
    for site in county.sites:
        out.print(f"  site      {site.name}: {site.role.value} in {site.region}")
    out.print(
        f"  units     {summary['departments']} departments (委办局), "
        f"{summary['townships']} townships (乡镇)"
    )
    tiers = ", ".join(f"{n} {t}" for t, n in summary["systems_by_tier"].items())
    out.print(f"  systems   {len(systems)} ({tiers}); {summary['classified_systems']} classified")
    out.print(
        f"  networks  {len(networks)} legacy networks, "
        f"{summary['networks_kept_behind_nat']} kept behind 1:1 NAT"
    )
    out.print(
        f"  extranet  IPv4 {', '.join(county.extranet.ipv4_pools)}; "
        f"IPv6 {county.extranet.ipv6_prefix}"
    )


def _rate_text(row: DepartmentStatus) -> str:
    if row.cloud_rate is None:
        return "—"
    colour = "green" if row.meets_target else "yellow"
    return f"[{colour}]{row.cloud_rate:.0%}[/]"


def _moved() -> frozenset[str]:
    """Systems cut over by a migration, when there is a migrated registry; else none."""
    engine = db.make_engine(get_settings().registry_url())
    try:
        if db.current_revision(engine) != db.head_revision():
            return frozenset()
        with db.session_factory(engine)() as session:
            return migration_state.on_cloud(session)
    except GovcloudError:
        return frozenset()
    finally:
        engine.dispose()


@app.command()
def status(county_dir: CountyOption = None, as_json: JsonOption = False) -> None:
    """Per department: quota, systems by tier, on cloud vs legacy, and the on-cloud rate
    (systems the migration registry shows cut over count as on the cloud)."""
    report = county_status(load(county_dir), _moved())
    if as_json:
        print_json(report)
        return
    table = Table(
        title=f"{report.name} ({report.code}) · 上云率 target {report.target:.0%} "
        f"({report.target_year})",
        show_footer=True,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    columns = ["code", "name", "vCPU", "RAM", "disk", "C/I/G", "cloud", "涉密", "上云率"]
    total = report.total
    footer = ["total", total.name, *_numbers(total), _rate_text(total)]
    for column, foot in zip(columns, footer, strict=True):
        if column == "name":
            table.add_column(column, footer=foot, overflow="ellipsis", no_wrap=True, max_width=12)
        else:
            table.add_column(
                column,
                footer=foot,
                justify="left" if column == "code" else "right",
                no_wrap=True,
                min_width=max(cell_len(column), Text.from_markup(foot).cell_len),
            )
    for row in report.departments:
        table.add_row(row.code, row.name, *_numbers(row), _rate_text(row))
    out.print(table)
    out.print(
        "RAM and disk in GB. C/I/G: core, important, general systems. cloud: on cloud / all. "
        "上云率 = systems on the cloud / systems that may move (classified 涉密 systems stay). "
        "--json gives every quota field."
    )


def _numbers(row: DepartmentStatus) -> list[str]:
    quota = row.quota
    tiers = "/".join(str(row.by_tier[tier]) for tier in Tier)
    return [
        str(quota.vcpu),
        str(quota.ram_gb),
        str(quota.storage_gb),
        tiers,
        f"{row.on_cloud}/{row.systems}",
        str(row.classified),
    ]


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="target revision")] = "head",
) -> None:
    """Create or migrate the registry schema (GOVCLOUD_DATABASE_URL, else .govcloud/)."""
    url = get_settings().registry_url()
    engine = db.make_engine(url)
    try:
        before, after = db.upgrade(engine, actor=actor(), revision=revision)
    finally:
        engine.dispose()
    if before == after:
        out.print(f"registry {db.redact(url)} is already at revision {after}")
    else:
        out.print(f"registry {db.redact(url)} migrated from {before or 'empty'} to {after}")


@db_app.command("current")
def db_current(as_json: JsonOption = False) -> None:
    """Show the registry's schema revision and the one this govcloud needs."""
    url = get_settings().registry_url()
    engine = db.make_engine(url)
    try:
        current = db.current_revision(engine)
    finally:
        engine.dispose()
    head = db.head_revision()
    if as_json:
        print_json({"url": db.redact(url), "current": current, "head": head})
        return
    state = "up to date" if current == head else "needs `govcloud db upgrade`"
    out.print(f"registry {db.redact(url)}: revision {current or 'none'} (head {head}), {state}")


def _report_problems(error: InputProblemsError) -> None:
    for problem in error.problems:
        err.print(str(problem), markup=False, soft_wrap=True)
    count = len(error.problems)
    err.print(
        f"{count} problem{'s' if count != 1 else ''} found; nothing was written.", markup=False
    )


def main() -> None:
    """Console-script entry point: run the app and turn user errors into messages."""
    try:
        app(standalone_mode=True)
    except InputProblemsError as error:
        _report_problems(error)
        sys.exit(constants.EXIT_BAD_INPUT)
    except GovcloudError as error:
        err.print(f"error: {error}", markup=False, soft_wrap=True)
        sys.exit(error.exit_code)
