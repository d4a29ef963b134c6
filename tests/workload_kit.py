"""The lab workload's numbering client as tests drive it: started on a lab host against a
system's name, stopped, read; and the acknowledged writes a server lacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.netlab.manager import NetLab

REPO = Path(__file__).resolve().parents[1]
SETTLE_S = 3  # writes flowing before whatever the test does next
SECONDS = 600  # the client's longest run, should its stop file never come


class Load:
    """The numbering client on a lab host, started and stopped by the test."""

    def __init__(  # noqa: PLR0917  (the client's coordinates)
        self,
        lab: NetLab,
        system: str,
        host: str,
        start: int,
        out: Path,
        rate: int = 100,
        *,
        seconds: int = SECONDS,
    ) -> None:
        self.out = out
        self.stop_file = out.with_suffix(".stop")
        name = lab.app(system)["name"]
        env = {**os.environ, "GOVCLOUD_LAB_DIR": str(lab.root.parent)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", "lab", "exec", host, "--name", lab.name, "--",
             "python", "-m", "lab.workload.client", f"http://{name}:443", "--rate", str(rate),
             "--seconds", str(seconds), "--start", str(start), "--stop-file", str(self.stop_file),
             "--out", str(out)],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(SETTLE_S)

    def finish(self) -> dict[str, Any]:
        self.stop_file.touch()
        _, stderr = self.process.communicate(timeout=120)
        assert self.process.returncode == 0, stderr
        return dict(json.loads(self.out.read_text()))


def missing_writes(sql: Callable[[str, str], str], node: str, tally: dict[str, Any]) -> int:
    """Acknowledged writes the server `node` lacks (every issued number was acknowledged);
    `sql(node, query)` runs a query in the system's database there."""
    assert tally["unacknowledged"] == [] and tally["acknowledged"] == tally["issued"], tally
    first, last = int(tally["first_seq"]), int(tally["last_seq"])
    return int(
        sql(
            node,
            f"SELECT count(*) FROM generate_series({first}, {last}) s "  # noqa: S608  (integers)
            "WHERE s NOT IN (SELECT seq FROM records)",
        )
    )
