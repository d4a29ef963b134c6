"""The govcloud command as an operator runs it: exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirunner import REPO, govcloud
from small_county import write_county
from sqlalchemy import text

from govcloud.registry import db


def test_validate_sample_county(tmp_path: Path) -> None:
    result = govcloud("validate", str(REPO / "county"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "示例县 (519901) is valid" in result.stdout
    assert "43 departments (委办局), 17 townships (乡镇)" in result.stdout
    assert len(result.stdout.splitlines()) <= 24, "the summary must fit on one screen"
    assert list(tmp_path.iterdir()) == [], "validate must write nothing"


def test_validate_reads_county_from_current_directory_option_and_environment(
    tmp_path: Path,
) -> None:
    (tmp_path / "here").mkdir()
    write_county(tmp_path / "here" / "county")
    write_county(tmp_path / "elsewhere")
    assert govcloud("validate", cwd=tmp_path / "here").returncode == 0
    assert (
        govcloud("validate", "--county", str(tmp_path / "elsewhere"), cwd=tmp_path).returncode == 0
    )
    assert (
        govcloud(
            "validate", cwd=tmp_path, env={"GOVCLOUD_COUNTY": str(tmp_path / "elsewhere")}
        ).returncode
        == 0
    )
    missing = govcloud("validate", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.startswith("county:1:1: county directory not found")


def test_validate_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    root = write_county(
        tmp_path / "county",
        {
            "county.yaml": ("subnet: 64", "subnet: 60"),
            "departments/alpha.yaml": ("hosts: 50", "hosts: 300"),
            "departments/beta.yaml": ("tier: core", "tier: critical"),
        },
    )
    result = govcloud("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "county/county.yaml:20:13: ipv6_plan.subnet must be /64 (SLAAC needs a /64, RFC 4291), "
        "not /60",
        "county/departments/alpha.yaml:14:12: 300 hosts do not fit in 192.168.1.0/24 (254 "
        "usable addresses); fix the host count or the prefix",
        "county/departments/beta.yaml:19:11: systems.0.tier: input should be 'core', "
        "'important' or 'general' (got 'critical')",
        "3 problems found; nothing was written.",
    ]
    assert root.exists()


def test_validate_json(tmp_path: Path) -> None:
    result = govcloud("validate", "--json", str(REPO / "county"), cwd=tmp_path)
    summary = json.loads(result.stdout)
    assert summary["valid"] is True
    assert summary["systems"] == sum(summary["systems_by_tier"].values())


def test_status_json_matches_the_county(tmp_path: Path) -> None:
    result = govcloud("status", "--json", "--county", str(REPO / "county"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["target"] == 0.95
    assert report["total"]["systems"] == sum(d["systems"] for d in report["departments"])
    dsj = next(d for d in report["departments"] if d["code"] == "dsj")
    assert dsj["quota"]["vcpu"] == 128
    assert dsj["cloud_rate"] == 1.0


def test_status_table_names_every_department(tmp_path: Path) -> None:
    result = govcloud(
        "status", "--county", str(REPO / "county"), cwd=tmp_path, env={"COLUMNS": "100"}
    )
    assert result.returncode == 0
    assert "示例县 (519901) · 上云率 target 95%" in result.stdout
    for code in ("dsj", "gaj", "cgz", "total"):
        assert f" {code} " in result.stdout


def test_registry_lifecycle_through_the_cli(registry_url: str, tmp_path: Path) -> None:
    env = {"GOVCLOUD_DATABASE_URL": registry_url, "GOVCLOUD_ACTOR": "ops:zhang"}
    not_ready = govcloud("audit", "verify-log", cwd=tmp_path, env=env)
    assert not_ready.returncode == 2
    assert "has no schema" in not_ready.stderr and "govcloud db upgrade" in not_ready.stderr

    upgraded = govcloud("db", "upgrade", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "migrated from empty to" in upgraded.stdout
    current = json.loads(govcloud("db", "current", "--json", cwd=tmp_path, env=env).stdout)
    assert current["current"] == current["head"] == db.head_revision()

    intact = govcloud("audit", "verify-log", "--json", cwd=tmp_path, env=env)
    assert intact.returncode == 0
    assert json.loads(intact.stdout)["ok"] is True
    log = json.loads(govcloud("audit", "log", "--json", cwd=tmp_path, env=env).stdout)
    assert [(e["actor"], e["action"]) for e in log] == [("ops:zhang", "registry.upgrade")]

    engine = db.make_engine(registry_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET actor = 'intruder' WHERE seq = 1"))
    engine.dispose()
    broken = govcloud("audit", "verify-log", cwd=tmp_path, env=env)
    assert broken.returncode == 1
    assert "audit log broken at entry 1 (altered)" in broken.stdout


def test_default_registry_is_sqlite_under_dot_govcloud(tmp_path: Path) -> None:
    result = govcloud("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".govcloud" / "registry.sqlite3").is_file()


def test_unreachable_registry_exits_3(tmp_path: Path) -> None:
    env = {"GOVCLOUD_DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:1/none"}
    result = govcloud("db", "upgrade", cwd=tmp_path, env=env)
    assert result.returncode == 3
    assert result.stderr.startswith("error: cannot reach the registry at")
    assert "secret" not in result.stderr


@pytest.mark.parametrize("args", [("no-such-command",), ("status", "--no-such-flag")])
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    assert govcloud(*args, cwd=tmp_path).returncode == 2
