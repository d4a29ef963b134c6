"""上云率 over time: the baseline `migrate plan --save` takes, a sample for every step that brings a
system onto the cloud or takes it back off (in the step's own transaction), each wave's
progress, and `govcloud migrate progress` with its charts, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from clirunner import REPO, govcloud
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from govcloud import progress
from govcloud.loader import load_county
from govcloud.registry import cloud_rate, db
from govcloud.registry.migration_state import MigrationState
from govcloud.registry.tables import CloudRateSample, MigrationSystem
from govcloud.status import county_status
from migration import journal

SAMPLE = REPO / "county"
SYSTEM = "cgj/zhifa"  # a legacy system of the sample county's


def _baseline(session: Session) -> None:
    progress.take_baseline(session, load_county(SAMPLE))


def _step(engine: Engine, hold: journal.Hold, during: MigrationState, ends: MigrationState) -> None:
    sessions = db.session_factory(engine)
    entry, _ = journal.begin_step(sessions, hold, "run", "step", during)
    journal.end_step(sessions, hold, entry, ok=True, state=ends)


def test_a_cutover_and_a_rollback_move_the_curve_in_their_own_transaction(
    registry: Engine,
) -> None:
    sessions = db.session_factory(registry)
    with sessions() as session, session.begin():
        _baseline(session)
    with sessions() as session:
        start = cloud_rate.history(session)[-1]
        department = cloud_rate.history(session, "cgj")[-1]
    hold, _ = journal.acquire(sessions, SYSTEM, "cgj", "test:progress")
    # Replication and testing leave the system where it runs: no sample.
    _step(registry, hold, MigrationState.REPLICATING, MigrationState.READY_FOR_CUTOVER)
    with sessions() as session:
        assert len(cloud_rate.history(session)) == 1
    _step(registry, hold, MigrationState.READY_FOR_CUTOVER, MigrationState.CUT_OVER)
    _step(registry, hold, MigrationState.CUT_OVER, MigrationState.VALIDATED)  # still on: none
    with sessions() as session:
        county = cloud_rate.history(session)
        cgj = cloud_rate.history(session, "cgj")
    assert [p.on_cloud for p in county] == [start.on_cloud, start.on_cloud + 1]
    assert county[-1].eligible == start.eligible
    assert [p.on_cloud for p in cgj] == [department.on_cloud, department.on_cloud + 1]
    # The rollback takes it off the cloud again.
    _step(registry, hold, MigrationState.VALIDATED, MigrationState.READY_FOR_CUTOVER)
    journal.release(sessions, hold)
    with sessions() as session:
        county = cloud_rate.history(session)
        row = session.get(MigrationSystem, SYSTEM)
        assert row is not None and row.state == MigrationState.READY_FOR_CUTOVER
    assert [p.on_cloud for p in county] == [start.on_cloud, start.on_cloud + 1, start.on_cloud]
    assert county[0].at <= county[1].at <= county[2].at


def test_a_baseline_again_adds_only_what_changed(registry: Engine) -> None:
    sessions = db.session_factory(registry)
    with sessions() as session, session.begin():
        _baseline(session)
    with sessions() as session, session.begin():
        _baseline(session)  # nothing moved: nothing added
    with sessions() as session:
        departments = len(load_county(SAMPLE).departments)
        assert session.execute(select(func.count(CloudRateSample.id))).scalar_one() == (
            departments + 1
        )
        assert len(cloud_rate.departments(session)) == departments


def test_without_a_baseline_a_move_records_nothing(registry: Engine) -> None:
    sessions = db.session_factory(registry)
    hold, _ = journal.acquire(sessions, SYSTEM, "cgj", "test:progress")
    _step(registry, hold, MigrationState.READY_FOR_CUTOVER, MigrationState.CUT_OVER)
    with sessions() as session:
        assert session.execute(select(func.count(CloudRateSample.id))).scalar_one() == 0


def test_progress_counts_waves_and_their_runs(registry: Engine) -> None:
    sessions = db.session_factory(registry)
    now = dt.datetime.now(dt.UTC)
    with sessions() as session, session.begin():
        for system, wave in (("cgj/zhifa", 1), ("cgj/shuzi", 1), ("sjj/shuju", 2)):
            session.add(
                MigrationSystem(
                    system=system,
                    department=system.split("/")[0],
                    wave=wave,
                    state=MigrationState.PLANNED.value,
                    updated_at=now,
                )
            )
    hold, _ = journal.acquire(sessions, "cgj/zhifa", "cgj", "test:progress")
    _step(registry, hold, MigrationState.READY_FOR_CUTOVER, MigrationState.CUT_OVER)
    journal.release(sessions, hold)
    with sessions() as session:
        found = progress.progress(session, load_county(SAMPLE))
    first, second = found.waves
    assert (first.wave, first.systems, first.on_cloud) == (1, 2, 1)
    assert first.actual is not None and first.actual[0] <= first.actual[1]
    assert (second.wave, second.systems, second.on_cloud, second.actual) == (2, 1, 0, None)
    # The sample county's waves are dated: the plan's transfer windows come with them.
    assert first.planned is not None and second.planned is not None
    assert second.planned[0] > first.planned[1]
    assert found.status.total.on_cloud == county_status(load_county(SAMPLE)).total.on_cloud + 1


def _env(registry_url: str) -> dict[str, str]:
    return {"GOVCLOUD_DATABASE_URL": registry_url, "GOVCLOUD_ACTOR": "ops:li"}


def _run(tmp_path: Path, env: dict[str, str], *args: str) -> Any:
    result = govcloud(*args, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_the_progress_command_reports_the_curve_the_targets_and_draws_both_charts(
    registry_url: str, tmp_path: Path
) -> None:
    env = _env(registry_url)
    county = ("--county", str(SAMPLE))
    _run(tmp_path, env, "db", "upgrade")
    empty = json.loads(_run(tmp_path, env, "migrate", "progress", *county, "--json").stdout)
    assert empty["history"] == [] and empty["waves"] == []
    _run(tmp_path, env, "migrate", "plan", *county, "--save")
    found = json.loads(_run(tmp_path, env, "migrate", "progress", *county, "--json").stdout)
    status = json.loads(_run(tmp_path, env, "status", *county, "--json").stdout)
    total = status["total"]
    assert (found["on_cloud"], found["eligible"]) == (total["on_cloud"], total["eligible"])
    assert [(p["on_cloud"], p["eligible"]) for p in found["history"]] == [
        (total["on_cloud"], total["eligible"])
    ]
    assert found["targets"] == {"2021": 70, "2022": 80, "2025": 95}
    assert (found["target"], found["target_year"]) == (status["target"], status["target_year"])
    assert found["meets_target"] is (total["cloud_rate"] >= found["target"])
    planned = json.loads(_run(tmp_path, env, "migrate", "plan", *county, "--json").stdout)
    assert [(w["wave"], w["systems"]) for w in found["waves"]] == [
        (w["wave"], len(w["systems"])) for w in planned["waves"]
    ]
    assert set(found["departments"]) == {d["code"] for d in status["departments"]}

    charts = tmp_path / "charts"
    text = _run(
        tmp_path, env, "migrate", "progress", *county, "--charts", str(charts),
        "--department", "gaj",
    ).stdout  # fmt: skip
    assert "上云率" in text and "95%" in text
    rate = (charts / "cloud-rate.svg").read_text(encoding="utf-8")
    waves = (charts / "waves.svg").read_text(encoding="utf-8")
    assert rate.startswith("<?xml") and "<svg" in rate
    assert "上云率 on-cloud rate" in rate and "2025: 95%" in rate and "公安局" in rate
    for wave in planned["waves"]:
        assert f"wave {wave['wave']}" in waves
    assert f"0/{len(planned['waves'][0]['systems'])}" in waves


def test_an_unknown_department_is_refused_and_nothing_is_written(
    registry_url: str, tmp_path: Path
) -> None:
    env = _env(registry_url)
    _run(tmp_path, env, "db", "upgrade")
    charts = tmp_path / "charts"
    result = govcloud(
        "migrate", "progress", "--county", str(SAMPLE), "--charts", str(charts),
        "--department", "nosuch", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert "nosuch" in result.stderr and "no such department" in result.stderr
    assert not charts.exists()
