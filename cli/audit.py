"""`govcloud audit ...`: the audit log, drift against the live cloud, accepted drift, history.

Exit codes: 0 clean, 1 findings (or a broken log), 2 bad input, 3 a target that could not be
read (then nothing is reported clean: the JSON lists what was not checked).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic_core import to_jsonable_python
from rich import box
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit import catalogue, suppressions
from audit.catalogue import Facts, PortalPolicy, Verdict
from audit.drift import cloud_drift
from audit.findings import DriftReport, sm3_hex
from audit.report import TREND_RUNS, render, trend
from cli.cloud import CloudOption
from cli.kit import (
    CountyOption,
    JsonOption,
    actor,
    out,
    print_json,
    registry_session,
    write_files,
)
from cli.stacks import ProjectDirOption, StackName, stack_county
from cloud import inventory
from cloud.plan.run import collect_stacks, load_stacks, stack_region
from govcloud import constants
from govcloud.conventions import TAG_COUNTY, project_name
from govcloud.errors import BadInputError, UnreachableError
from govcloud.model import County
from govcloud.registry import audit_log
from govcloud.registry.tables import AuditEntry, PortalUser
from govcloud.settings import get_settings
from lab.localcloud.layout import default_cloud
from portal.lifecycle import PRIVILEGED_ROLES
from portal.passwords import MIN_PASSWORD_LENGTH, PASSWORD_HISTORY
from portal.settings import PortalSettings

audit_app = typer.Typer(
    help="The audit (审计): the log, drift against the live cloud, accepted drift.",
    no_args_is_help=True,
)
ACTION_DRIFT = "audit.drift"
ACTION_CHECK = "audit.check"
ACTION_REPORT = "audit.report"
StackOption = Annotated[
    StackName | None,
    typer.Option(
        "--stack", help="one stack [default: both, each in its region]", show_default=False
    ),
]
VALUE_WIDTH = 40
# Parts of the drift not checked by this version: listed in every report as unchecked.
NOT_YET_CHECKED = (
    {"part": "network", "reason": "router running configurations are not compared yet"},
    {"part": "hosts", "reason": "host addresses, routes and services are not compared yet"},
)


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
def audit_verify_log(as_json: JsonOption = False) -> None:
    """Check the SM3 hash chain; exit 1 naming the first altered, removed or reordered entry."""
    with registry_session() as session:
        report = audit_log.verify(session)
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "entries": report.entries,
                "head_seq": report.head_seq,
                "broken_at": report.broken_at,
                "kind": report.kind,
                "message": report.message,
            }
        )
    elif report.ok:
        noun = "entry" if report.entries == 1 else "entries"
        out.print(f"[green]✓[/] audit log intact: {report.entries} {noun}, SM3 chain holds")
    else:
        out.print(
            f"[red]✗[/] audit log broken at entry {report.broken_at} ({report.kind}): "
            f"{report.message}"
        )
    if not report.ok:
        raise typer.Exit(constants.EXIT_FINDINGS)


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
    with registry_session() as session:
        entries = audit_log.latest(
            session,
            limit=limit,
            action=action,
            actor=who,
            object_prefix=object_prefix,
            since=start,
        )
    rows = [
        {
            "seq": e.seq,
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "object": e.object,
            "before": e.before,
            "after": e.after,
            "hash": e.hash,
        }
        for e in entries
    ]
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
        where = " ".join(str(item[k]) for k in ("stack", "region") if k in item)
        out.print(f"[yellow]not checked:[/] {item['part']} {where}: {item['reason']}")
    for hidden in report.suppressed:
        s = hidden["suppression"]
        out.print(
            f"accepted: {hidden['finding']['id']} by {s['owner']} until {s['expires_at']} "
            f"({s['reason']})"
        )
    if report.unreachable:
        out.print("[red]✗[/] part of the cloud could not be read: nothing is reported clean")
    elif report.findings:
        out.print(f"[red]✗[/] {len(report.findings)} findings")
    else:
        out.print("[green]✓[/] no drift: the live cloud matches what was approved")


@dataclass
class _DriftRun:
    """One drift computation, shared by `audit drift` and `audit check`."""

    county: County
    cloud: str
    stacks: list[str]
    report: DriftReport
    snapshot: inventory.Snapshot | None
    management_prefixes: tuple[str, ...]


def _compute_drift(
    stack: StackName | None, cloud: str | None, county_dir: Path | None, project_dir: Path
) -> _DriftRun:
    settings = get_settings()
    stacks = load_stacks(project_dir, "dr")
    names = [stack.value] if stack else ["primary", "dr"]
    county = stack_county(county_dir, settings, stacks["primary"])
    name, config = default_cloud(settings.localcloud_root())
    chosen = cloud or name
    # Read the cloud first: an unreachable cloud is known before the program runs. Quotas
    # are read for the county's projects only (by tag, or by name should the tag be gone).
    tag = f"{TAG_COUNTY}{county.code}"
    names_of_projects = {project_name(county.code, d.code) for d in county.departments}

    def ours(project: inventory.Project) -> bool:
        return tag in project.tags or project.name in names_of_projects

    regions = [stack_region(n, county) for n in names]
    snapshots: dict[str, inventory.Snapshot | UnreachableError] = {}
    whole: inventory.Snapshot | None = None
    try:  # one read for every region; should it fail, one per region says which part failed
        whole = inventory.read(chosen, regions=regions, config_file=config, quotas_of=ours)
        snapshots = dict.fromkeys(regions, whole)
    except UnreachableError:
        for region in regions:
            try:
                snapshots[region] = inventory.read(
                    chosen, regions=[region], config_file=config, quotas_of=ours
                )
            except UnreachableError as error:
                snapshots[region] = error

    def read(region: str) -> inventory.Snapshot:
        found = snapshots[region]
        if isinstance(found, UnreachableError):
            raise found
        return found

    # The program reads the registry on its own connection: no session is held meanwhile.
    sides = collect_stacks(
        names, stacks=stacks, county=county, registry_url=settings.registry_url()
    )
    report = cloud_drift(
        sides, read, county_code=county.code, departments=[d.code for d in county.departments]
    )
    report.unchecked += [dict(item) for item in NOT_YET_CHECKED]
    with registry_session() as session:
        suppressions.apply(report, suppressions.listing(session))
    return _DriftRun(
        county,
        chosen,
        names,
        report,
        whole,
        tuple(stacks["primary"].ops_management_prefixes),
    )


def _digest(document: Any) -> str:
    """SM3 of a report's canonical JSON: what the audit log keeps of each report."""
    return sm3_hex(json.dumps(to_jsonable_python(document), sort_keys=True, ensure_ascii=False))


@audit_app.command("drift")
def audit_drift(
    stack: StackOption = None,
    cloud: CloudOption = None,
    county_dir: CountyOption = None,
    project_dir: ProjectDirOption = Path(),
    as_json: JsonOption = False,
) -> None:
    """What the live cloud holds against what was approved (the stacks, grants included).

    Per attribute, in each stack's region; resources nobody declared; each port's security
    groups; coverage per kind. Exit 0 clean, 1 findings, 3 a region that could not be read.
    Every run goes into the audit log with the SM3 digest of its report.
    """
    run = _compute_drift(stack, cloud, county_dir, project_dir)
    document = _record_drift(run)
    if as_json:
        print_json(document)
    else:
        _print_drift(run.report, run.county.code)
    if run.report.exit_code:
        raise typer.Exit(run.report.exit_code)


def _portal_policy(session: Session) -> PortalPolicy:
    """The portal's sign-in policy (its settings) and accounts (the registry)."""
    portal = PortalSettings()
    accounts = tuple(
        {
            "name": user.name,
            "role": user.role,
            "active": user.active,
            "totp": user.totp_confirmed_at is not None,
        }
        for user in session.execute(select(PortalUser).order_by(PortalUser.name)).scalars()
    )
    return PortalPolicy(
        min_password_length=MIN_PASSWORD_LENGTH,
        password_max_age_days=portal.password_max_age_days,
        max_failures_per_account=portal.max_failures_per_account,
        idle_minutes=portal.idle_minutes,
        session_hours=portal.session_hours,
        secure_cookies=portal.secure_cookies,
        password_history=PASSWORD_HISTORY,
        token_days=portal.token_days,
        second_factor_roles=frozenset(r.value for r in PRIVILEGED_ROLES),
        accounts=accounts,
    )


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


def _check(run: _DriftRun) -> tuple[dict[str, Any], int]:
    """Evaluate the catalogue on a drift run's facts; record it; its document and exit code."""
    unreadable: dict[str, str] = {}
    if run.report.unreachable or run.snapshot is None:
        reasons = "; ".join(u["reason"] for u in run.report.unchecked if u["part"] == "cloud")
        unreadable = {"cloud": reasons, "drift": reasons}
    with registry_session() as session:
        chain = audit_log.verify(session)
        first = session.execute(
            select(AuditEntry.seq, AuditEntry.at).order_by(AuditEntry.seq).limit(1)
        ).first()
        actions = frozenset(session.execute(select(AuditEntry.action).distinct()).scalars())
        facts = Facts(
            county=run.county,
            snapshot=run.snapshot,
            drift=None if unreadable else run.report,
            chain=chain,
            log_first={"seq": first.seq, "at": first.at} if first else None,
            log_actions=actions,
            portal=_portal_policy(session),
            management_prefixes=run.management_prefixes,
            unreadable=unreadable,
        )
        items = catalogue.run(facts)
        verdicts = [i["verdict"] for i in items]
        failed = Verdict.FAIL.value in verdicts or Verdict.PARTIAL.value in verdicts
        code = (
            constants.EXIT_UNREACHABLE
            if unreadable
            else constants.EXIT_FINDINGS
            if failed
            else constants.EXIT_OK
        )
        document = {
            "county": run.county.code,
            "cloud": run.cloud,
            "items": items,
            "totals": {v.value: verdicts.count(v.value) for v in Verdict},
            "automated": sum(i["automated"] for i in items),
            "unchecked": run.report.unchecked if unreadable else [],
            "clause_note": catalogue.CLAUSE_NOTE,
        }
        document["report_sm3"] = _digest(document)
        audit_log.record(
            session,
            actor=actor(),
            action=ACTION_CHECK,
            object=f"county/{run.county.code}",
            after={
                "cloud": run.cloud,
                "totals": document["totals"],
                "failed": [i["id"] for i in items if i["verdict"] == Verdict.FAIL.value],
                "exit": code,
                "report_sm3": document["report_sm3"],
            },
        )
        session.commit()
    return document, code


def _record_drift(run: _DriftRun) -> dict[str, Any]:
    """The drift run's document, recorded in the audit log with its SM3 digest."""
    report = run.report
    document = report.as_dict() | {"county": run.county.code, "cloud": run.cloud}
    document["report_sm3"] = _digest(document)
    with registry_session() as session:
        audit_log.record(
            session,
            actor=actor(),
            action=ACTION_DRIFT,
            object=f"county/{run.county.code}",
            after={
                "cloud": run.cloud,
                "stacks": run.stacks,
                "findings": [f.id for f in report.findings],
                "suppressed": [s["finding"]["id"] for s in report.suppressed],
                "unreachable": report.unreachable,
                "exit": report.exit_code,
                "report_sm3": document["report_sm3"],
            },
        )
        session.commit()
    return document


@audit_app.command("check")
def audit_check(
    cloud: CloudOption = None,
    county_dir: CountyOption = None,
    project_dir: ProjectDirOption = Path(),
    as_json: JsonOption = False,
) -> None:
    """The MLPS 2.0 level-3 catalogue (等保2.0 第三级), evaluated live: one item per rule, with
    its GB/T 22239-2019 clause, GB/T 28448-2019 test item, verdict and evidence.

    Exit 0 when every automated item is met, 1 when one is not (不符合 or 部分符合), 3 when
    the cloud could not be read (its items are then 人工核查, never 符合).
    """
    document, code = _check(_compute_drift(None, cloud, county_dir, project_dir))
    if as_json:
        print_json(document)
    else:
        _print_check(document["items"], document["county"])
    if code:
        raise typer.Exit(code)


@audit_app.command("report")
def audit_report(
    out_dir: Annotated[Path, typer.Option("--out", help="directory to write the report to")],
    cloud: CloudOption = None,
    county_dir: CountyOption = None,
    project_dir: ProjectDirOption = Path(),
) -> None:
    """Drift and the catalogue, as one report: HTML (zh-CN first, English beside) and JSON.

    The SM3 digest of each file goes into the audit log (`audit.report`); the trend is read
    from the audit log's earlier runs. Exit 3 when the cloud could not be read (the report is
    written and says so), else 0.
    """
    run = _compute_drift(None, cloud, county_dir, project_dir)
    drift_document = _record_drift(run)
    check_document, code = _check(run)
    with registry_session() as session:
        history = trend(
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.action == ACTION_CHECK)
                .where(AuditEntry.object == f"county/{run.county.code}")
                .order_by(AuditEntry.seq.desc())
                .limit(TREND_RUNS)
            ).scalars()
        )
    files = render(check_document, drift_document, history)
    write_files(out_dir, files)
    digests = {name: sm3_hex(text) for name, text in files.items()}
    with registry_session() as session:
        audit_log.record(
            session,
            actor=actor(),
            action=ACTION_REPORT,
            object=f"county/{run.county.code}",
            after={"directory": str(out_dir.resolve()), "files_sm3": digests},
        )
        session.commit()
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
    with registry_session() as session:
        entries = session.execute(
            select(AuditEntry)
            .where(AuditEntry.action.in_((ACTION_DRIFT, ACTION_CHECK)))
            .order_by(AuditEntry.seq.desc())
            .limit(limit)
        ).scalars()
        rows = [
            {
                "seq": e.seq,
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "object": e.object,
                "findings": len((e.after or {}).get("findings", []))
                if e.action == ACTION_DRIFT
                else len((e.after or {}).get("failed", [])),
                "suppressed": len((e.after or {}).get("suppressed", [])),
                "exit": (e.after or {}).get("exit"),
                "report_sm3": (e.after or {}).get("report_sm3"),
            }
            for e in entries
        ]
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
