"""`govcloud localcloud ...`: the embedded default cloud, a real OpenStack on this machine."""

from __future__ import annotations

import dataclasses
import shlex
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from cli.kit import JsonOption, err, out, print_json
from govcloud import constants
from govcloud.settings import get_settings

if TYPE_CHECKING:
    from lab.localcloud.manager import LocalCloud

localcloud_app = typer.Typer(
    help="The local cloud: Keystone, Neutron, Nova, Placement, Cinder and Glance on 127.0.0.1, "
    "RegionOne (primary) and RegionTwo (DR).",
    no_args_is_help=True,
)


def _cloud() -> LocalCloud:
    from lab.localcloud.manager import LocalCloud  # noqa: PLC0415  (keeps --help fast)

    return LocalCloud(get_settings().localcloud_root())


@localcloud_app.command("up")
def localcloud_up(as_json: JsonOption = False) -> None:
    """Install (once), configure and start the local cloud; fast when already running."""
    cloud = _cloud()
    timings = cloud.up(progress=lambda message: err.print(f"· {message}", markup=False))
    if as_json:
        print_json({"timings_s": timings, **cloud.env()})
        return
    out.print(
        f"[green]✓[/] local cloud up in {timings['total']:.0f} s "
        f"(services ready in {timings['services']:.0f} s)"
    )
    out.print('use it from a shell:  eval "$(govcloud localcloud env)"')
    out.print("stop it (data kept):  govcloud localcloud down")


@localcloud_app.command("down")
def localcloud_down(
    purge: Annotated[
        bool, typer.Option(help="also delete configuration and data (the installed packages stay)")
    ] = False,
) -> None:
    """Stop the processes `up` started (by PID); keep data unless --purge."""
    stopped = _cloud().down(purge=purge)
    out.print(f"stopped {len(stopped)} processes" + (": " + ", ".join(stopped) if stopped else ""))
    if purge:
        out.print("configuration and data deleted")


@localcloud_app.command("status")
def localcloud_status(as_json: JsonOption = False) -> None:
    """Each service: process, endpoint and health; exit 3 when any is down."""
    rows = _cloud().status()
    if as_json:
        print_json([dataclasses.asdict(r) for r in rows])
    else:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("service", "region", "pid", "endpoint", "health"):
            table.add_column(column, no_wrap=column != "endpoint")
        for row in rows:
            health = f"[green]{row.detail}[/]" if row.healthy else f"[red]{row.detail}[/]"
            table.add_row(
                row.name, row.region or "all", str(row.pid or "—"), row.url or "—", health
            )
        out.print(table)
    if not all(r.healthy for r in rows):
        raise typer.Exit(constants.EXIT_UNREACHABLE)


@localcloud_app.command("env")
def localcloud_env() -> None:
    """Shell exports for using the local cloud: eval "$(govcloud localcloud env)"."""
    for key, value in _cloud().env().items():
        typer.echo(f"export {key}={shlex.quote(value)}")
