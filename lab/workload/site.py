"""The network lab as a site the playbooks run on: Ansible as the lab's management controller.

Migration and DR both run their playbooks this way; each names the environment variable its
role reads the secret from: the secret goes in the process environment, never on a command
line or in the (0600) variables file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lab.netlab.manager import NetLab


class LabExecutor:
    """Runs a playbook as the lab's management controller, the secret in `secret_env`."""

    def __init__(self, lab: NetLab, secret_env: str) -> None:
        self.lab = lab
        self.secret_env = secret_env

    def __call__(self, playbook: str, variables: Mapping[str, Any], secret: str, log: Path) -> int:
        """ansible-playbook playbooks/PLAYBOOK -e @vars.json; its output appended to `log`."""
        extra = log.with_suffix(".vars.json")
        descriptor = os.open(extra, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(dict(variables), handle)
        result = self.lab.run(
            ["ansible-playbook", f"playbooks/{playbook}", "-e", f"@{extra}"],
            capture=True,
            env={self.secret_env: secret},
        )
        with log.open("a") as handle:
            handle.write(f"### {playbook} (exit {result.returncode})\n")
            handle.write(result.stdout)
            handle.write(result.stderr)
        return result.returncode
