"""`govcloud cloud ...`: read a live OpenStack cloud (the local cloud by default)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.table import Table

from cli.kit import JsonOption, out, print_json
from cloud.inventory import Snapshot, read
from govcloud.settings import get_settings
from lab.localcloud.layout import default_cloud

cloud_app = typer.Typer(
    help="Read a live cloud: inventory for plan, audit and portal.", no_args_is_help=True
)

CloudOption = Annotated[
    str | None,
    typer.Option(
        "--cloud",
        help="cloud name in clouds.yaml [default: $OS_CLOUD, else the local cloud]",
        show_default=False,
    ),
]


def read_cloud(cloud: str | None) -> Snapshot:
    """Read the named cloud, defaulting to the local cloud and its clouds.yaml."""
    name, config = default_cloud(get_settings().localcloud_root())
    return read(cloud or name, config_file=config)


@cloud_app.command("inventory")
def cloud_inventory(cloud: CloudOption = None, as_json: JsonOption = False) -> None:
    """Every resource the stacks manage, in every region, with the API calls it took."""
    snapshot = read_cloud(cloud)
    if as_json:
        print_json(snapshot.model_dump(mode="json"))
        return
    counts = snapshot.counts()
    regions = list(snapshot.regions)
    table = Table(title=f"cloud {snapshot.cloud}", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("resource")
    for column in ["all", *regions]:
        table.add_column(column, justify="right")
    kinds = sorted({kind for per_region in counts.values() for kind in per_region})
    for kind in kinds:
        table.add_row(
            kind, *(str(counts.get(column, {}).get(kind, "")) for column in ["all", *regions])
        )
    out.print(table)
    out.print(f"read in {snapshot.seconds:.2f} s with {snapshot.api_calls} API calls")
