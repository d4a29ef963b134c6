"""`govcloud plan` and `govcloud apply`: the stacks against a live cloud.

`plan` never changes the cloud: it runs the stack program under Pulumi mocks, reads the
cloud with the live-state reader and prints the per-attribute diff. `apply` drives the real
Pulumi engine through the Automation API (it needs the `pulumi` CLI), after the same policy
pack `plan` runs has let the stack through.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from audit.catalogue import RULES
from cli.cloud import CloudOption
from cli.kit import (
    CountyOption,
    JsonOption,
    actor,
    out,
    print_json,
    registry_session,
)
from cloud import apply as pulumi_engine
from cloud import inventory
from cloud.plan.diff import Action, Change
from cloud.plan.run import (
    StackPlan,
    collect_desired,
    load_stacks,
    plan_against,
    stack_region,
)
from desired.stack_settings import StackSettings, stack_county
from govcloud import constants
from govcloud.errors import BadInputError, GovcloudError
from govcloud.loader import load_county
from govcloud.registry import audit_log
from govcloud.settings import Settings, get_settings
from lab.localcloud.layout import default_cloud
from policy.evaluate import PolicyResult


class StackName(StrEnum):
    """The stacks of the county-cloud project."""

    PRIMARY = "primary"
    DR = "dr"


StackOption = Annotated[
    StackName,
    typer.Option("--stack", help="which stack", show_default=False, case_sensitive=False),
]
ProjectDirOption = Annotated[
    Path,
    typer.Option("--project-dir", help="the directory with Pulumi.yaml [default: .]"),
]
# Creates are listed one by one up to this many; beyond, per kind (--json lists them all).
MAX_LISTED_CREATES = 40
VALUE_WIDTH = 60
# Why a deploy refuses a stack (zh-CN first: county operators read it).
REFUSAL = "强制策略未通过，不予部署 / mandatory policies violated, the stack is not deployed"


def _read(cloud: str | None, region: str, settings: Settings) -> inventory.Snapshot:
    name, config = default_cloud(settings.localcloud_root())
    return inventory.read(cloud or name, regions=[region], config_file=config)


def _short(value: Any) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


def policy_as_dict(result: PolicyResult) -> dict[str, Any]:
    """A policy's result with the catalogue item it enforces (same id: docs/audit.md)."""
    rule = next(r for r in RULES if r.id == result.id)
    status = (
        "violated"
        if result.violations
        else "not_applicable"
        if result.not_applicable is not None
        else "passed"
    )
    return {
        "id": result.id,
        "clause": rule.clause,
        "test_item": rule.test_item,
        "enforcement": result.enforcement,
        "status": status,
        "violations": [v.as_dict() for v in result.violations],
        "not_applicable": result.not_applicable,
    }


def print_policies(results: list[PolicyResult]) -> None:
    """The violated policies, each violation on its own line; then the count that passed."""
    for result in results:
        if result.violations:
            rule = policy_as_dict(result)
            out.print(
                f"[red]✗ {result.id}[/] ({rule['clause']}, {rule['test_item']}, "
                f"{result.enforcement})",
                highlight=False,
            )
            for violation in result.violations:
                out.print(f"    {violation.message}", markup=False, highlight=False)
        elif result.not_applicable is not None:
            out.print(f"[yellow]– {result.id}[/]: not applicable: {result.not_applicable}")
    passed = sum(not r.violations and r.not_applicable is None for r in results)
    out.print(f"策略 policies (MLPS catalogue ids): {passed} of {len(results)} passed")
    if blocked := [r.id for r in results if r.blocks]:
        out.print(f"[red]✗ {REFUSAL}:[/] {', '.join(blocked)}")


def refusal(stack: str, blocked: list[PolicyResult]) -> str:
    """The message `apply` and `localcloud deploy` refuse a stack with: each violation, then
    the fix."""
    lines = [f"{REFUSAL}; 云上未做任何更改 / nothing was changed in the cloud:"]
    for result in blocked:
        lines += [f"  {result.id}: {v.message}" for v in result.violations]
    lines.append(
        f"修正县数据或栈后再部署 / fix the county data or the stack, then check with "
        f"`govcloud plan --stack {stack}`"
    )
    return "\n".join(lines)


def record_stack(action: str, stack: str, after: dict[str, Any]) -> None:
    """One deploy of a stack, or its refusal, in the audit log (`apply`, `localcloud deploy`)."""
    with registry_session() as session:
        audit_log.record(
            session,
            actor=actor(),
            action=action,
            object=f"stack/{stack}",
            before=None,
            after=after,
        )
        session.commit()


def plan_as_dict(plan: StackPlan) -> dict[str, Any]:
    """The plan for machines."""
    report = plan.report
    return {
        "stack": plan.stack,
        "cloud": plan.cloud,
        "region": plan.region,
        "in_sync": report.in_sync,
        "desired": plan.desired,
        "live": plan.live,
        "summary": {
            kind: {a.value: n for a, n in counts.items()} for kind, counts in report.counts.items()
        },
        "totals": {a.value: n for a, n in report.totals().items()},
        "changes": [c.as_dict() for c in report.changes],
        "not_compared": report.not_compared,
        "duplicates": report.duplicates,
        "warnings": list(plan.warnings),
        "policies": [policy_as_dict(p) for p in plan.policies],
        "blocked": [p.id for p in plan.blocked_by],
        "seconds": plan.seconds,
    }


def print_plan(plan: StackPlan) -> None:
    """The plan for people: changes, then a summary per kind."""
    report = plan.report
    for warning in plan.warnings:
        out.print(f"[yellow]note:[/] {warning}")
    creates = [c for c in report.changes if c.action is Action.CREATE]
    listed: list[Change] = [c for c in report.changes if c.action is not Action.CREATE]
    if len(creates) <= MAX_LISTED_CREATES:
        listed = creates + listed
    if listed:
        table = Table(title="changes", box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("action", "kind", "resource", "attribute", "live", "desired"):
            table.add_column(column, overflow="fold")
        colours = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red"}
        for change in listed:
            table.add_row(
                f"[{colours[change.action]}]{change.action.value}[/]",
                change.kind,
                change.label,
                change.attribute or "",
                _short(change.live) if change.action is Action.UPDATE else "",
                _short(change.desired) if change.action is Action.UPDATE else "",
            )
        out.print(table)
    summary = Table(
        title=f"plan: stack {plan.stack} against cloud {plan.cloud} ({plan.region})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_footer=True,
    )
    totals = report.totals()
    summary.add_column("kind", footer="total")
    for action in Action:
        summary.add_column(action.value, justify="right", footer=str(totals[action]))
    for kind, counts in report.counts.items():
        summary.add_row(kind, *(str(counts[a] or "") for a in Action))
    out.print(summary)
    if report.not_compared:
        skipped = ", ".join(f"{n} {t.rsplit(':', 1)[-1]}" for t, n in report.not_compared.items())
        out.print(f"not compared (docs/stacks.md says why): {skipped}")
    if report.duplicates:
        out.print(f"[yellow]ambiguous names, first one compared:[/] {', '.join(report.duplicates)}")
    print_policies(plan.policies)
    if report.in_sync:
        out.print(f"[green]✓[/] in sync: {totals[Action.UNCHANGED]} resources unchanged")
    else:
        out.print(
            f"{totals[Action.CREATE]} to create, {totals[Action.UPDATE]} to update, "
            f"{totals[Action.DELETE]} to delete"
            + (
                f" ({len(creates)} creates by kind above; --json lists each)"
                if len(creates) > MAX_LISTED_CREATES
                else ""
            )
        )


def plan(
    stack: StackOption,
    cloud: CloudOption = None,
    county_dir: CountyOption = None,
    project_dir: ProjectDirOption = Path(),
    as_json: JsonOption = False,
) -> None:
    """What a deployment of a stack would change in the live cloud, attribute by attribute,
    and whether the policy pack (the MLPS catalogue's pre-deploy items) lets it be deployed.

    Never changes the cloud. Exit 0 when in sync and no mandatory policy is violated, 1 when
    there are changes or violations.
    """
    settings = get_settings()
    stacks = load_stacks(project_dir, stack.value)
    county = stack_county(county_dir, settings, stacks["primary"])
    # Read the cloud first: an unreachable cloud fails before the program runs.
    snapshot = _read(cloud, stack_region(stack.value, county), settings)
    desired = collect_desired(
        stack.value, stacks=stacks, county=county, registry_url=settings.registry_url()
    )
    result = plan_against(desired, snapshot)
    if as_json:
        print_json(plan_as_dict(result))
    else:
        print_plan(result)
    if not result.clean:
        raise typer.Exit(constants.EXIT_FINDINGS)


def _gate(
    stack: str,
    operation: pulumi_engine.Operation,
    stacks: dict[str, StackSettings],
    *,
    as_json: bool,
) -> None:
    """The policy pack over the stack's mock run, as `plan` runs it: return when nothing
    mandatory is violated; else refuse an up (exit 2, audited) or end a preview (exit 1)."""
    # The county the engine's program reads (stacks/__main__.py): the stack's own `county`
    # setting. --county and $GOVCLOUD_COUNTY do not reach the engine, so they must not reach
    # the gate either, or the pack would pass one county and the engine deploy another.
    county = load_county(stacks[stack].county_dir)
    desired = collect_desired(
        stack, stacks=stacks, county=county, registry_url=get_settings().registry_url()
    )
    blocked = desired.blocked_by
    if not blocked:
        return
    if as_json:
        print_json(
            {
                "stack": stack,
                "operation": operation.value,
                "policies": [policy_as_dict(p) for p in desired.policies],
                "blocked": [p.id for p in blocked],
            }
        )
    if operation is pulumi_engine.Operation.PREVIEW:
        # A preview is a read, as a plan is: show the violations, exit 1, change nothing.
        if not as_json:
            print_policies(desired.policies)
            out.print(
                f"预览未运行 / the engine preview was not run: fix the violations first; "
                f"`govcloud plan --stack {stack}` shows the changes without Pulumi"
            )
        raise typer.Exit(constants.EXIT_FINDINGS)
    message = refusal(stack, blocked)
    try:
        record_stack(
            f"stack.{operation.value}",
            stack,
            {"county": county.code, "refused": [p.id for p in blocked]},
        )
    except GovcloudError as error:
        # The operator still learns why the stack is refused, and that no trace was kept.
        message += f"\n审计日志未记录此次拒绝 / the refusal is not in the audit log: {error}"
    raise BadInputError(message)


def apply(
    stack: StackOption,
    preview: Annotated[bool, typer.Option("--preview", help="show what would change")] = False,
    destroy: Annotated[
        bool, typer.Option("--destroy", help="delete the stack's resources")
    ] = False,
    project_dir: ProjectDirOption = Path(),
    as_json: JsonOption = False,
) -> None:
    """Deploy a stack with the Pulumi engine (needs the `pulumi` CLI; exit 3 without it).

    First, without the CLI, the policy pack (the MLPS catalogue's pre-deploy
    items) runs over the stack as `govcloud plan` runs it, on the county the
    stack's `county` setting names. A stack that violates a mandatory policy
    is refused: exit 2, nothing done, the refusal in the audit log. With
    --preview the violations are shown and it exits 1. --destroy is not checked.
    """
    if preview and destroy:
        raise BadInputError("--preview and --destroy exclude each other: give one")
    stacks = load_stacks(project_dir, stack.value)
    operation = (
        pulumi_engine.Operation.PREVIEW
        if preview
        else pulumi_engine.Operation.DESTROY
        if destroy
        else pulumi_engine.Operation.UP
    )
    # Removing resources cannot violate a policy on what is created, so a destroy is not gated:
    # it must stay possible for a stack the pack now refuses.
    if operation is not pulumi_engine.Operation.DESTROY:
        _gate(stack.value, operation, stacks, as_json=as_json)
    pulumi_engine.require_cli()
    result = pulumi_engine.run(
        stack.value, operation, project_dir=project_dir, state_dir=get_settings().state_dir
    )
    if operation is not pulumi_engine.Operation.PREVIEW:
        record_stack(f"stack.{operation.value}", stack.value, {"changes": result.changes})
    if as_json:
        print_json(result)
    else:
        changes = ", ".join(f"{n} {kind}" for kind, n in sorted(result.changes.items()))
        out.print(f"stack {stack.value}: {operation.value} done ({changes or 'no changes'})")
