"""The policy pack: every policy is a catalogue item, passes on the sample county's stacks and
reports a breach planted in them, with the breaching resource's URN."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import PolicyResource, StackValidationArgs
from stackfixtures import SampleStacks, resource_args, run_sample

from audit.catalogue import RULES
from cloud.plan.policies import policy_resources
from govcloud.conventions import PLATFORM_MLPS_LEVEL, TAG_MLPS, OpenStackType, mlps_tag
from policy.evaluate import PolicyResult, Violation, evaluate
from policy.rules import (
    CONFIG_OPS_PREFIXES,
    POLICIES,
    validate_core_dr,
    validate_no_open_database_ports,
    validate_no_open_management_ipv4,
    validate_rule_parity,
    validate_tenant_quotas,
)

URN = f"urn:pulumi:primary::county-cloud::{OpenStackType.RULE}::r"
OPS = ["198.19.255.0/24", "2001:db8:ff00::/48"]  # Pulumi.primary.yaml
CONFIG = {CONFIG_OPS_PREFIXES: OPS}


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


def _rule(validate: Callable[..., Any] = validate_no_open_management_ipv4, **props: Any) -> Report:
    report = Report()
    resource = PolicyResource(OpenStackType.RULE, props, URN, "r", None, None, None, [], {})  # type: ignore[arg-type]
    validate(resource_args(resource), report)
    return report


def _changed(resource: PolicyResource, **props: Any) -> PolicyResource:
    """The resource with some of its inputs changed (None drops one)."""
    merged = {k: v for k, v in {**resource.props, **props}.items() if v is not None}
    return PolicyResource(
        resource.resource_type,
        merged,
        resource.urn,
        resource.name,
        resource.opts,
        None,
        None,
        resource.dependencies,
        {},
    )


def _violations(resources: list[PolicyResource], policy: str) -> tuple[Violation, ...]:
    (result,) = [r for r in evaluate(resources, CONFIG) if r.id == policy]
    return result.violations


def _first(resources: list[PolicyResource], type_: str, **props: Any) -> PolicyResource:
    return next(
        r
        for r in resources
        if r.resource_type == type_ and all(r.props.get(k) == v for k, v in props.items())
    )


# -- the pack is the catalogue's pre-deploy half ---------------------------------------------------
def test_every_policy_is_a_catalogue_item_whose_rule_names_it() -> None:
    rules = {rule.id: rule for rule in RULES}
    for policy in POLICIES:
        assert policy.name in rules, f"policy {policy.name} is no catalogue id"
        assert rules[policy.name].policy == policy.name, f"{policy.name}: Rule.policy differs"
    named = {rule.policy for rule in RULES if rule.policy}
    assert named == {policy.name for policy in POLICIES}


def test_the_sample_stacks_pass_every_policy(
    primary: list[PolicyResource], dr: list[PolicyResource]
) -> None:
    for resources in (primary, dr):
        results = evaluate(resources, CONFIG)
        assert [r for r in results if r.violations or r.not_applicable] == []
        assert len(results) == len(POLICIES)


def test_without_ops_prefixes_the_management_policies_say_why_they_do_not_apply(
    primary: list[PolicyResource],
) -> None:
    skipped = {r.id: r for r in evaluate(primary) if r.not_applicable is not None}
    assert set(skipped) == {"management-from-ops-prefixes", "management-network-separated"}
    assert all(CONFIG_OPS_PREFIXES in str(r.not_applicable) for r in skipped.values())


# -- a breach planted in the sample stacks, one per policy -----------------------------------------
def _ssh(primary: list[PolicyResource], family: str) -> PolicyResource:
    return _first(primary, OpenStackType.RULE, ethertype=family, portRangeMin=22)


def _project(primary: list[PolicyResource]) -> PolicyResource:
    return _first(primary, OpenStackType.PROJECT)


def _plant_ssh_from_any(primary: list[PolicyResource], family: str, prefix: str) -> PolicyResource:
    return _changed(_ssh(primary, family), remoteIpPrefix=prefix)


PLANTED: dict[str, Callable[[list[PolicyResource], list[PolicyResource]], tuple[Any, ...]]] = {
    "no-open-management-ports-ipv4": lambda p, d: (p, _plant_ssh_from_any(p, "IPv4", "0.0.0.0/0")),
    "no-open-management-ports-ipv6": lambda p, d: (p, _plant_ssh_from_any(p, "IPv6", "::/0")),
    "management-from-ops-prefixes": lambda p, d: (
        p,
        _plant_ssh_from_any(p, "IPv4", "203.0.113.0/24"),
    ),
    "no-open-database-ports": lambda p, d: (
        p,
        _changed(
            _first(p, OpenStackType.RULE, portRangeMin=5432, ethertype="IPv6"),
            remoteGroupId=None,
            remoteIpPrefix="::/0",
        ),
    ),
    "default-deny-boundary": lambda p, d: (
        p,
        _changed(_ssh(p, "IPv4"), protocol=None, remoteIpPrefix="0.0.0.0/0"),
    ),
    "management-network-separated": lambda p, d: (
        p,
        _changed(
            _first(p, OpenStackType.SUBNET, ipVersion=4, enableDhcp=True), cidr="198.19.255.0/25"
        ),
    ),
    "tenant-networks-not-shared": lambda p, d: (
        p,
        _changed(_first(p, OpenStackType.NETWORK, external=None), shared=True),
    ),
    "projects-tagged-with-level": lambda p, d: (
        p,
        _changed(
            _project(p), tags=[t for t in _project(p).props["tags"] if not t.startswith(TAG_MLPS)]
        ),
    ),
    "no-system-above-platform-level": lambda p, d: (
        p,
        _changed(
            _project(p),
            tags=[
                *(t for t in _project(p).props["tags"] if not t.startswith(TAG_MLPS)),
                mlps_tag(PLATFORM_MLPS_LEVEL + 1),
            ],
        ),
    ),
    "ports-have-security-groups": lambda p, d: (
        p,
        _changed(_first(p, OpenStackType.SERVER), securityGroups=["default"]),
    ),
    "dr-site-offsite": lambda p, d: (
        d,
        _changed(_first(d, OpenStackType.NETWORK, external=None), region="RegionOne"),
    ),
}


def _without(resources: list[PolicyResource], dropped: list[PolicyResource]) -> Any:
    return [r for r in resources if r not in dropped]


DROPPED: dict[str, Callable[[list[PolicyResource], list[PolicyResource]], tuple[Any, ...]]] = {
    "ipv4-ipv6-rule-parity": lambda p, d: (p, [_ssh(p, "IPv6")], _ssh(p, "IPv4").urn),
    "tenant-has-quotas": lambda p, d: (
        p,
        [next(r for r in p if r.name == "gaj-network-quota")],
        next(r for r in p if r.name == "gaj-project").urn,
    ),
    "tenant-access-through-groups": lambda p, d: (
        p,
        [r for r in p if r.name.startswith("gaj-") and r.props.get("groupId")],
        next(r for r in p if r.name == "gaj-project").urn,
    ),
    "core-system-has-dr-replica": lambda p, d: (
        d,
        [_standby(d, "zwfw/portal")],
        next(r for r in d if r.resource_type == "pulumi:pulumi:StackReference").urn,
    ),
    "important-system-offsite": lambda p, d: (
        d,
        [_standby(d, _important(d))],
        next(r for r in d if r.resource_type == "pulumi:pulumi:StackReference").urn,
    ),
}


def _standby(dr: list[PolicyResource], system: str) -> PolicyResource:
    return next(
        r
        for r in dr
        if r.resource_type == OpenStackType.SERVER
        and (r.props.get("metadata") or {}).get("govcloud:system") == system
    )


def _important(dr: list[PolicyResource]) -> str:
    reference = next(r for r in dr if r.resource_type == "pulumi:pulumi:StackReference")
    return min(
        s for s, tier in reference.props["outputs"]["systems"].items() if tier == "important"
    )


def test_every_policy_has_a_planted_breach() -> None:
    assert set(PLANTED) | set(DROPPED) == {policy.name for policy in POLICIES}


@pytest.mark.parametrize("policy", sorted(PLANTED))
def test_a_planted_breach_is_reported_with_its_urn(
    policy: str, primary: list[PolicyResource], dr: list[PolicyResource]
) -> None:
    stack, planted = PLANTED[policy](primary, dr)
    broken = [planted if r.urn == planted.urn else r for r in stack]
    assert _violations(stack, policy) == ()
    found = _violations(broken, policy)
    assert [v.urn for v in found] == [
        next(r for r in broken if r.resource_type == "pulumi:pulumi:StackReference").urn
        if policy == "dr-site-offsite"
        else planted.urn
    ], found
    assert all(v.urn in v.message for v in found)


@pytest.mark.parametrize("policy", sorted(DROPPED))
def test_a_dropped_resource_is_reported_on_what_lacks_it(
    policy: str, primary: list[PolicyResource], dr: list[PolicyResource]
) -> None:
    stack, dropped, urn = DROPPED[policy](primary, dr)
    found = _violations(_without(stack, dropped), policy)
    assert found and {v.urn for v in found} == {urn}, found


def test_a_violated_mandatory_policy_blocks() -> None:
    result = PolicyResult("x", "mandatory", (Violation(URN, "m"),))
    assert result.blocks and not PolicyResult("x", "advisory", result.violations).blocks


# -- single rules, their edges ---------------------------------------------------------------
@pytest.mark.parametrize(("remote", "port"), [("0.0.0.0/0", 22), ("0.0.0.0/0", 3389)])
def test_world_open_management_port_is_a_violation(remote: str, port: int) -> None:
    report = _rule(
        direction="ingress",
        ethertype="IPv4",
        protocol="tcp",
        portRangeMin=port,
        portRangeMax=port,
        remoteIpPrefix=remote,
    )
    ((message, urn),) = report.violations
    assert urn == URN and str(port) in message and URN in message


@pytest.mark.parametrize("port", [5432, 1521, 54321])
def test_world_open_database_port_is_a_violation(port: int) -> None:
    report = _rule(
        validate_no_open_database_ports,
        direction="ingress",
        ethertype="IPv6",
        protocol="tcp",
        portRangeMin=port,
        portRangeMax=port,
        remoteIpPrefix="::/0",
    )
    assert len(report.violations) == 1 and str(port) in report.violations[0][0]


def test_a_range_covering_ssh_from_anywhere_is_a_violation() -> None:
    report = _rule(
        direction="ingress",
        ethertype="IPv4",
        protocol="tcp",
        portRangeMin=1,
        portRangeMax=1024,
        remoteIpPrefix="0.0.0.0/0",
    )
    assert len(report.violations) == 1 and "exposes 22 to" in report.violations[0][0]


def test_a_rule_without_remote_or_ports_opens_everything() -> None:
    report = _rule(direction="ingress", ethertype="IPv4")
    assert len(report.violations) == 1 and "any address" in report.violations[0][0]


def test_an_ipv6_rule_is_not_an_ipv4_violation() -> None:
    props = {"protocol": "tcp", "portRangeMin": 22, "portRangeMax": 22, "remoteIpPrefix": "::/0"}
    assert _rule(direction="ingress", ethertype="IPv6", **props).violations == []


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
    for validate in (validate_no_open_management_ipv4, validate_no_open_database_ports):
        assert _rule(validate, direction="ingress", ethertype="IPv4", **props).violations == []


def test_egress_to_anywhere_is_not_an_ingress_violation() -> None:
    assert _rule(direction="egress", remoteIpPrefix="0.0.0.0/0").violations == []


def test_an_extra_ipv6_rule_alone_is_a_violation_too(primary: list[PolicyResource]) -> None:
    ipv4_icmp = _first(primary, OpenStackType.RULE, protocol="icmp")
    report = _stack(validate_rule_parity, [r for r in primary if r is not ipv4_icmp])
    assert (
        len(report.violations) == 1 and "(IPv6) has no IPv4 counterpart" in report.violations[0][0]
    )


def test_a_quota_with_an_unset_field_is_a_violation(primary: list[PolicyResource]) -> None:
    quota = next(r for r in primary if r.name == "gaj-volume-quota")
    broken = _changed(quota, backupGigabytes=None)
    report = _stack(validate_tenant_quotas, [broken if r is quota else r for r in primary])
    ((message, urn),) = report.violations
    assert urn == quota.urn and "backupGigabytes" in message and "#1838" in message


def test_the_primary_stack_has_no_dr_obligation(primary: list[PolicyResource]) -> None:
    assert _stack(validate_core_dr, primary).violations == []
