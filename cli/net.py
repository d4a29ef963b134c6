"""`govcloud net ...`: overlaps, the address plan, usage, rendered router configs, export."""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from cli.kit import (
    CountyOption,
    JsonOption,
    actor,
    err,
    load,
    out,
    print_json,
    registry_session,
    write_files,
)
from desired import network_plan
from govcloud import constants
from govcloud.errors import BadInputError
from govcloud.loader import InputProblemsError, Problem
from govcloud.model import County
from network import export, overlaps, render
from network.plan import Allocation, NetworkPlan, PlanError
from network.prefixes import parse
from network.usage import LevelUsage, usage, usage_chart

net_app = typer.Typer(
    help="Network planning: overlaps, the address plan, configs.", no_args_is_help=True
)


# -- overlaps ------------------------------------------------------------------------------------
def _group_json(group: overlaps.OverlapGroup) -> dict[str, Any]:
    return {
        "scope": group.scope.value,
        "vrf": group.vrf,
        "family": group.family,
        "relations": [r.value for r in group.relations],
        "prefixes": group.prefixes,
        "owners": group.owners,
        "members": [
            {"owner": m.owner, "vrf": m.vrf, "prefix": m.prefix, "network": m.network or None}
            for m in group.members
        ],
    }


def _collision_groups(table: overlaps.PrefixTable, county: County) -> list[dict[str, Any]]:
    pools = [parse(p) for p in county.extranet.ipv4_pools]
    by_pool: dict[str, list[overlaps.Member]] = {}
    for member, pool in overlaps.pool_collisions(table, pools):
        by_pool.setdefault(pool, []).append(member)
    groups = []
    for pool, members in sorted(by_pool.items()):
        groups.append(
            {
                "scope": "extranet-pool",
                "vrf": None,
                "family": 4,
                "relations": ["collision"],
                "prefixes": sorted({pool, *(m.prefix for m in members)}, key=parse),
                "owners": sorted({m.owner for m in members}),
                "members": [
                    {
                        "owner": m.owner,
                        "vrf": m.vrf,
                        "prefix": m.prefix,
                        "network": m.network or None,
                    }
                    for m in members
                ],
            }
        )
    return groups


def _read_source(
    source: Path | None, county_option: Path | None
) -> tuple[overlaps.PrefixTable, County | None]:
    if source is None or source.is_dir():
        county = load(source or county_option)
        return overlaps.county_table(county), county
    if not source.exists():
        raise InputProblemsError([Problem(str(source), 1, 1, "file not found")])
    table, problems = overlaps.read_csv(source)
    if problems:
        raise InputProblemsError(
            [Problem(str(source), p.line, p.column, p.message) for p in problems]
        )
    return table, None


@net_app.command("overlaps")
def net_overlaps(
    source: Annotated[
        Path | None,
        typer.Argument(
            help="CSV of owner,vrf,prefix (default: the county's legacy networks)",
            show_default=False,
        ),
    ] = None,
    county_dir: CountyOption = None,
    as_json: JsonOption = False,
    strict: Annotated[bool, typer.Option(help="exit 1 when anything overlaps")] = False,
) -> None:
    """Every group of overlapping prefixes, within a VRF and across VRFs, and pool collisions."""
    table, county = _read_source(source, county_dir)
    groups = [_group_json(g) for g in overlaps.find_overlaps(table)]
    if county is not None:
        groups += _collision_groups(table, county)
    if as_json:
        print_json(groups)
    else:
        _print_overlaps(groups, len(table))
    if strict and groups:
        raise typer.Exit(constants.EXIT_FINDINGS)


RELATION_LABELS = {"duplicate": "dup", "containment": "nested", "collision": "pool"}


def _print_overlaps(groups: list[dict[str, Any]], total: int) -> None:
    scopes = Counter(g["scope"] for g in groups)
    out.print(
        f"{total} prefixes: {scopes['vrf']} overlap groups within a VRF, "
        f"{scopes['across']} across VRFs, {scopes['extranet-pool']} extranet-pool "
        "collisions"
    )
    if not groups:
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("scope", "vrf", "relation", "prefixes", "owners"):
        table.add_column(column, overflow="fold", no_wrap=column in ("scope", "relation"))
    for group in groups:
        owners = group["owners"]
        shown = ", ".join(owners[:8]) + (f" … (+{len(owners) - 8})" if len(owners) > 8 else "")
        table.add_row(
            group["scope"],
            group["vrf"] or "—",
            "+".join(RELATION_LABELS.get(r, r) for r in group["relations"]),
            " ".join(group["prefixes"]),
            shown,
        )
    out.print(table)


# -- plan -----------------------------------------------------------------------------------------
def _allocation_json(allocation: Allocation, status: str) -> dict[str, Any]:
    row: dict[str, Any] = {**allocation.as_dict(), "status": status}
    if row["inside"] is None:
        del row["inside"]  # only NAT allocations map an inside prefix
    return row


def plan_and_store(county: County, *, dry_run: bool, prune: bool) -> NetworkPlan:
    """Plan against the registry under the planner lock; write unless dry_run."""
    with registry_session() as session, session.begin():
        try:
            plan = network_plan.plan_and_apply(
                session, county, actor=actor(), dry_run=dry_run, prune=prune
            )
        except PlanError as error:
            raise BadInputError("; ".join(error.problems)) from None
        if dry_run:
            session.rollback()
    return plan


def stored_plan(county: County) -> NetworkPlan:
    """The plan as the registry holds it, without writing."""
    with registry_session() as session:
        return network_plan.stored_plan(session, county)


@net_app.command("plan")
def net_plan(
    county_dir: CountyOption = None,
    as_json: JsonOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show the diff, write nothing")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="release allocations whose network is no longer declared"),
    ] = False,
) -> None:
    """Plan the IPv4 merge and the IPv6 addresses; keep every existing allocation in place."""
    county = load(county_dir)
    plan = plan_and_store(county, dry_run=dry_run, prune=prune)
    added = {a.key for a in plan.added}
    if as_json:
        rows = [
            _allocation_json(a, "added" if a.key in added else "kept") for a in plan.allocations
        ]
        rows += [
            _allocation_json(a, "released" if prune and not dry_run else "orphaned")
            for a in plan.orphaned
        ]
        print_json(rows)
        return
    _print_plan(county, plan, dry_run=dry_run, prune=prune)


def _print_plan(county: County, plan: NetworkPlan, *, dry_run: bool, prune: bool) -> None:
    counts = Counter((a.family, a.kind.value) for a in plan.allocations)
    new = Counter((a.family, a.kind.value) for a in plan.added)
    table = Table(title=f"{county.name} network plan", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("family", "kind", "allocations", "new"):
        table.add_column(column, justify="left" if column in ("family", "kind") else "right")
    for (family, kind), count in sorted(counts.items()):
        table.add_row(f"IPv{family}", kind, str(count), str(new.get((family, kind), 0)))
    out.print(table)
    verb = "would add" if dry_run else "added"
    out.print(
        f"{verb} {len(plan.added)}, kept {plan.kept}, orphaned {len(plan.orphaned)}; "
        f"{len(plan.zones)} ip6.arpa zones to delegate"
    )
    for allocation in plan.added[:20] if dry_run else ():
        inside = f" (NAT of {allocation.inside})" if allocation.inside else ""
        out.print(
            f"  + {allocation.department or 'county'} {allocation.network} "
            f"{allocation.kind.value} {allocation.prefix}{inside}"
        )
    if dry_run and len(plan.added) > 20:
        out.print(f"  … and {len(plan.added) - 20} more (--json lists every one)")
    for allocation in plan.orphaned:
        action = "released" if prune and not dry_run else "orphaned (kept; --prune releases)"
        out.print(
            f"  - {allocation.department or 'county'} {allocation.network} "
            f"{allocation.prefix}: {action}"
        )
    for warning in plan.warnings:
        err.print(f"warning: {warning}", markup=False)
    if dry_run:
        out.print("dry run: nothing was written")


@net_app.command("zones")
def net_zones(county_dir: CountyOption = None, as_json: JsonOption = False) -> None:
    """The ip6.arpa zones to delegate: the county's, and one per department block."""
    plan = stored_plan(load(county_dir))
    rows = [
        {"zone": z.zone, "prefix": z.prefix, "department": z.department or None} for z in plan.zones
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("zone", "prefix", "delegate to"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["zone"], row["prefix"], row["department"] or "county")
    out.print(table)


# -- usage ----------------------------------------------------------------------------------------
def _usage_json(row: LevelUsage) -> dict[str, Any]:
    unit = "addresses" if row.family == 4 else "/64s"
    return {
        "level": row.level,
        "name": row.name,
        "prefix": row.prefix,
        "family": row.family,
        "unit": unit,
        "total": row.total,
        "used": row.used,
        "free": row.free,
        "utilisation": row.utilisation,
        "free_blocks": {f"/{length}": count for length, count in row.free_blocks.items()},
    }


@net_app.command("usage")
def net_usage(
    county_dir: CountyOption = None,
    as_json: JsonOption = False,
    chart: Annotated[Path | None, typer.Option(help="write an HTML chart to this file")] = None,
) -> None:
    """Per level: IPv4 use in addresses, IPv6 in /64s, and free blocks by size."""
    county = load(county_dir)
    rows = usage(county, stored_plan(county).allocations)
    if chart is not None:
        _write_chart(county, rows, chart)
    if as_json:
        print_json([_usage_json(r) for r in rows])
        return
    table = Table(
        title=f"{county.name} address usage (IPv4 in addresses, IPv6 in /64s)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in ("level", "name", "prefix", "used", "free", "use", "free blocks"):
        numeric = column in ("used", "free", "use")
        table.add_column(
            column,
            justify="right" if numeric else "left",
            no_wrap=numeric or column == "prefix",
            min_width=18 if column == "prefix" else None,
            max_width=10 if column == "name" else None,
        )
    for row in rows:
        if row.level == "department":
            continue
        largest = [f"{compact(n)}×/{length}" for length, n in row.free_blocks.items() if n][:2]
        table.add_row(
            row.level,
            row.name,
            row.prefix,
            compact(row.used),
            compact(row.free),
            f"{row.utilisation:.1%}",
            " ".join(largest),
        )
    out.print(table)
    departments = [r for r in rows if r.level == "department"]
    if departments:
        used = sum(r.used for r in departments)
        out.print(
            f"{len(departments)} department prefixes: {used:,} /64s used, "
            f"{sum(r.free for r in departments):,} free (--json for each)"
        )
    if chart is not None:
        out.print(f"chart written to {chart}")


def compact(number: int) -> str:
    """Short counts for tables: 48,992 · 268.4M · 4.3G."""
    for divisor, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M")):
        if number >= divisor:
            return f"{number / divisor:.1f}{suffix}"
    return f"{number:,}"


def _write_chart(county: County, rows: list[LevelUsage], chart: Path) -> None:
    try:
        chart.write_text(usage_chart(county, rows), encoding="utf-8")
    except OSError as error:
        raise BadInputError(f"cannot write the chart to {chart}: {error.strerror}") from None


# -- render and export ----------------------------------------------------------------------------
class Vendor(StrEnum):
    """Router configuration dialects."""

    FRR = "frr"
    HUAWEI = "huawei"
    H3C = "h3c"


class ExportFormat(StrEnum):
    """Export formats."""

    YAML = "yaml"
    CSV = "csv"
    NETBOX = "netbox"


@net_app.command("render")
def net_render(
    vendor: Annotated[Vendor, typer.Option(help="configuration dialect")],
    out_dir: Annotated[Path, typer.Option("--out", help="directory for the files")],
    county_dir: CountyOption = None,
) -> None:
    """Per-router configuration: dual-stack interfaces, OSPF, RA, NAT for kept networks."""
    county = load(county_dir)
    files = render.render(county, stored_plan(county), vendor.value)
    write_files(out_dir, files)
    out.print(f"wrote {len(files)} files for {vendor.value} to {out_dir}")


@net_app.command("export")
def net_export(
    export_format: Annotated[ExportFormat, typer.Option("--format", help="output format")],
    county_dir: CountyOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file (default: standard output)")
    ] = None,
) -> None:
    """The plan for review (YAML, CSV) or as a NetBox prefix bulk-import CSV."""
    county = load(county_dir)
    allocations = stored_plan(county).allocations
    if export_format is ExportFormat.YAML:
        text = export.to_yaml(county, allocations)
    elif export_format is ExportFormat.CSV:
        text = export.to_csv(allocations)
    else:
        text = export.to_netbox(county, allocations)
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_files(output.parent, {output.name: text})
