"""A small county of its own on the local cloud, for the audit's tests: its registry, its
Pulumi project files, and the `govcloud` commands run against them (JSON in, exit codes
checked, never a traceback)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clirunner import run_cli
from handdeploy import remove_county
from small_county import write_county, write_project

from lab.localcloud.layout import CLOUD_NAME, REGIONS
from lab.localcloud.manager import LocalCloud

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 1800


@dataclass
class CountySite:
    """The county, its registry (SQLite under `state`), and the local cloud it deploys to."""

    county: Path
    project: Path
    state: Path
    env: dict[str, str]

    def govcloud(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(args, env=self.env, timeout=TIMEOUT_S)

    def where(self) -> tuple[str, ...]:
        return ("--county", str(self.county), "--project-dir", str(self.project))

    def deploy(self, stack: str) -> None:
        result = self.govcloud("localcloud", "deploy", "--stack", stack, *self.where(), "--json")
        assert result.returncode == 0, result.stdout + result.stderr

    def report(self, command: str, *extra: str) -> tuple[int, dict[str, Any]]:
        """`govcloud audit <command> --json` on this county: its exit code and document."""
        result = self.govcloud("audit", command, *self.where(), *extra, "--json")
        assert result.returncode in {0, 1, 3}, result.stdout + result.stderr
        return result.returncode, dict(json.loads(result.stdout))


@contextmanager
def county_site(
    local_cloud: LocalCloud,
    root: Path,
    code: str,
    actor: str,
    changes: dict[str, tuple[str, str]] | None = None,
) -> Iterator[CountySite]:
    """The small county under `code` (with `changes` to its files), its registry migrated;
    everything the code owns in the cloud is removed before and after."""
    county = write_county(
        root / "county", {"county.yaml": ('code: "519901"', f'code: "{code}"')} | (changes or {})
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVCLOUD_", "OS_"))}
    env |= {
        "GOVCLOUD_STATE_DIR": str(root / "state"),
        "GOVCLOUD_LOCALCLOUD_DIR": str(local_cloud.paths.root),
        "GOVCLOUD_ACTOR": actor,
    }
    site = CountySite(county, write_project(root / "project", code), root / "state", env)
    assert site.govcloud("db", "upgrade").returncode == 0
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(local_cloud.paths.clouds_yaml)
    regions = [r.name for r in REGIONS]
    remove_county(CLOUD_NAME, regions, code)  # what a killed run left
    try:
        yield site
    finally:
        remove_county(CLOUD_NAME, regions, code)
