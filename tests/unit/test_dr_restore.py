"""A `backup` policy's drills: the restore step on the timeline, what a restore loses and how
old a restore test's copy is, and probe numbers no backup or earlier drill already holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dr import measure, probe
from dr.report import PHASES
from govcloud.model import DrPolicy
from govcloud.registry.dr_state import DrillKind, Step
from lab.workload.client import Tally, summary

GENERAL = DrPolicy(replication="backup", standby="cold", rpo_s=3600, rto_s=600, backup_every_min=60)
DR_TASKS = Path(__file__).resolve().parents[2] / "playbooks" / "roles" / "dr" / "tasks"
STARTED_AT = 1_800_000_000.0
RATE = 200


def _tally(gap_at: float, gap_s: float, seconds: float = 40.0) -> dict[str, Any]:
    """The client's summary: a write every 5 ms, one gap (the outage)."""
    times = [100.0 + i / RATE for i in range(int(gap_at * RATE))]
    resume = 100.0 + gap_at + gap_s
    times += [resume + i / RATE for i in range(int((seconds - gap_at - gap_s) * RATE))]
    acks = [(t, n) for n, t in enumerate(times, start=1)]
    result = summary(Tally(acks=acks, latencies=[0.004] * len(acks)), start=1,
                     issued=len(acks), began=100.0, rate=RATE)  # fmt: skip
    return {"started_at": STARTED_AT, **result}


def _noted_steps() -> set[str]:
    """Every `dr_event` the dr role's tasks note."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            event = node.get("dr_event")
            if isinstance(event, str) and "{" not in event:
                found.add(event)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in DR_TASKS.glob("*.yml"):
        walk(yaml.safe_load(path.read_text()))
    return found


def test_every_step_the_playbooks_note_is_a_timeline_step_with_its_phase() -> None:
    noted = _noted_steps()
    assert "restored" in noted
    assert noted <= {s.value for s in Step}, noted - {s.value for s in Step}
    assert set(PHASES) == {s.value for s in Step}
    assert PHASES[Step.RESTORED.value] == ("恢复", "restore")


def test_a_general_failover_loses_the_writes_since_its_backup_within_its_targets() -> None:
    tally = _tally(gap_at=5.0, gap_s=25.0)
    fault = STARTED_AT + 5.0
    since_backup = list(range(1, 5 * RATE + 1))  # every write before the fault: after the backup
    found = measure.measure(
        DrillKind.FAILOVER, GENERAL, tally, since_backup, (fault, fault + 30.0),
        validation={"ok": True, "rows": 300},
    )  # fmt: skip
    assert (found.rpo_s, found.lost_writes) == (5.0, 5 * RATE)
    assert found.rto_s == pytest.approx(25.0, abs=0.01)
    assert found.met and found.level_met == found.level_claimed == 4


def test_a_general_failover_over_its_targets_names_each() -> None:
    tally = _tally(gap_at=5.0, gap_s=25.0)
    fault = STARTED_AT + 5.0
    found = measure.measure(
        DrillKind.FAILOVER,
        DrPolicy(replication="backup", standby="cold", rpo_s=60, rto_s=20, backup_every_min=1),
        tally, list(range(1, 70 * RATE + 1)), (fault, fault + 30.0), validation={"ok": True},
    )  # fmt: skip
    assert not found.met
    assert [w.split(" over ")[1] for w in found.why] == ["the target 20 s", "the target 60 s"]
    assert found.why[1] == "RPO 70 s over the target 60 s"  # a backup older than its interval


def test_a_restore_test_is_as_old_as_its_backup() -> None:
    quiet = _tally(gap_at=39.0, gap_s=0.0)
    window = (STARTED_AT + 3.0, STARTED_AT + 20.0)

    def drill(age_s: float) -> measure.Measurement:
        return measure.measure(
            DrillKind.TEST, GENERAL, quiet, [], window,
            validation={"ok": True, "rows": 300, "lag_s": age_s}, copy_ready_s=8.0,
        )  # fmt: skip

    fresh = drill(1200.0)
    assert (fresh.rto_s, fresh.rpo_s, fresh.met) == (8.0, 1200.0, True)
    stale = drill(4000.0)
    assert not stale.met and stale.why == ("RPO 4000 s over the target 3600 s",)


def test_probe_numbers_never_repeat_across_drills_or_meet_a_tests_own() -> None:
    first = probe.first_number(STARTED_AT, RATE)
    an_hour_of_writes = first + RATE * 3600 - 1
    assert an_hour_of_writes < probe.first_number(STARTED_AT + 3600, RATE)
    assert first > 10**12  # far above a test client's numbers, which start at 1
    fastest = probe.first_number(STARTED_AT, probe.NUMBERS_PER_S)
    assert fastest + probe.NUMBERS_PER_S * 60 - 1 < probe.first_number(STARTED_AT + 60.001, RATE)


@pytest.mark.parametrize("rate", [0.0, -1.0, probe.NUMBERS_PER_S + 1.0])
def test_a_probe_rate_that_could_catch_up_with_the_clock_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="at most 1000 numbers a second"):
        probe.first_number(STARTED_AT, rate)
