"""The policy pack over a stack's mock run: what `govcloud plan` and `localcloud deploy` check
before anything is deployed (docs/stacks.md, "Policy pack").

The mock run records each resource's inputs; the engine would hand the policies the same
inputs, with dependencies where one resource's input names another. Mocked IDs are
`<name>@<Type>` (stacks/mockrun.py), so a reference is found by the ID it holds.
"""

from __future__ import annotations

from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions

from desired.stack_settings import StackSettings
from policy.evaluate import PolicyResult, evaluate
from policy.rules import CONFIG_OPS_PREFIXES
from stacks.mockrun import StackRun

# What the engine would pass as a resource's options; no policy reads them.
_OPTIONS = PolicyResourceOptions(
    protect=False,
    ignore_changes=[],
    delete_before_replace=None,
    aliases=[],
    custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
    additional_secret_outputs=[],
)


def _referenced_ids(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [i for v in value.values() for i in _referenced_ids(v)]
    if isinstance(value, list):
        return [i for v in value for i in _referenced_ids(v)]
    return []


def policy_resources(run: StackRun) -> list[PolicyResource]:
    """A mock run as the policy engine would see it, dependencies taken from references."""
    made = {
        r.id: PolicyResource(r.type, r.inputs, r.urn, r.name, _OPTIONS, None, None, [], {})
        for r in run.resources
    }
    for resource in run.resources:
        made[resource.id].dependencies = [
            made[i] for i in _referenced_ids(resource.inputs) if i in made and i != resource.id
        ]
    return list(made.values())


def check_policies(run: StackRun, settings: StackSettings) -> list[PolicyResult]:
    """Every policy of the pack over one stack's mock run, with the stack's ops management
    prefixes as the policy config."""
    config = {CONFIG_OPS_PREFIXES: list(settings.ops_management_prefixes)}
    return evaluate(policy_resources(run), config)
