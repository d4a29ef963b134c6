"""What a drill measures from the client's output, the gate's judgement, the recovery order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from dr import measure
from dr.engine import Play, _ranges
from dr.gate import ReplicationStatus, StackCheck, replication_problem
from dr.probe import find_missing
from dr.targets import Scope, Target, recovery_order
from govcloud.errors import BadInputError
from govcloud.model import DrPolicy, Tier
from govcloud.registry.dr_state import DrillKind
from lab.workload.client import Tally, summary

CORE = DrPolicy(replication="streaming-sync", standby="hot", rpo_s=0, rto_s=30)
IMPORTANT = DrPolicy(replication="streaming-async", standby="hot", rpo_s=5, rto_s=120)
GENERAL = DrPolicy(replication="backup", standby="cold", rpo_s=3600, rto_s=600, backup_every_min=60)
STARTED_AT = 1_800_000_000.0  # the client's wall-clock start (dr.probe adds it)
RATE = 200


def tally_with_gap(gap_at: float, gap_s: float, seconds: float = 20.0) -> dict[str, Any]:
    """A client summary (the client's own `summary`) with writes every 5 ms and one gap."""
    began = 100.0
    times = [began + i / RATE for i in range(int(gap_at * RATE))]
    resume = began + gap_at + gap_s
    times += [resume + i / RATE for i in range(int((seconds - gap_at - gap_s) * RATE))]
    acks = [(t, n) for n, t in enumerate(times, start=1)]
    result = summary(Tally(acks=acks, latencies=[0.004] * len(acks)), start=1,
                     issued=len(acks), began=began, rate=RATE)  # fmt: skip
    return {"started_at": STARTED_AT, **result}


def test_rto_is_the_outage_covering_the_fault() -> None:
    tally = tally_with_gap(gap_at=5.0, gap_s=12.0)
    window = (STARTED_AT + 5.2, STARTED_AT + 16.0)  # fault after the last ack, playbook end
    found = measure.measure(DrillKind.FAILOVER, IMPORTANT, tally, [], window)
    assert found.rto_s == pytest.approx(12.0, abs=0.01)
    assert found.rpo_s == 0.0 and found.lost_writes == 0
    assert found.met and found.level_met == 5  # no loss, but asynchronous means stop at 5
    assert found.level_claimed == 5


def test_an_outage_outside_the_window_is_not_the_drills() -> None:
    tally = tally_with_gap(gap_at=2.0, gap_s=1.0)
    window = (STARTED_AT + 10.0, STARTED_AT + 12.0)
    rto, recovered = measure.rto(tally, window)
    assert recovered and rto == measure.OUTAGE_FLOOR_S  # the client's resolution, never 0


def test_lost_writes_give_the_rpo_as_the_span_they_cover() -> None:
    tally = tally_with_gap(gap_at=5.0, gap_s=3.0)
    lost = list(range(401, 1001))  # 600 writes at 200/s: three seconds of data
    found = measure.measure(
        DrillKind.FAILOVER, IMPORTANT, tally, lost, (STARTED_AT + 4.0, STARTED_AT + 9.0)
    )
    assert found.lost_writes == 600 and found.rpo_s == 3.0
    assert found.met  # within important's 5 s
    core = measure.measure(
        DrillKind.FAILOVER, CORE, tally, lost, (STARTED_AT + 4.0, STARTED_AT + 9.0)
    )
    assert not core.met and "RPO 3 s over the target 0 s" in core.why
    assert core.level_met == 5  # seconds of loss: real-time transmission, not zero loss


def test_a_target_missed_by_the_outage_is_named() -> None:
    tally = tally_with_gap(gap_at=2.0, gap_s=40.0, seconds=50.0)
    found = measure.measure(
        DrillKind.FAILOVER, CORE, tally, [], (STARTED_AT + 2.1, STARTED_AT + 41.0)
    )
    assert found.rto_s == pytest.approx(40.0, abs=0.01)
    assert not found.met and found.why == ("RTO 40.005 s over the target 30 s",)


def test_a_client_still_failing_at_the_end_saw_no_recovery() -> None:
    tally = tally_with_gap(gap_at=5.0, gap_s=1.0) | {"unacknowledged": [4001, 4002]}
    found = measure.measure(DrillKind.FAILOVER, IMPORTANT, tally, [], (STARTED_AT, STARTED_AT + 10))
    assert found.rto_s is None and not found.recovered and not found.met
    assert found.level_met is None


def test_a_planned_switchover_that_loses_a_write_misses() -> None:
    tally = tally_with_gap(gap_at=5.0, gap_s=1.0)
    found = measure.measure(
        DrillKind.SWITCHOVER, GENERAL, tally, [700], (STARTED_AT + 4.0, STARTED_AT + 7.0)
    )
    assert not found.met
    assert "a planned switchover lost 1 acknowledged writes" in found.why


def test_a_test_drill_is_judged_on_production_and_the_copy() -> None:
    quiet = tally_with_gap(gap_at=19.0, gap_s=0.0)
    window = (STARTED_AT + 3.0, STARTED_AT + 15.0)
    found = measure.measure(
        DrillKind.TEST, IMPORTANT, quiet, [], window,
        validation={"ok": True, "rows": 10, "lag_s": 0.4}, copy_ready_s=9.5,
    )  # fmt: skip
    assert (found.rto_s, found.rpo_s, found.met) == (9.5, 0.4, True)
    hurt = tally_with_gap(gap_at=6.0, gap_s=2.0)
    disturbed = measure.measure(
        DrillKind.TEST, IMPORTANT, hurt, [], window,
        validation={"ok": True, "rows": 10, "lag_s": 0.4}, copy_ready_s=9.5,
    )  # fmt: skip
    assert not disturbed.met
    assert disturbed.why[0].startswith("the test drill disturbed production")
    retried = measure.measure(
        DrillKind.TEST, IMPORTANT, quiet | {"failed_attempts": 3}, [], window,
        validation={"ok": True, "rows": 10, "lag_s": 0.4}, copy_ready_s=9.5,
    )  # fmt: skip
    assert not retried.met  # a failed write is a disturbance, however short


def test_a_failed_validation_misses_whatever_the_figures() -> None:
    tally = tally_with_gap(gap_at=5.0, gap_s=1.0)
    found = measure.measure(
        DrillKind.FAILOVER, IMPORTANT, tally, [], (STARTED_AT + 4, STARTED_AT + 7),
        validation={"ok": False, "rows": 0},
    )  # fmt: skip
    assert not found.met and "the playbook's validation failed" in found.why


def _counter(held: Iterable[int]) -> Any:
    present = set(held)
    calls = []

    def count(low: int, high: int) -> int:
        calls.append((low, high))
        return sum(low <= n <= high for n in present)

    count.calls = calls  # type: ignore[attr-defined]
    return count


def test_missing_writes_are_found_by_halving_in_few_requests() -> None:
    lost = set(range(90_001, 91_001)) | {12_345}
    count = _counter(set(range(1, 100_001)) - lost)
    assert find_missing(count, 1, 100_000, []) == sorted(lost)
    assert len(count.calls) < 120


def test_an_unacknowledged_write_is_never_counted_lost_whether_or_not_it_committed() -> None:
    # 50 was never acknowledged but committed; 60 was neither; 70 was acknowledged and lost.
    count = _counter(set(range(1, 101)) - {60, 70})
    assert find_missing(count, 1, 100, [50, 60]) == [70]
    assert find_missing(_counter(range(1, 101)), 1, 100, [50]) == []
    assert find_missing(_counter([]), 5, 9, [7]) == [5, 6, 8, 9]


def test_lost_numbers_are_kept_as_runs() -> None:
    assert _ranges([5, 3, 4, 9, 10, 12]) == [[3, 5], [9, 10], [12, 12]]


def _status(**fields: Any) -> ReplicationStatus:
    document = {"replication": "streaming-async", "state": "streaming", "lag_s": 0.2} | fields
    return ReplicationStatus.from_document("gaj/jingwu", document)


def test_the_gate_passes_healthy_replication_within_its_bound() -> None:
    assert replication_problem(IMPORTANT, _status(), now=0) is None
    assert replication_problem(CORE, _status(replication="streaming-sync", lag_s=0.01), 0) is None
    backed_up = _status(replication="backup", last_backup_at=100)
    assert replication_problem(GENERAL, backed_up, 3000) is None


@pytest.mark.parametrize(
    ("policy", "fields", "now", "reason"),
    [
        (IMPORTANT, {"replication": "none", "state": "stopped"}, 0, "replication is none"),
        (IMPORTANT, {"lag_s": 7.5}, 0, "lags 7.5 s, over the bound of 5 s"),
        (IMPORTANT, {"lag_s": None}, 0, "lag unknown"),
        (CORE, {"replication": "streaming-async"}, 0, "its policy wants streaming-sync"),
        (CORE, {"replication": "streaming-sync", "lag_s": 4.0}, 0, "over the bound of 1 s"),
        (GENERAL, {"replication": "backup"}, 0, "no backup at the DR site"),
        (GENERAL, {"replication": "backup", "last_backup_at": 0}, 4000, "4000 s old"),
    ],
)
def test_the_gate_refuses_broken_or_lagging_replication(
    policy: DrPolicy, fields: dict[str, Any], now: float, reason: str
) -> None:
    problem = replication_problem(policy, _status(**fields), now)
    assert problem is not None and reason in problem and problem.startswith("gaj/jingwu")


def test_a_malformed_status_document_is_a_broken_replication() -> None:
    status = ReplicationStatus.from_document("gaj/jingwu", {"lag_s": "soon"})
    assert (status.replication, status.state, status.lag_s) == ("none", "unknown", None)


def test_a_drifted_dr_region_is_refused_with_its_counts() -> None:
    assert StackCheck(True, 0, 0, 0, "RegionTwo").problem() is None
    problem = StackCheck(False, 2, 1, 0, "RegionTwo").problem()
    assert problem is not None and "2 to create, 1 to update, 0 to delete" in problem


def _target(system: str, *depends_on: str) -> Target:
    return Target(system, system.partition("/")[0], Tier.CORE, CORE, depends_on)


def test_dependencies_recover_first_and_a_loop_keeps_name_order() -> None:
    order = recovery_order(
        [_target("a/web", "b/db"), _target("b/db", "c/auth"), _target("c/auth"), _target("a/x")]
    )
    assert [t.system for t in order] == ["c/auth", "b/db", "a/web", "a/x"]
    loop = recovery_order([_target("a/one", "a/two"), _target("a/two", "a/one")])
    assert sorted(t.system for t in loop) == ["a/one", "a/two"]


def test_the_tightest_rto_recovers_first_after_what_it_needs() -> None:
    def target(system: str, tier: Tier, policy: DrPolicy, *depends_on: str) -> Target:
        return Target(system, "b", tier, policy, depends_on)

    # A department drill: by name, the general system's restore would hold up the core one.
    files = target("b/files", Tier.GENERAL, GENERAL)
    ledger = target("b/ledger", Tier.CORE, CORE)
    notes = target("b/notes", Tier.IMPORTANT, IMPORTANT)
    assert [t.system for t in recovery_order([files, notes, ledger])] == [
        "b/ledger",
        "b/notes",
        "b/files",
    ]
    # ...unless the core system needs it: then it comes first all the same.
    needy = target("b/ledger", Tier.CORE, CORE, "b/files")
    assert [t.system for t in recovery_order([notes, files, needy])] == [
        "b/files",
        "b/ledger",
        "b/notes",
    ]


@pytest.mark.parametrize(
    "fields",
    [{}, {"system": "a/b", "tier": "core"}, {"tier": "gold"}, {"system": "ab"}],
)
def test_a_scope_names_exactly_one_thing(fields: dict[str, str]) -> None:
    with pytest.raises(BadInputError):
        Scope(**fields)


def test_a_playbooks_result_is_read_defensively(tmp_path: Any) -> None:
    play = Play(0, {"events": [{"step": "promoted", "at": 5}, {"step": "x"}, 3]}, 1.0, 2.0,
                tmp_path / "log")  # fmt: skip
    assert play.events == [{"step": "promoted", "at": 5.0}]
    assert not play.ok  # no validation given: not validated
    assert Play(0, {"validation": {"ok": True}}, 1.0, 2.0, tmp_path / "log").ok
