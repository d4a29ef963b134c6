"""The policies, as plain functions over pulumi_policy's argument objects.

Each policy is named after the MLPS level-3 catalogue item it enforces before deploy
(`audit/catalogue.py`: the same rule id, its clause and test unit, checked live after deploy;
each catalogue rule's `policy` names its policy). The pack runs under `pulumi preview
--policy-pack policy/` and, without the Pulumi engine, in `govcloud plan` over the stack
program's mock run (`policy/evaluate.py`). Which catalogue items run before deploy, and why the
others cannot: docs/audit.md.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
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
    PLATFORM_MLPS_LEVEL,
    TAG_MLPS,
    WORKLOAD_DR_BACKUP,
    WORKLOAD_DR_STANDBY,
    OpenStackType,
    mlps_levels_of,
)
from govcloud.model import Tier

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
MIN_PORT: Final = 1
MAX_PORT: Final = 65535
DEFAULT_GROUP: Final = "default"  # Neutron's own group in every project
# The policies that need the stack's ops management prefixes read them from the policy config
# (`--policy-pack-config`; `govcloud plan` passes the stack setting `opsManagementPrefixes`).
CONFIG_OPS_PREFIXES: Final = "opsManagementPrefixes"
OPS_CONFIG: Final = PolicyConfigSchema(
    properties={CONFIG_OPS_PREFIXES: {"type": "array", "items": {"type": "string"}}}
)


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


def _ingress_rule(args: ResourceValidationArgs) -> bool:
    return args.resource_type == OpenStackType.RULE and args.props.get("direction") == "ingress"


def _exposed(
    args: ResourceValidationArgs,
    report: ReportViolation,
    ports: Iterable[int],
    *,
    ethertype: str | None,
    fix: str,
) -> None:
    """Report an ingress rule open to any address that reaches one of `ports`."""
    if not _ingress_rule(args) or not _open_to_world(args.props):
        return
    if ethertype is not None and args.props.get("ethertype", "IPv4") != ethertype:
        return
    low, high = _port_range(args.props)
    exposed = [port for port in ports if low <= port <= high]
    if exposed:
        report(
            f"security group rule {args.urn} exposes {', '.join(map(str, exposed))} to "
            f"{args.props.get('remoteIpPrefix') or 'any address'}: {fix}",
            args.urn,
        )


MANAGEMENT_FIX: Final = "allow the ops management prefixes only"


def validate_no_open_management_ipv4(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No IPv4 ingress from anywhere to SSH or RDP."""
    _exposed(args, report, MANAGEMENT_PORTS, ethertype="IPv4", fix=MANAGEMENT_FIX)


def validate_no_open_management_ipv6(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No IPv6 ingress from anywhere to SSH or RDP."""
    _exposed(args, report, MANAGEMENT_PORTS, ethertype="IPv6", fix=MANAGEMENT_FIX)


def validate_no_open_database_ports(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No ingress from anywhere to a database port."""
    _exposed(
        args, report, DATABASE_PORTS, ethertype=None, fix="allow the tenant's own group instead"
    )


def validate_default_deny(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No ingress rule opens every protocol and port to any address."""
    if _ingress_rule(args) and not args.props.get("protocol") and _open_to_world(args.props):
        report(
            f"security group rule {args.urn} lets every protocol in from any address: name "
            "the protocol, the ports and the sources that are needed (default deny)",
            args.urn,
        )


def _ops_prefixes(
    args: ResourceValidationArgs,
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    prefixes = args.get_config().get(CONFIG_OPS_PREFIXES)
    if not prefixes:
        args.not_applicable(
            f"no {CONFIG_OPS_PREFIXES} in the policy config: pass the stack's ops management "
            "prefixes with --policy-pack-config (govcloud plan does)"
        )
    return [ipaddress.ip_network(p) for p in prefixes or ()]


def validate_management_from_ops(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """SSH and RDP only from inside the ops management prefixes (or from a group)."""
    if not _ingress_rule(args) or args.props.get("remoteGroupId"):
        return
    low, high = _port_range(args.props)
    if not any(low <= port <= high for port in MANAGEMENT_PORTS):
        return
    allowed = _ops_prefixes(args)
    ethertype = str(args.props.get("ethertype", "IPv4"))
    prefix = ipaddress.ip_network(args.props.get("remoteIpPrefix") or ANY_PREFIX[ethertype])
    if not any(prefix.version == a.version and prefix.subnet_of(a) for a in allowed):  # type: ignore[arg-type]
        report(
            f"security group rule {args.urn} lets management ports in from {prefix}, outside "
            f"the ops management prefixes ({', '.join(map(str, allowed))})",
            args.urn,
        )


def validate_management_separated(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No tenant subnet overlaps the ops management prefixes."""
    if args.resource_type != OpenStackType.SUBNET or not args.props.get("tenantId"):
        return
    cidr = args.props.get("cidr")
    if not cidr:
        return  # allocated by the pool at deploy: the live check sees it
    subnet = ipaddress.ip_network(cidr)
    overlapping = [str(a) for a in _ops_prefixes(args) if subnet.overlaps(a)]
    if overlapping:
        report(
            f"tenant subnet {args.urn} ({cidr}) overlaps the ops management prefix "
            f"{', '.join(overlapping)}: the management zone must stay separate",
            args.urn,
        )


def _project_levels(args: ResourceValidationArgs) -> list[int | None] | None:
    if args.resource_type != OpenStackType.PROJECT:
        return None
    return mlps_levels_of(args.props.get("tags") or ())


def validate_projects_tagged_level(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Every project carries exactly one `mlps:<level>` tag."""
    levels = _project_levels(args)
    if levels is not None and (len(levels) != 1 or levels[0] is None):
        found = [t for t in args.props.get("tags") or () if t.startswith(TAG_MLPS)]
        report(
            f"项目缺少唯一的等保级别标签 / project {args.urn} must carry one {TAG_MLPS}<level> "
            f"tag, has {found}: the stacks tag each tenant with its department's MLPS level "
            "(docs/county-model.md)",
            args.urn,
        )


def validate_level_not_above_platform(
    args: ResourceValidationArgs, report: ReportViolation
) -> None:
    """No project's MLPS level is above the platform's."""
    for level in _project_levels(args) or ():
        if level is not None and level > PLATFORM_MLPS_LEVEL:
            report(
                f"系统等保级别（第{level}级）高于云平台（第{PLATFORM_MLPS_LEVEL}级），不得上云 / "
                f"project {args.urn} is MLPS level {level}, above the platform's level "
                f"{PLATFORM_MLPS_LEVEL}: a system of that level cannot run on this cloud; keep "
                "it on its own network or lower its mlps_level if it was graded too high",
                args.urn,
            )


def validate_networks_not_shared(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No tenant network is shared with other tenants (the external extranet is no tenant's)."""
    props = args.props
    if (
        args.resource_type == OpenStackType.NETWORK
        and props.get("shared")
        and not props.get("external")
    ):
        report(
            f"network {args.urn} is shared with every tenant: tenants' networks stay isolated",
            args.urn,
        )


def validate_ports_guarded(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Every server's ports carry a security group other than Neutron's default."""
    if args.resource_type != OpenStackType.SERVER:
        return
    groups = [g for g in args.props.get("securityGroups") or () if g != DEFAULT_GROUP]
    if not groups:
        report(
            f"server {args.urn} has no security group but default: give it the tenant's "
            "baseline group",
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


def validate_access_through_groups(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every project grants a role to at least one group (access goes through groups)."""
    grants = [
        r for r in _of_type(args.resources, OpenStackType.ROLE_ASSIGNMENT) if r.props.get("groupId")
    ]
    for project in _of_type(args.resources, OpenStackType.PROJECT):
        if not any(_depends_on(grant, project) for grant in grants):
            report(
                f"project {project.urn} grants no role to a group: department access goes "
                "through its requester and approver groups",
                project.urn,
            )


def _references(args: StackValidationArgs, output: str) -> list[PolicyResource]:
    """The StackReferences (to the primary) that export `output`: only the DR stack has one."""
    return [
        r
        for r in _of_type(args.resources, STACK_REFERENCE)
        if isinstance(r.props.get("outputs"), Mapping) and output in r.props["outputs"]
    ]


def _dr_copies(args: StackValidationArgs, *, backups: bool) -> set[str]:
    """Systems with a standby server at the DR site, or with `backups` a volume their backups
    land on (the tier's DR policy decides which)."""
    wanted = {(OpenStackType.SERVER, WORKLOAD_DR_STANDBY)}
    if backups:
        wanted.add((OpenStackType.VOLUME, WORKLOAD_DR_BACKUP))
    return {
        str(meta.get(META_SYSTEM))
        for r in args.resources
        for meta in [r.props.get("metadata") or {}]
        if (r.resource_type, meta.get(META_ROLE)) in wanted
    }


def _replicated(
    args: StackValidationArgs,
    report: ReportViolation,
    systems: Callable[[Mapping[str, Any]], Iterable[str]],
    copies: set[str],
    what: str,
) -> None:
    for reference in _references(args, "systems"):
        for system in systems(reference.props["outputs"]):
            if system not in copies:
                report(f"{what.format(system=system)} (from {reference.urn})", reference.urn)


def validate_core_dr(args: StackValidationArgs, report: ReportViolation) -> None:
    """In the DR stack, every core system the primary exports has an active standby."""
    _replicated(
        args,
        report,
        lambda outputs: outputs.get("core_systems") or (),
        _dr_copies(args, backups=False),
        "core system {system} has no DR replica: core systems run active-active at the DR site",
    )


def validate_important_offsite(args: StackValidationArgs, report: ReportViolation) -> None:
    """In the DR stack, every important system has a standby or a backup volume."""
    _replicated(
        args,
        report,
        lambda outputs: [s for s, tier in outputs["systems"].items() if tier == Tier.IMPORTANT],
        _dr_copies(args, backups=True),
        "important system {system} has nothing at the DR site: its tier's DR policy keeps a "
        "standby or a backup volume there",
    )


def validate_dr_site_offsite(args: StackValidationArgs, report: ReportViolation) -> None:
    """In the DR stack, nothing is deployed to the primary's region."""
    for reference in _references(args, "region"):
        primary = reference.props["outputs"]["region"]
        if any(r.props.get("region") == primary for r in args.resources):
            report(
                f"the DR stack deploys to {primary}, the primary's region (from "
                f"{reference.urn}): the DR site must be off-site (county.yaml sites)",
                reference.urn,
            )


def _mandatory(
    kind: type[ResourceValidationPolicy] | type[StackValidationPolicy],
    name: str,
    description: str,
    validate: Callable[..., None],
) -> Policy:
    return kind(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=OPS_CONFIG if validate in NEEDS_OPS_PREFIXES else None,
    )


RESOURCE, STACK = ResourceValidationPolicy, StackValidationPolicy
NEEDS_OPS_PREFIXES: Final = (validate_management_from_ops, validate_management_separated)

# Named by catalogue id; the clause each evidences is the catalogue's (docs/audit.md).
POLICIES: Final[list[Policy]] = [
    _mandatory(
        RESOURCE,
        "no-open-management-ports-ipv4",
        "No IPv4 ingress from any address to SSH or RDP.",
        validate_no_open_management_ipv4,
    ),
    _mandatory(
        RESOURCE,
        "no-open-management-ports-ipv6",
        "No IPv6 ingress from any address to SSH or RDP.",
        validate_no_open_management_ipv6,
    ),
    _mandatory(
        RESOURCE,
        "management-from-ops-prefixes",
        "SSH and RDP only from the ops management prefixes.",
        validate_management_from_ops,
    ),
    _mandatory(
        RESOURCE,
        "no-open-database-ports",
        "No ingress from any address to a database port.",
        validate_no_open_database_ports,
    ),
    _mandatory(
        RESOURCE,
        "default-deny-boundary",
        "No ingress rule opens every protocol to any address.",
        validate_default_deny,
    ),
    _mandatory(
        RESOURCE,
        "management-network-separated",
        "No tenant subnet overlaps the ops management prefixes.",
        validate_management_separated,
    ),
    _mandatory(
        RESOURCE,
        "tenant-networks-not-shared",
        "No tenant network is shared with other tenants.",
        validate_networks_not_shared,
    ),
    _mandatory(
        RESOURCE,
        "projects-tagged-with-level",
        "Every project carries its MLPS level as one mlps:<level> tag.",
        validate_projects_tagged_level,
    ),
    _mandatory(
        RESOURCE,
        "no-system-above-platform-level",
        f"No project above the platform's MLPS level ({PLATFORM_MLPS_LEVEL}).",
        validate_level_not_above_platform,
    ),
    _mandatory(
        RESOURCE,
        "ports-have-security-groups",
        "Every server carries a security group other than default.",
        validate_ports_guarded,
    ),
    _mandatory(
        STACK,
        "ipv4-ipv6-rule-parity",
        "Every IPv4 security group rule has its IPv6 counterpart, and back.",
        validate_rule_parity,
    ),
    _mandatory(
        STACK,
        "tenant-has-quotas",
        "Every tenant has compute limits and every Neutron and Cinder quota field.",
        validate_tenant_quotas,
    ),
    _mandatory(
        STACK,
        "tenant-access-through-groups",
        "Every tenant grants its roles to groups.",
        validate_access_through_groups,
    ),
    _mandatory(
        STACK,
        "core-system-has-dr-replica",
        "Every core system has an active-active replica at the DR site.",
        validate_core_dr,
    ),
    _mandatory(
        STACK,
        "important-system-offsite",
        "Every important system has a standby or a backup volume at the DR site.",
        validate_important_offsite,
    ),
    _mandatory(
        STACK,
        "dr-site-offsite",
        "The DR stack deploys to another region than the primary.",
        validate_dr_site_offsite,
    ),
]
