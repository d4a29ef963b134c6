"""Pulumi entry point: read the stack config and the desired state, then build the stack."""

from __future__ import annotations

import os
from pathlib import Path

import pulumi

from stacks.desired import build_desired
from stacks.program import build
from stacks.settings import PROJECT, settings_from_mapping

PROJECT_DIR = Path(__file__).resolve().parent.parent
TEXT_KEYS = ("county", "extranetPhysicalNetwork", "primaryStack")
LIST_KEYS = ("opsManagementPrefixes", "extranetUplink")


def main() -> None:
    """Config first, then the desired state, then the components in dependency order."""
    config = pulumi.Config(PROJECT)
    values: dict[str, object] = {key: config.get(key) for key in TEXT_KEYS}
    values |= {key: config.get_object(key) for key in LIST_KEYS}
    settings = settings_from_mapping(
        pulumi.get_stack(),
        {k: v for k, v in values.items() if v is not None},
        project_dir=PROJECT_DIR,
    )
    registry = os.environ.get("GOVCLOUD_DATABASE_URL") or (
        f"sqlite:///{PROJECT_DIR / '.govcloud' / 'registry.sqlite3'}"
    )
    desired = build_desired(settings, registry_url=registry)
    for warning in desired.warnings:
        pulumi.log.warn(warning)
    for name, value in build(desired).items():
        pulumi.export(name, value)


main()
