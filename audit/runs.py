"""The audit's runs: drift against the live cloud, the MLPS catalogue, reports and history.

Each run reads the county, the stacks and the live cloud once, and records itself in the audit
log with the SM3 digest of the document it produced, so a report can be matched to its run.
The command line (`govcloud audit ...`) only parses, calls these and prints.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic_core import to_jsonable_python
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit import catalogue, head, ledger, nodes, suppressions
from audit.catalogue import Facts, Verdict
from audit.drift import cloud_drift
from audit.findings import DriftReport
from audit.network_drift import PART_HOSTS, PART_NETWORK, Boundary, boundaries, network_drift
from audit.report import TREND_RUNS, render, trend
from cloud import controls, inventory
from cloud.plan.run import collect_items, load_stacks, stack_region
from desired.stack_settings import StackSettings, stack_county
from govcloud import constants
from govcloud.conventions import TAG_COUNTY, project_name
from govcloud.errors import BadInputError, UnreachableError
from govcloud.files import write_files
from govcloud.model import County
from govcloud.registry import audit_log
from govcloud.registry.audit_log import ACTION_CHECK, ACTION_DRIFT, ACTION_REPORT, sm3_hex
from govcloud.registry.db import as_utc, registry_session
from govcloud.registry.dr_state import last_drills
from govcloud.registry.ledger import used_by_department
from govcloud.registry.tables import AuditEntry
from govcloud.settings import Settings, get_settings
from govcloud.signin_policy import PortalPolicy
from lab.localcloud.layout import default_cloud

# Parts a run was not asked to read: listed in its report as unchecked, never as clean.
NOT_REQUESTED: Final = {
    PART_NETWORK: "router running configurations: not requested (add --network with --lab NAME "
    "or --inventory FILE)",
    PART_HOSTS: "host addresses, routes and services: not requested (add --hosts with --lab "
    "NAME or --inventory FILE)",
}
PART_CLOUD: Final = "cloud"
STACK_NAMES: Final = ("primary", "dr")
# How the audit reads the portal's sign-in policy: the command line passes `portal.policy`'s
# reader in, since the audit and the portal do not import each other.
PolicyReader = Callable[[Session], PortalPolicy]


@dataclass
class DriftRun:
    """One drift computation, shared by `audit drift`, `audit check` and `audit report`."""

    county: County
    cloud: str
    stacks: list[str]
    report: DriftReport
    snapshot: inventory.Snapshot | None
    management_prefixes: tuple[str, ...]
    part: str = "cloud"  # or "ledger" (`audit drift --ledger`)
    parts: tuple[str, ...] = (PART_CLOUD,)  # what was read: cloud, network, hosts
    boundaries: list[Boundary] | None = None  # department routers' rulesets, when read
    cloud_unreachable: bool = False
    ssh_sessions: int = 0  # one per router and host read
    config: str | None = None  # the clouds.yaml the cloud was read from, if not a standard place


@dataclass(frozen=True)
class NodeRequest:
    """Which node parts to read (`--network`, `--hosts`) and where the nodes are."""

    network: bool
    hosts: bool
    target: nodes.Target | None

    @property
    def parts(self) -> tuple[str, ...]:
        """The parts asked for, in the report's order."""
        chosen = ((PART_NETWORK, self.network), (PART_HOSTS, self.hosts))
        return tuple(p for p, wanted in chosen if wanted)


@dataclass(frozen=True)
class _Target:
    """The county, its stacks' settings and the cloud a run reads."""

    settings: Settings
    stacks: dict[str, StackSettings]
    county: County
    cloud: str
    config: str | None  # the clouds.yaml to read, when not a standard place


def _target(cloud: str | None, county_dir: Path | None, project_dir: Path) -> _Target:
    settings = get_settings()
    stacks = load_stacks(project_dir, "dr")
    county = stack_county(county_dir, settings, stacks["primary"])
    name, config = default_cloud(settings.localcloud_root())
    return _Target(settings, stacks, county, cloud or name, config)


def county_object(county: County) -> str:
    """The object the audit log names for a county's runs."""
    return f"county/{county.code}"


def compute_drift(
    stack: str | None,
    cloud: str | None,
    county_dir: Path | None,
    project_dir: Path,
    node_request: NodeRequest | None = None,
    *,
    with_cloud: bool = True,
    fresh: bool = False,
) -> DriftRun:
    """Read the live cloud, run the stack program under mocks, compare; with `node_request`
    also the routers' running configurations and the hosts (`--network`, `--hosts`); accepted
    drift applied to all of it.

    `stack` is one stack name, or None for both, each in its region. `with_cloud=False`
    leaves the cloud out (listed as not requested). `fresh` runs the stack programs even
    when the desired cache holds their items for unchanged inputs."""
    if node_request is not None and node_request.parts and node_request.target is None:
        raise BadInputError(
            "--network and --hosts read routers and hosts over SSH: give --lab NAME (a running "
            "lab) or --inventory FILE (a govcloud-rendered inventory of a real site)"
        )
    target = _target(cloud, county_dir, project_dir)
    if with_cloud:
        run = _cloud_drift(stack, target, fresh=fresh)
    else:
        run = DriftRun(
            target.county,
            target.cloud,
            [],
            DriftReport(),
            None,
            tuple(target.stacks["primary"].ops_management_prefixes),
            parts=(),
        )
        run.report.unchecked.append({"part": PART_CLOUD, "reason": "not requested (--skip-cloud)"})
    report = run.report
    requested = node_request.parts if node_request is not None else ()
    if requested and node_request is not None and node_request.target is not None:
        readings = nodes.read(node_request.target)
        found = network_drift(readings, network=node_request.network, hosts=node_request.hosts)
        report.findings += found.findings
        report.unchecked += found.unchecked
        report.coverage |= found.coverage
        report.unreachable = report.unreachable or found.unreachable
        report.seconds |= found.seconds
        run.ssh_sessions = readings.sessions
        run.boundaries = boundaries(readings)
        run.parts = (*run.parts, *requested)
    for part, reason in NOT_REQUESTED.items():
        if part not in requested:
            report.unchecked.append({"part": part, "reason": reason})
    with registry_session() as session:
        suppressions.apply(report, suppressions.listing(session))
    return run


def _cloud_drift(stack: str | None, target: _Target, *, fresh: bool = False) -> DriftRun:
    """The cloud part: both stacks (or one), each in its region; no suppressions yet."""
    settings, stacks, county = target.settings, target.stacks, target.county
    chosen, config = target.cloud, target.config
    names = [stack] if stack else list(STACK_NAMES)
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
    sides, key = collect_items(
        names,
        stacks=stacks,
        county=county,
        registry_url=settings.registry_url(),
        cache_dir=settings.desired_cache_root(),
        reuse=not fresh,
    )
    report = cloud_drift(
        sides, read, county_code=county.code, departments=[d.code for d in county.departments]
    )
    # Each side's seconds run from the start of the collection: the last one is its whole time.
    report.seconds["desired"] = round(max(s.seconds for s in sides.values()), 3)
    report.desired = {"digest": key, "reused": all(s.reused for s in sides.values())}
    return DriftRun(
        county,
        chosen,
        names,
        report,
        whole,
        tuple(stacks["primary"].ops_management_prefixes),
        cloud_unreachable=report.unreachable,
        config=config,
    )


def compute_ledger_drift(cloud: str | None, county_dir: Path | None, project_dir: Path) -> DriftRun:
    """The portal's ledger against each department's live usage in the primary region;
    accepted drift applied. A cloud that cannot be read is unchecked (exit 3), never clean."""
    target = _target(cloud, county_dir, project_dir)
    county = target.county
    region = stack_region(STACK_NAMES[0], county)
    with registry_session() as session:
        used = used_by_department(session)
    snapshot: inventory.Snapshot | None = None
    try:
        snapshot = inventory.read(target.cloud, regions=[region], config_file=target.config)
    except UnreachableError as error:
        report = DriftReport(unreachable=True)
        report.unchecked.append({"part": ledger.PART, "region": region, "reason": str(error)})
    else:
        report = ledger.ledger_drift(
            used,
            snapshot,
            county_code=county.code,
            departments=[d.code for d in county.departments],
            region=region,
        )
    with registry_session() as session:
        suppressions.apply(report, suppressions.listing(session))
    return DriftRun(
        county,
        target.cloud,
        [],
        report,
        snapshot,
        tuple(target.stacks["primary"].ops_management_prefixes),
        part=ledger.PART,
    )


def digest(document: Any) -> str:
    """SM3 of a report's canonical JSON: what the audit log keeps of each report."""
    return sm3_hex(json.dumps(to_jsonable_python(document), sort_keys=True, ensure_ascii=False))


def record_drift(run: DriftRun, *, actor: str) -> dict[str, Any]:
    """The drift run's document, recorded in the audit log with its SM3 digest."""
    report = run.report
    document = report.as_dict() | {"county": run.county.code, "cloud": run.cloud}
    if run.snapshot is not None:
        document["api_calls"] = run.snapshot.api_calls
    # The cloud drift's document and record are as they always were; another part says so.
    named: dict[str, Any] = {} if run.part == "cloud" else {"part": run.part}
    if run.parts != (PART_CLOUD,) and run.part == "cloud":
        named["parts"] = list(run.parts)
        named["ssh_sessions"] = run.ssh_sessions
    document |= named
    document["report_sm3"] = digest(document)
    with registry_session() as session:
        audit_log.record(
            session,
            actor=actor,
            action=ACTION_DRIFT,
            object=county_object(run.county),
            after={
                "cloud": run.cloud,
                "stacks": run.stacks,
                **named,
                "findings": [f.id for f in report.findings],
                "suppressed": [s["finding"]["id"] for s in report.suppressed],
                "unreachable": report.unreachable,
                "exit": report.exit_code,
                "report_sm3": document["report_sm3"],
            },
        )
        session.commit()
    return document


def _cloud_part(report: DriftReport) -> DriftReport:
    """The cloud's findings only: the catalogue's drift items are about the cloud; the
    network has its own item (default deny at department boundaries)."""
    kept = [f for f in report.findings if not f.resource.startswith(("router ", "host "))]
    return DriftReport(
        findings=kept,
        suppressed=report.suppressed,
        coverage=report.coverage,
        unchecked=report.unchecked,
        unreachable=report.unreachable,
    )


def drills_met(session: Session) -> dict[str, dt.datetime]:
    """Each system's last DR drill that met its targets, when it started (restore-tested)."""
    return {
        system: as_utc(drill.started_at)
        for system, (drill, _) in last_drills(session, met_only=True).items()
    }


def check(run: DriftRun, *, actor: str, portal: PolicyReader) -> tuple[dict[str, Any], int]:
    """Evaluate the catalogue on a drift run's facts; record it; its document and exit code."""
    settings = get_settings()
    unreadable: dict[str, str] = {}
    if run.cloud_unreachable or run.snapshot is None:
        reasons = "; ".join(u["reason"] for u in run.report.unchecked if u["part"] == "cloud")
        unreadable = {"cloud": reasons, "drift": reasons}
    network_unread = [
        f"{u.get('resource', '')}: {u['reason']}"
        for u in run.report.unchecked
        if u["part"] == PART_NETWORK and PART_NETWORK in run.parts and run.report.unreachable
    ]
    if network_unread:
        unreadable["network"] = "; ".join(network_unread)
    # Not asked for is not unreachable: the item says so, the exit code does not.
    not_read = {} if run.boundaries is not None else {"network": NOT_REQUESTED[PART_NETWORK]}
    settings_read = _read_controls(run) if "cloud" not in unreadable else None
    # A settings part the cloud refused is as unread as a region: exit 3, never clean.
    settings_unread = settings_read.unreadable if settings_read is not None else {}
    unreadable |= settings_unread
    with registry_session() as session:
        chain = audit_log.verify(session)
        first = session.execute(
            select(AuditEntry.seq, AuditEntry.at).order_by(AuditEntry.seq).limit(1)
        ).first()
        actions = frozenset(session.execute(select(AuditEntry.action).distinct()).scalars())
        facts = Facts(
            county=run.county,
            snapshot=run.snapshot,
            drift=None if "cloud" in unreadable else _cloud_part(run.report),
            chain=chain,
            log_first={"seq": first.seq, "at": first.at} if first else None,
            log_actions=actions,
            portal=portal(session),
            management_prefixes=run.management_prefixes,
            head=head.latest_export(session, settings.audit_head_public_key),
            head_max_age_days=settings.audit_head_max_age_days,
            unreadable=not_read | unreadable,
            network=run.boundaries,
            drills_met=drills_met(session),
            controls=settings_read,
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
            "unchecked": [
                *run.report.unchecked,
                *({"part": part, "reason": reason} for part, reason in settings_unread.items()),
            ]
            if unreadable
            else [],
            "clause_note": catalogue.CLAUSE_NOTE,
        }
        document["report_sm3"] = digest(document)
        audit_log.record(
            session,
            actor=actor,
            action=ACTION_CHECK,
            object=county_object(run.county),
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


def _read_controls(run: DriftRun) -> controls.Controls | None:
    """The images, volume types and password rule of the regions the drift run read; a part
    that cannot be read is named in the result's `unreadable` (its item is then unchecked)."""
    if run.snapshot is None:
        return None
    image_ids: dict[str, set[str]] = {}
    for server in run.snapshot.servers:
        if server.image_id:
            image_ids.setdefault(server.region, set()).add(server.image_id)
    return controls.read(
        run.cloud, run.snapshot.regions, config_file=run.config, image_ids=image_ids
    )


def report(
    run: DriftRun, out_dir: Path, *, actor: str, portal: PolicyReader
) -> tuple[dict[str, str], int]:
    """Drift and the catalogue written as one report; each file's SM3 in the audit log.

    Returns each written file's digest and the catalogue's exit code."""
    drift_document = record_drift(run, actor=actor)
    check_document, code = check(run, actor=actor, portal=portal)
    with registry_session() as session:
        history = trend(
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.action == ACTION_CHECK)
                .where(AuditEntry.object == county_object(run.county))
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
            actor=actor,
            action=ACTION_REPORT,
            object=county_object(run.county),
            after={"directory": str(out_dir.resolve()), "files_sm3": digests},
        )
        session.commit()
    return digests, code


def chain_document(
    chain: audit_log.ChainReport, signed: head.HeadCheck | None = None
) -> dict[str, Any]:
    """The chain's verification for machines (`govcloud audit verify-log --json`); with a
    signed head, that check too, and `ok` only when both hold."""
    document: dict[str, Any] = {
        "ok": chain.ok,
        "entries": chain.entries,
        "head_seq": chain.head_seq,
        "broken_at": chain.broken_at,
        "kind": chain.kind,
        "message": chain.message,
    }
    if signed is not None:
        document["ok"] = chain.ok and signed.ok
        document["head"] = signed.as_dict()
    return document


def verify_log(
    head_file: Path | None = None, public_key: Path | None = None
) -> tuple[audit_log.ChainReport, head.HeadCheck | None]:
    """The audit chain verified entry by entry; with a signed head file, that head checked
    against its public key (`public_key`, else the setting) and the live chain."""
    signed = key = None
    if head_file is not None:  # bad input is reported before the registry is opened
        signed = head.read_signed(head_file)
        key = head.load_public_key(public_key or get_settings().audit_head_public_key)
    with registry_session() as session:
        chain = audit_log.verify(session)
        checked = (
            head.check(session, signed, key, file=str(head_file))
            if signed is not None and key is not None
            else None
        )
    return chain, checked


def export_head(out: Path, *, actor: str) -> head.SignedHead:
    """Sign the chain's head with the county's key (its file from the settings) into `out`;
    the export is recorded in the audit log and is itself the head it signs."""
    key = head.load_private_key(get_settings().audit_head_key)
    with registry_session() as session:
        return head.export(session, key=key, out=out, actor=actor)


def entries(
    *,
    limit: int,
    action: str | None = None,
    actor: str | None = None,
    object_prefix: str | None = None,
    since: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The newest audit-log entries, filtered (`govcloud audit log`), newest first."""
    with registry_session() as session:
        found = audit_log.latest(
            session,
            limit=limit,
            action=action,
            actor=actor,
            object_prefix=object_prefix,
            since=since,
        )
    return [
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
        for e in found
    ]


def history(limit: int) -> list[dict[str, Any]]:
    """Past drift and check runs from the audit log, newest first: findings and digests."""
    with registry_session() as session:
        entries = session.execute(
            select(AuditEntry)
            .where(AuditEntry.action.in_((ACTION_DRIFT, ACTION_CHECK)))
            .order_by(AuditEntry.seq.desc())
            .limit(limit)
        ).scalars()
        return [
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
