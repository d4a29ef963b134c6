"""The DR stack as a drill sees it: its replicas (the program's outputs, under mocks) and its
plan against the live DR region (`cloud.plan`, the same comparison `govcloud plan` makes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloud import inventory
from cloud.plan.diff import Action
from cloud.plan.run import DesiredSide, collect_desired, load_stacks, plan_against, stack_region
from desired.stack_settings import stack_county
from dr.gate import StackCheck
from govcloud.model import County
from govcloud.settings import get_settings
from lab.localcloud.layout import default_cloud

DR_STACK = "dr"


@dataclass
class DrStack:
    """The county, the DR program's run and where its region is."""

    county: County
    side: DesiredSide
    region: str

    @property
    def outputs(self) -> Mapping[str, Any]:
        """The DR stack's outputs (`dr_replicas`, `replicated_systems`, `dr_networks`)."""
        return self.side.run.outputs


def load(project_dir: Path, county_dir: Path | None) -> DrStack:
    """Run the DR program (and the primary's, for its outputs) under mocks."""
    settings = get_settings()
    stacks = load_stacks(project_dir, DR_STACK)
    county = stack_county(county_dir, settings, stacks["primary"])
    side = collect_desired(
        DR_STACK, stacks=stacks, county=county, registry_url=settings.registry_url()
    )
    return DrStack(county, side, stack_region(DR_STACK, county))


def check(stack: DrStack, cloud: str | None) -> StackCheck:
    """The DR stack's plan against the live DR region (exit 3 when it cannot be read)."""
    name, config = default_cloud(get_settings().localcloud_root(), cloud)
    snapshot = inventory.read(cloud or name, regions=[stack.region], config_file=config)
    totals = plan_against(stack.side, snapshot).report.totals()
    changes = {a: totals[a] for a in (Action.CREATE, Action.UPDATE, Action.DELETE)}
    return StackCheck(
        in_sync=not any(changes.values()),
        create=changes[Action.CREATE],
        update=changes[Action.UPDATE],
        delete=changes[Action.DELETE],
        region=stack.region,
    )
