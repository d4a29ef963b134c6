"""Pulumi entry point: read the stack config and the desired state, then build the stack."""

from __future__ import annotations

from pathlib import Path

import pulumi

from desired.stack_settings import settings_from_mapping
from desired.state import build_desired
from govcloud.conventions import PULUMI_PROJECT
from govcloud.settings import get_settings
from stacks.program import build

PROJECT_DIR = Path(__file__).resolve().parent.parent
TEXT_KEYS = ("county", "extranetPhysicalNetwork", "primaryStack")
LIST_KEYS = ("opsManagementPrefixes", "extranetUplink")


def main() -> None:
    """Config first, then the desired state, then the components in dependency order."""
    config = pulumi.Config(PULUMI_PROJECT)
    values: dict[str, object] = {key: config.get(key) for key in TEXT_KEYS}
    values |= {key: config.get_object(key) for key in LIST_KEYS}
    settings = settings_from_mapping(
        pulumi.get_stack(),
        {k: v for k, v in values.items() if v is not None},
        project_dir=PROJECT_DIR,
    )
    # The same registry every govcloud command uses (GOVCLOUD_DATABASE_URL, else the SQLite file
    # in GOVCLOUD_STATE_DIR): `pulumi up` deploys what `govcloud plan` showed.
    desired = build_desired(settings, registry_url=get_settings().registry_url())
    for warning in desired.warnings:
        pulumi.log.warn(warning)
    for name, value in build(desired).items():
        pulumi.export(name, value)


main()
