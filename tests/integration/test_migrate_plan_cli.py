"""`govcloud migrate plan` as an operator runs it: the sample county's waves, the registry, bad
input with file and line, and a plan that keeps its waves when a department is added."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clirunner import REPO, govcloud
from small_county import write_county
from sqlalchemy import func, select, update

from govcloud.loader import load_county
from govcloud.registry import db
from govcloud.registry.tables import AuditEntry, MigrationSystem


def _env(registry_url: str) -> dict[str, str]:
    return {"GOVCLOUD_DATABASE_URL": registry_url, "GOVCLOUD_ACTOR": "ops:li"}


def _upgrade(tmp_path: Path, env: dict[str, str]) -> None:
    result = govcloud("db", "upgrade", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr


def _plan(tmp_path: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = govcloud("migrate", "plan", "--json", *args, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def _rows(registry_url: str) -> dict[str, tuple[int | None, str]]:
    engine = db.make_engine(registry_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(MigrationSystem.system, MigrationSystem.wave, MigrationSystem.state)
            )
            return {system: (wave, state) for system, wave, state in rows}
    finally:
        engine.dispose()


def _audit_count(registry_url: str, action: str) -> int:
    engine = db.make_engine(registry_url)
    try:
        with engine.connect() as connection:
            count = connection.execute(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
            ).scalar_one()
            return int(count)
    finally:
        engine.dispose()


def test_sample_county_plan_keeps_every_rule_and_saves(registry_url: str, tmp_path: Path) -> None:
    env = _env(registry_url)
    _upgrade(tmp_path, env)
    county = load_county(REPO / "county")
    plan = _plan(tmp_path, env, "--county", str(REPO / "county"), "--save")

    wave_of = {ref: w["wave"] for w in plan["waves"] for ref in w["systems"]}
    unplanned = {u["system"]: u["why"] for u in plan["unplanned"]}
    systems = {f"{d.code}/{s.code}": s for d in county.departments for s in d.systems}
    assert sorted([*wave_of, *unplanned]) == sorted(systems)
    assert all(set(w) >= {"wave", "systems", "why"} and w["why"] for w in plan["waves"])
    for ref, system in systems.items():
        if system.classified:
            assert unplanned[ref] == "classified (涉密): never moves to the cloud"
        for dependency in system.depends_on if ref in wave_of else ():
            assert wave_of.get(dependency, 0) <= wave_of[ref], (ref, dependency)
    # the sample's move groups and blackouts (county/departments/czj.yaml, wjj, ybj, jyj)
    assert wave_of["czj/yusuan"] == wave_of["czj/pay"]
    assert wave_of["wjj/his"] == wave_of["ybj/jiesuan"]
    assert wave_of["jyj/oa"] > 1
    waves = {w["wave"]: w for w in plan["waves"]}
    assert waves[wave_of["czj/pay"]]["date"] > "2027-05-09"  # after czj's blackout
    assert all(len(w["systems"]) <= plan["max_systems_per_wave"] for w in plan["waves"])
    assert plan["saved"] == {"added": len(wave_of), "moved": 0, "removed": 0}

    rows = _rows(registry_url)
    assert rows == {ref: (wave, "planned") for ref, wave in wave_of.items()}
    departments = {ref.split("/", 1)[0] for ref in wave_of}
    assert _audit_count(registry_url, "migration.plan") == len(departments)

    again = _plan(tmp_path, env, "--county", str(REPO / "county"), "--save")
    assert again["waves"] == plan["waves"]
    assert again["saved"] == {"added": 0, "moved": 0, "removed": 0}
    assert _audit_count(registry_url, "migration.plan") == len(departments)


GAMMA = """\
---
code: gamma
name: 丙局
kind: department
quota:
  vcpu: 16
  ram_gb: 32
  storage_gb: 1000
  floating_ips: 0
  networks: 1
systems:
  - code: app
    name: 业务系统
    tier: general
    data_gb: 10
    max_downtime_min: 60
    location: legacy
    depends_on: [beta/db]
  - code: app-db
    name: 业务数据库
    tier: general
    data_gb: 20
    max_downtime_min: 60
    location: legacy
    move_group: app
  - code: app-web
    name: 业务前台
    tier: general
    data_gb: 5
    max_downtime_min: 60
    location: legacy
    move_group: app
"""

ROOMY_BETA = {"departments/beta.yaml": ("storage_gb: 50", "storage_gb: 500")}


def test_adding_a_department_moves_no_planned_system(registry_url: str, tmp_path: Path) -> None:
    env = _env(registry_url)
    _upgrade(tmp_path, env)
    county = write_county(tmp_path / "county", ROOMY_BETA)
    first = _plan(tmp_path, env, "--save")
    assert [(w["wave"], w["systems"]) for w in first["waves"]] == [(1, ["beta/db"])]
    (county / "departments" / "gamma.yaml").write_text(GAMMA, encoding="utf-8")
    second = _plan(tmp_path, env, "--save")
    assert second["waves"][0]["wave"] == 1 and "beta/db" in second["waves"][0]["systems"]
    wave_of = {ref: w["wave"] for w in second["waves"] for ref in w["systems"]}
    assert wave_of["gamma/app-db"] == wave_of["gamma/app-web"]
    assert wave_of["gamma/app"] >= wave_of["beta/db"]
    assert second["moved"] == []
    assert second["saved"] == {"added": 3, "moved": 0, "removed": 0}
    assert _rows(registry_url)["beta/db"] == (1, "planned")


def _with_gamma(
    registry_url: str, tmp_path: Path, gamma: str, changes: dict[str, tuple[str, str]] | None = None
) -> dict[str, str]:
    """A migrated registry and the small county in tmp_path/county with gamma added."""
    env = _env(registry_url)
    _upgrade(tmp_path, env)
    county = write_county(tmp_path / "county", changes)
    (county / "departments" / "gamma.yaml").write_text(gamma, encoding="utf-8")
    return env


def test_bad_input_exits_2_with_every_problem_and_writes_nothing(
    registry_url: str, tmp_path: Path
) -> None:
    env = _with_gamma(
        registry_url,
        tmp_path,
        GAMMA.replace("    data_gb: 20\n", "    data_gb: 30000\n")
        .replace(
            "    move_group: app\n  - code: app-web",
            "    move_group: app\n    classified: true\n  - code: app-web",
        )
        .replace(
            "systems:\n", "blackouts:\n  - start: 2027-01-01\n    end: 2027-01-02\nsystems:\n"
        ),
    )
    result = govcloud(
        "migrate", "plan", "--save", "--runbooks", str(tmp_path / "rb"), cwd=tmp_path, env=env
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "county/departments/beta.yaml:8:15: beta's 1 systems need storage_gb 100 on the cloud "
        "once migrated (each its tier's flavor and a volume of its data), but "
        "quota.storage_gb is 50: raise it to 100 or more",
        "county/departments/gamma.yaml:12:5: gamma declares blackout days, but the waves have "
        "no dates: set migration.start (the first wave's date) in county.yaml",
        "county/departments/gamma.yaml:28:17: move group gamma/app holds classified (涉密) "
        "system gamma/app-db, which never moves to the cloud, so gamma/app-web could never "
        "move with it: remove move_group from gamma/app-db",
        "3 problems found; nothing was written.",
    ]
    assert _rows(registry_url) == {}
    assert _audit_count(registry_url, "migration.plan") == 0
    assert not (tmp_path / "rb").exists()


def test_migration_problems_are_all_reported_with_their_place(
    registry_url: str, tmp_path: Path
) -> None:
    env = _with_gamma(
        registry_url,
        tmp_path,
        GAMMA.replace("    data_gb: 20\n", "    data_gb: 30000\n").replace(
            "storage_gb: 1000", "storage_gb: 40000"
        ),
    )
    result = govcloud("migrate", "plan", "--save", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "county/departments/beta.yaml:8:15: beta's 1 systems need storage_gb 100 on the cloud "
        "once migrated (each its tier's flavor and a volume of its data), but "
        "quota.storage_gb is 50: raise it to 100 or more",
        "county/departments/gamma.yaml:25:17: move group gamma/app (gamma/app-db, "
        "gamma/app-web) holds 30,005 GB, which fits no wave: at 1000 Mbit/s it needs 66.7 h "
        "and a wave's transfer window is 48 h (21,600 GB); set migration.window_hours to 67 or "
        "more, or migration.bandwidth_mbps to 1390 or more, in county.yaml",
        "2 problems found; nothing was written.",
    ]
    assert _rows(registry_url) == {}


def test_a_dependency_on_a_classified_system_is_a_warning_with_its_place(
    registry_url: str, tmp_path: Path
) -> None:
    classified = ("    location: legacy\n", "    location: legacy\n    classified: true\n")
    env = _with_gamma(registry_url, tmp_path, GAMMA, {"departments/beta.yaml": classified})
    result = govcloud("migrate", "plan", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "county/departments/gamma.yaml:18:18: warning: gamma/app will move to the cloud but "
        "depends on classified (涉密) system beta/db, which never moves: the dependency must "
        "cross to the classified network through the approved exchange, or be removed"
    ]
    plan = json.loads(result.stdout)
    assert {"system": "beta/db", "why": "classified (涉密): never moves to the cloud"} in plan[
        "unplanned"
    ]
    assert plan["saved"] is None
    assert _rows(registry_url) == {}


def test_runbooks_are_written_for_every_wave(registry_url: str, tmp_path: Path) -> None:
    env = _with_gamma(registry_url, tmp_path, GAMMA, ROOMY_BETA)
    plan = _plan(tmp_path, env, "--runbooks", str(tmp_path / "rb"))
    names = sorted(p.name for p in (tmp_path / "rb").iterdir())
    expected = [f"wave-{w['wave']:03d}.{ext}" for w in plan["waves"] for ext in ("html", "md")]
    assert names == sorted([*expected, "index.md"])
    first = (tmp_path / "rb" / "wave-001.md").read_text(encoding="utf-8")
    assert first.startswith("# 第 1 波次迁移手册 · Wave 1 runbook")
    for ref in plan["waves"][0]["systems"]:
        assert f"`{ref}`" in first
    assert "回退 Rollback" in first
    html = (tmp_path / "rb" / "wave-001.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html


def test_runbooks_that_cannot_be_written_leave_the_registry_as_it_was(
    registry_url: str, tmp_path: Path
) -> None:
    env = _env(registry_url)
    _upgrade(tmp_path, env)
    write_county(tmp_path / "county", ROOMY_BETA)
    (tmp_path / "blocked").write_text("a file, not a directory", encoding="utf-8")
    result = govcloud(
        "migrate", "plan", "--save", "--runbooks", str(tmp_path / "blocked"), cwd=tmp_path, env=env
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: cannot write to {tmp_path / 'blocked'}")
    assert _rows(registry_url) == {}


def test_plan_needs_a_migrated_registry(tmp_path: Path) -> None:
    write_county(tmp_path / "county", ROOMY_BETA)
    result = govcloud("migrate", "plan", cwd=tmp_path)
    assert result.returncode == 2
    assert "has no schema" in result.stderr and "govcloud db upgrade" in result.stderr


DATED = {"county.yaml": ("extranet:\n", "migration:\n  start: 2027-03-06\nextranet:\n")}


def test_save_moves_what_a_constraint_forces_drops_what_is_gone_and_leaves_the_lifecycle(
    registry_url: str, tmp_path: Path
) -> None:
    env = _with_gamma(registry_url, tmp_path, GAMMA, {**DATED, **ROOMY_BETA})
    first = _plan(tmp_path, env, "--save")
    # general first (gamma's group), core last (beta/db, and gamma/app that needs it)
    assert [(w["wave"], w["systems"]) for w in first["waves"]] == [
        (1, ["gamma/app-db", "gamma/app-web"]),
        (2, ["beta/db", "gamma/app"]),
    ]
    engine = db.make_engine(registry_url)
    try:
        with engine.begin() as connection:  # the lifecycle takes beta/db
            connection.execute(
                update(MigrationSystem)
                .where(MigrationSystem.system == "beta/db")
                .values(state="replicating")
            )
    finally:
        engine.dispose()
    gamma = tmp_path / "county" / "departments" / "gamma.yaml"
    text = gamma.read_text(encoding="utf-8")
    app = text[text.index("  - code: app\n") : text.index("  - code: app-db\n")]
    blackout = (
        "blackouts:\n  - start: 2027-03-06\n    end: 2027-03-07\n    reason: 年报\nsystems:\n"
    )
    gamma.write_text(text.replace(app, "").replace("systems:\n", blackout), encoding="utf-8")

    second = _plan(tmp_path, env, "--save")
    assert second["saved"] == {"added": 0, "moved": 2, "removed": 1}
    assert [(m["system"], m["from"], m["to"]) for m in second["moved"]] == [
        ("gamma/app-db", 1, 2),
        ("gamma/app-web", 1, 2),
    ]
    assert second["moved"][0]["why"].startswith(
        "moved from wave 1: wave 1 falls on gamma's blackout 2027-03-06..2027-03-07 (年报)"
    )
    assert _rows(registry_url) == {
        "beta/db": (2, "replicating"),
        "gamma/app-db": (2, "planned"),
        "gamma/app-web": (2, "planned"),
    }
    assert _audit_count(registry_url, "migration.plan") == 3  # beta and gamma, then gamma


def test_the_table_for_people_names_waves_reasons_and_what_was_saved(
    registry_url: str, tmp_path: Path
) -> None:
    env = {**_env(registry_url), "COLUMNS": "160"}
    _upgrade(tmp_path, env)
    result = govcloud("migrate", "plan", "--county", str(REPO / "county"), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "示例县 迁移波次 migration waves" in lines[0]
    first = next(line for line in lines if line.split()[:2] == ["1", "2027-03-06"])
    assert "pilot: general systems move first" in first
    plan = _plan(tmp_path, env, "--county", str(REPO / "county"))
    planned = sum(len(w["systems"]) for w in plan["waves"])
    assert (
        f"{planned} systems in {len(plan['waves'])} waves (at most 10 systems and 21,600 GB "
        f"each); {len(plan['unplanned'])} in none:"
    ) in lines
    classified = sum(u["why"].startswith("classified") for u in plan["unplanned"])
    assert f"{classified:>6}  classified (涉密): never moves to the cloud" in lines
    assert lines[-1].startswith("not saved: --save writes the plan to the registry")
    assert _rows(registry_url) == {}


def test_a_wave_is_named_by_its_number_and_refused_when_it_cannot_start(
    registry_url: str, tmp_path: Path
) -> None:
    env = _env(registry_url)
    _upgrade(tmp_path, env)
    county = ("--county", str(REPO / "county"))
    _plan(tmp_path, env, *county, "--save")
    before = _rows(registry_url)
    audited = _audit_count(registry_url, "migration.step_started")
    cases = {
        ("run", "cgj/zhifa", "--wave", "1"): "not both",
        ("run",): "not both",
        ("run", "--wave", "99"): "wave 99 holds no system",
        ("finalize", "--wave", "1"): "is planned; every system must be validated first",
    }
    for args, message in cases.items():
        result = govcloud("migrate", *args, *county, cwd=tmp_path, env=env)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    assert _rows(registry_url) == before
    assert _audit_count(registry_url, "migration.step_started") == audited
