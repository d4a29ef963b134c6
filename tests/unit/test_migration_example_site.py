"""The example site for the migrate playbooks (inventories/migration-example/): the playbooks
parse against it, their plays reach the hosts the system's variables name, and it keeps no
secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "inventories" / "migration-example"
INVENTORY = SITE / "inventory"
SYSTEM = SITE / "systems" / "cgj-zhifa.yml"
BIN = Path(sys.executable).parent
PLAYBOOKS = sorted((REPO / "playbooks").glob("migrate-*.yml"))
# What the role's defaults leave to the run (playbooks/roles/migrate/defaults/main.yml).
SET_BY_THE_RUN = (
    "migrate_system",
    "migrate_name",
    "migrate_source",
    "migrate_target",
    "migrate_source_address",
    "migrate_target_address",
)


def _ansible(tool: str, *args: str) -> str:
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    result = subprocess.run(
        [str(BIN / tool), *args], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_system_names_what_the_run_must_and_hosts_the_inventory_has() -> None:
    system = yaml.safe_load(SYSTEM.read_text(encoding="utf-8"))
    assert set(SET_BY_THE_RUN) <= set(system)
    hosts = json.loads(_ansible("ansible-inventory", "-i", str(INVENTORY), "--list"))
    known = set(hosts["_meta"]["hostvars"])
    assert {system["migrate_source"], system["migrate_target"], system["migrate_router"]} <= known


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.stem)
def test_each_migrate_playbook_reaches_the_systems_hosts(playbook: Path) -> None:
    listed = _ansible(
        "ansible-playbook", "-i", str(INVENTORY), "-e", f"@{SYSTEM}", "--list-hosts",
        str(playbook),
    )  # fmt: skip
    system = yaml.safe_load(SYSTEM.read_text(encoding="utf-8"))
    assert system["migrate_target"] in listed or system["migrate_source"] in listed
    assert "no_migration_target" not in listed


def _keys(value: object) -> list[str]:
    if isinstance(value, dict):
        return [str(k) for k in value] + [k for v in value.values() for k in _keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in _keys(v)]
    return []


def test_the_site_keeps_no_secret() -> None:
    for path in SITE.rglob("*.yml"):
        text = path.read_text(encoding="utf-8")
        assert "$ANSIBLE_VAULT" not in text
        for key in _keys(yaml.safe_load(text)):
            assert not any(word in key.lower() for word in ("password", "secret", "token")), (
                f"{path.relative_to(REPO)}: {key}"
            )
