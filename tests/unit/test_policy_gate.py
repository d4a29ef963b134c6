"""The policy pack as a gate: `govcloud plan` reports a county whose tenant would be above the
platform's MLPS level (exit 1, even when the cloud is in sync), and `localcloud deploy` refuses
it before touching the cloud (exit 2, nothing changed, the refusal in the audit log)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from simulated_cloud import snapshot_from_items
from small_county import ABOVE_PLATFORM_LEVEL, GRADED_ABOVE_PLATFORM, write_county, write_project
from snapshot_kit import snapshot
from typer.testing import CliRunner

import cli.stacks
import cloud.deploy
import cloud.inventory
from cli.main import app
from cli.stacks import REFUSAL
from cloud.plan.run import collect_desired, load_stacks
from govcloud.errors import BadInputError
from govcloud.loader import load_county
from govcloud.registry import db
from govcloud.settings import get_settings
from lab.localcloud.layout import CONFIG_FILE_ENV, OS_CLOUD_ENV

POLICY = "no-system-above-platform-level"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The small county with beta's core database graded above the platform, its project files
    and an empty registry; no cloud variables."""
    write_project(tmp_path, "519901")
    write_county(tmp_path / "county", GRADED_ABOVE_PLATFORM)
    monkeypatch.setenv("GOVCLOUD_STATE_DIR", str(tmp_path / "state"))
    for name in ("GOVCLOUD_DATABASE_URL", "GOVCLOUD_COUNTY", OS_CLOUD_ENV, CONFIG_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    engine = db.make_engine(get_settings().registry_url())
    db.upgrade(engine, actor="test:setup")
    engine.dispose()
    return tmp_path


def _args(site: Path, *command: str) -> list[str]:
    return [*command, "--stack", "primary", "--county", str(site / "county"),
            "--project-dir", str(site)]  # fmt: skip


def test_plan_reports_the_violation_and_exits_1_though_in_sync(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    county = load_county(site / "county")
    desired = collect_desired("primary", stacks=load_stacks(site, "primary"), county=county)
    in_sync = snapshot_from_items(desired.items)
    monkeypatch.setattr(cli.stacks, "_read", lambda *_: in_sync)
    result = CliRunner().invoke(app, [*_args(site, "plan"), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["in_sync"] and report["blocked"] == [POLICY]
    (violated,) = [p for p in report["policies"] if p["status"] == "violated"]
    assert violated["id"] == POLICY and violated["enforcement"] == "mandatory"
    assert (violated["clause"], violated["test_item"]) == ("8.2.2.1 a)", "L3-CNS2-01")
    ((violation,),) = [violated["violations"]]
    assert violation["urn"].endswith("::beta-project")
    assert f"MLPS level {ABOVE_PLATFORM_LEVEL}" in violation["message"]
    human = CliRunner().invoke(app, _args(site, "plan"))
    words = " ".join(human.output.split())  # rich wraps long lines
    assert human.exit_code == 1 and POLICY in words and REFUSAL in words


def test_deploy_refuses_before_touching_the_cloud(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def touched(*_: Any, **__: Any) -> Any:
        raise AssertionError("the deploy touched the cloud")

    monkeypatch.setattr(cloud.inventory, "read", lambda *_, **__: snapshot())
    monkeypatch.setattr(cloud.deploy, "deploy_stack", touched)
    result = CliRunner().invoke(app, _args(site, "localcloud", "deploy"))
    refused = result.exception
    assert isinstance(refused, BadInputError) and refused.exit_code == 2, result.output
    message = str(refused)
    assert REFUSAL in message and POLICY in message and "beta-project" in message
    assert "govcloud plan --stack primary" in message
    log = CliRunner().invoke(app, ["audit", "log", "--action", "localcloud.deploy", "--json"])
    ((entry,),) = [json.loads(log.output)]
    assert entry["after"]["refused"] == [POLICY]
