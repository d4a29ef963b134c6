"""`govcloud localcloud ...`: the embedded default cloud, a real OpenStack on this machine."""

from __future__ import annotations

import dataclasses
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from openstack.exceptions import SDKException
from rich import box
from rich.table import Table

from cli.cloud import CloudOption
from cli.kit import CountyOption, JsonOption, err, out, print_json, registry_session
from cli.stacks import ProjectDirOption, StackOption, record_stack, refusal
from cloud.plan.diff import Action
from desired.stack_settings import stack_county
from govcloud import constants
from govcloud.errors import BadInputError, GovcloudError, UnreachableError
from govcloud.settings import get_settings
from lab.localcloud.layout import CONFIG_FILE_ENV
from lab.localcloud.layout import Paths as LocalCloudPaths

if TYPE_CHECKING:
    from lab.localcloud.manager import LocalCloud

# Departments deployed at once: the control plane shares two cores with the deployer.
DEFAULT_WORKERS = 4
# The audit log's action for a deploy to the local cloud (and its refusal).
DEPLOY_ACTION = "localcloud.deploy"

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


@localcloud_app.command("deploy")
def localcloud_deploy(  # noqa: PLR0917  (typer options)
    stack: StackOption,
    cloud: CloudOption = None,
    county_dir: CountyOption = None,
    project_dir: ProjectDirOption = Path(),
    workers: Annotated[
        int, typer.Option(min=1, max=16, help="departments deployed at once")
    ] = DEFAULT_WORKERS,
    as_json: JsonOption = False,
) -> None:
    """Make the local cloud match a stack's desired state, as `govcloud plan` computes it.

    Stands in for `pulumi up` where the Pulumi engine cannot run: creates what is missing,
    updates what differs, deletes what the county no longer declares (only resources carrying
    the county's tags). Refuses any cloud but the local one: real clouds get `govcloud apply`.
    A second run changes nothing; a run that stopped half way is resumed by the next one.
    Refuses a stack that violates a mandatory policy of the pack (exit 2, nothing changed).
    Exit 0 when the cloud matches afterwards, 1 when changes remain.
    """

    from cloud import deploy, inventory  # noqa: PLC0415
    from cloud.plan.run import collect_desired, load_stacks, plan_against, stack_region  # noqa: PLC0415
    from lab.localcloud.layout import CLOUD_NAME, default_cloud  # noqa: PLC0415

    settings = get_settings()
    chosen = cloud or default_cloud(settings.localcloud_root())[0]
    # Past the check below, the cloud is the local one: always read its own clouds.yaml.
    local_config = str(LocalCloudPaths(settings.localcloud_root()).clouds_yaml)
    given_config = os.environ.get(CONFIG_FILE_ENV)
    if chosen != CLOUD_NAME or (
        given_config and Path(given_config).resolve() != Path(local_config).resolve()
    ):
        raise BadInputError(
            f"`govcloud localcloud deploy` deploys to the local cloud only, not {chosen!r}: "
            f"for a real cloud run `govcloud apply --stack {stack.value}` (the Pulumi engine)"
        )
    with registry_session():
        pass  # the run is recorded in the audit log: refuse before any change if it cannot be
    stacks = load_stacks(project_dir, stack.value)
    county = stack_county(county_dir, settings, stacks["primary"])
    region = stack_region(stack.value, county)
    snapshot = inventory.read(chosen, regions=[region], config_file=local_config)
    desired = collect_desired(
        stack.value, stacks=stacks, county=county, registry_url=settings.registry_url()
    )
    record: dict[str, Any] = {"cloud": chosen, "region": region, "county": county.code}
    if desired.blocked_by:
        record_stack(
            DEPLOY_ACTION, stack.value, {**record, "refused": [p.id for p in desired.blocked_by]}
        )
        raise BadInputError(refusal(stack.value, desired.blocked_by))
    try:
        plan, result = deploy.deploy_stack(
            desired,
            snapshot,
            deploy.connector(chosen, region, local_config),
            workers=workers,
            progress=lambda message: err.print(f"· {message}", markup=False),
        )
    except (SDKException, GovcloudError) as error:
        record_stack(DEPLOY_ACTION, stack.value, {**record, "error": str(error)})
        raise UnreachableError(
            f"the deploy stopped: {error}; what was done stays, run it again to carry on"
        ) from None
    # Nothing planned, nothing done: the plan just made is the plan after; read again otherwise.
    after = (
        plan_against(desired, inventory.read(chosen, regions=[region], config_file=local_config))
        if plan.report.changes
        else plan
    )
    remaining = after.report.totals()
    outcome = {
        **record,
        "planned": {a.value: n for a, n in plan.report.totals().items()},
        **result.as_dict(),
        "remaining": sum(n for a, n in remaining.items() if a is not Action.UNCHANGED),
    }
    record_stack(DEPLOY_ACTION, stack.value, outcome)
    if as_json:
        print_json({"stack": stack.value, **outcome})
    else:
        totals = result.totals()
        out.print(
            f"stack {stack.value} on {chosen} ({region}): {totals['create']} created, "
            f"{totals['update']} updated, {totals['delete']} deleted in {result.seconds:.0f} s "
            f"({result.departments} departments)"
        )
        if outcome["remaining"]:
            out.print(f"[yellow]{outcome['remaining']} changes remain:[/] see `govcloud plan`")
        else:
            out.print(f"[green]✓[/] in sync: `govcloud plan --stack {stack.value}` shows no change")
    if outcome["remaining"]:
        raise typer.Exit(constants.EXIT_FINDINGS)
