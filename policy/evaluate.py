"""Run the policy pack without the Pulumi engine, as `govcloud plan` does.

The engine calls each resource policy once per resource and each stack policy once with every
resource; this does the same over `PolicyResource`s built from a mock run
(`cloud/plan/policies.py`), and collects each policy's violations instead of failing the
preview. A policy that declares itself not applicable (`args.not_applicable`) says why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.rules import POLICIES


@dataclass(frozen=True)
class Violation:
    """One violation a policy reported: the resource (when it names one) and the message."""

    urn: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        """For `--json`."""
        return {"urn": self.urn, "message": self.message}


@dataclass(frozen=True)
class PolicyResult:
    """One policy over one stack: its violations, or why it did not apply."""

    id: str
    enforcement: str
    violations: tuple[Violation, ...] = ()
    not_applicable: str | None = None

    @property
    def blocks(self) -> bool:
        """A mandatory policy was violated: the stack must not be deployed."""
        return bool(self.violations) and self.enforcement == EnforcementLevel.MANDATORY.value


class _NotApplicable(Exception):  # noqa: N818  (a signal, like the SDK's own)
    """A policy said it does not apply (the SDK raises its private error for this)."""


class _ResourceArgs(ResourceValidationArgs):
    """The engine's argument bag, with `not_applicable` caught here rather than by the engine."""

    def not_applicable(self, reason: str | None = None) -> None:
        raise _NotApplicable(reason or "")


class _StackArgs(StackValidationArgs):
    """The engine's argument bag, with `not_applicable` caught here rather than by the engine."""

    def not_applicable(self, reason: str | None = None) -> None:
        raise _NotApplicable(reason or "")


def _validations(policy: Policy) -> list[Callable[..., Any]]:
    validate = getattr(policy, "validate", None)
    if isinstance(validate, list):
        return validate
    return [validate] if validate is not None else []


def _run(
    policy: Policy, resources: Sequence[PolicyResource], config: Mapping[str, Any]
) -> PolicyResult:
    violations: list[Violation] = []

    def report(message: str, urn: str | None = None) -> None:
        violations.append(Violation(urn, message))

    enforcement = str(getattr(policy.enforcement_level, "value", policy.enforcement_level))
    given = config if policy.config_schema is not None else {}
    try:
        for validate in _validations(policy):
            if isinstance(policy, ResourceValidationPolicy):
                for r in resources:
                    args = _ResourceArgs(
                        r.resource_type, r.props, r.urn, r.name, r.opts, r.provider, given
                    )
                    validate(args, report)
            elif isinstance(policy, StackValidationPolicy):
                validate(_StackArgs(list(resources), given), report)
    except _NotApplicable as reason:
        return PolicyResult(policy.name, enforcement, tuple(violations), str(reason))
    return PolicyResult(policy.name, enforcement, tuple(violations))


def evaluate(
    resources: Sequence[PolicyResource],
    config: Mapping[str, Any] | None = None,
    policies: Sequence[Policy] = POLICIES,
) -> list[PolicyResult]:
    """Every policy over one stack's resources; `config` goes to the policies with a config
    schema (the ops management prefixes, `rules.CONFIG_OPS_PREFIXES`)."""
    return [_run(policy, resources, config or {}) for policy in policies]
