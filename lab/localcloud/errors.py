"""The error every local-cloud failure raises: it names the service and shows its log."""

from __future__ import annotations

from pathlib import Path

from govcloud.errors import UnreachableError

LOG_TAIL_LINES = 25


class LocalCloudError(UnreachableError):
    """A service of the local cloud failed; the message names it and shows its log."""

    def __init__(self, service: str, problem: str, log: Path | None = None) -> None:
        tail = ""
        if log is not None and log.exists():
            lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            tail = f"\n--- last lines of {log} ---\n" + "\n".join(lines)
        super().__init__(f"local cloud: {service}: {problem}{tail}")
        self.service = service
