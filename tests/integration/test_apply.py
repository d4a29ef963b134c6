"""`govcloud apply` with the real Pulumi engine against the local cloud: up, preview, destroy.

This is the one test that does not run everywhere: it needs the `pulumi` CLI, which cannot be
installed on the project's build machines (no network beyond package mirrors). It is skipped,
not failed, when the CLI is missing; wherever the CLI is on PATH it runs against the cloud the
other cloud tests use. `tests/integration/test_stacks_cli.py` checks the missing-CLI path.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from small_county import write_county

pytestmark = [
    pytest.mark.cloud,
    pytest.mark.skipif(
        shutil.which("pulumi") is None,
        reason="needs the pulumi CLI (not installable on the build machines; docs/stacks.md)",
    ),
]
REPO = Path(__file__).resolve().parents[2]
ENGINE_TIMEOUT_S = 1800


def _govcloud(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=ENGINE_TIMEOUT_S,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_up_then_preview_shows_no_changes_then_destroy(tmp_path: Path, cloud_name: str) -> None:
    code = f"58{secrets.randbelow(10**4):04d}"
    write_county(tmp_path / "county", {"county.yaml": ('code: "519901"', f'code: "{code}"')})
    for name in ("Pulumi.yaml", "Pulumi.primary.yaml", "Pulumi.dr.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    # Pulumi.yaml runs the program with the project's virtual environment.
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(secrets.token_urlsafe(24))
    passphrase.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
    env.update(
        {
            "OS_CLOUD": cloud_name,
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase),
            "GOVCLOUD_STATE_DIR": str(tmp_path / "state"),
        }
    )
    assert _govcloud(tmp_path, env, "db", "upgrade").returncode == 0
    try:
        up = _govcloud(tmp_path, env, "apply", "--stack", "primary", "--json")
        assert up.returncode == 0, up.stderr
        assert json.loads(up.stdout)["changes"].get("create", 0) > 0
        preview = _govcloud(tmp_path, env, "apply", "--stack", "primary", "--preview", "--json")
        assert preview.returncode == 0, preview.stderr
        changes = json.loads(preview.stdout)["changes"]
        assert set(changes) == {"same"}, changes
        plan = _govcloud(tmp_path, env, "plan", "--stack", "primary", "--cloud", cloud_name)
        assert plan.returncode == 0, plan.stdout
    finally:
        destroy = _govcloud(tmp_path, env, "apply", "--stack", "primary", "--destroy", "--json")
        assert destroy.returncode == 0, destroy.stderr
