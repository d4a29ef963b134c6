"""Run the sample county's stacks under Pulumi mocks once, for the stack and policy tests."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from pulumi_policy import PolicyResource, ResourceValidationArgs

from desired.stack_settings import load_settings
from desired.state import DesiredState, build_desired
from stacks.mockrun import DesiredResource, StackRun, run_stack

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class SampleStacks:
    """Both stacks of the sample county, run under mocks."""

    primary_desired: DesiredState
    dr_desired: DesiredState
    primary: StackRun
    dr: StackRun


@functools.cache
def run_sample(project_dir: Path = REPO) -> SampleStacks:
    """Run the primary stack, then the DR stack against the primary's outputs (once per
    session: the stack and policy tests share it and only read it)."""
    primary_settings = load_settings(project_dir, "primary")
    dr_settings = load_settings(project_dir, "dr")
    primary_desired = build_desired(primary_settings)
    dr_desired = build_desired(dr_settings, county=primary_desired.county)
    primary = run_stack(primary_desired)
    dr = run_stack(dr_desired, {dr_settings.primary_stack: primary.outputs})
    return SampleStacks(primary_desired, dr_desired, primary, dr)


def num(value: object) -> int:
    """Mocked numbers arrive as floats (protobuf Struct); compare them as ints."""
    assert isinstance(value, int | float), value
    return int(value)


def by_name(resources: list[DesiredResource]) -> dict[str, DesiredResource]:
    """Resources keyed by their physical name input."""
    return {str(r.inputs.get("name")): r for r in resources}


def resource_args(resource: PolicyResource) -> ResourceValidationArgs:
    """The arguments a resource policy gets for one resource."""
    return ResourceValidationArgs(
        resource.resource_type, resource.props, resource.urn, resource.name, resource.opts, None
    )
