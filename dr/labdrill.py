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
from govcloud.model import SiteRole
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

# The lab's DR faults as `NetLab.fault(target, kind)` takes them (issue-15-lab, docs/lab.md):
# the primary site's link to the extranet core cut (target: the site's role), and a system's
# database killed on its primary-site server (target: the system).
LAB_FAULTS: Final = {FaultKind.SITE: "cut-from-extranet", FaultKind.DATABASE: "kill-database"}
PRIMARY_SITE_TARGET: Final = SiteRole.PRIMARY.value


def client_host(lab: NetLab, department: str) -> str:
    """A LAN host that serves nothing itself, where the system's users write from: one of its
    department's, else one of the lab's departments' (a system already on the cloud may keep
    its department out of the lab, whose LAN would share its cloud network's prefix: the lab's
    departments are then its clients, docs/lab.md)."""
    nodes = lab.state()["nodes"]
    hosts = sorted(
        name
        for name, node in nodes.items()
        if node.get("role") == ROLE_HOST and not node.get("workload")
    )
    own = [name for name in hosts if nodes[name].get("department") == department]
    if not own and not hosts:
        raise BadInputError(
            f"lab {lab.name!r} has no LAN host to run the drill's probe on; "
            f"`govcloud lab up --departments {department},...`"
        )
    return str((own or hosts)[0])


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
    """The lab's faults for a failover drill. Clearing restores the site's link; a killed
    database is left down: `dr-failback.yml` recovers that server (pg_rewind) before the
    system returns, and starting it again beforehand would give the old primary back its
    role while the DR site serves."""

    def __init__(self, lab: NetLab) -> None:
        self.lab = lab
        self.cut: list[str] = []

    def inject(self, kind: FaultKind, placements: Sequence[Placement]) -> float:
        """Cut the primary site, or kill each system's database on its primary."""
        fault = LAB_FAULTS[kind]
        if kind is FaultKind.SITE:
            self.lab.fault(PRIMARY_SITE_TARGET, fault)
            self.cut.append(PRIMARY_SITE_TARGET)
        else:
            for placement in placements:
                self.lab.fault(placement.system, fault)
        return time.time()

    def clear(self) -> float | None:
        """Bring the cut site's link up again (nothing when none was cut)."""
        if not self.cut:
            return None
        for site in self.cut:
            self.lab.fault(site, LAB_FAULTS[FaultKind.SITE], clear=True)
        self.cut.clear()
        return time.time()


def probe_factory(lab: NetLab) -> Callable[[Target, Path], Probe]:
    """The engine's `Site.probe` for this lab."""

    def make(target: Target, workdir: Path) -> Probe:
        return LabProbe(lab, target, workdir)

    return make
