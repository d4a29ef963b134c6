"""SecurityBaseline: default-deny security groups of a department tenant, IPv4/IPv6 in pairs.

Two groups per tenant. `baseline` (every server): management ports (SSH, RDP) and ICMP only
from the ops management prefixes. `database` (database servers): the database ports only from
members of the tenant's baseline group, i.e. from inside the tenant, and from the department's
network at its other site (`replication_peers`: the DR network at the primary, the primary's
networks at the DR site), which replication and failback need. Nothing else is allowed in:
Neutron groups deny ingress by default, and the default rules are replaced by explicit egress
rules. Every rule is declared for IPv4 and IPv6 alike (`rule_specs` makes the pairs).
"""

from __future__ import annotations

from dataclasses import dataclass

import netaddr
import pulumi
import pulumi_openstack as openstack

from govcloud.conventions import (
    ANY_PREFIX,
    DATABASE_PORTS,
    ETHERTYPES,
    ICMP_PROTOCOL,
    MANAGEMENT_PORTS,
    TOKEN_PREFIX,
    county_tags,
    security_group_name,
    slug,
)

BASELINE = "baseline"
DATABASE = "database"
GROUPS = (BASELINE, DATABASE)
INGRESS = "ingress"
EGRESS = "egress"
TCP = "tcp"


@dataclass(frozen=True)
class RuleSpec:
    """One security group rule, before it becomes a resource."""

    group: str
    direction: str
    ethertype: str
    protocol: str | None
    port: int | None
    remote_prefix: str | None
    remote_group: str | None

    @property
    def label(self) -> str:
        """A name unique within the department: group, direction, protocol, port, remote."""
        what = f"{self.protocol or 'any'}{self.port or ''}"
        remote = slug(self.remote_prefix) if self.remote_prefix else f"g-{self.remote_group}"
        return f"{self.group}-{self.direction}-{what}-{self.ethertype.lower()}-{remote}"


def _ethertype(prefix: str) -> str:
    return "IPv4" if netaddr.IPNetwork(prefix).version == 4 else "IPv6"


def rule_specs(
    management_prefixes: tuple[str, ...], replication_peers: tuple[str, ...] = ()
) -> list[RuleSpec]:
    """Every rule of both groups; each IPv4 rule has its IPv6 counterpart (the prefixes given
    come in pairs)."""
    rules: list[RuleSpec] = []
    for prefix in management_prefixes:
        ethertype = _ethertype(prefix)
        for port in MANAGEMENT_PORTS:
            rules.append(RuleSpec(BASELINE, INGRESS, ethertype, TCP, port, prefix, None))
        rules.append(
            RuleSpec(BASELINE, INGRESS, ethertype, ICMP_PROTOCOL[ethertype], None, prefix, None)
        )
    for prefix in replication_peers:
        for port in DATABASE_PORTS:
            rules.append(RuleSpec(DATABASE, INGRESS, _ethertype(prefix), TCP, port, prefix, None))
    for ethertype in ETHERTYPES:
        for port in DATABASE_PORTS:
            rules.append(RuleSpec(DATABASE, INGRESS, ethertype, TCP, port, None, BASELINE))
        for group in GROUPS:
            rules.append(
                RuleSpec(group, EGRESS, ethertype, None, None, ANY_PREFIX[ethertype], None)
            )
    return rules


@dataclass(frozen=True)
class SecurityBaselineArgs:
    """Inputs of a department's security groups at one site."""

    county_code: str
    department: str
    region: str
    project_id: pulumi.Input[str]
    management_prefixes: tuple[str, ...]
    # The department's prefixes at its other site, admitted to the database ports only.
    replication_peers: tuple[str, ...] = ()


class SecurityBaseline(pulumi.ComponentResource):
    """Default-deny groups: management from ops only, databases from inside the tenant and its
    other site."""

    group_ids: dict[str, pulumi.Output[str]]
    group_names: list[str]

    def __init__(
        self, name: str, args: SecurityBaselineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"{TOKEN_PREFIX}:security:SecurityBaseline", name, None, opts)
        child = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=self))
        groups: dict[str, openstack.networking.SecGroup] = {}
        for role in GROUPS:
            groups[role] = openstack.networking.SecGroup(
                f"{name}-{role}",
                name=security_group_name(args.department, role),
                description=f"{args.department} {role} (govcloud, default deny)",
                # Neutron adds allow-all egress rules to new groups; ours replace them.
                delete_default_rules=True,
                tenant_id=args.project_id,
                tags=county_tags(args.county_code),
                region=args.region,
                opts=child,
            )
        for rule in rule_specs(args.management_prefixes, args.replication_peers):
            openstack.networking.SecGroupRule(
                f"{name}-{rule.label}",
                security_group_id=groups[rule.group].id,
                direction=rule.direction,
                ethertype=rule.ethertype,
                protocol=rule.protocol,
                port_range_min=rule.port,
                port_range_max=rule.port,
                remote_ip_prefix=rule.remote_prefix,
                remote_group_id=groups[rule.remote_group].id if rule.remote_group else None,
                tenant_id=args.project_id,
                region=args.region,
                opts=child,
            )
        self.group_ids = {role: group.id for role, group in groups.items()}
        self.group_names = [security_group_name(args.department, role) for role in GROUPS]
        self.register_outputs({"group_ids": self.group_ids})
