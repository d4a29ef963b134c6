"""DR drills in the registry, on SQLite and on a real PostgreSQL: the one-drill lock (a live
holder refuses, a dead one is recovered), a drill's records with their audit entries, and the
report whose SM3 digest in the audit log detects a changed file."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dr import report, store
from govcloud.errors import BadInputError
from govcloud.registry import audit_log, db
from govcloud.registry.dr_state import (
    ACTION_DRILL_FINISHED,
    ACTION_DRILL_INTERRUPTED,
    ACTION_DRILL_STARTED,
    ACTION_DRILL_STEP,
    ACTION_LOCK_RELEASED,
    ACTION_REPORT,
    DrillKind,
    DrillOutcome,
    Step,
    last_drills,
)
from govcloud.registry.tables import AuditEntry, DrDrill, DrDrillEvent, DrLock

ACTOR = "ops:wang"
T0 = 1_800_000_000.0


@pytest.fixture
def sessions(registry: Engine) -> Callable[[], Session]:
    return db.session_factory(registry)


def _begin(sessions: Callable[[], Session], kind: DrillKind = DrillKind.FAILOVER) -> int:
    return store.begin(
        sessions,
        kind=kind,
        scope="system:gaj/jingwu",
        actor=ACTOR,
        gate={"stack": {"in_sync": True}},
        systems=["gaj/jingwu"],
    )


def _result(**changes: object) -> store.SystemResult:
    fields: dict[str, object] = {
        "system": "gaj/jingwu",
        "tier": "important",
        "replication": "streaming-async",
        "standby": "hot",
        "target_rpo_s": 5.0,
        "target_rto_s": 120.0,
        "rpo_s": 1.25,
        "rto_s": 14.2,
        "lost_writes": 250,
        "level_claimed": 5,
        "level_met": 5,
        "met": True,
        "state": "dr_site",
        "detail": {
            "measurement": {
                "why": [],
                "outages": [{"began_at": T0 + 4.9, "seconds": 14.2}],
            },
            "probe": {
                "started_at": T0,
                "seconds": 30.0,
                "issued": 6000,
                "acknowledged": 6000,
                "failed_attempts": 812,
                "latency_ms": {"p50": 3.1, "p99": 9.0},
            },
            "validation": {"ok": True, "rows": 5750},
            "lost": [[4751, 5000]],
            "notes": [],
        },
    }
    return store.SystemResult(**(fields | changes))  # type: ignore[arg-type]


def _actions(sessions: Callable[[], Session]) -> list[str]:
    with sessions() as session:
        return list(session.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())


def _run_drill(sessions: Callable[[], Session]) -> int:
    drill = _begin(sessions)
    store.add_events(
        sessions,
        drill,
        [
            (None, Step.FAULT.value, T0 + 5.0, {"fault": "database"}),
            ("gaj/jingwu", Step.DETECTED.value, T0 + 8.0, None),
            ("gaj/jingwu", Step.PROMOTED.value, T0 + 12.0, None),
            ("gaj/jingwu", Step.VALIDATED.value, T0 + 19.0, None),
        ],
        actor=ACTOR,
    )
    store.finish(sessions, drill, results=[_result()], outcome=DrillOutcome.MET, actor=ACTOR)
    return drill


def test_a_drill_is_recorded_with_its_timeline_and_audited(
    sessions: Callable[[], Session],
) -> None:
    drill = _run_drill(sessions)
    with sessions() as session:
        row = session.get(DrDrill, drill)
        assert row is not None and row.outcome == "met" and row.finished_at is not None
        steps = [e.step for e in store.events(session, drill)]
        assert steps[0] == Step.DECISION.value  # the gate's decision opens the timeline
        assert steps[1:] == ["fault", "detected", "promoted", "validated"]
        assert session.get(DrLock, store.LOCK_ROW_ID).drill_id is None  # type: ignore[union-attr]
        last = last_drills(session)["gaj/jingwu"][1]
        assert (last.rpo_s, last.rto_s, last.lost_writes, last.level_met) == (1.25, 14.2, 250, 5)
        assert audit_log.verify(session).ok
    assert _actions(sessions)[-3:] == [
        ACTION_DRILL_STARTED, ACTION_DRILL_STEP, ACTION_DRILL_FINISHED,
    ]  # fmt: skip


def test_a_second_drill_is_refused_naming_who_holds_the_lock_and_nothing_changes(
    sessions: Callable[[], Session],
) -> None:
    first = _begin(sessions)
    before = _actions(sessions)
    with pytest.raises(store.DrillRefusedError) as refused:
        _begin(sessions, DrillKind.SWITCHOVER)
    message = str(refused.value)
    assert f"drill {first} by {ACTOR} since" in message and f"process {os.getpid()}" in message
    with sessions() as session:
        with pytest.raises(store.DrillRefusedError):
            store.check_free(session)
        assert session.execute(select(func.count()).select_from(DrDrill)).scalar_one() == 1
    assert _actions(sessions) == before


def _dead_process() -> tuple[int, str]:
    """A process of ours that has ended: its PID and the start time it had."""
    child = subprocess.Popen(["sleep", "0.2"])
    started = store.process_start(child.pid)
    child.wait()
    assert started is not None and store.process_start(child.pid) is None
    return child.pid, started


def _hold(sessions: Callable[[], Session], **holder: object) -> int:
    drill = _begin(sessions)
    with sessions() as session, session.begin():
        lock = session.get(DrLock, store.LOCK_ROW_ID)
        assert lock is not None
        for name, value in holder.items():
            setattr(lock, name, value)
    return drill


@pytest.mark.parametrize("how", ["exited", "pid reused", "rebooted"])
def test_a_dead_holders_lock_is_stale_and_the_next_drill_recovers_it(
    sessions: Callable[[], Session], how: str
) -> None:
    if how == "exited":
        pid, started = _dead_process()
        stale = _hold(sessions, pid=pid, process_start=started)
    elif how == "pid reused":  # our PID, but another process's start time
        stale = _hold(sessions, process_start="1")
    else:
        stale = _hold(sessions, boot_id="an-earlier-boot")
    with sessions() as session:
        store.check_free(session)  # stale: no obstacle
        assert store.lock_holder(session)["alive"] is False  # type: ignore[index]
    second = _begin(sessions, DrillKind.TEST)
    with sessions() as session:
        assert session.get(DrDrill, stale).outcome == DrillOutcome.INTERRUPTED.value  # type: ignore[union-attr]
        assert session.get(DrLock, store.LOCK_ROW_ID).drill_id == second  # type: ignore[union-attr]
        assert audit_log.verify(session).ok
    assert _actions(sessions)[-2:] == [ACTION_DRILL_INTERRUPTED, ACTION_DRILL_STARTED]


def test_a_holder_on_another_machine_is_never_taken_for_dead_but_can_be_unlocked(
    sessions: Callable[[], Session],
) -> None:
    held = _hold(sessions, host=f"not-{socket.gethostname()}", pid=1)
    with pytest.raises(store.DrillRefusedError, match="another drill is running"):
        _begin(sessions)
    with pytest.raises(BadInputError, match="--reason"):
        store.unlock(sessions, held, actor=ACTOR, reason=" ")
    with pytest.raises(BadInputError, match="does not hold the lock"):
        store.unlock(sessions, held + 1, actor=ACTOR, reason="gone")
    store.unlock(sessions, held, actor=ACTOR, reason="dr-ops-2 was reinstalled")
    assert _actions(sessions)[-2:] == [ACTION_LOCK_RELEASED, ACTION_DRILL_INTERRUPTED]
    _begin(sessions)


def test_a_running_drill_on_this_machine_cannot_be_unlocked(
    sessions: Callable[[], Session],
) -> None:
    held = _begin(sessions)
    with pytest.raises(BadInputError, match="still running here"):
        store.unlock(sessions, held, actor=ACTOR, reason="impatient")


def test_the_report_is_rendered_from_the_record_and_its_digest_detects_a_change(
    sessions: Callable[[], Session], tmp_path: Path
) -> None:
    drill = _run_drill(sessions)
    out = tmp_path / "report"
    digests = report.write(sessions, drill, out, actor=ACTOR)
    assert set(digests) == {"report.html", "report.json"}
    assert _actions(sessions)[-1] == ACTION_REPORT
    written = json.loads((out / "report.json").read_text())
    # The JSON the issue names, with more beside it.
    assert {"drill", "kind", "systems", "report"} <= set(written)
    assert written["drill"] == drill and written["kind"] == "failover"
    assert written["report"] == str(out / "report.html")
    system = written["systems"][0]
    assert {k: system[k] for k in ("system", "rpo_s", "rto_s", "lost_writes", "level", "met")} == {
        "system": "gaj/jingwu", "rpo_s": 1.25, "rto_s": 14.2, "lost_writes": 250,
        "level": 5, "met": True,
    }  # fmt: skip
    phases = [(e["step"], e["phase"]) for e in written["timeline"]]
    assert phases[:3] == [("decision", "decision"), ("fault", "fault"), ("detected", "detection")]
    assert [m["test_unit"] for m in written["mlps"]] == ["L3-CES1-29", "L3-CES1-30", "L3-CES1-31"]
    html = (out / "report.html").read_text()
    assert html.index("灾备演练报告") < html.index("DR drill report")  # zh-CN first
    assert "<svg" in html and "14.2 s" in html and "L3-CES1-29" in html
    with sessions() as session:
        # Rendered again from the registry, the report is the same, byte for byte.
        assert report.render(report.document(session, drill)) == {
            name: (out / name).read_text() for name in report.FILES
        }
        assert report.verify(session, drill)["ok"]
    (out / "report.html").write_text(html.replace("14.2 s", "4.2 s"))
    (out / "report.json").unlink()
    with sessions() as session:
        checked = report.verify(session, drill)
    assert not checked["ok"]
    assert [f["why"] for f in checked["files"]] == [
        "changed since it was written (its SM3 differs from the audit log's)",
        "missing",
    ]


def test_a_drill_without_a_report_cannot_be_verified(sessions: Callable[[], Session]) -> None:
    drill = _run_drill(sessions)
    with sessions() as session, pytest.raises(BadInputError, match="has no report yet"):
        report.verify(session, drill)
    with sessions() as session, pytest.raises(BadInputError, match="no drill 999"):
        report.document(session, 999)


def test_events_keep_their_time_to_the_millisecond(sessions: Callable[[], Session]) -> None:
    drill = _begin(sessions)
    store.add_events(sessions, drill, [("gaj/jingwu", "promoted", T0 + 0.123, None)], actor=ACTOR)
    with sessions() as session:
        event = session.execute(
            select(DrDrillEvent).where(DrDrillEvent.step == "promoted")
        ).scalar_one()
        at = event.at if event.at.tzinfo else event.at.replace(tzinfo=dt.UTC)  # SQLite: naive
    assert abs(at.timestamp() - (T0 + 0.123)) < 0.001
