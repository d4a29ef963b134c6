"""The policy pack gates `govcloud apply` before the Pulumi engine is needed: a stack that violates
a mandatory policy is refused (exit 2, audited), a preview of it shows the violations (exit 1),
and a clean stack goes on to the engine.

The pulumi CLI is kept off PATH (only the interpreter's directory is on it), so exit 3 means the
command reached the engine's `require_cli` and exit 2 that it stopped before: no pulumi call.
Needs no cloud and no PostgreSQL: the registry is a SQLite file in a temporary directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from clirunner import govcloud
from small_county import CODE, GRADED_ABOVE_PLATFORM, write_county, write_project

from cli.stacks import REFUSAL
from cloud.apply import INSTALL_HINT

POLICY = "no-system-above-platform-level"
# The refusal tells the operator how to check a fix without Pulumi.
FIX = "govcloud plan --stack primary"


def _site(root: Path, changes: dict[str, tuple[str, str]] | None, *, registry: bool) -> Path:
    write_project(root, CODE)
    write_county(root / "county", changes)
    if registry:
        assert _run(root, "db", "upgrade").returncode == 0
    return root


@pytest.fixture
def blocked(tmp_path: Path) -> Path:
    """The small county with beta's core database graded above the platform, and a registry."""
    return _site(tmp_path, GRADED_ABOVE_PLATFORM, registry=True)


def _run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`govcloud` in the project, its state there, no pulumi CLI on PATH whatever the machine."""
    return govcloud(
        *args,
        cwd=site,
        env={"GOVCLOUD_STATE_DIR": str(site / "state"), "PATH": str(Path(sys.executable).parent)},
    )


def _audited(site: Path, action: str) -> list[dict[str, object]]:
    log = _run(site, "audit", "log", "--action", action, "--json")
    assert log.returncode == 0, log.stderr
    entries: list[dict[str, object]] = json.loads(log.stdout)
    return entries


def _words(text: str) -> str:
    """The text with line breaks folded (rich wraps long lines on stdout)."""
    return " ".join(text.split())


def test_up_of_a_blocked_stack_is_refused_before_pulumi_and_audited(blocked: Path) -> None:
    result = _run(blocked, "apply", "--stack", "primary")
    assert result.returncode == 2, result.stderr
    assert INSTALL_HINT not in result.stderr, "the refusal must come before the engine"
    assert REFUSAL in result.stderr and FIX in result.stderr
    assert f"  {POLICY}: 系统等保级别" in result.stderr, result.stderr
    assert "beta-project" in result.stderr
    ((entry,),) = [_audited(blocked, "stack.up")]
    assert entry["object"] == "stack/primary"
    assert entry["after"] == {"county": CODE, "refused": [POLICY]}


def test_up_json_gives_policies_and_blocked_as_plan_does(blocked: Path) -> None:
    result = _run(blocked, "apply", "--stack", "primary", "--json")
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert (report["stack"], report["operation"], report["blocked"]) == ("primary", "up", [POLICY])
    (violated,) = [p for p in report["policies"] if p["status"] == "violated"]
    assert violated["id"] == POLICY and violated["enforcement"] == "mandatory"
    assert violated["violations"][0]["urn"].endswith("::beta-project")
    assert POLICY in result.stderr


def test_preview_of_a_blocked_stack_shows_the_violations_and_exits_1(blocked: Path) -> None:
    result = _run(blocked, "apply", "--stack", "primary", "--preview")
    assert result.returncode == 1, result.stderr
    shown = _words(result.stdout)
    assert POLICY in shown and REFUSAL in shown and FIX in shown
    assert "the engine preview was not run" in shown
    assert INSTALL_HINT not in result.stderr
    assert _audited(blocked, "stack.preview") == [], "a preview is a read: nothing to record"


def test_destroy_of_a_blocked_stack_is_not_gated(blocked: Path) -> None:
    result = _run(blocked, "apply", "--stack", "primary", "--destroy")
    assert result.returncode == 3, result.stderr
    assert INSTALL_HINT in _words(result.stderr)
    assert _audited(blocked, "stack.destroy") == []


def test_a_refusal_without_a_registry_still_names_the_violations(tmp_path: Path) -> None:
    site = _site(tmp_path, GRADED_ABOVE_PLATFORM, registry=False)
    result = _run(site, "apply", "--stack", "primary")
    assert result.returncode == 2, result.stderr
    assert REFUSAL in result.stderr and f"  {POLICY}: " in result.stderr
    assert "the refusal is not in the audit log" in result.stderr
    assert "run `govcloud db upgrade`" in result.stderr


def test_up_of_a_clean_stack_goes_on_to_the_engine(tmp_path: Path) -> None:
    site = _site(tmp_path, None, registry=True)
    result = _run(site, "apply", "--stack", "primary")
    assert result.returncode == 3, result.stderr
    assert INSTALL_HINT in _words(result.stderr)
    assert _audited(site, "stack.up") == []
