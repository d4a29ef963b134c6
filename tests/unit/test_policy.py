"""The policy pack: every policy passes on the sample county's stacks and fails on a breach."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import PolicyResource, ResourceValidationPolicy, StackValidationArgs
from stackfixtures import SampleStacks, policy_resources, resource_args, run_sample

from govcloud.conventions import OpenStackType
from policy.rules import (
    POLICIES,
    validate_core_dr,
    validate_no_open_admin_ports,
    validate_rule_parity,
    validate_tenant_quotas,
)

URN = f"urn:pulumi:primary::county-cloud::{OpenStackType.RULE}::r"


@pytest.fixture(scope="module")
def stacks() -> SampleStacks:
    return run_sample()


@pytest.fixture(scope="module")
def primary(stacks: SampleStacks) -> list[PolicyResource]:
    return policy_resources(stacks.primary)


@pytest.fixture(scope="module")
def dr(stacks: SampleStacks) -> list[PolicyResource]:
    return policy_resources(stacks.dr)


class Report:
    """Collects violations as the policy engine would."""

    def __init__(self) -> None:
        self.violations: list[tuple[str, str | None]] = []

    def __call__(self, message: str, urn: str | None = None) -> None:
        self.violations.append((message, urn))


def _stack(validate: Callable[..., Any], resources: list[PolicyResource]) -> Report:
    report = Report()
    validate(StackValidationArgs(resources), report)
    return report


def _rule(**props: Any) -> Report:
    report = Report()
    resource = PolicyResource(OpenStackType.RULE, props, URN, "r", None, None, None, [], {})  # type: ignore[arg-type]
    validate_no_open_admin_ports(resource_args(resource), report)
    return report


# -- the whole pack on the sample county -----------------------------------------------------------
def test_the_sample_stacks_pass_every_policy(
    primary: list[PolicyResource], dr: list[PolicyResource]
) -> None:
    report = Report()
    for resources in (primary, dr):
        for policy in POLICIES:
            if isinstance(policy, ResourceValidationPolicy):
                for resource in resources:
                    policy.validate(resource_args(resource), report)
            else:
                policy.validate(StackValidationArgs(resources), report)
    assert report.violations == []


# -- no ingress from anywhere to management or database ports ------------------------------------
@pytest.mark.parametrize(
    ("remote", "port"),
    [("0.0.0.0/0", 22), ("::/0", 22), ("0.0.0.0/0", 3389), ("::/0", 5432), ("0.0.0.0/0", 1521)],
)
def test_world_open_sensitive_port_is_a_violation(remote: str, port: int) -> None:
    report = _rule(
        direction="ingress",
        ethertype="IPv6" if ":" in remote else "IPv4",
        protocol="tcp",
        portRangeMin=port,
        portRangeMax=port,
        remoteIpPrefix=remote,
    )
    ((message, urn),) = report.violations
    assert urn == URN and str(port) in message and URN in message


def test_a_range_covering_ssh_from_anywhere_is_a_violation() -> None:
    report = _rule(
        direction="ingress",
        protocol="tcp",
        portRangeMin=1,
        portRangeMax=1024,
        remoteIpPrefix="0.0.0.0/0",
    )
    assert len(report.violations) == 1 and "22 (management)" in report.violations[0][0]


def test_a_rule_without_remote_or_ports_opens_everything() -> None:
    report = _rule(direction="ingress", ethertype="IPv4")
    assert len(report.violations) == 1 and "any address" in report.violations[0][0]


@pytest.mark.parametrize(
    "props",
    [
        {"protocol": "tcp", "portRangeMin": 443, "portRangeMax": 443, "remoteIpPrefix": "::/0"},
        {
            "protocol": "tcp",
            "portRangeMin": 22,
            "portRangeMax": 22,
            "remoteIpPrefix": "198.19.255.0/24",
        },
        {"protocol": "tcp", "portRangeMin": 5432, "portRangeMax": 5432, "remoteGroupId": "g"},
    ],
)
def test_https_from_anywhere_and_ssh_from_ops_pass(props: dict[str, Any]) -> None:
    assert _rule(direction="ingress", **props).violations == []


def test_egress_to_anywhere_is_not_an_ingress_violation() -> None:
    assert _rule(direction="egress", remoteIpPrefix="0.0.0.0/0").violations == []


# -- IPv4/IPv6 parity -----------------------------------------------------------------------------
def test_an_ipv4_rule_without_its_ipv6_twin_is_a_violation(primary: list[PolicyResource]) -> None:
    ipv6_ssh = next(
        r
        for r in primary
        if r.resource_type == OpenStackType.RULE
        and r.props.get("ethertype") == "IPv6"
        and r.props.get("portRangeMin") == 22
    )
    report = _stack(validate_rule_parity, [r for r in primary if r is not ipv6_ssh])
    ((message, urn),) = report.violations
    assert "IPv4" in message and "no IPv6 counterpart" in message
    assert urn is not None and urn.endswith("tcp22-ipv4-198-19-255-0-24")
    assert (
        ipv6_ssh.urn.split("::")[-1].split("-baseline")[0]
        == urn.split("::")[-1].split("-baseline")[0]
    )


def test_an_extra_ipv6_rule_alone_is_a_violation_too(primary: list[PolicyResource]) -> None:
    ipv4_icmp = next(
        r
        for r in primary
        if r.resource_type == OpenStackType.RULE and r.props.get("protocol") == "icmp"
    )
    report = _stack(validate_rule_parity, [r for r in primary if r is not ipv4_icmp])
    assert (
        len(report.violations) == 1 and "(IPv6) has no IPv4 counterpart" in report.violations[0][0]
    )


# -- every tenant has quotas ----------------------------------------------------------------------
def test_a_project_without_network_quota_is_a_violation(primary: list[PolicyResource]) -> None:
    dropped = next(r for r in primary if r.name == "gaj-network-quota")
    report = _stack(validate_tenant_quotas, [r for r in primary if r is not dropped])
    ((message, urn),) = report.violations
    assert urn is not None and urn.endswith("::gaj-project") and "QuotaV2" in message


def test_a_quota_with_an_unset_field_is_a_violation(primary: list[PolicyResource]) -> None:
    quota = next(r for r in primary if r.name == "gaj-volume-quota")
    props = {k: v for k, v in quota.props.items() if k != "backupGigabytes"}
    broken = PolicyResource(
        quota.resource_type,
        props,
        quota.urn,
        quota.name,
        quota.opts,
        None,
        None,
        quota.dependencies,
        {},
    )
    report = _stack(validate_tenant_quotas, [broken if r is quota else r for r in primary])
    ((message, urn),) = report.violations
    assert urn == quota.urn and "backupGigabytes" in message and "#1838" in message


# -- every core system has a DR replica ----------------------------------------------------------
def test_a_core_system_without_standby_is_a_violation(dr: list[PolicyResource]) -> None:
    standby = next(
        r
        for r in dr
        if (r.props.get("metadata") or {}).get("govcloud:system") == "zwfw/portal"
        and r.resource_type.endswith("Instance")
    )
    report = _stack(validate_core_dr, [r for r in dr if r is not standby])
    ((message, urn),) = report.violations
    assert "zwfw/portal" in message and urn is not None and "StackReference" in urn


def test_the_primary_stack_has_no_dr_obligation(primary: list[PolicyResource]) -> None:
    assert _stack(validate_core_dr, primary).violations == []
