"""Every playbook run is in the audit log (the govcloud.network.audit_log callback, enabled in
ansible.cfg): who ran it, which playbook, each host's counts and the result, a start entry
first so a killed run leaves a trace; `govcloud audit log` filters them. Registries on
SQLite and a real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLAY = """\
---
- name: A play on this machine
  hosts: all
  connection: local
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello
    - name: Fail when asked
      ansible.builtin.fail:
        msg: asked to fail
      when: fail_now | default(false) | bool
"""


def _env(registry_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVCLOUD_", "ANSIBLE_"))}
    return env | {
        "GOVCLOUD_DATABASE_URL": registry_url,
        "GOVCLOUD_ACTOR": "test:ansible",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "PATH": f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
    }


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _log(env: dict[str, str], *filters: str) -> list[dict[str, Any]]:
    result = _run(sys.executable, "-m", "cli", "audit", "log", *filters, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_each_playbook_run_is_recorded(registry_url: str, tmp_path: Path) -> None:
    env = _env(registry_url)
    assert _run(sys.executable, "-m", "cli", "db", "upgrade", env=env).returncode == 0
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    ok = _run(str(BIN / "ansible-playbook"), "-i", "localhost,", str(play), env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    failed = _run(
        str(BIN / "ansible-playbook"),
        "-i",
        "localhost,",
        str(play),
        "-e",
        "fail_now=true",
        env=env,
    )
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "not recorded" not in ok.stdout + ok.stderr + failed.stdout + failed.stderr

    runs = _log(env, "--action", "ansible.playbook")
    assert [r["after"]["result"] for r in runs] == ["failed", "ok"]  # newest first
    assert all(r["actor"] == "test:ansible" and r["object"] == f"playbook/{play}" for r in runs)
    assert runs[0]["after"]["failed_hosts"] == ["localhost"]
    assert runs[1]["after"]["hosts"]["localhost"]["ok"] == 1
    assert "fail_now" not in json.dumps(runs)  # variable values are never recorded
    starts = _log(env, "--action", "ansible.start")
    assert len(starts) == 2
    every = _log(env, "--action", "ansible.", "--actor", "test:ansible")
    assert len(every) == 4
    assert _log(env, "--action", "ansible.", "--actor", "someone-else") == []
    verified = _run(sys.executable, "-m", "cli", "audit", "verify-log", env=env)
    assert verified.returncode == 0, verified.stdout


def test_an_unwritable_registry_warns_and_the_run_goes_on(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}")
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    result = _run(str(BIN / "ansible-playbook"), "-i", "localhost,", str(play), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "this run was not recorded" in result.stdout + result.stderr
