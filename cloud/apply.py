"""`govcloud apply`: the real Pulumi engine through the Automation API, local file backend.

The engine needs the `pulumi` CLI; without it nothing runs and the operator is told how to
install it (exit 3). State lives in a file backend under the state directory, encrypted with
the passphrase from PULUMI_CONFIG_PASSPHRASE(_FILE): never a secret in the repository.
Every run that changes the cloud is recorded in the audit log.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from govcloud.errors import BadInputError, UnreachableError

PULUMI_CLI: Final = "pulumi"
# The CLI release that matches the pinned SDK (pyproject: pulumi==3.272.0).
PULUMI_VERSION: Final = "3.272.0"
INSTALL_HINT: Final = (
    f"the Pulumi CLI (`{PULUMI_CLI}`) is not on PATH; `govcloud apply` drives the real engine "
    f"and needs it. Install it with `curl -fsSL https://get.pulumi.com | sh -s -- --version "
    f"{PULUMI_VERSION}` (or see https://www.pulumi.com/docs/install/), put ~/.pulumi/bin on "
    "PATH, and run again. `govcloud plan` needs no CLI."
)
PASSPHRASE_VARS: Final = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
BACKEND_DIR: Final = "pulumi"


class Operation(StrEnum):
    """What apply asks the engine to do."""

    UP = "up"
    PREVIEW = "preview"
    DESTROY = "destroy"


@dataclass(frozen=True)
class ApplyResult:
    """What the engine reported: operation, resource changes by kind of change, outputs."""

    stack: str
    operation: Operation
    changes: dict[str, int]
    outputs: dict[str, Any]


def require_cli() -> str:
    """The pulumi CLI's path, or UnreachableError (exit 3) saying how to install it."""
    found = shutil.which(PULUMI_CLI)
    if found is None:
        raise UnreachableError(INSTALL_HINT)
    return found


def _counts(changes: Mapping[Any, int] | None) -> dict[str, int]:
    """Engine change counts keyed by operation name ("create", "same", ...)."""
    return {str(getattr(op, "value", op)): n for op, n in (changes or {}).items()}


def backend_url(state_dir: Path) -> str:
    """The local file backend under the state directory."""
    path = (state_dir / BACKEND_DIR).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"file://{path}"


def run(
    stack: str, operation: Operation, *, project_dir: Path, state_dir: Path
) -> ApplyResult:  # pragma: no cover - needs the pulumi CLI (tests/integration/test_apply.py)
    """Select or create the stack in the file backend and run the operation."""
    require_cli()
    if not any(os.environ.get(name) for name in PASSPHRASE_VARS):
        raise BadInputError(
            "set PULUMI_CONFIG_PASSPHRASE_FILE (or PULUMI_CONFIG_PASSPHRASE) to the passphrase "
            "that protects the stack state; it is never stored in the repository"
        )
    from pulumi import automation as auto  # noqa: PLC0415  (imports the CLI wrapper lazily)

    workspace = auto.LocalWorkspaceOptions(
        work_dir=str(project_dir),
        env_vars={"PULUMI_BACKEND_URL": backend_url(state_dir)},
    )
    selected = auto.create_or_select_stack(
        stack_name=stack, work_dir=str(project_dir), opts=workspace
    )
    printer = print  # the engine's own progress, line by line
    if operation is Operation.PREVIEW:
        preview = selected.preview(on_output=printer)
        return ApplyResult(stack, operation, _counts(preview.change_summary), {})
    if operation is Operation.DESTROY:
        destroyed = selected.destroy(on_output=printer)
        return ApplyResult(stack, operation, _counts(destroyed.summary.resource_changes), {})
    result = selected.up(on_output=printer)
    outputs = {name: value.value for name, value in result.outputs.items()}
    return ApplyResult(stack, operation, _counts(result.summary.resource_changes), outputs)
