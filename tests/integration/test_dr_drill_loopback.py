"""Drills measured with the real client: the lab's app and numbering client on loopback against
a real PostgreSQL, real outages (the app stopped, a lagging copy promoted), the engine's gate,
lock, records and report (tests/dr_loopback.py says what stands in for the playbooks)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from dr_loopback import (
    SYSTEM,
    LoopbackExecutor,
    LoopbackFaults,
    LoopbackProbe,
    LoopbackSystem,
    placement,
    prepare,
    probe_factory,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from audit import runs as audit_runs
from dr import engine as dr_engine
from dr import measure, report, store
from dr import probe as dr_probe
from dr.engine import Engine as DrillEngine
from dr.engine import FaultKind, Site
from dr.gate import StackCheck
from dr.targets import Scope, Target
from govcloud.errors import UnreachableError
from govcloud.model import DrPolicy, Tier
from govcloud.registry import audit_log, db
from govcloud.registry.dr_state import DrillKind, DrillOutcome, SystemState
from govcloud.registry.tables import AuditEntry, DrDrill

pytestmark = pytest.mark.postgres
IMPORTANT = DrPolicy(replication="streaming-async", standby="hot", rpo_s=5, rto_s=120)
IN_SYNC = StackCheck(True, 0, 0, 0, "RegionTwo")
LAG_S = 1.0  # the copy holds what was committed up to a second before the fault


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def system(postgres_url: str, postgres_admin_url: str, tmp_path: Path) -> Iterator[LoopbackSystem]:
    primary = _libpq(postgres_url)
    copy_name = f"{make_url(postgres_url).database}_dr"
    with psycopg.connect(_libpq(postgres_admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{copy_name}"')
    copy = _libpq(make_url(postgres_url).set(database=copy_name).render_as_string(False))
    for dsn in (primary, copy):
        prepare(dsn)
    found = LoopbackSystem(primary, copy, tmp_path)
    found.start_app("primary")
    try:
        yield found
    finally:
        found.stop_app()
        with psycopg.connect(_libpq(postgres_admin_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{copy_name}" WITH (FORCE)')


def test_the_outage_the_app_really_had_is_the_rto_and_nothing_is_lost(
    system: LoopbackSystem, tmp_path: Path
) -> None:
    probe = LoopbackProbe(system, tmp_path)
    probe.start()
    time.sleep(2.0)
    fault_at = system.stop_app()
    time.sleep(3.0)
    back_at = system.start_app("primary")
    time.sleep(2.0)
    tally = probe.stop()
    lost = probe.missing(tally)
    found = measure.measure(DrillKind.FAILOVER, IMPORTANT, tally, lost, (fault_at, back_at))
    assert tally["unacknowledged"] == [] and tally["failed_attempts"] > 0
    assert lost == [] and found.lost_writes == 0 and found.rpo_s == 0.0
    # The gap runs from the last write before the stop to the first after the restart.
    assert back_at - fault_at - 0.1 <= found.rto_s <= back_at - fault_at + 1.0, found  # type: ignore[operator]
    assert found.met and found.level_met == 5


def test_a_lagging_copy_promoted_loses_exactly_what_it_lacked(
    system: LoopbackSystem, tmp_path: Path
) -> None:
    probe = LoopbackProbe(system, tmp_path)
    probe.start()
    time.sleep(3.0)
    fault_at = system.stop_app()
    system.copy_lagging(fault_at - LAG_S)
    lacked = system.committed_after(fault_at - LAG_S)
    moved_at = system.start_app("copy")
    time.sleep(2.0)
    tally = probe.stop()
    lost = probe.missing(tally)
    assert lost is not None
    # Acknowledged and then lost: what the copy lacked, less the writes in flight at the
    # fault, which the client retried until the copy acknowledged them.
    retried = system.held_by_copy(lacked)
    assert set(lost) == (lacked & measure.acknowledged(tally)) - retried
    assert len(retried) <= 8  # at most one in flight per client thread
    assert len(lost) >= 0.5 * LAG_S * 100  # about a second at 100/s (a loaded machine: fewer)
    found = measure.measure(DrillKind.FAILOVER, IMPORTANT, tally, lost, (fault_at, moved_at))
    assert found.lost_writes == len(lost)
    assert 0.5 * LAG_S <= found.rpo_s <= 1.5 * LAG_S, found  # type: ignore[operator]
    core = DrPolicy(replication="streaming-sync", standby="hot", rpo_s=0, rto_s=30)
    assert not measure.measure(DrillKind.FAILOVER, core, tally, lost, (fault_at, moved_at)).met


def test_the_missing_writes_are_found_through_the_apps_interface_in_few_requests(
    system: LoopbackSystem,
) -> None:
    with psycopg.connect(system.primary_dsn) as connection:
        connection.execute("INSERT INTO records (seq) SELECT generate_series(1, 20000)")
        connection.execute("DELETE FROM records WHERE seq BETWEEN 15001 AND 15400 OR seq = 77")
    tally = {"first_seq": 1, "last_seq": 20000, "unacknowledged": [], "started_at": 0.0}
    found = dr_probe.missing(system.url, tally)
    assert found["missing"] == [77, *range(15001, 15401)]
    assert found["requests"] < 80


# -- the engine, end to end on this site ---------------------------------------------------------
@pytest.fixture
def sessions(registry: Engine) -> Callable[[], Session]:
    return db.session_factory(registry)


def _engine(
    sessions: Callable[[], Session], system: LoopbackSystem, executor: LoopbackExecutor,
    root: Path,
) -> DrillEngine:  # fmt: skip
    return DrillEngine(
        sessions=sessions,
        site=Site(
            placement=placement,
            execute=executor,
            probe=probe_factory(system),
            faults=LoopbackFaults(system, executor),
        ),
        root=root,
        actor="ops:wang",
    )


TARGET = Target(SYSTEM, "gaj", Tier.IMPORTANT, IMPORTANT, ())
SCOPE = Scope(system=SYSTEM)


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorter warm-up and settling than a lab drill needs (the client is local)."""
    monkeypatch.setattr(dr_engine, "WARMUP_S", 2.0)
    monkeypatch.setattr(dr_engine, "SETTLE_S", 2.0)


def _count(sessions: Callable[[], Session], table: type) -> int:
    with sessions() as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.usefixtures("quick")
def test_a_failover_drill_is_gated_locked_measured_recorded_and_reported(
    sessions: Callable[[], Session], system: LoopbackSystem, tmp_path: Path
) -> None:
    executor = LoopbackExecutor(system, lag_s=LAG_S)
    drills = _engine(sessions, system, executor, tmp_path / "dr")
    assert drills.setup([TARGET])[0]["ok"]
    done = drills.drill(DrillKind.FAILOVER, SCOPE, [TARGET], IN_SYNC, fault=FaultKind.DATABASE)
    assert executor.ran == ["dr-setup.yml", "dr-status.yml", "dr-failover.yml"]
    assert len(executor.secrets) == 1  # the password replication was set up with, every time
    secret_file = tmp_path / "dr" / "secrets" / "gaj-jingwu"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert done.outcome is DrillOutcome.MET and done.exit_code == 0
    result = done.results[0]
    assert result.state == SystemState.DR_SITE.value and result.met
    # Lost: what the copy lacked, less writes the stopped app never answered.
    assert executor.fault_at is not None
    lacked = system.committed_after(executor.fault_at - LAG_S)
    lost = {n for first, last in result.detail["lost"] for n in range(first, last + 1)}
    assert result.lost_writes == len(lost) > 0
    # A write in flight at the fault may have committed at the primary and, its answer lost,
    # been retried until the copy took it: held after all, so in `lacked` but not lost.
    probe = result.detail["probe"]
    assert lost <= lacked
    assert len(lacked - lost) <= probe["unacknowledged"] + probe["failed_attempts"]
    # The span they cover, on the client's schedule (a loaded machine lags it a little).
    assert result.rpo_s is not None and 0.5 * LAG_S <= result.rpo_s <= 1.5 * LAG_S
    assert result.rto_s is not None and 0.1 < result.rto_s < 20
    # The engine wrote the report as the drill ended.
    written = json.loads((drills.report_dir(done.drill) / "report.json").read_text())
    assert written["report"] == str(drills.report_dir(done.drill) / "report.html")
    steps = [e["step"] for e in written["timeline"]]
    for step in ("decision", "probe_started", "fault", "detected", "promoted", "validated"):
        assert step in steps
    assert steps.index("fault") < steps.index("promoted") < steps.index("validated")
    assert written["systems"][0]["lost_writes"] == result.lost_writes
    assert written["gate"]["replication"][SYSTEM]["lag_s"] == 0.2
    with sessions() as session:
        assert report.verify(session, done.drill)["ok"]
        assert audit_log.verify(session).ok
        logged = session.execute(
            select(AuditEntry.after).where(AuditEntry.action == "dr.report")
        ).scalar_one()
        row = session.get(DrDrill, done.drill)
        assert row is not None
        assert logged["files_sm3"] == {
            "report.html": row.report_sm3,
            "report.json": row.report_json_sm3,
        }
        setup = session.execute(
            select(AuditEntry.after).where(AuditEntry.action == "dr.setup")
        ).scalar_one()
        assert setup["ok"] and setup["playbook"] == "dr-setup.yml"
        # The audit's restore-tested item reads this drill as the system's restore test.
        assert audit_runs.drills_met(session) == {SYSTEM: db.as_utc(row.started_at)}
    # Served at the DR site now: another failover is refused until it fails back.
    with pytest.raises(store.DrillRefusedError, match="fail back first"):
        drills.drill(DrillKind.FAILOVER, SCOPE, [TARGET], IN_SYNC)
    back = drills.drill(DrillKind.FAILBACK, SCOPE, [TARGET], IN_SYNC)
    assert back.results[0].state == SystemState.PRIMARY.value
    assert executor.ran[-1] == "dr-failback.yml" and system.serving == "primary"


@pytest.mark.usefixtures("quick")
@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ({"lag_s": 9.0}, "lags 9 s, over the bound of 5 s"),
        ({"replication": "none", "state": "stopped"}, "replication is none (stopped)"),
    ],
)
def test_broken_or_lagging_replication_refuses_the_drill_and_changes_nothing(
    sessions: Callable[[], Session],
    system: LoopbackSystem,
    tmp_path: Path,
    status: dict[str, object],
    reason: str,
) -> None:
    executor = LoopbackExecutor(system, lag_s=LAG_S)
    executor.status |= status
    entries = _count(sessions, AuditEntry)
    with pytest.raises(store.DrillRefusedError, match=re.escape(reason)):
        _engine(sessions, system, executor, tmp_path / "dr").drill(
            DrillKind.FAILOVER, SCOPE, [TARGET], IN_SYNC
        )
    assert executor.ran == ["dr-status.yml"] and system.serving == "primary"
    assert _count(sessions, AuditEntry) == entries and _count(sessions, DrDrill) == 0


@pytest.mark.usefixtures("quick")
def test_a_drifted_dr_region_refuses_before_the_site_is_asked(
    sessions: Callable[[], Session], system: LoopbackSystem, tmp_path: Path
) -> None:
    executor = LoopbackExecutor(system, lag_s=LAG_S)
    drifted = StackCheck(False, 1, 0, 0, "RegionTwo")
    with pytest.raises(store.DrillRefusedError, match="differs from the DR stack"):
        _engine(sessions, system, executor, tmp_path / "dr").drill(
            DrillKind.FAILOVER, SCOPE, [TARGET], drifted
        )
    assert executor.ran == [] and _count(sessions, DrDrill) == 0


@pytest.mark.usefixtures("quick")
def test_a_failover_whose_validation_fails_falls_back_to_the_healthy_primary(
    sessions: Callable[[], Session], system: LoopbackSystem, tmp_path: Path
) -> None:
    executor = LoopbackExecutor(system, lag_s=LAG_S, validation_ok=False)
    done = _engine(sessions, system, executor, tmp_path / "dr").drill(
        DrillKind.FAILOVER, SCOPE, [TARGET], IN_SYNC
    )
    assert executor.ran == ["dr-status.yml", "dr-failover.yml", "dr-failback.yml"]
    assert done.outcome is DrillOutcome.FELL_BACK and done.exit_code == 1
    result = done.results[0]
    assert result.state == SystemState.PRIMARY.value and not result.met
    assert system.serving == "primary"
    # Back on the primary, resynchronised with what the copy took: nothing acknowledged is lost.
    assert result.lost_writes == 0
    assert "the playbook's validation failed" in result.detail["measurement"]["why"]


@pytest.mark.usefixtures("quick")
def test_a_drill_cut_short_is_recorded_stopped_with_its_report_and_frees_the_lock(
    sessions: Callable[[], Session], system: LoopbackSystem, tmp_path: Path
) -> None:
    executor = LoopbackExecutor(system, lag_s=LAG_S, unreachable="dr-failover.yml")
    drills = _engine(sessions, system, executor, tmp_path / "dr")
    with pytest.raises(UnreachableError, match="management network is down"):
        drills.drill(DrillKind.FAILOVER, SCOPE, [TARGET], IN_SYNC)
    with sessions() as session:
        drill = session.execute(select(DrDrill)).scalar_one()
        assert drill.outcome == DrillOutcome.STOPPED.value and drill.finished_at is not None
        assert report.verify(session, drill.id)["ok"]
        store.check_free(session)  # the lock is free again
        assert audit_log.verify(session).ok
    written = json.loads((drills.report_dir(drill.id) / "report.json").read_text())
    assert written["systems"][0]["met"] is False
    assert written["systems"][0]["state"] == SystemState.NOT_RUN.value


@pytest.mark.usefixtures("quick")
def test_a_failed_failover_with_an_unhealthy_primary_stops_and_says_where_it_is(
    sessions: Callable[[], Session], system: LoopbackSystem, tmp_path: Path
) -> None:
    executor = LoopbackExecutor(system, lag_s=LAG_S, validation_ok=False, primary_healthy=False)
    executor.status |= {"state": "promoted, serving"}
    done = _engine(sessions, system, executor, tmp_path / "dr").drill(
        DrillKind.FAILOVER, SCOPE, [TARGET], IN_SYNC
    )
    assert done.outcome is DrillOutcome.STOPPED and done.exit_code == 1
    result = done.results[0]
    assert result.state == SystemState.STOPPED.value and not result.met
    notes = result.detail["notes"]
    assert any(n.startswith("stopped: dr-failback.yml failed") for n in notes), notes
    assert "replication streaming-async, state promoted, serving" in notes
    assert executor.ran[-2:] == ["dr-failback.yml", "dr-status.yml"]


BACKED_UP = Target(
    SYSTEM,
    "gaj",
    Tier.GENERAL,
    DrPolicy(replication="backup", standby="cold", rpo_s=3600, rto_s=600, backup_every_min=60),
    (),
)


def test_scheduled_backups_run_when_due_and_are_audited(
    sessions: Callable[[], Session], system: LoopbackSystem, tmp_path: Path
) -> None:
    executor = LoopbackExecutor(system, lag_s=LAG_S)
    executor.status |= {"replication": "backup", "state": "setup", "lag_s": None}
    drills = _engine(sessions, system, executor, tmp_path / "dr")
    with psycopg.connect(system.primary_dsn) as connection:
        connection.execute("INSERT INTO records (seq) SELECT generate_series(1, 250)")
    now = time.time()
    first = drills.backup([BACKED_UP], due_only=True, now=now)  # never backed up: due
    assert [(r["ran"], r["ok"], r["rows"]) for r in first] == [(True, True, 250)]
    assert executor.ran == ["dr-status.yml", "dr-backup.yml"]
    # Ten minutes later it is not due (hourly); 59 minutes later it is (a scheduler's tick
    # early, so backups come every hour, not every hour and a minute).
    again = drills.backup([BACKED_UP], due_only=True, now=now + 600)
    assert again[0]["ran"] is False and "not due" in again[0]["reason"]
    assert executor.ran[-1] == "dr-status.yml"
    due = drills.backup([BACKED_UP], due_only=True, now=now + 59 * 60 + 1)
    assert due[0]["ran"] and due[0]["ok"]
    with sessions() as session:
        logged = (
            session.execute(select(AuditEntry.after).where(AuditEntry.action == "dr.backup"))
            .scalars()
            .all()
        )
        assert [(e["ok"], e["rows"]) for e in logged] == [(True, 250)] * 2
        assert audit_log.verify(session).ok
    # Not under a running drill: refused, nothing run.
    held = store.begin(sessions, kind=DrillKind.TEST, scope="x", actor="t", gate={}, systems=[])
    ran = len(executor.ran)
    with pytest.raises(store.DrillRefusedError):
        drills.backup([BACKED_UP], due_only=False, now=time.time())
    assert len(executor.ran) == ran
    store.finish(sessions, held, results=[], outcome=DrillOutcome.MET, actor="t")
