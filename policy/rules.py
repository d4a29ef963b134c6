"""The policies, as plain functions over pulumi_policy's argument objects.

Each policy maps to a level-3 control of GB/T 22239-2019 (MLPS 2.0, 等保2.0 第三级), general
requirements section 8.1; the mapping is ours and is listed in docs/stacks.md:

- no-open-admin-or-database-ports: 8.1.3.2 安全区域边界·访问控制 and 8.1.4.4
  安全计算环境·入侵防范 (high-risk ports closed; management limited by address range).
- ipv4-ipv6-rule-parity: 8.1.3.2 安全区域边界·访问控制 (rules cover every path across the
  boundary, IPv6 included).
- tenant-has-quotas: 8.1.4.2 安全计算环境·访问控制 (least privilege, applied to a tenant's
  resources).
- core-system-has-dr-replica: 8.1.4.9 安全计算环境·数据备份恢复 (off-site backup, hot
  redundancy of key systems).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from govcloud.conventions import (
    ANY_PREFIX,
    DATABASE_PORTS,
    MANAGEMENT_PORTS,
    META_ROLE,
    META_SYSTEM,
    WORKLOAD_DR_STANDBY,
    OpenStackType,
)

STACK_REFERENCE: Final = "pulumi:pulumi:StackReference"
# Every Neutron and Cinder quota field: the provider zeroes the ones left unset (#1838).
NET_QUOTA_FIELDS: Final = (
    "network",
    "subnet",
    "port",
    "router",
    "floatingip",
    "securityGroup",
    "securityGroupRule",
    "subnetpool",
    "rbacPolicy",
)
VOL_QUOTA_FIELDS: Final = (
    "volumes",
    "gigabytes",
    "snapshots",
    "backups",
    "backupGigabytes",
    "perVolumeGigabytes",
    "groups",
)
SENSITIVE_PORTS: Final = {
    **dict.fromkeys(MANAGEMENT_PORTS, "management"),
    **dict.fromkeys(DATABASE_PORTS, "database"),
}
MIN_PORT: Final = 1
MAX_PORT: Final = 65535


def _port_range(props: Mapping[str, Any]) -> tuple[int, int]:
    """A rule's port range; a rule without ports (or protocol) covers every port."""
    low, high = props.get("portRangeMin"), props.get("portRangeMax")
    if not props.get("protocol") or low is None:
        return MIN_PORT, MAX_PORT
    return int(low), int(high if high is not None else low)


def _open_to_world(props: Mapping[str, Any]) -> bool:
    """No remote at all means any source; so do 0.0.0.0/0 and ::/0."""
    prefix = props.get("remoteIpPrefix")
    if prefix is None and props.get("remoteGroupId") is None:
        return True
    return prefix in ANY_PREFIX.values()


def validate_no_open_admin_ports(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Ingress from anywhere must not reach a management or database port."""
    if args.resource_type != OpenStackType.RULE or args.props.get("direction") != "ingress":
        return
    if not _open_to_world(args.props):
        return
    low, high = _port_range(args.props)
    exposed = sorted(port for port in SENSITIVE_PORTS if low <= port <= high)
    if exposed:
        names = ", ".join(f"{port} ({SENSITIVE_PORTS[port]})" for port in exposed)
        report(
            f"security group rule {args.urn} exposes {names} to "
            f"{args.props.get('remoteIpPrefix') or 'any address'}: allow the ops management "
            "prefixes (management) or the tenant's own group (database) instead",
            args.urn,
        )


def _family_free_shape(props: Mapping[str, Any]) -> tuple[Any, ...]:
    protocol = props.get("protocol")
    if protocol in ("icmp", "ipv6-icmp"):
        protocol = "icmp"
    prefix = props.get("remoteIpPrefix")
    remote: Any = "any" if prefix in ANY_PREFIX.values() else ("prefix" if prefix else None)
    return (
        props.get("securityGroupId"),
        props.get("direction"),
        protocol,
        props.get("portRangeMin"),
        props.get("portRangeMax"),
        props.get("remoteGroupId"),
        remote,
    )


def _of_type(resources: Iterable[PolicyResource], type_: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == type_]


def validate_rule_parity(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every IPv4 rule has an IPv6 rule of the same shape in the same group, and back."""
    rules = _of_type(args.resources, OpenStackType.RULE)
    shapes: dict[str, set[tuple[Any, ...]]] = {"IPv4": set(), "IPv6": set()}
    for rule in rules:
        shapes.setdefault(str(rule.props.get("ethertype")), set()).add(
            _family_free_shape(rule.props)
        )
    for rule in rules:
        family = rule.props.get("ethertype")
        other = "IPv6" if family == "IPv4" else "IPv4"
        if _family_free_shape(rule.props) not in shapes[other]:
            report(
                f"security group rule {rule.urn} ({family}) has no {other} counterpart: "
                f"declare the same rule for {other} (dual-stack parity)",
                rule.urn,
            )


def _depends_on(resource: PolicyResource, target: PolicyResource) -> bool:
    return any(dep.urn == target.urn for dep in resource.dependencies)


def validate_tenant_quotas(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every department project has compute limits and every Neutron and Cinder quota field."""
    projects = _of_type(args.resources, OpenStackType.PROJECT)
    quotas = {
        kind: _of_type(args.resources, kind)
        for kind in (OpenStackType.NET_QUOTA, OpenStackType.VOL_QUOTA, OpenStackType.LIMIT)
    }
    for project in projects:
        for kind, found in quotas.items():
            if not any(_depends_on(q, project) for q in found):
                report(
                    f"project {project.urn} has no {kind.rsplit(':', 1)[-1]}: every tenant "
                    "needs explicit quotas",
                    project.urn,
                )
    for kind, fields in (
        (OpenStackType.NET_QUOTA, NET_QUOTA_FIELDS),
        (OpenStackType.VOL_QUOTA, VOL_QUOTA_FIELDS),
    ):
        for quota in quotas[kind]:
            missing = [f for f in fields if quota.props.get(f) is None]
            if missing:
                report(
                    f"quota {quota.urn} leaves {', '.join(missing)} unset; the provider would "
                    "zero them (terraform-provider-openstack #1838): set every field",
                    quota.urn,
                )


def validate_core_dr(args: StackValidationArgs, report: ReportViolation) -> None:
    """In the DR stack, every core system the primary exports has an active standby."""
    references = [
        r
        for r in _of_type(args.resources, STACK_REFERENCE)
        if isinstance(r.props.get("outputs"), Mapping) and "core_systems" in r.props["outputs"]
    ]
    if not references:
        return  # not the DR stack: nothing to replicate here
    standby = {
        str((s.props.get("metadata") or {}).get(META_SYSTEM))
        for s in _of_type(args.resources, OpenStackType.SERVER)
        if (s.props.get("metadata") or {}).get(META_ROLE) == WORKLOAD_DR_STANDBY
    }
    for reference in references:
        for system in reference.props["outputs"]["core_systems"]:
            if system not in standby:
                report(
                    f"core system {system} (from {reference.urn}) has no DR replica: core "
                    "systems run active-active at the DR site",
                    reference.urn,
                )


POLICIES: Final = [
    ResourceValidationPolicy(
        name="no-open-admin-or-database-ports",
        description="No ingress from 0.0.0.0/0 or ::/0 to management (22, 3389) or database "
        "ports (MLPS 2.0 L3 8.1.3.2, 8.1.4.4).",
        validate=validate_no_open_admin_ports,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="ipv4-ipv6-rule-parity",
        description="Every IPv4 security group rule has its IPv6 counterpart (MLPS 2.0 L3 "
        "8.1.3.2).",
        validate=validate_rule_parity,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="tenant-has-quotas",
        description="Every tenant has compute limits and every Neutron and Cinder quota field "
        "(MLPS 2.0 L3 8.1.4.2).",
        validate=validate_tenant_quotas,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="core-system-has-dr-replica",
        description="Every core system has an active-active replica at the DR site (MLPS 2.0 "
        "L3 8.1.4.9).",
        validate=validate_core_dr,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]
