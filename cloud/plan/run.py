"""Plan one stack: run the program under mocks, read the live cloud, compare."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cloud.inventory import Snapshot
from cloud.plan import desired_cache
from cloud.plan.diff import PlanReport, diff
from cloud.plan.items import Item
from cloud.plan.live_items import Scope, live_items
from cloud.plan.policies import check_policies
from cloud.plan.stack_items import desired_items
from desired.stack_settings import StackSettings, load_settings
from desired.state import DesiredState, build_desired, read_registry
from govcloud.conventions import STACK_SITE, STACKS
from govcloud.errors import BadInputError
from govcloud.model import County
from policy.evaluate import PolicyResult
from stacks.mockrun import StackRun, run_stack

PROJECT_FILE = "Pulumi.yaml"


@dataclass
class DesiredItems:
    """A stack's desired items and the state they were built from."""

    stack: str
    state: DesiredState
    items: list[Item]
    not_compared: dict[str, int]
    seconds: float
    reused: bool = False  # taken from the desired cache, the program not run

    @property
    def scope(self) -> Scope:
        """What this stack manages in the live cloud."""
        return Scope(
            county_code=self.state.county.code,
            regions=frozenset({self.state.site.region}),
            projects=self.stack == "primary",
        )


@dataclass
class DesiredSide(DesiredItems):
    """A stack's desired items, with the mock run that produced them (for the policy pack)."""

    run: StackRun = field(kw_only=True)

    @functools.cached_property
    def policies(self) -> list[PolicyResult]:
        """The policy pack over this stack's mock run (evaluated once, when first asked)."""
        return check_policies(self.run, self.state.settings)

    @property
    def blocked_by(self) -> list[PolicyResult]:
        """The mandatory policies this stack violates: it must not be deployed."""
        return [p for p in self.policies if p.blocks]


@dataclass
class StackPlan:
    """The plan of one stack against one live snapshot."""

    stack: str
    cloud: str
    region: str
    report: PlanReport
    desired: int
    live: int
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    policies: list[PolicyResult] = field(default_factory=list)

    @property
    def blocked_by(self) -> list[PolicyResult]:
        """The mandatory policies the stack violates: it must not be deployed."""
        return [p for p in self.policies if p.blocks]

    @property
    def clean(self) -> bool:
        """In sync and no mandatory policy violated: `govcloud plan` exits 0."""
        return self.report.in_sync and not self.blocked_by


def load_stacks(project_dir: Path, stack: str) -> dict[str, StackSettings]:
    """The settings of `stack` and of the primary stack (the DR program reads the primary's
    outputs), each `Pulumi.<stack>.yaml` read once. Refuses a directory without Pulumi.yaml and
    an unknown stack (exit 2, naming the fix)."""
    if not (project_dir / PROJECT_FILE).is_file():
        raise BadInputError(
            f"no {PROJECT_FILE} in {project_dir}: run from the repository root or pass "
            "--project-dir"
        )
    if stack not in STACKS:
        raise BadInputError(f"unknown stack {stack!r}; the stacks are {', '.join(STACKS)}")
    return {name: load_settings(project_dir, name) for name in dict.fromkeys(("primary", stack))}


def stack_region(stack: str, county: County) -> str:
    """The region a stack deploys to."""
    return county.site(STACK_SITE[stack]).region


def collect_desired(
    stack: str,
    *,
    stacks: Mapping[str, StackSettings],
    county: County,
    registry_url: str | None = None,
) -> DesiredSide:
    """Run the stack (and for DR the primary first, for its StackReference) under mocks.

    `stacks` comes from `load_stacks`; the county and the registry are read by the caller and
    here once, and shared by both programs."""
    return collect_stacks((stack,), stacks=stacks, county=county, registry_url=registry_url)[stack]


def collect_stacks(
    names: Iterable[str],
    *,
    stacks: Mapping[str, StackSettings],
    county: County,
    registry_url: str | None = None,
) -> dict[str, DesiredSide]:
    """The desired side of each named stack, the primary program run once for all of them
    (the DR program reads its outputs); `stacks` holds the settings of each and the primary."""
    started = time.perf_counter()
    wanted = list(dict.fromkeys(names))
    states = desired_states(wanted, stacks=stacks, county=county, registry_url=registry_url)
    return _run_programs(wanted, states, started)


def desired_states(
    names: Iterable[str],
    *,
    stacks: Mapping[str, StackSettings],
    county: County,
    registry_url: str | None = None,
) -> dict[str, DesiredState]:
    """The desired state of the primary and of each named stack, from one registry read."""
    registry = read_registry(registry_url, county)
    return {
        name: build_desired(stacks[name], county=county, registry=registry)
        for name in dict.fromkeys(("primary", *names))
    }


def _run_programs(
    names: list[str], states: Mapping[str, DesiredState], started: float
) -> dict[str, DesiredSide]:
    primary = run_stack(states["primary"])
    sides: dict[str, DesiredSide] = {}
    for stack in names:
        if stack == "primary":
            run, references = primary, []
        else:
            settings = states[stack].settings
            run = run_stack(states[stack], {settings.primary_stack: primary.outputs})
            references = [primary]
        items, not_compared = desired_items(run, references)
        sides[stack] = DesiredSide(
            stack,
            states[stack],
            items,
            not_compared,
            seconds=time.perf_counter() - started,
            run=run,
        )
    return sides


def collect_items(
    names: Iterable[str],
    *,
    stacks: Mapping[str, StackSettings],
    county: County,
    registry_url: str | None = None,
    cache_dir: Path | None = None,
    reuse: bool = True,
) -> tuple[dict[str, DesiredItems], str]:
    """The desired items of each named stack and the digest of what they are made of; with
    `cache_dir`, reused from there while that digest is unchanged (`desired_cache`), else the
    programs run and the result is kept there. `reuse=False` runs them regardless (and keeps
    the result)."""
    started = time.perf_counter()
    wanted = list(dict.fromkeys(names))
    states = desired_states(wanted, stacks=stacks, county=county, registry_url=registry_url)
    key = desired_cache.inputs_digest(states, desired_cache.code_digest())
    found = desired_cache.load(cache_dir, key) if cache_dir is not None and reuse else None
    if found is not None and all(name in found for name in wanted):
        seconds = time.perf_counter() - started
        return {
            name: DesiredItems(
                name,
                states[name],
                found[name].items,
                found[name].not_compared,
                seconds,
                reused=True,
            )
            for name in wanted
        }, key
    # The programs run on the very states digested: a registry changed meanwhile is not mixed in.
    sides = _run_programs(wanted, states, started)
    if cache_dir is not None:
        desired_cache.store(
            cache_dir,
            key,
            {n: desired_cache.Entry(s.items, s.not_compared) for n, s in sides.items()},
        )
    return dict(sides), key


def plan_against(desired: DesiredSide, snapshot: Snapshot) -> StackPlan:
    """Compare a stack's desired items with a live snapshot."""
    started = time.perf_counter()
    policies = desired.policies
    checked = time.perf_counter()
    live = live_items(snapshot, desired.scope)
    report = diff(desired.items, live, desired.not_compared)
    return StackPlan(
        stack=desired.stack,
        cloud=snapshot.cloud,
        region=desired.state.site.region,
        report=report,
        desired=len(desired.items),
        live=len(live),
        seconds={
            "program": desired.seconds,
            "read": snapshot.seconds,
            "policies": checked - started,
            "diff": time.perf_counter() - checked,
        },
        warnings=desired.state.warnings,
        policies=policies,
    )
