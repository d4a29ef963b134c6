"""A DR site on loopback for the drill tests: the real lab app and client against a real
PostgreSQL, with the playbooks' contract carried out in Python.

The primary and the DR copy are two databases of one server; the service is the app on one
port, pointed at whichever database serves (moving the name is restarting the app on the
other database, as the playbooks move the name and start the app). A failover copies into the
DR database what an asynchronous standby would hold: every row committed more than `lag_s`
before the fault. What the drill measures comes from the real client, the real app and the
real database; only the Ansible layer is replaced, since the lab's playbooks come with the
lab's DR site (docs/dr.md, "Integration test plan").
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from ports import free_port

from dr import probe as dr_probe
from dr.engine import FaultKind
from dr.targets import Target
from govcloud.errors import UnreachableError
from govcloud.sites import Placement
from lab.workload import schema

SERVICE = "jingwu.gaj.svc.test"
SYSTEM = "gaj/jingwu"


@dataclass
class LoopbackSystem:
    """The system's app on a fixed port and the two databases it can serve from."""

    primary_dsn: str
    copy_dsn: str
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None
    serving: str = "primary"

    @property
    def url(self) -> str:
        """Where the department's users write (the service name's address)."""
        return f"http://127.0.0.1:{self.port}"

    def start_app(self, side: str) -> float:
        """Start the app on `side`'s database; the time it listens."""
        config = self.workdir / f"app-{side}.json"
        dsn = self.primary_dsn if side == "primary" else self.copy_dsn
        config.write_text(
            json.dumps({"ports": [self.port], "systems": {SYSTEM: {"name": SERVICE, "dsn": dsn}}})
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lab.workload.app", str(config)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"
        self.serving = side
        return time.time()

    def stop_app(self, *, crash: bool = False) -> float:
        """Stop the app (ours, by its handle): SIGTERM, or SIGKILL for a crash or when it does
        not end in time; the time it was gone."""
        if self.process is not None:
            if crash:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
        return time.time()

    def copy_lagging(self, before: float) -> int:
        """Into the DR database, what the primary had committed before `before`; how many."""
        with psycopg.connect(self.primary_dsn) as source:
            rows = source.execute(
                "SELECT seq, at FROM records WHERE at <= to_timestamp(%s)", (before,)
            ).fetchall()
        with psycopg.connect(self.copy_dsn) as target, target.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO records (seq, at) VALUES (%s, %s) ON CONFLICT DO NOTHING", rows
            )
        return len(rows)

    def held_by_copy(self, numbers: set[int]) -> set[int]:
        """Which of these numbers the DR database holds."""
        with psycopg.connect(self.copy_dsn) as copy:
            rows = copy.execute("SELECT seq FROM records WHERE seq = ANY(%s)", (sorted(numbers),))
            return {int(seq) for (seq,) in rows.fetchall()}

    def resync_back(self) -> int:
        """Into the primary, what the DR database took while it served (a failback's resync)."""
        with psycopg.connect(self.copy_dsn) as copy:
            rows = copy.execute("SELECT seq, at FROM records").fetchall()
        with psycopg.connect(self.primary_dsn) as primary, primary.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO records (seq, at) VALUES (%s, %s) ON CONFLICT DO NOTHING", rows
            )
        return len(rows)

    def committed_after(self, moment: float) -> set[int]:
        """The writes the primary committed after `moment` (what a lagging copy lacks)."""
        with psycopg.connect(self.primary_dsn) as source:
            return {
                int(seq)
                for (seq,) in source.execute(
                    "SELECT seq FROM records WHERE at > to_timestamp(%s)", (moment,)
                ).fetchall()
            }


def prepare(dsn: str) -> None:
    """The records schema in a database."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(schema.CREATE)


class LoopbackExecutor:
    """dr-status.yml, dr-failover.yml, dr-failback.yml and dr-backup.yml as this site carries
    them out, writing the JSON the playbooks write to `dr_result_file`."""

    def __init__(
        self,
        system: LoopbackSystem,
        *,
        lag_s: float,
        validation_ok: bool = True,
        unreachable: str | None = None,
        primary_healthy: bool = True,
    ):
        self.primary_healthy = primary_healthy  # False: dr-failback.yml's precheck refuses
        self.system = system
        self.unreachable = unreachable  # a playbook whose run finds the site unreachable
        self.lag_s = lag_s
        self.validation_ok = validation_ok
        self.status: dict[str, Any] = {
            "replication": "streaming-async",
            "state": "streaming",
            "lag_s": 0.2,
            "lag_bytes": 2048,
            "last_backup_at": None,
        }
        self.fault_at: float | None = None
        self.ran: list[str] = []
        self.secrets: set[str] = set()

    def __call__(self, playbook: str, variables: Mapping[str, Any], secret: str, log: Path) -> int:
        """Run one 'playbook'; 0 when it succeeded."""
        assert len(secret) >= 32 and secret not in json.dumps(dict(variables))
        self.secrets.add(secret)
        self.ran.append(playbook)
        if playbook == self.unreachable:
            raise UnreachableError(f"{playbook}: the management network is down")
        result = Path(variables["dr_result_file"])
        if playbook == "dr-setup.yml":
            document: dict[str, Any] = {"playbook": playbook, "system": SYSTEM}
        elif playbook == "dr-status.yml":
            document = {"system": SYSTEM, **self.status}
        elif playbook == "dr-failover.yml":
            document = self._failover()
        elif playbook == "dr-failback.yml":
            document = self._failback()
        elif playbook == "dr-backup.yml":
            document = self._backup(log.parent)
        else:
            return 2
        result.write_text(json.dumps(document))
        return 0

    def _failover(self) -> dict[str, Any]:
        fault = self.fault_at or time.time()
        detected = time.time()
        rows = self.system.copy_lagging(fault - self.lag_s)
        promoted = time.time()
        moved = self.system.start_app("copy")
        return {
            "playbook": "dr-failover.yml",
            "system": SYSTEM,
            "events": [
                {"step": "detected", "at": detected},
                {"step": "promoted", "at": promoted},
                {"step": "name_moved", "at": moved},
                {"step": "app_started", "at": moved},
                {"step": "validated", "at": time.time()},
            ],
            "validation": {"ok": self.validation_ok, "rows": rows},
        }

    def _backup(self, directory: Path) -> dict[str, Any]:
        """The primary's records copied out whole (COPY ... TO STDOUT) and counted back."""
        taken = time.time()
        dump = directory / f"records-{time.monotonic_ns()}.copy"
        with (
            psycopg.connect(self.system.primary_dsn) as connection,
            dump.open("wb") as out,
            connection.cursor().copy("COPY records TO STDOUT") as copy,
        ):
            for block in copy:
                out.write(block)
        rows = len(dump.read_bytes().splitlines())
        self.status["last_backup_at"] = taken
        validation = {"ok": True, "rows": rows, "backup_at": taken, "file": str(dump)}
        return {"playbook": "dr-backup.yml", "system": SYSTEM, "validation": validation}

    def _failback(self) -> dict[str, Any]:
        if not self.primary_healthy:
            refused = {"ok": False, "error": "the primary does not answer"}
            return {"playbook": "dr-failback.yml", "system": SYSTEM, "validation": refused}
        self.system.stop_app()
        rows = self.system.resync_back()
        resynced = time.time()
        back = self.system.start_app("primary")
        return {
            "playbook": "dr-failback.yml",
            "system": SYSTEM,
            "events": [{"step": "resynced", "at": resynced}, {"step": "returned", "at": back}],
            "validation": {"ok": True, "rows": rows},
        }


class LoopbackProbe:
    """`python -m dr.probe load` against the service, as the lab runs it on a host."""

    def __init__(self, system: LoopbackSystem, workdir: Path) -> None:
        self.system = system
        self.out = workdir / "probe.json"
        self.stop_file = workdir / "probe.stop"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dr.probe", "load", self.system.url, "--rate", "100",
             "--seconds", "300", "--stop-file", str(self.stop_file), "--drain", "5",
             "--out", str(self.out)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> dict[str, Any]:
        assert self.process is not None
        self.stop_file.touch()
        assert self.process.wait(timeout=120) == 0
        return dict(json.loads(self.out.read_text()))

    def missing(self, tally: Mapping[str, Any]) -> list[int] | None:
        return list(dr_probe.missing(self.system.url, dict(tally))["missing"])


class LoopbackFaults:
    """The system's primary dies: its app stops (its database is no longer reachable)."""

    def __init__(self, system: LoopbackSystem, executor: LoopbackExecutor) -> None:
        self.system = system
        self.executor = executor
        self.injected = False

    def inject(self, kind: FaultKind, placements: Sequence[Placement]) -> float:
        assert kind is FaultKind.DATABASE and [p.system for p in placements] == [SYSTEM]
        self.injected = True
        self.executor.fault_at = self.system.stop_app(crash=True)
        return self.executor.fault_at

    def clear(self) -> float | None:
        if not self.injected:
            return None
        self.injected = False
        return time.time()


def placement(system: str) -> Placement:
    """The loopback site's placement of its one system."""
    assert system == SYSTEM
    return Placement(SYSTEM, "gaj", {"dr_system": SYSTEM})


def probe_factory(system: LoopbackSystem) -> Any:
    """The engine's `Site.probe`."""

    def make(target: Target, workdir: Path) -> LoopbackProbe:
        assert target.system == SYSTEM
        return LoopbackProbe(system, workdir)

    return make
