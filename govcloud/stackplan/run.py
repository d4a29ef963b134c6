"""Plan one stack: run the program under mocks, read the live cloud, compare."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from govcloud.errors import BadInputError
from govcloud.inventory import Snapshot
from govcloud.loader import load_county
from govcloud.model import County
from govcloud.stackplan.desired import desired_items
from govcloud.stackplan.diff import PlanReport, diff
from govcloud.stackplan.items import Item
from govcloud.stackplan.live import Scope, live_items
from stacks.desired import DesiredState, build_desired
from stacks.mockrun import StackRun, run_stack
from stacks.settings import STACK_SITE, STACKS, load_settings

PROJECT_FILE = "Pulumi.yaml"


@dataclass
class DesiredSide:
    """A stack's desired items, with what produced them."""

    stack: str
    state: DesiredState
    run: StackRun
    items: list[Item]
    not_compared: dict[str, int]
    seconds: float

    @property
    def scope(self) -> Scope:
        """What this stack manages in the live cloud."""
        return Scope(
            county_code=self.state.county.code,
            regions=frozenset({self.state.site.region}),
            projects=self.stack == "primary",
        )


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


def check_project(project_dir: Path) -> None:
    """Refuse to plan outside a Pulumi project (exit 2, naming the fix)."""
    if not (project_dir / PROJECT_FILE).is_file():
        raise BadInputError(
            f"no {PROJECT_FILE} in {project_dir}: run from the repository root or pass "
            "--project-dir"
        )


def stack_region(stack: str, *, project_dir: Path, county: County | None = None) -> str:
    """The region a stack deploys to (read before the slow program run, to fail fast)."""
    if stack not in STACKS:
        raise BadInputError(f"unknown stack {stack!r}; the stacks are {', '.join(STACKS)}")
    settings = load_settings(project_dir, stack)
    county = county if county is not None else load_county(settings.county_dir)
    return county.site(STACK_SITE[stack]).region


def collect_desired(
    stack: str,
    *,
    project_dir: Path,
    county: County | None = None,
    registry_url: str | None = None,
) -> DesiredSide:
    """Run the stack (and for DR the primary first, for its StackReference) under mocks."""
    if stack not in STACKS:
        raise BadInputError(f"unknown stack {stack!r}; the stacks are {', '.join(STACKS)}")
    started = time.perf_counter()
    primary_settings = load_settings(project_dir, "primary")
    primary_state = build_desired(primary_settings, county=county, registry_url=registry_url)
    primary = run_stack(primary_state)
    if stack == "primary":
        state, run, references = primary_state, primary, []
    else:
        settings = load_settings(project_dir, stack)
        state = build_desired(settings, county=primary_state.county, registry_url=registry_url)
        run = run_stack(state, {settings.primary_stack: primary.outputs})
        references = [primary]
    items, not_compared = desired_items(run, references)
    return DesiredSide(
        stack, state, run, items, not_compared, seconds=time.perf_counter() - started
    )


def plan_against(desired: DesiredSide, snapshot: Snapshot) -> StackPlan:
    """Compare a stack's desired items with a live snapshot."""
    started = time.perf_counter()
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
            "diff": time.perf_counter() - started,
        },
        warnings=desired.state.warnings,
    )
