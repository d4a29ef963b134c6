"""`govcloud plan` and `govcloud apply` as an operator runs them: the paths that need no cloud."""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

import pytest
from clirunner import govcloud

REPO = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("Pulumi.yaml", "Pulumi.primary.yaml", "Pulumi.dr.yaml")


def _project(tmp_path: Path) -> Path:
    for name in PROJECT_FILES:
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "county", tmp_path / "county")
    return tmp_path


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_plan_refuses_an_unknown_stack(tmp_path: Path) -> None:
    result = govcloud("plan", "--stack", "staging", cwd=_project(tmp_path))
    assert result.returncode == 2
    assert "staging" in result.stderr and "primary" in result.stderr


def test_plan_outside_a_pulumi_project_names_the_fix(tmp_path: Path) -> None:
    result = govcloud("plan", "--stack", "primary", cwd=tmp_path)
    assert result.returncode == 2
    assert "no Pulumi.yaml in" in result.stderr and "--project-dir" in result.stderr


def test_plan_with_a_broken_stack_file_names_file_line_and_key(tmp_path: Path) -> None:
    project = _project(tmp_path)
    path = project / "Pulumi.primary.yaml"
    path.write_text(path.read_text().replace("2001:db8:ff00::/48", "2001:db8:ff00::1/48"))
    result = govcloud("plan", "--stack", "primary", cwd=project)
    assert result.returncode == 2
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "ff00::1" in text)
    assert f"Pulumi.primary.yaml:{line}:" in result.stderr
    assert "has host bits set; did you mean 2001:db8:ff00::/48?" in result.stderr
    assert "nothing was written" in result.stderr


def test_plan_against_an_unreachable_cloud_exits_3(tmp_path: Path) -> None:
    project = _project(tmp_path)
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n"
        "  nowhere:\n"
        "    auth:\n"
        f"      auth_url: http://127.0.0.1:{_closed_port()}/v3\n"
        "      username: nobody\n"
        "      password: not-a-secret\n"
        "      project_name: nothing\n"
        "      user_domain_name: Default\n"
        "      project_domain_name: Default\n"
        "    identity_api_version: 3\n"
    )
    result = govcloud(
        "plan",
        "--stack",
        "primary",
        "--cloud",
        "nowhere",
        cwd=project,
        env={"OS_CLIENT_CONFIG_FILE": str(clouds)},
    )
    assert result.returncode == 3, result.stderr
    assert "cannot read cloud 'nowhere'" in result.stderr


def test_apply_without_the_pulumi_cli_says_how_to_install_it(tmp_path: Path) -> None:
    project = _project(tmp_path)
    # Only the interpreter's directory on PATH: no `pulumi` there, whatever the machine has.
    result = govcloud(
        "apply",
        "--stack",
        "primary",
        cwd=project,
        env={"PATH": str(Path(sys.executable).parent)},
    )
    assert result.returncode == 3
    assert "the Pulumi CLI (`pulumi`) is not on PATH" in result.stderr
    assert "https://get.pulumi.com" in result.stderr
    assert not (project / ".govcloud").exists(), "nothing may be written"


def test_demo_steps_accept_the_exit_codes_they_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.demo import Step, run  # noqa: PLC0415

    monkeypatch.chdir(_project(tmp_path))
    usage_error = ("plan", "--stack", "staging")  # exits 2 before touching anything
    assert run((Step("tolerated", usage_error, ok_codes=(2,)),)) == 0
    assert run((Step("not tolerated", usage_error),)) == 2
