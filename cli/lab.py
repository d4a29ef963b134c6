"""`govcloud lab ...`: the network lab (namespaces, routers, hosts, sshd) and its checks."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from cli.kit import CountyOption, JsonOption, err, load, out, print_json, registry_session
from desired import network_plan
from govcloud import constants
from govcloud.errors import BadInputError, UnreachableError
from govcloud.model import County, SiteRole
from govcloud.settings import get_settings
from lab.localcloud.layout import default_cloud

if TYPE_CHECKING:
    from cloud.addresses import ServerPort
    from cloud.inventory import Snapshot
    from lab.netlab.manager import CheckResult, NetLab
    from lab.netlab.topology import Topology, WorkloadSpec

lab_app = typer.Typer(
    help="The network lab: the county's extranet core, department routers (FRR, BIRD) and "
    "hosts in network namespaces, with a management network for Ansible and testinfra.",
    no_args_is_help=True,
)

NameOption = Annotated[
    str, typer.Option("--name", help="the lab's name (several labs can run side by side)")
]
# How the matrix marks a cell: expected and seen reachable, blocked as planned, or not as planned.
REACHABLE, BLOCKED, WRONG = "●", "·", "✗"
MATRIX_MAX_PAIRS = 80  # larger labs print the mismatches only


def _lab(name: str) -> NetLab:
    from lab.netlab.manager import NetLab  # noqa: PLC0415  (keeps --help fast)

    return NetLab(get_settings().lab_root(), name)


def _workloads(
    county: County, systems: str | None, data_mb: int, cloud: str | None
) -> list[WorkloadSpec]:
    """The systems the lab runs as real services, each with its cloud server and what the DR
    stack holds for it, where the cloud holds them (read from --cloud, else the default cloud
    when there is one)."""
    from lab.netlab.topology import WorkloadSpec  # noqa: PLC0415

    refs = [r.strip() for r in (systems or "").split(",") if r.strip()]
    if not refs:
        return []
    snapshot = _cloud_snapshot(cloud)
    specs = []
    for ref in refs:
        target = dr = backup = None
        if snapshot is not None and "/" in ref:
            target = _port(snapshot, county, ref, SiteRole.PRIMARY, "source only")
            if any(s.role is SiteRole.DR for s in county.sites):
                dr, backup = _dr_holdings(snapshot, county, ref)
        specs.append(WorkloadSpec(ref, data_mb, target, dr, backup))
    return specs


def _port(
    snapshot: Snapshot, county: County, ref: str, site: SiteRole, otherwise: str
) -> ServerPort | None:
    """The port of the system's server at a site, or None (said on stderr)."""
    from cloud.addresses import server_port  # noqa: PLC0415

    department, _, system = ref.partition("/")
    try:
        return server_port(
            snapshot, county=county.code, department=department, name=system,
            region=county.site(site).region,
        )  # fmt: skip
    except BadInputError as error:
        err.print(f"· {ref}: {otherwise} ({error})", markup=False)
        return None


def _dr_holdings(
    snapshot: Snapshot, county: County, ref: str
) -> tuple[ServerPort | None, str | None]:
    """What the DR stack holds for a system, by its tier's policy: the standby's port (hot
    standby) or the name of its backup volume (`backup`); (None, None) otherwise."""
    from govcloud.conventions import tenant_resource_name  # noqa: PLC0415
    from govcloud.model import Replication, Standby  # noqa: PLC0415

    department, _, code = ref.partition("/")
    found = next((s for s in county.department(department).systems if s.code == code), None)
    if found is None or not county.dr.protects(found.tier):
        return None, None
    policy = county.dr.policies[found.tier]
    if policy.standby is Standby.HOT:
        return _port(snapshot, county, ref, SiteRole.DR, "no DR standby in the lab"), None
    if policy.replication is Replication.BACKUP:
        volume = tenant_resource_name(department, f"{code}-backup")
        region = county.site(SiteRole.DR).region
        if any(v.name == volume and v.region == region for v in snapshot.volumes):
            return None, volume
        err.print(f"· {ref}: no DR backup volume {volume} in {region}: deploy the DR stack")
    return None, None


def _cloud_snapshot(option: str | None) -> Snapshot | None:
    """A reading of the cloud named by --cloud, or of the default cloud if it is there."""
    from cloud.inventory import read  # noqa: PLC0415  (openstacksdk: slow to import)

    name, local = default_cloud(get_settings().localcloud_root(), option)
    if local is not None and not Path(local).is_file():
        if option:
            raise BadInputError(f"no local cloud: {local} does not exist; start it first")
        return None
    try:
        return read(name, config_file=local)
    except UnreachableError as error:
        if option:
            raise
        err.print(f"· no cloud servers in the lab: {error}", markup=False)
        return None


def _topology(
    county_dir: Path | None,
    departments: str | None,
    bird: str | None,
    hosts_per_lan: int,
    name: str,
    *,
    registry: bool,
    workloads: str | None = None,
    workload_mb: int = 0,
    cloud: str | None = None,
) -> Topology:
    from lab.netlab.topology import build_topology, choose_departments  # noqa: PLC0415

    county = load(county_dir)
    if registry:
        with registry_session() as session:
            plan = network_plan.stored_plan(session, county)
    else:
        plan = network_plan.county_plan(county)
    chosen = choose_departments(county, departments)
    bird_codes = None if bird is None else tuple(c.strip() for c in bird.split(",") if c.strip())
    return build_topology(
        county,
        plan,
        chosen,
        lab=name,
        bird=bird_codes,
        hosts_per_lan=hosts_per_lan,
        workloads=_workloads(county, workloads, workload_mb, cloud),
    )


@lab_app.command("up")
def lab_up(  # noqa: PLR0917  (typer options)
    departments: Annotated[
        str | None,
        typer.Option(
            help="how many departments (the first N by code), or their codes "
            "(comma-separated) [default: cgj,gaj,sfj,zwfw]",
            show_default=False,
        ),
    ] = None,
    bird: Annotated[
        str | None,
        typer.Option(
            help="departments whose router runs BIRD (eBGP to the core) [default: every "
            "fourth, starting with the second]",
            show_default=False,
        ),
    ] = None,
    hosts_per_lan: Annotated[int, typer.Option(min=1, max=4, help="hosts on each LAN")] = 1,
    registry: Annotated[
        bool, typer.Option(help="use the plan stored in the registry, not a fresh one")
    ] = False,
    workloads: Annotated[
        str | None,
        typer.Option(
            help="legacy systems to run as real services (dept/system, comma-separated): "
            "PostgreSQL with their data and an app on a server of their own; with their "
            "cloud server too when the cloud holds it",
            show_default=False,
        ),
    ] = None,
    workload_mb: Annotated[
        int, typer.Option(min=0, help="data each workload's database starts with (MB)")
    ] = 16,
    cloud: Annotated[
        str | None,
        typer.Option(help="cloud whose servers the lab realises [default: the local cloud]"),
    ] = None,
    name: NameOption = "lab",
    county_dir: CountyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build the lab; every department starts in its legacy state (before the merge)."""
    topology = _topology(
        county_dir,
        departments,
        bird,
        hosts_per_lan,
        name,
        registry=registry,
        workloads=workloads,
        workload_mb=workload_mb,
        cloud=cloud,
    )
    lab = _lab(name)
    timings = lab.up(topology, progress=lambda message: err.print(f"· {message}", markup=False))
    if as_json:
        print_json(
            {
                "lab": name,
                "departments": topology.departments,
                "bird": topology.bird,
                "nodes": len(topology.nodes),
                "timings_s": timings,
                "inventory": str(lab.inventory_dir / "hosts.yml"),
            }
        )
        return
    out.print(
        f"[green]✓[/] lab {name!r} up in {timings['management network ready']:.1f} s: "
        f"{len(topology.nodes)} nodes, departments {', '.join(topology.departments)} "
        f"(BIRD: {', '.join(topology.bird) or 'none'})"
    )
    out.print(f"inventory:      {lab.inventory_dir / 'hosts.yml'}")
    out.print(
        f"run playbooks:  govcloud lab run --name {name} -- "
        "ansible-playbook playbooks/network-merge.yml"
    )
    out.print(f"check it:       govcloud lab verify --name {name}")
    out.print(f"tear it down:   govcloud lab down --name {name}")


@lab_app.command("app")
def lab_app_info(
    system: Annotated[str, typer.Argument(help="the system, as dept/system")],
    name: NameOption = "lab",
    as_json: JsonOption = False,
) -> None:
    """Where a workload runs: service name, port, its servers' addresses, the name's target."""
    info = _lab(name).app(system)
    if as_json:
        print_json(info)
        return
    out.print(f"{info['system']}: http://{info['name']}:{info['port']}/ (POST /records)")
    for role, server in info["servers"].items():
        addresses = ", ".join(a for a in (server["ipv4"], server["ipv6"]) if a)
        out.print(f"  {role:<7} {server['node']:<28} {addresses}")
    out.print(f"  the name resolves to: {', '.join(info['resolves_to']) or '(nothing)'}")


@lab_app.command(
    "exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def lab_exec(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="the lab node to run in (see `lab status`)")],
    name: NameOption = "lab",
) -> None:
    """Run a command inside a lab node, e.g. a client on a department host (root)."""
    raise typer.Exit(_lab(name).exec(node, list(ctx.args)))


@lab_app.command("down")
def lab_down(name: NameOption = "lab") -> None:
    """Stop every process of the lab and delete exactly the namespaces it made."""
    removed = _lab(name).down()
    out.print(f"lab {name!r}: removed {len(removed)} namespaces")


@lab_app.command("status")
def lab_status(name: NameOption = "lab", as_json: JsonOption = False) -> None:
    """Each node: namespace, daemons and phase; exit 3 when anything is missing."""
    state, rows = _lab(name).status()
    healthy = all(r.present and all(r.daemons.values()) for r in rows)
    if as_json:
        print_json(
            {
                "lab": name,
                "departments": state["departments"],
                "healthy": healthy,
                "nodes": [dataclasses.asdict(r) for r in rows],
            }
        )
    else:
        prefix = rows[0].namespace.removesuffix(rows[0].name) if rows else ""
        table = Table(
            box=box.SIMPLE_HEAD, pad_edge=False, title=f"lab {name!r} (namespaces {prefix}*)"
        )
        for column in ("node", "role", "phase", "daemons"):
            table.add_column(column, no_wrap=column != "daemons")
        for row in rows:
            daemons = " ".join(
                f"[green]{d}[/]" if ok else f"[red]{d}✗[/]" for d, ok in row.daemons.items()
            )
            if not row.present:
                daemons = "[red]namespace gone[/]"
            role = row.role.replace("department_router", "router").replace("_", " ")
            table.add_row(row.name, role, row.phase or "", daemons)
        out.print(table)
    if not healthy:
        raise typer.Exit(constants.EXIT_UNREACHABLE)


@lab_app.command("verify")
def lab_verify(
    name: NameOption = "lab",
    department: Annotated[
        str | None, typer.Option(help="only this department's checks (with the cloud)")
    ] = None,
    wait: Annotated[
        float, typer.Option(min=0, help="seconds to keep retrying checks that differ")
    ] = 5.0,
    as_json: JsonOption = False,
) -> None:
    """Probe the expected reachability matrix on the live lab; exit 1 when reality differs."""
    phases, results = _lab(name).verify(wait=wait, department=department)
    mismatches = [r for r in results if not r.matches]
    if as_json:
        print_json(
            {
                "lab": name,
                "phases": {code: phase.value for code, phase in phases.items()},
                "checks": len(results),
                "mismatches": len(mismatches),
                "results": [
                    {**r.check.as_dict(), "ok": r.ok, "matches": r.matches, "detail": r.detail}
                    for r in results
                ],
            }
        )
    else:
        print_matrix(results, phases)
    if mismatches:
        raise typer.Exit(constants.EXIT_FINDINGS)


def print_matrix(results: list[CheckResult], phases: dict[str, Any]) -> None:
    """The matrix: one row per (from, to) pair, a mark per probe and family."""
    out.print(
        "phases: " + ", ".join(f"{code} {phase.value}" for code, phase in sorted(phases.items()))
    )
    pairs = sorted({(r.check.source, r.check.target) for r in results})
    if len(pairs) <= MATRIX_MAX_PAIRS:
        out.print(_pair_table(results, pairs))
        out.print(
            f"{REACHABLE} reachable as planned   {BLOCKED} unreachable as planned   "
            f"[red]{WRONG}[/] not as planned"
        )
    mismatches = [r for r in results if not r.matches]
    for result in mismatches:
        state = "reachable" if result.ok else "unreachable"
        wanted = "reachable" if result.check.expect else "unreachable"
        out.print(
            f"[red]{WRONG}[/] {result.check.label()} {result.check.address}: {state}, "
            f"planned {wanted} ({result.check.reason}; {result.detail})"
        )
    colour = "green" if not mismatches else "red"
    out.print(f"[{colour}]{len(results) - len(mismatches)}/{len(results)} checks as planned[/]")


def _pair_table(results: list[CheckResult], pairs: list[tuple[str, str]]) -> Table:
    cells: dict[tuple[str, str, int], list[str]] = defaultdict(list)
    order = {"ping": 0, "tcp": 1, "name": 2}
    for result in sorted(results, key=lambda r: (order[r.check.probe], r.check.port or 0)):
        check = result.check
        mark = (REACHABLE if result.ok else BLOCKED) if result.matches else f"[red]{WRONG}[/]"
        what = {"ping": "ping", "tcp": str(check.port), "name": "name"}[check.probe]
        cells[(check.source, check.target, check.family)].append(f"{what}{mark}")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("from", "to", "IPv4", "IPv6"):
        table.add_column(column, no_wrap=True)
    for source, target in pairs:
        table.add_row(
            source,
            target,
            " ".join(cells.get((source, target, 4), [])),
            " ".join(cells.get((source, target, 6), [])),
        )
    return table


@lab_app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def lab_run(ctx: typer.Context, name: NameOption = "lab") -> None:
    """Run a command as the management controller: govcloud lab run -- ansible-playbook ...

    The command runs in the lab's management namespace with the lab's inventory, ansible.cfg
    and SSH settings in its environment; its exit code is this command's.
    """
    if not ctx.args:
        err.print(
            "name a command: govcloud lab run -- ansible-playbook playbooks/network-merge.yml"
        )
        raise typer.Exit(constants.EXIT_BAD_INPUT)
    _lab(name).state()
    result = _lab(name).run(list(ctx.args))
    raise typer.Exit(result.returncode)


@lab_app.command("fault")
def lab_fault(
    target: Annotated[
        str,
        typer.Argument(
            help="what misbehaves: a department (refuse-ipv6-routes), a site, primary or dr "
            "(cut-from-extranet), or a system, dept/system (kill-database)"
        ),
    ],
    kind: Annotated[
        str,
        typer.Option(
            help="what goes wrong: refuse-ipv6-routes (a department's router drops IPv6 "
            "routing), cut-from-extranet (the core loses its link to the site: its routes are "
            "withdrawn), kill-database (the system's PostgreSQL on its primary-site server "
            "is killed)"
        ),
    ] = "refuse-ipv6-routes",
    clear: Annotated[
        bool,
        typer.Option(help="remove the fault instead (a killed database is started again)"),
    ] = False,
    name: NameOption = "lab",
) -> None:
    """Inject a fault (to rehearse rollback, or a DR failover), or clear it."""
    out.print(_lab(name).fault(target, kind, clear=clear), markup=False)


@lab_app.command("inventory")
def lab_inventory(  # noqa: PLR0917  (typer options)
    out_dir: Annotated[Path, typer.Option("--out", help="directory to write")] = Path(
        "inventories/lab"
    ),
    departments: Annotated[
        str | None, typer.Option(help="a count or codes, as for `lab up`", show_default=False)
    ] = None,
    bird: Annotated[str | None, typer.Option(show_default=False)] = None,
    example: Annotated[
        bool,
        typer.Option(
            help="a real site's inventory: the plan's own addresses, production timers, "
            "ansible_host on the management network (to fill in)"
        ),
    ] = False,
    name: NameOption = "lab",
    county_dir: CountyOption = None,
) -> None:
    """Render an inventory from the model without building a lab."""
    from lab.netlab.ansible_inventory import inventory_files, write_inventory  # noqa: PLC0415

    bird_codes = None if bird is None else tuple(c.strip() for c in bird.split(",") if c.strip())
    files = inventory_files(
        load(county_dir),
        departments,
        lab=name,
        bird=bird_codes,
        example=example,
        lab_root=get_settings().lab_root(),
    )
    write_inventory(out_dir, files)
    out.print(f"wrote {len(files)} files to {out_dir}")
