"""The engine's live read of replication over a site that runs only some of the county's
systems (a lab built with some workloads, as the DR lab's): those it places are read, the
others read as broken, naming why, instead of `dr status --lab` refusing them all."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dr.engine import Engine, Site
from dr.gate import replication_problem
from dr.targets import Target
from govcloud.errors import BadInputError
from govcloud.model import DrPolicy, Tier
from govcloud.sites import Placement

IMPORTANT = DrPolicy(replication="streaming-async", standby="hot", rpo_s=5, rto_s=120)
RUN = "beta/notes"  # the lab runs it
ABSENT = "alpha/web"  # on the cloud and replicated, but not a workload of this lab
ABSENT_WHY = "lab 'drb' runs no workload 'alpha/web' (it runs: beta/notes)"
STREAMING = {"replication": "streaming-async", "state": "streaming", "lag_s": 0.2, "lag_bytes": 64}


def _unused(*_: Any) -> Any:
    pytest.fail("a status read touches neither the registry, probes nor faults")


def _placement(system: str) -> Placement:
    if system == ABSENT:
        raise BadInputError(ABSENT_WHY)
    return Placement(system, system.partition("/")[0], {"dr_system": system})


def test_a_system_the_site_does_not_run_reads_as_broken_and_the_others_are_read(
    tmp_path: Path,
) -> None:
    ran: list[str] = []

    def execute(playbook: str, variables: Mapping[str, Any], secret: str, log: Path) -> int:
        ran.append(f"{playbook} {variables['dr_system']}")
        Path(variables["dr_result_file"]).write_text(json.dumps(STREAMING))
        return 0

    engine = Engine(
        sessions=_unused,
        site=Site(placement=_placement, execute=execute, probe=_unused, faults=_unused),
        root=tmp_path / "dr",
        actor="test:dr",
    )
    targets = [Target(s, s.partition("/")[0], Tier.IMPORTANT, IMPORTANT, ()) for s in (ABSENT, RUN)]
    found = engine.statuses(targets)
    assert ran == [f"dr-status.yml {RUN}"]
    assert (found[RUN].replication, found[RUN].state, found[RUN].lag_s) == (
        "streaming-async",
        "streaming",
        0.2,
    )
    absent = found[ABSENT]
    assert (absent.replication, absent.state) == ("none", f"not read: {ABSENT_WHY}")
    # To a gate it is broken, never healthy.
    assert replication_problem(IMPORTANT, absent, 0.0) is not None
