"""`govcloud dr` as an operator runs it: every refusal exits 2 and writes nothing, a running
drill refuses the next naming who holds it, and status, history and report print the JSON the
issue names (the small county: alpha/web, important, on the cloud, is replicated; beta/db,
core, still in its machine room, is not)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clirunner import govcloud
from small_county import CODE, write_county, write_project
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dr import store
from govcloud.registry import db
from govcloud.registry.dr_state import DrillKind, DrillOutcome
from govcloud.registry.tables import AuditEntry, DrDrill, DrLock

ACTOR = "ops:zhao"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_county(tmp_path / "county")
    write_project(tmp_path, CODE)
    return tmp_path


def _env(url: str, root: Path) -> dict[str, str]:
    return {
        "GOVCLOUD_DATABASE_URL": url,
        "GOVCLOUD_ACTOR": ACTOR,
        "GOVCLOUD_STATE_DIR": str(root / "state"),
    }


def _dr(root: Path, url: str, *args: str) -> Any:
    return govcloud("dr", *args, cwd=root, env=_env(url, root))


def _written(url: str) -> tuple[int, int]:
    engine = db.make_engine(url)
    try:
        with Session(engine) as session:
            entries = session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
            drills = session.execute(select(func.count()).select_from(DrDrill)).scalar_one()
            return int(entries), int(drills)
    finally:
        engine.dispose()


def _upgraded(url: str) -> Callable[[], Session]:
    engine = db.make_engine(url)
    db.upgrade(engine, actor="test:setup")
    return db.session_factory(engine)


COUNTY = ("--county", "county")


def _refused_and_nothing_written(
    site: Path, command: str, args: tuple[str, ...], message: str
) -> None:
    """`dr <command> <args>` exits 2 with `message` and writes nothing to the registry."""
    url = f"sqlite:///{site / 'registry.sqlite3'}"
    _upgraded(url)
    before = _written(url)
    result = _dr(site, url, command, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and result.stderr.startswith("error: ")
    assert _written(url) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--kind", "nope", "--system", "alpha/web"), "--kind nope: choose one of test"),
        (("--kind", "failback", "--system", "alpha/web"), "govcloud dr failback"),
        (("--kind", "failover"), "exactly one of --system"),
        (("--kind", "failover", "--system", "alpha/web", "--tier", "core"), "exactly one of"),
        (("--kind", "test", "--system", "alpha/web", "--fault", "site"), "--fault applies"),
        (("--kind", "failover", "--system", "alpha/web", "--fault", "moon"), "--fault moon"),
        (("--kind", "failover", "--tier", "gold"), "--tier gold: choose one of"),
        (("--kind", "failover", "--system", "beta/db", *COUNTY), "the DR stack has no replica"),
        (("--kind", "failover", "--system", "alpha/nope", *COUNTY), "no such system"),
        (("--kind", "failover", "--tier", "general", *COUNTY), "replicates no system there"),
        (("--kind", "failover", "--department", "zzz", *COUNTY), "no such department"),
    ],
)
def test_a_drill_that_cannot_run_is_refused_and_nothing_is_written(
    site: Path, args: tuple[str, ...], message: str
) -> None:
    _refused_and_nothing_written(site, "drill", args, message)
    assert not (site / "state" / "dr").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((*COUNTY,), "the county: no system there keeps backups"),
        (("--system", "alpha/web", *COUNTY), "system:alpha/web: no system there keeps backups"),
        (("--system", "beta/db", *COUNTY), "the DR stack has no replica"),
    ],
)
def test_a_backup_of_systems_that_stream_is_refused_and_nothing_is_written(
    site: Path, args: tuple[str, ...], message: str
) -> None:
    _refused_and_nothing_written(site, "backup", args, message)


def test_a_second_drill_is_refused_naming_the_running_one(registry_url: str, site: Path) -> None:
    sessions = _upgraded(registry_url)
    running = store.begin(
        sessions, kind=DrillKind.FAILOVER, scope="system:alpha/web", actor="ops:li", gate={},
        systems=["alpha/web"],
    )  # fmt: skip
    with sessions() as session:  # held by this (live) test process
        lock = session.get(DrLock, store.LOCK_ROW_ID)
        assert lock is not None and lock.pid == os.getpid()
    before = _written(registry_url)
    result = _dr(site, registry_url, "drill", "--kind", "switchover", "--system", "alpha/web")
    assert result.returncode == 2, result.stderr
    assert f"another drill is running: drill {running} by ops:li since" in result.stderr
    assert f"on {socket.gethostname()}" in result.stderr
    assert _written(registry_url) == before
    # The status names the holder too.
    status = _dr(site, registry_url, "status", *COUNTY, "--json")
    assert json.loads(status.stdout)["lock"]["drill"] == running


def _finished_drill(sessions: Callable[[], Session]) -> int:
    drill = store.begin(
        sessions, kind=DrillKind.FAILOVER, scope="system:alpha/web", actor=ACTOR,
        gate={"stack": {"in_sync": True}}, systems=["alpha/web"],
    )  # fmt: skip
    result = store.SystemResult(
        system="alpha/web", tier="important", replication="streaming-async", standby="hot",
        target_rpo_s=5.0, target_rto_s=120.0, rpo_s=0.8, rto_s=11.5, lost_writes=80,
        level_claimed=5, level_met=5, met=True, state="dr_site",
        detail={"measurement": {"why": [], "outages": []}, "notes": []},
    )  # fmt: skip
    store.finish(sessions, drill, results=[result], outcome=DrillOutcome.MET, actor=ACTOR)
    return drill


def test_status_history_and_report_print_the_json_the_issue_names(
    registry_url: str, site: Path
) -> None:
    sessions = _upgraded(registry_url)
    drill = _finished_drill(sessions)
    status = _dr(site, registry_url, "status", *COUNTY, "--json")
    assert status.returncode == 0, status.stderr
    rows = {r["system"]: r for r in json.loads(status.stdout)["systems"]}
    assert set(rows) == {"alpha/web", "beta/db"}
    web, db_row = rows["alpha/web"], rows["beta/db"]
    assert {"system", "tier", "policy", "replication", "lag_s", "last_drill"} <= set(web)
    assert (web["tier"], web["replication"], web["policy"]["rpo_s"]) == (
        "important", "streaming-async", 5.0,
    )  # fmt: skip
    assert web["last_drill"]["drill"] == drill
    assert (web["last_drill"]["rpo_s"], web["last_drill"]["rto_s"]) == (0.8, 11.5)
    assert web["overdue"] is False  # drilled and met just now
    assert (db_row["replication"], db_row["last_drill"]) == ("none", None)
    history = _dr(site, registry_url, "history", "--json")
    assert json.loads(history.stdout)["drills"][0]["systems"] == [
        {"system": "alpha/web", "met": True, "rpo_s": 0.8, "rto_s": 11.5}
    ]
    printed = _dr(site, registry_url, "report", str(drill), "--format", "json")
    document = json.loads(printed.stdout)
    assert (document["drill"], document["kind"]) == (drill, "failover")
    assert document["systems"][0] | {"system": "alpha/web"} == document["systems"][0]
    assert {"system", "rpo_s", "rto_s", "lost_writes", "level", "met"} <= set(
        document["systems"][0]
    )
    html = _dr(site, registry_url, "report", str(drill), "--format", "html").stdout
    assert html.startswith("<!DOCTYPE html>") and "灾备演练报告" in html
    # Written, verified, changed, caught.
    out = site / "reports"
    written = _dr(site, registry_url, "report", str(drill), "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert _dr(site, registry_url, "report", str(drill), "--verify").returncode == 0
    (out / "report.json").write_text((out / "report.json").read_text().replace("11.5", "1.5"))
    verified = _dr(site, registry_url, "report", str(drill), "--verify")
    assert verified.returncode == 1
    assert [f["ok"] for f in json.loads(verified.stdout)["files"]] == [True, False]


def test_report_refusals_name_the_fix(registry_url: str, site: Path) -> None:
    _upgraded(registry_url)
    missing = _dr(site, registry_url, "report", "41")
    assert missing.returncode == 2 and "no drill 41" in missing.stderr
    bad = _dr(site, registry_url, "report", "1", "--format", "pdf")
    assert bad.returncode == 2 and "--format pdf" in bad.stderr
    unlock = _dr(site, registry_url, "unlock", "3", "--reason", "gone")
    assert unlock.returncode == 2 and "does not hold the lock (no drill does)" in unlock.stderr
