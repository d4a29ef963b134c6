"""Where a system's servers are and how a playbook runs there: what migration and DR share.

A `Placement` is what the playbooks are told about one system's servers (never a secret); an
`Executor` runs one playbook with those variables, the secret in its environment only. The
lab's executor is `lab.workload.site.LabExecutor`; a real site's runs against its inventory.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

SECRET_BYTES: Final = 24


@dataclass(frozen=True)
class Placement:
    """A system's servers and everything the playbooks are told about them (no secret)."""

    system: str
    department: str
    variables: Mapping[str, Any]


class Executor(Protocol):
    """Runs one playbook with these variables; the secret goes in its environment only."""

    def __call__(
        self, playbook: str, variables: Mapping[str, Any], secret: str, log: Path
    ) -> int: ...


def secret_for(root: Path, system: str) -> str:
    """The system's password for the playbooks of one kind of run (migration, DR): made once,
    kept 0600 under that kind's root (0700), handed to the executor, never to a command line."""
    directory = root / "secrets"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    path = directory / system.replace("/", "-")
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(SECRET_BYTES))
    return path.read_text().strip()


def read_result(path: Path) -> dict[str, Any]:
    """What a playbook wrote to its result file: a JSON object, or {} when it wrote none (or
    something else), so a failed step reads as one without figures."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
