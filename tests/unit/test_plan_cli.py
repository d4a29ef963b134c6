"""`govcloud plan` reads each input once and leaves the environment as it found it."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from snapshot_kit import snapshot
from typer.testing import CliRunner

import cli.stacks
import cloud.plan.run
import desired.stack_settings
import desired.state
from cli.main import app

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stack", ["primary", "dr"])
def test_plan_reads_settings_county_and_registry_once(
    stack: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Counter[str] = Counter()

    def counted(name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(
        desired.stack_settings,
        "load_county",
        counted("county", desired.stack_settings.load_county),
    )
    monkeypatch.setattr(
        cloud.plan.run, "load_settings", counted("stack", cloud.plan.run.load_settings)
    )
    monkeypatch.setattr(
        cloud.plan.run, "read_registry", counted("registry", cloud.plan.run.read_registry)
    )
    monkeypatch.setattr(
        desired.state, "load_county", counted("county again", desired.state.load_county)
    )
    # The live side: an empty cloud, read without a network.
    seen: list[dict[str, Any]] = []

    def empty_cloud(cloud_name: str | None, region: str, settings: Any) -> Any:
        seen.append({"cloud": cloud_name, "region": region})
        return snapshot()

    monkeypatch.setattr(cli.stacks, "_read", empty_cloud)
    monkeypatch.setenv("GOVCLOUD_STATE_DIR", str(tmp_path))  # no registry there
    monkeypatch.delenv("GOVCLOUD_DATABASE_URL", raising=False)
    monkeypatch.delenv("GOVCLOUD_COUNTY", raising=False)
    monkeypatch.chdir(REPO)
    before = dict(os.environ)
    result = CliRunner().invoke(app, ["plan", "--stack", stack, "--json"])
    assert result.exit_code == 1, result.output  # an empty cloud: everything to create
    report = json.loads(result.output)
    assert report["stack"] == stack and report["totals"]["create"] > 0
    assert seen == [{"cloud": None, "region": "RegionOne" if stack == "primary" else "RegionTwo"}]
    stack_files = 1 if stack == "primary" else 2  # DR reads the primary's settings as well
    assert calls == {"county": 1, "stack": stack_files, "registry": 1}, calls
    assert dict(os.environ) == before, "the plan changed the environment"
