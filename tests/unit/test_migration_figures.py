"""What a move's figures say: the client's outages and the runner's downtime."""

from __future__ import annotations

import pytest

from govcloud.registry.migration_state import MigrationMode
from lab.workload.client import Tally, summary
from migration.runner import measured


def test_the_client_lists_every_gap_and_names_the_longest() -> None:
    # Writes every 5 ms from t=100, a 0.6 s gap at 101, a 3 s gap at 102.
    times = [100 + i * 0.005 for i in range(200)] + [101.6 + i * 0.005 for i in range(80)]
    times += [102.0 + 3.0 + i * 0.005 for i in range(10)]
    acks = [(t, n) for n, t in enumerate(times, start=1)]
    tally = Tally(acks=acks, latencies=[0.01] * len(times))
    result = summary(tally, start=1, issued=len(times), began=100.0, rate=200)
    assert [o["began_s"] for o in result["outages"]] == [0.995, 1.995]
    assert result["outages"][0]["seconds"] == pytest.approx(0.605, abs=0.002)
    assert result["outages"][1]["seconds"] == pytest.approx(3.005, abs=0.002)
    assert result["outage_s"] == result["outages"][1]["seconds"]
    assert result["outage_began_s"] == 1.995


def test_a_gap_at_the_start_counts_from_when_the_client_began() -> None:
    tally = Tally(acks=[(130.0, 1), (130.005, 2)], latencies=[0.01, 0.01])
    result = summary(tally, start=1, issued=2, began=100.0, rate=200)
    assert result["outage_s"] == 30.0 and result["outage_began_s"] == 0.0
    assert result["outages"] == [{"began_s": 0.0, "seconds": 30.0}]


def test_warm_downtime_runs_from_the_name_moving_to_the_promotion() -> None:
    timings = {"name_moved_at": 10.0, "writes_stopped_at": 12.0, "promoted_at": 13.5}
    assert measured(timings, MigrationMode.WARM)["downtime_s"] == 3.5


def test_warm_downtime_leaves_out_the_comparison_after_the_promotion() -> None:
    # The name file is written after the data was compared; the promotion is what counts.
    timings = {"writes_stopped_at": 12.0, "promoted_at": 13.0}
    assert measured(timings, MigrationMode.WARM)["downtime_s"] == 1.0


def test_cold_downtime_runs_from_stopping_the_source_to_moving_the_name() -> None:
    timings = {"writes_stopped_at": 12.0, "promoted_at": 20.0, "name_moved_at": 40.0}
    assert measured(timings, MigrationMode.COLD)["downtime_s"] == 28.0


def test_rows_are_summed_over_the_compared_queries() -> None:
    timings = {"source_stats": ["6|6|123", "1000|99"], "target_stats": ["6|6|123", "1000|99"]}
    figures = measured(timings, MigrationMode.WARM)
    assert figures["rows_source"] == figures["rows_target"] == 1006
    assert figures["downtime_s"] is None
