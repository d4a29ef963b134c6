"""The network lab's pieces of a drill: the probe on a department's host, and the lab's faults.

The probe (`dr.probe`) runs inside one of the department's LAN hosts (`govcloud lab exec`),
so it reaches the system by its service name the way the department's users do, and follows
the name when a failover moves it. Faults are the lab's own (`NetLab.fault`): the primary
site cut from the extranet, or a system's database killed on its primary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from dr.engine import FaultKind, Probe
from dr.targets import Target
from govcloud.errors import BadInputError, UnreachableError
from govcloud.sites import Placement
from lab.netlab.manager import NetLab
from network.phases import ROLE_HOST

REPO: Final = Path(__file__).resolve().parents[1]
# The client's pace during a drill (the benchmarks: under 200 writes/s) and its
# longest run, should a stop never come (the engine always stops it).
PROBE_RATE: Final = 200.0
PROBE_MAX_S: Final = 3600.0
PROBE_STOP_TIMEOUT_S: Final = 180.0  # the client drains writes in flight for up to 60 s
STARTED_WAIT_S: Final = 1.0

# INTEGRATION (issue-15-lab): the lab's DR faults, as `NetLab.fault(target, kind)` will take
# them: the primary site's link to the extranet core cut (target: the site), and a system's
# database killed on its primary (target: the system). Adjust the names here when merging.
LAB_FAULTS: Final = {FaultKind.SITE: "cut-site", FaultKind.DATABASE: "kill-database"}
PRIMARY_SITE_TARGET: Final = "primary"


def client_host(lab: NetLab, department: str) -> str:
    """A LAN host of the department that serves nothing itself: where its users write from."""
    nodes = lab.state()["nodes"]
    hosts = sorted(
        name
        for name, node in nodes.items()
        if node.get("role") == ROLE_HOST
        and node.get("department") == department
        and not node.get("workload")
    )
    if not hosts:
        raise BadInputError(
            f"lab {lab.name!r} has no LAN host of {department} to run the drill's probe on; "
            f"`govcloud lab up --departments {department},...`"
        )
    return str(hosts[0])


class LabProbe:
    """`python -m dr.probe` on a department's host, through `govcloud lab exec`."""

    def __init__(self, lab: NetLab, target: Target, workdir: Path) -> None:
        self.lab = lab
        self.host = client_host(lab, target.department)
        info = lab.app(target.system)
        self.url = f"http://{info['name']}:{info['port']}"
        stem = target.system.replace("/", "-")
        self.out = workdir / f"{stem}-probe.json"
        self.stop_file = workdir / f"{stem}-probe.stop"
        self.missing_file = workdir / f"{stem}-missing.json"
        self.log = workdir / f"{stem}-probe.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _exec(self, *command: str) -> list[str]:
        return [
            sys.executable, "-m", "cli", "lab", "exec", self.host, "--name", self.lab.name,
            "--", "python", "-m", "dr.probe", *command,
        ]  # fmt: skip

    def start(self) -> None:
        """Start the client on the host (the stop file is removed first)."""
        self.stop_file.unlink(missing_ok=True)
        self.out.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603  (our own module, fixed arguments)
                self._exec(
                    "load",
                    self.url,
                    "--rate",
                    str(PROBE_RATE),
                    "--seconds",
                    str(PROBE_MAX_S),
                    "--stop-file",
                    str(self.stop_file),
                    "--out",
                    str(self.out),
                ),
                cwd=REPO,
                env=dict(os.environ),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        time.sleep(STARTED_WAIT_S)
        if self.process.poll() is not None:
            raise UnreachableError(f"the probe on {self.host} ended at once; see {self.log}")

    def stop(self) -> dict[str, Any]:
        """Stop issuing, wait for the writes in flight, read the tally."""
        if self.process is None:
            raise UnreachableError("the probe was never started")
        self.stop_file.touch()
        try:
            self.process.wait(timeout=PROBE_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.terminate()  # our own child, by its handle
            self.process.wait(timeout=10)
        if not self.out.is_file():
            raise UnreachableError(f"the probe on {self.host} wrote no tally; see {self.log}")
        return dict(json.loads(self.out.read_text()))

    def missing(self, tally: Mapping[str, Any]) -> list[int] | None:
        """The acknowledged writes the database now behind the name lacks."""
        tally_file = self.out.with_suffix(".tally.json")
        tally_file.write_text(json.dumps(dict(tally)))
        with self.log.open("ab") as log:
            code = subprocess.run(  # noqa: S603
                self._exec(
                    "missing", self.url, "--tally", str(tally_file), "--out", str(self.missing_file)
                ),
                cwd=REPO,
                env=dict(os.environ),
                stdout=subprocess.DEVNULL,
                stderr=log,
                check=False,
            ).returncode
        if code != 0 or not self.missing_file.is_file():
            return None
        return [int(n) for n in json.loads(self.missing_file.read_text())["missing"]]


class LabFaults:
    """The lab's faults for a failover drill, remembered so they are cleared exactly once."""

    def __init__(self, lab: NetLab) -> None:
        self.lab = lab
        self.injected: list[tuple[str, str]] = []

    def inject(self, kind: FaultKind, placements: Sequence[Placement]) -> float:
        """Cut the primary site, or kill each system's database on its primary."""
        fault = LAB_FAULTS[kind]
        targets = (
            [PRIMARY_SITE_TARGET] if kind is FaultKind.SITE else [p.system for p in placements]
        )
        for target in targets:
            self.lab.fault(target, fault)  # INTEGRATION (issue-15-lab): see LAB_FAULTS
            self.injected.append((target, fault))
        return time.time()

    def clear(self) -> float | None:
        """Restore what was cut (a killed database stays down: failback rebuilds it)."""
        if not self.injected:
            return None
        for target, fault in self.injected:
            self.lab.fault(target, fault, clear=True)
        self.injected.clear()
        return time.time()


def probe_factory(lab: NetLab) -> Callable[[Target, Path], Probe]:
    """The engine's `Site.probe` for this lab."""

    def make(target: Target, workdir: Path) -> Probe:
        return LabProbe(lab, target, workdir)

    return make
