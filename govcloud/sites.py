"""Where a system's servers are and how a playbook runs there: what migration and DR share.

A `Placement` is what the playbooks are told about one system's servers (never a secret); an
`Executor` runs one playbook with those variables, the secret in its environment only. The
lab's executor is `lab.workload.site.LabExecutor`; a real site's runs against its inventory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


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
