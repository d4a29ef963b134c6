"""Cloud drift: what the stacks declare (under Pulumi mocks, portal grants included) against
what the live cloud holds, per attribute, in each stack's region.

It is `govcloud plan`'s own comparison (`cloud.plan`), read as an auditor reads it: a resource
the plan would create is *missing*, one it would delete is *unmanaged* (in the county's
projects, declared nowhere), one it would update has *changed*. Beyond the plan it looks at
what tools are known to miss: each server port's security groups, set behind Nova's back
(terraform-provider-openstack #552), and resources carrying the county's tags outside its
projects (Terraform #26558: finding unmanaged resources). Coverage is managed / all per kind.

A region that cannot be read is listed as unchecked and makes the run exit 3: nothing is ever
reported clean by omission.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from audit.findings import DriftReport, Finding, FindingKind, Severity, finding_id
from cloud.inventory import Snapshot
from cloud.plan.diff import Action, Change, PlanReport, diff
from cloud.plan.items import KEY_FIELDS, Item
from cloud.plan.live_items import Scope, live_items
from cloud.plan.run import DesiredItems
from govcloud.conventions import TAG_COUNTY, project_name
from govcloud.errors import UnreachableError

ID_PREFIX: Final = "drift"
# Kinds whose drift touches a security control directly.
HIGH_KINDS: Final = frozenset(
    {"security_group", "security_group_rule", "port", "group", "role_assignment", "server"}
)
# Attributes that only describe: a changed description is bookkeeping, not exposure.
LOW_ATTRIBUTES: Final = frozenset({"description", "metadata"})
# The GB/T 22239-2019 level-3 control each kind's drift touches (our mapping, docs/audit.md).
CONTROL: Final = {
    "security_group": "8.1.3.2",
    "security_group_rule": "8.1.3.2",
    "port": "8.1.3.2",
    "group": "8.1.4.2",
    "role_assignment": "8.1.4.2",
    "project": "8.2.4.2",
    "limit": "8.1.4.2",
    "network_quota": "8.1.4.2",
    "volume_quota": "8.1.4.2",
    "address_scope": "8.1.2.1",
    "subnet_pool": "8.1.2.1",
    "network": "8.1.2.1",
    "subnet": "8.1.2.1",
    "router": "8.1.2.1",
    "server": "8.2.4.3",
    "volume": "8.1.4.9",
}
# Where each kind's live record comes from: the evidence names the API call.
SOURCE: Final = {
    "project": "GET identity/v3/projects",
    "group": "GET identity/v3/groups",
    "role_assignment": "GET identity/v3/role_assignments",
    "limit": "GET identity/v3/limits",
    "network_quota": "GET network/v2.0/quotas/{project}",
    "volume_quota": "GET volumev3/os-quota-sets/{project}",
    "address_scope": "GET network/v2.0/address-scopes",
    "subnet_pool": "GET network/v2.0/subnetpools",
    "network": "GET network/v2.0/networks",
    "subnet": "GET network/v2.0/subnets",
    "router": "GET network/v2.0/routers",
    "security_group": "GET network/v2.0/security-groups",
    "security_group_rule": "GET network/v2.0/security-groups",
    "server": "GET compute/v2.1/servers/detail?all_tenants=1",
    "port": "GET network/v2.0/ports",
    "volume": "GET volumev3/volumes/detail?all_tenants=1",
}
ACTION_KIND: Final = {
    Action.UPDATE: FindingKind.CHANGED,
    Action.CREATE: FindingKind.MISSING,
    Action.DELETE: FindingKind.UNMANAGED,
}
# Live records that can carry the county's tags outside its projects.
TAGGED_KINDS: Final = {
    "networks": "network",
    "subnets": "subnet",
    "routers": "router",
    "security_groups": "security_group",
}

Read = Callable[[str], Snapshot]  # one region's snapshot; raises UnreachableError


def severity(kind: str, attribute: str | None) -> Severity:
    """High for security controls, low for descriptions, medium for the rest."""
    if attribute in LOW_ATTRIBUTES:
        return Severity.LOW
    return Severity.HIGH if kind in HIGH_KINDS else Severity.MEDIUM


def resource_name(kind: str, label: str) -> str:
    """`<kind> <key parts joined by />`: what and where, the same on every run."""
    return f"{kind} {label}"


@dataclass
class _Evidence:
    """Finds the live record a finding rests on, by the ID the live item carries."""

    snapshot: Snapshot
    by_id: dict[str, Any]

    @classmethod
    def of(cls, snapshot: Snapshot) -> _Evidence:
        by_id: dict[str, Any] = {}
        for kind in ("projects", "groups", "servers", "volumes", "ports", *TAGGED_KINDS):
            for record in getattr(snapshot, kind):
                by_id[record.id] = record
        for kind in ("address_scopes", "subnet_pools"):
            for record in getattr(snapshot, kind):
                by_id[record.id] = record
        for group in snapshot.security_groups:
            for rule in group.rules:
                by_id[rule.id] = rule
        return cls(snapshot, by_id)

    def record(self, kind: str, ref: str, region: str) -> Any:
        if kind.endswith("_quota"):
            service = kind.removesuffix("_quota")
            for quota in self.snapshot.quotas:
                if (quota.project_id, quota.region, quota.service) == (ref, region, service):
                    return quota.model_dump()
            return None
        if kind == "limit":
            return [
                limit.model_dump()
                for limit in self.snapshot.limits
                if limit.project_id == ref and limit.region == region
            ]
        found = self.by_id.get(ref)
        return found.model_dump() if found is not None else None

    def base(self, kind: str, region: str) -> dict[str, Any]:
        return {
            "source": SOURCE.get(kind, ""),
            "cloud": self.snapshot.cloud,
            "region": region,
            "read_at": dt.datetime.fromtimestamp(self.snapshot.taken_at, dt.UTC).isoformat(),
        }


def _finding(
    change: Change,
    evidence: _Evidence,
    region: str,
    wanted: Item | None,
    found: Item | None,
) -> Finding:
    proof = evidence.base(change.kind, region)
    if found is not None:
        proof["live_id"] = found.ref
        proof["live_record"] = evidence.record(change.kind, found.ref, region)
    if wanted is not None:
        proof["declared_by"] = wanted.ref
    if change.action is Action.UPDATE:
        desired, live = change.desired, change.live
    elif change.action is Action.CREATE:
        desired, live = _whole(wanted) if wanted else "present", None
    else:
        desired, live = None, _whole(found) if found else "present"
    return Finding(
        id=finding_id(ID_PREFIX, change.kind, change.label, change.attribute or ""),
        severity=severity(change.kind, change.attribute),
        kind=ACTION_KIND[change.action],
        resource=resource_name(change.kind, change.label),
        attribute=change.attribute,
        desired=desired,
        live=live,
        evidence=proof,
        control=CONTROL.get(change.kind, ""),
    )


def _whole(item: Item) -> dict[str, Any]:
    """A resource that is there on one side only: its key's parts and its attributes (a
    rule's key is all there is to it)."""
    return dict(zip(KEY_FIELDS[item.kind], item.key, strict=True)) | dict(item.attrs)


def _index(items: Iterable[Item]) -> dict[tuple[str, tuple[str, ...]], Item]:
    return {(i.kind, i.key): i for i in items}


def _port_findings(
    desired: Iterable[Item], live: Iterable[Item], evidence: _Evidence, region: str
) -> list[Finding]:
    """Each port of a declared server carries exactly the server's declared groups."""
    snapshot = evidence.snapshot
    group_names = {g.id: g.name for g in snapshot.security_groups}
    servers = {i.key: i for i in live if i.kind == "server"}
    findings = []
    for wanted in desired:
        found = servers.get(wanted.key) if wanted.kind == "server" else None
        if found is None:
            continue  # missing servers are findings of their own
        declared = sorted(wanted.attrs.get("security_groups") or ())
        for port in snapshot.ports:
            if port.server_id != found.ref:
                continue
            actual = sorted(group_names.get(g, g) for g in port.security_groups)
            if actual != declared:
                label = f"{wanted.label}/{port.id}"
                proof = evidence.base("port", region)
                proof |= {
                    "live_id": port.id,
                    "live_record": port.model_dump(),
                    "declared_by": wanted.ref,
                }
                findings.append(
                    Finding(
                        id=finding_id(ID_PREFIX, "port", label, "security_groups"),
                        severity=Severity.HIGH,
                        kind=FindingKind.CHANGED,
                        resource=resource_name("port", label),
                        attribute="security_groups",
                        desired=declared,
                        live=actual,
                        evidence=proof,
                        control=CONTROL["port"],
                    )
                )
    return findings


def _tagged_elsewhere(
    scope: Scope, managed_projects: set[str], evidence: _Evidence, region: str
) -> tuple[list[Finding], dict[str, int]]:
    """Resources carrying the county's tag in a project that is not one of the county's."""
    tag = f"{TAG_COUNTY}{scope.county_code}"
    names = {p.id: p.name for p in evidence.snapshot.projects}
    findings: list[Finding] = []
    counts: dict[str, int] = {}
    for field_name, kind in TAGGED_KINDS.items():
        for record in getattr(evidence.snapshot, field_name):
            if record.region != region or tag not in record.tags:
                continue
            if record.project_id in managed_projects or record.name.startswith(scope.county_prefix):
                continue  # ours, and compared by the plan
            label = f"{region}/{names.get(record.project_id, record.project_id)}/{record.name}"
            proof = evidence.base(kind, region) | {
                "live_id": record.id,
                "live_record": record.model_dump(),
            }
            counts[kind] = counts.get(kind, 0) + 1
            findings.append(
                Finding(
                    id=finding_id(ID_PREFIX, kind, label, ""),
                    severity=severity(kind, None),
                    kind=FindingKind.UNMANAGED,
                    resource=resource_name(kind, label),
                    attribute=None,
                    desired=None,
                    live={"tags": list(record.tags), "project_id": record.project_id},
                    evidence=proof,
                    control=CONTROL.get(kind, ""),
                )
            )
    return findings, counts


def _coverage(report: PlanReport, extra_unmanaged: Mapping[str, int]) -> dict[str, list[int]]:
    """Per kind: [managed, all] live resources (quotas exist always and count as managed)."""
    result: dict[str, list[int]] = {}
    for kind, counts in report.counts.items():
        managed = counts[Action.UNCHANGED] + counts[Action.UPDATE]
        result[kind] = [managed, managed + counts[Action.DELETE]]
    for kind, n in extra_unmanaged.items():
        result.setdefault(kind, [0, 0])[1] += n
    return result


def cloud_drift(
    sides: Mapping[str, DesiredItems], read: Read, *, county_code: str, departments: Iterable[str]
) -> DriftReport:
    """Drift of each stack's region: findings, coverage (managed / all per kind) and unchecked
    parts. `read(region)` reads one region; a region it cannot read is unchecked."""
    report = DriftReport()
    projects = frozenset(project_name(county_code, d) for d in departments)
    totals: dict[str, list[int]] = {}
    for stack, side in sides.items():
        region = side.state.site.region
        try:
            snapshot = read(region)
        except UnreachableError as error:
            report.unreachable = True
            report.unchecked.append(
                {"part": "cloud", "stack": stack, "region": region, "reason": str(error)}
            )
            continue
        scope = Scope(
            county_code=county_code,
            regions=frozenset({region}),
            projects=stack == "primary",
            project_names=projects,
        )
        live = live_items(snapshot, scope)
        plan = diff(side.items, live, side.not_compared)
        evidence = _Evidence.of(snapshot)
        wanted, found = _index(side.items), _index(live)
        for change in plan.changes:
            ident = (change.kind, change.key)
            report.findings.append(
                _finding(change, evidence, region, wanted.get(ident), found.get(ident))
            )
        report.findings += _port_findings(side.items, live, evidence, region)
        managed = {p.id for p in snapshot.projects if p.name in projects}
        elsewhere, extra = _tagged_elsewhere(scope, managed, evidence, region)
        report.findings += elsewhere
        for kind, (m, n) in _coverage(plan, extra).items():
            total = totals.setdefault(kind, [0, 0])
            total[0] += m
            total[1] += n
        for what, n in sorted(plan.not_compared.items()):
            report.unchecked.append(
                {
                    "part": "cloud",
                    "stack": stack,
                    "region": region,
                    "reason": f"{n} × {what}: no live counterpart the reader reads",
                }
            )
        report.seconds["read"] = snapshot.seconds
    report.coverage = {
        kind: {"managed": m, "all": n, "ratio": round(m / n, 4) if n else 1.0}
        for kind, (m, n) in totals.items()
    }
    report.findings.sort(key=lambda f: (f.resource, f.attribute or ""))
    return report
