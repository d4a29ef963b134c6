"""`govcloud audit ...`: the audit log, drift against the live cloud, accepted drift, history.

Exit codes: 0 clean, 1 findings (or a broken log), 2 bad input, 3 a target that could not be
read (then nothing is reported clean: the JSON lists what was not checked).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from audit import head, nodes, runs, suppressions
from audit.catalogue import Verdict
from audit.findings import DriftReport
from cli.cloud import CloudOption
from cli.kit import (
    CountyOption,
    JsonOption,
    actor,
    out,
    print_json,
    registry_session,
)
from cli.stacks import ProjectDirOption, StackName
from govcloud import constants
from govcloud.errors import BadInputError
from govcloud.settings import get_settings
from portal.policy import portal_policy

audit_app = typer.Typer(
    help="The audit (审计): the log, drift against the live cloud, accepted drift.",
    no_args_is_help=True,
)
head_app = typer.Typer(
    help="The audit chain's signed head (MLPS 8.1.4.3): keys and export.", no_args_is_help=True
)
audit_app.add_typer(head_app, name="head")
StackOption = Annotated[
    StackName | None,
    typer.Option(
        "--stack", help="one stack [default: both, each in its region]", show_default=False
    ),
]
VALUE_WIDTH = 40
LabOption = Annotated[
    str | None,
    typer.Option(
        "--lab",
        help="read the routers and hosts of this running lab (root: its management network)",
        show_default=False,
    ),
]
InventoryOption = Annotated[
    Path | None,
    typer.Option(
        "--inventory",
        help="read the routers and hosts of this govcloud-rendered inventory (a real site's) "
        "[default: $ANSIBLE_INVENTORY, which `govcloud lab run` sets]",
        show_default=False,
    ),
]


def _node_request(
    network: bool, hosts: bool, lab: str | None, inventory: Path | None
) -> runs.NodeRequest | None:
    """Which node parts to read, and where the nodes are (a lab, or an inventory)."""
    if lab and inventory:
        raise BadInputError("give --lab NAME or --inventory FILE, not both")
    if not (network or hosts):
        if lab or inventory:
            raise BadInputError("--lab and --inventory say where to read: add --network, --hosts")
        return None
    target = None
    if lab:
        target = nodes.lab_target(get_settings().lab_root(), lab)
    elif inventory or os.environ.get("ANSIBLE_INVENTORY"):
        target = nodes.Target(Path(inventory or os.environ["ANSIBLE_INVENTORY"]))
    return runs.NodeRequest(network, hosts, target)


def _parse_time(text: str, option: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadInputError(
            f"{option} {text!r} is not a date or time: give ISO 8601, e.g. 2027-03-31 or "
            "2027-03-31T18:00+08:00"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


@audit_app.command("verify-log")
def audit_verify_log(
    head_file: Annotated[
        Path | None,
        typer.Option(
            "--head",
            help="a signed head (`audit head export`): the log must still hold it",
            show_default=False,
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="its public key [default: $GOVCLOUD_AUDIT_HEAD_PUBLIC_KEY]",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check the SM3 hash chain; exit 1 naming the first altered, removed or reordered entry.

    With --head, also the head's signature and that the log still holds that head at its
    sequence number with its hash: a rewritten or truncated log fails (exit 1), saying what
    differs.
    """
    if public_key is not None and head_file is None:
        raise BadInputError("--public-key verifies a signed head: give --head FILE with it")
    report, signed = runs.verify_log(head_file, public_key)
    document = runs.chain_document(report, signed)
    if as_json:
        print_json(document)
    elif report.ok:
        noun = "entry" if report.entries == 1 else "entries"
        out.print(f"[green]✓[/] audit log intact: {report.entries} {noun}, SM3 chain holds")
    else:
        out.print(
            f"[red]✗[/] audit log broken at entry {report.broken_at} ({report.kind}): "
            f"{report.message}"
        )
    if signed is not None and not as_json:
        if signed.ok and signed.head is not None:
            out.print(
                f"[green]✓[/] signed head holds: entry {signed.head.seq} of {signed.head.at}, "
                f"key {signed.key_id}"
            )
        for problem in signed.problems:
            out.print(f"[red]✗[/] signed head {signed.file}: {problem}")
    if not document["ok"]:
        raise typer.Exit(constants.EXIT_FINDINGS)


@head_app.command("keygen")
def head_keygen(
    out_dir: Annotated[Path, typer.Option("--out", help="directory for the new key pair")],
    as_json: JsonOption = False,
) -> None:
    """Make an Ed25519 key pair for signing the chain's head (private key 0600)."""
    private, public, key = head.generate_keys(out_dir)
    if as_json:
        print_json({"private_key": private, "public_key": public, "key_id": key})
        return
    out.print(f"wrote {private} (private, 0600) and {public} (public), key {key}")
    out.print(
        f"keep the private key off the registry's host; set {head.KEY_ENV}={private} where "
        f"heads are exported and {head.PUBLIC_KEY_ENV}={public} where they are verified"
    )


@head_app.command("export")
def head_export(
    out_file: Annotated[Path, typer.Option("--out", help="file to write the signed head to")],
    as_json: JsonOption = False,
) -> None:
    """Sign the audit chain's head (last entry, its hash, time, count) into a file.

    The key's file is $GOVCLOUD_AUDIT_HEAD_KEY. The export is recorded in the audit log and is
    the head it signs. Exit 1 when the chain is broken (nothing is signed), 2 on bad input.
    """
    signed = runs.export_head(out_file, actor=actor())
    if as_json:
        print_json(signed.as_dict() | {"file": out_file})
        return
    pinned = signed.head
    out.print(
        f"wrote {out_file}: head entry {pinned.seq} ({pinned.hash[:16]}…), {pinned.count} "
        f"entries, signed with key {signed.key_id}"
    )


@audit_app.command("log")
def audit_show_log(  # noqa: PLR0917  (typer options)
    limit: Annotated[int, typer.Option(min=1, help="how many entries")] = 20,
    action: Annotated[
        str | None,
        typer.Option(help='only this action; ending in "." every action under it ("audit.")'),
    ] = None,
    who: Annotated[str | None, typer.Option("--actor", help="only this actor")] = None,
    object_prefix: Annotated[
        str | None, typer.Option("--object", help="only objects starting with this")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="only entries from this time on (ISO 8601)")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the newest audit-log entries, filtered by action, actor, object and time."""
    start = _parse_time(since, "--since") if since else None
    rows = runs.entries(
        limit=limit, action=action, actor=who, object_prefix=object_prefix, since=start
    )
    if as_json:
        print_json(rows)
        return
    table = Table(title="audit log (newest first)")
    for column in ("seq", "at", "actor", "action", "object", "hash"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["seq"]),
            str(row["at"])[:19],
            row["actor"],
            row["action"],
            row["object"],
            row["hash"][:12] + "…",
        )
    out.print(table)


def _short(value: Any) -> str:
    text = "—" if value is None else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


def _print_drift(report: DriftReport, county: str) -> None:
    if report.findings:
        table = Table(title=f"drift: county {county}", box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("id", "sev", "kind", "resource", "attribute", "desired", "live"):
            table.add_column(column, overflow="fold")
        for f in report.findings:
            table.add_row(
                f.id,
                f.severity.value,
                f.kind.value,
                f.resource,
                f.attribute or "",
                _short(f.desired),
                _short(f.live),
            )
        out.print(table)
    coverage = Table(title="coverage (managed / all)", box=box.SIMPLE_HEAD, pad_edge=False)
    coverage.add_column("kind")
    coverage.add_column("managed / all", justify="right")
    for kind, row in report.coverage.items():
        coverage.add_row(kind, f"{row['managed']} / {row['all']}")
    out.print(coverage)
    for item in report.unchecked:
        where = " ".join(
            str(item[k]) for k in ("stack", "region", "resource", "attribute") if k in item
        )
        out.print(f"[yellow]not checked:[/] {item['part']} {where}: {item['reason']}")
    for hidden in report.suppressed:
        s = hidden["suppression"]
        out.print(
            f"accepted: {hidden['finding']['id']} by {s['owner']} until {s['expires_at']} "
            f"({s['reason']})"
        )
    if report.unreachable:
        out.print("[red]✗[/] a part could not be read: nothing is reported clean")
    elif report.findings:
        out.print(f"[red]✗[/] {len(report.findings)} findings")
    else:
        out.print("[green]✓[/] no drift: what was read matches what was approved")


@audit_app.command("drift")
def audit_drift(  # noqa: PLR0917  (typer options)
    stack: StackOption = None,
    cloud: CloudOption = None,
    county_dir: CountyOption = None,
    project_dir: ProjectDirOption = Path(),
    ledger: Annotated[
        bool,
        typer.Option(
            "--ledger",
            help="the portal's ledger against each department's live usage instead",
        ),
    ] = False,
    network: Annotated[
        bool,
        typer.Option(
            "--network",
            help="also each router's running configuration (FRR, BIRD, "
            "nftables) against its phase's rendering",
        ),
    ] = False,
    hosts: Annotated[
        bool,
        typer.Option("--hosts", help="also each host's addresses, routes and services"),
    ] = False,
    lab: LabOption = None,
    inventory: InventoryOption = None,
    skip_cloud: Annotated[
        bool,
        typer.Option("--skip-cloud", help="with --network/--hosts: leave the cloud out"),
    ] = False,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="run the stack programs even when the county, the registry and the code are "
            "unchanged since the last run (and keep their new result)",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """What the live cloud holds against what was approved (the stacks, grants included).

    Per attribute, in each stack's region; resources nobody declared; each port's security
    groups; coverage per kind. With --network and --hosts, also each router's running
    configuration and each host's addresses, routes and services against the phase it
    records (read over SSH, host keys checked, from --lab or --inventory). With --ledger: per
    department and resource, what the portal's approved requests hold against what its
    project holds (primary region). Exit 0 clean, 1 findings, 3 a region or a node that could
    not be read. Every run goes into the audit log with the SM3 digest of its report.

    The stacks' desired items are kept under the state directory and reused while the county,
    the stacks' settings, the registry and the code are unchanged (the report's `desired`
    says which); --fresh runs the programs regardless and keeps their result.
    """
    if ledger and stack is not None:
        raise BadInputError("--ledger compares the primary region's usage: leave out --stack")
    if ledger and (network or hosts):
        raise BadInputError("--ledger is a run of its own: leave out --network and --hosts")
    if skip_cloud and not (network or hosts):
        raise BadInputError("--skip-cloud leaves nothing to compare: add --network or --hosts")
    if skip_cloud and (stack is not None or cloud is not None):
        raise BadInputError("--skip-cloud reads no cloud: leave out --stack and --cloud")
    request = _node_request(network, hosts, lab, inventory)
    run = (
        runs.compute_ledger_drift(cloud, county_dir, project_dir)
        if ledger
        else runs.compute_drift(
            stack.value if stack else None,
            cloud,
            county_dir,
            project_dir,
            request,
            with_cloud=not skip_cloud,
            fresh=fresh,
        )
    )
    document = runs.record_drift(run, actor=actor())
    if as_json:
        print_json(document)
    else:
        _print_drift(run.report, run.county.code)
    if run.report.exit_code:
        raise typer.Exit(run.report.exit_code)


def _print_check(items: list[dict[str, Any]], county: str) -> None:
    table = Table(title=f"等保2.0 第三级 MLPS level 3: county {county}", box=box.SIMPLE_HEAD)
    for column in ("clause", "test item", "id", "verdict"):
        table.add_column(column, overflow="fold")
    colours = {"符合": "green", "部分符合": "yellow", "不符合": "red"}
    for item in items:
        colour = colours.get(item["verdict"], "cyan")
        table.add_row(
            item["clause"], item["test_item"], item["id"], f"[{colour}]{item['verdict']}[/]"
        )
    out.print(table)
    totals = {v.value: sum(i["verdict"] == v.value for i in items) for v in Verdict}
    out.print(" · ".join(f"{k} {n}" for k, n in totals.items()))


@audit_app.command("check")
def audit_check(  # noqa: PLR0917  (typer options)
    cloud: CloudOption = None,
    county_dir: CountyOption = None,
    project_dir: ProjectDirOption = Path(),
    lab: LabOption = None,
    inventory: InventoryOption = None,
    as_json: JsonOption = False,
) -> None:
    """The MLPS 2.0 level-3 catalogue (等保2.0 第三级), evaluated live: one item per rule, with
    its GB/T 22239-2019 clause, GB/T 28448-2019 test item, verdict and evidence.

    Exit 0 when every automated item is met, 1 when one is not (不符合 or 部分符合), 3 when
    the cloud could not be read (its items are then 人工核查, never 符合). With --lab or
    --inventory the routers are read too (default deny at department boundaries).
    """
    request = _node_request(bool(lab or inventory), bool(lab or inventory), lab, inventory)
    run = runs.compute_drift(None, cloud, county_dir, project_dir, request)
    document, code = runs.check(run, actor=actor(), portal=portal_policy)
    if as_json:
        print_json(document)
    else:
        _print_check(document["items"], document["county"])
    if code:
        raise typer.Exit(code)


@audit_app.command("report")
def audit_report(  # noqa: PLR0917  (typer options)
    out_dir: Annotated[Path, typer.Option("--out", help="directory to write the report to")],
    cloud: CloudOption = None,
    county_dir: CountyOption = None,
    project_dir: ProjectDirOption = Path(),
    lab: LabOption = None,
    inventory: InventoryOption = None,
) -> None:
    """Drift and the catalogue, as one report: HTML (zh-CN first, English beside) and JSON.

    The SM3 digest of each file goes into the audit log (`audit.report`); the trend is read
    from the audit log's earlier runs. Exit 3 when the cloud could not be read (the report is
    written and says so), else 0.
    """
    request = _node_request(bool(lab or inventory), bool(lab or inventory), lab, inventory)
    run = runs.compute_drift(None, cloud, county_dir, project_dir, request)
    digests, code = runs.report(run, out_dir, actor=actor(), portal=portal_policy)
    for name, digest in digests.items():
        out.print(f"wrote {out_dir / name} (SM3 {digest[:16]}…)")
    if code == constants.EXIT_UNREACHABLE:
        raise typer.Exit(code)


@audit_app.command("accept")
def audit_accept(
    finding: Annotated[str, typer.Argument(help="the finding id, from `govcloud audit drift`")],
    owner: Annotated[str, typer.Option(help="who answers for the accepted drift")],
    reason: Annotated[str, typer.Option(help="why it is accepted")],
    expires: Annotated[str, typer.Option(help="until when (ISO 8601), at most a year")],
    as_json: JsonOption = False,
) -> None:
    """Accept one drift finding until it expires (recorded in the audit log)."""
    until = _parse_time(expires, "--expires")
    with registry_session() as session:
        row = suppressions.accept(
            session, finding_id=finding, owner=owner, reason=reason, expires_at=until, actor=actor()
        )
        session.commit()
        shown = suppressions.as_dict(row)
    if as_json:
        print_json(shown)
    else:
        out.print(f"accepted {finding} until {shown['expires_at']} (suppression {shown['id']})")


@audit_app.command("revoke")
def audit_revoke(
    suppression: Annotated[int, typer.Argument(help="the suppression's number")],
) -> None:
    """End a suppression now: its finding is reported again (recorded in the audit log)."""
    with registry_session() as session:
        row = suppressions.revoke(session, suppression_id=suppression, actor=actor())
        session.commit()
        out.print(f"suppression {suppression} of {row.finding_id} revoked")


@audit_app.command("suppressions")
def audit_suppressions(
    every: Annotated[bool, typer.Option("--all", help="revoked ones too")] = False,
    as_json: JsonOption = False,
) -> None:
    """The accepted drift findings, whether each is still in force."""
    with registry_session() as session:
        rows = [suppressions.as_dict(r) for r in suppressions.listing(session, all_rows=every)]
    if as_json:
        print_json(rows)
        return
    table = Table(title="accepted drift", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("id", "finding", "owner", "expires", "in force", "reason"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["finding_id"],
            r["owner"],
            r["expires_at"][:19],
            "yes" if r["in_force"] else "no",
            r["reason"],
        )
    out.print(table)


@audit_app.command("history")
def audit_history(
    limit: Annotated[int, typer.Option(min=1, help="how many runs")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Past audit runs from the audit log, newest first: findings and the report's digest."""
    rows = runs.history(limit)
    if as_json:
        print_json(rows)
        return
    table = Table(title="audit runs (newest first)", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("seq", "at", "run", "object", "findings", "accepted", "exit", "report SM3"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["seq"]),
            str(r["at"])[:19],
            str(r["action"]),
            str(r["object"]),
            str(r["findings"]),
            str(r["suppressed"]),
            str(r["exit"]),
            str(r["report_sm3"])[:16] + "…",
        )
    out.print(table)
