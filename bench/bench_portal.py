"""Benchmark the portal on PostgreSQL: quota-checked submission against a trivial endpoint.

Starts a throw-away PostgreSQL cluster (Debian's postgresql; durable settings unless --fast-db),
migrates it, gives every department of the sample county a requester account with an API token
(quotas scaled up so that no submission is refused), and serves the portal with
`govcloud portal serve --workers N`. A separate process (this one) then drives it over loopback
with an async HTTP client (httpx2) at 32 concurrent clients, alternating rounds of

- the trivial endpoint: GET /api/v1/health (no sign-in, no database),
- for reference, GET /api/v1/me (the token looked up: one query), and
- quota-checked submission: POST /api/v1/requests, round-robin over the departments, each with
  its own token (token lookup, the department's ledger row locked, the check, the insert, the
  audit entry, one transaction),

and reports throughput, p50 and p99 latency per endpoint and the ratio, then checks that every
201 is in the registry and that the audit log verifies.

Run: .venv/bin/python bench/bench_portal.py [--workers 4] [--concurrency 32] [--seconds 15]
Needs Debian's postgresql (`make test` installs it); runs as root or as a user that can run
initdb.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from ruamel.yaml import YAML
from sqlalchemy import func, select

from govcloud.loader import load_county
from govcloud.registry import audit_log, db
from govcloud.registry.tables import PortalRequest
from portal import accounts, passwords
from portal.lifecycle import Role

REPO = Path(__file__).resolve().parent.parent
QUOTA_SCALE = 100_000  # no department runs out during the run
STARTUP_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the state on


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def processes(*, group: int | None = None, parent: int | None = None) -> list[int]:
    """Processes in a process group, or a process and its children."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is None:
            continue
        ppid, pgrp = int(fields[1]), int(fields[2])
        if (group is not None and pgrp == group) or (
            parent is not None and (ppid == parent or int(entry.name) == parent)
        ):
            found.append(int(entry.name))
    return found


@dataclass
class Cluster:
    """A running throw-away PostgreSQL."""

    url: str
    data: Path

    def pids(self) -> list[int]:
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        return processes(parent=postmaster)


@contextmanager
def postgres(fast: bool) -> Iterator[Cluster]:
    """A throw-away cluster on 127.0.0.1."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not candidates:
        sys.exit("PostgreSQL not found under /usr/lib/postgresql: run `make test` first")
    bindir = candidates[-1].parent
    base = Path(tempfile.mkdtemp(prefix="govcloud-bench-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    password = secrets.token_urlsafe(18)
    (base / "pw").write_text(password)
    if as_user:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(base / "pw", "postgres", "postgres")
    port = _free_port()
    data = base / "data"
    subprocess.run(  # noqa: S603  (our own paths and arguments)
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "govcloud",
         f"--pwfile={base / 'pw'}", "--auth-host=scram-sha-256", "-E", "UTF8",
         "--locale=C.UTF-8"],
        check=True, capture_output=True,
    )  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c max_connections=300"
    if fast:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(  # noqa: S603
        [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w",
         "-o", options, "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield Cluster(f"postgresql+psycopg://govcloud:{password}@127.0.0.1:{port}/postgres", data)
    finally:
        subprocess.run(  # noqa: S603
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


def bench_county(root: Path) -> Path:
    """The sample county with every quota scaled up."""
    shutil.copytree(REPO / "county", root)
    yaml = YAML()
    yaml.preserve_quotes = True
    for path in sorted((root / "departments").glob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8"))
        for resource in data["quota"]:
            data["quota"][resource] = max(int(data["quota"][resource]), 1) * QUOTA_SCALE
        with path.open("w", encoding="utf-8") as out:
            yaml.dump(data, out)
    return root


def accounts_for(url: str, county_dir: Path) -> list[tuple[str, str]]:
    """A requester with an API token per department: [(department, token)]."""
    os.environ[accounts.PASSWORD_PROFILE_ENV] = "cheapest"  # not on the measured path
    accounts.reset_hashing()
    county = load_county(county_dir)
    engine = db.make_engine(url)
    db.upgrade(engine, actor="bench:setup")
    tokens = []
    with db.session_factory(engine)() as session:
        for department in county.departments:
            user = accounts.create_user(
                session,
                county,
                by="bench:setup",
                name=f"bench-{department.code}",
                role=Role.REQUESTER,
                department=department.code,
                password=passwords.generate(f"bench-{department.code}"),
            )
            tokens.append((department.code, accounts.issue_token(session, by="bench", user=user)))
        session.commit()
    engine.dispose()
    del os.environ[accounts.PASSWORD_PROFILE_ENV]
    accounts.reset_hashing()
    return tokens


@contextmanager
def portal_server(url: str, county_dir: Path, workers: int, pool: int) -> Iterator[tuple[str, int]]:
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")},
        "GOVCLOUD_DATABASE_URL": url,
        "GOVCLOUD_COUNTY": str(county_dir),
        "GOVCLOUD_PORTAL_POOL_SIZE": str(pool),
    }
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "cli", "portal", "serve", "--port", str(port),
         "--workers", str(workers)],
        env=env, cwd=county_dir.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        ready = 0
        while ready < 3:  # a few answers in a row: every worker is likely up
            if process.poll() is not None or time.monotonic() > deadline:
                errors = process.stderr.read().decode() if process.stderr else ""
                sys.exit(f"the portal did not start: {errors[-2000:]}")
            try:
                ready = ready + 1 if httpx2.get(f"{base}/api/v1/health").status_code == 200 else 0
            except httpx2.TransportError:
                ready = 0
            time.sleep(0.5)
        yield base, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Result:
    """One measured round of one endpoint."""

    name: str
    requests: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per request: server, db, client

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


async def drive(
    base: str,
    name: str,
    concurrency: int,
    seconds: float,
    tokens: list[tuple[str, str]],
) -> Result:
    """`concurrency` clients send requests back to back for `seconds`."""
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    rotation = itertools.cycle(tokens)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        stop_at = time.perf_counter() + seconds

        async def client_loop() -> None:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                if name == "health":
                    response = await client.get("/api/v1/health")
                elif name == "me":
                    _, token = next(rotation)
                    response = await client.get(
                        "/api/v1/me", headers={"Authorization": f"Bearer {token}"}
                    )
                else:
                    department, token = next(rotation)
                    response = await client.post(
                        "/api/v1/requests",
                        json={"department": department, "kind": "storage", "storage_gb": 1},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return Result(name, len(latencies), elapsed, latencies, statuses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=15, help="length of each round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each endpoint")
    parser.add_argument("--pool", type=int, default=32, help="database connections per worker")
    parser.add_argument(
        "--fast-db", action="store_true", help="PostgreSQL without fsync (like the tests)"
    )
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="govcloud-bench-portal-") as tmp,
        postgres(args.fast_db) as cluster,
    ):
        county_dir = bench_county(Path(tmp) / "county")
        tokens = accounts_for(cluster.url, county_dir)
        with portal_server(cluster.url, county_dir, args.workers, args.pool) as (base, group):
            asyncio.run(drive(base, "health", args.concurrency, 2, tokens))  # warm-up
            asyncio.run(drive(base, "submit", args.concurrency, 2, tokens))
            names = ("health", "me", "submit")
            results: dict[str, list[Result]] = {name: [] for name in names}
            for _ in range(args.rounds):
                for name in names:
                    server, database = processes(group=group), cluster.pids()
                    before = (cpu_seconds(server), cpu_seconds(database), time.process_time())
                    result = asyncio.run(drive(base, name, args.concurrency, args.seconds, tokens))
                    after = (cpu_seconds(server), cpu_seconds(database), time.process_time())
                    result.cpu_ms = {
                        side: (end - start) * 1000 / result.requests
                        for side, start, end in zip(
                            ("server", "db", "client"), before, after, strict=True
                        )
                    }
                    results[name].append(result)
        report(args, results)
        check(cluster.url, results)


def report(args: argparse.Namespace, results: dict[str, list[Result]]) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"portal on PostgreSQL ({'fsync off' if args.fast_db else 'durable'}), "
        f"{args.workers} workers, {args.concurrency} clients, {args.rounds} rounds of "
        f"{args.seconds:.0f} s each, {os.cpu_count()} CPUs, load average {load} at the end"
    )
    print(
        "| endpoint | round | requests | throughput | p50 | p99 | CPU ms/request: "
        "server, PostgreSQL, client | statuses |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, rounds in results.items():
        for number, result in enumerate(rounds, start=1):
            cpu = ", ".join(f"{result.cpu_ms[side]:.2f}" for side in ("server", "db", "client"))
            print(
                f"| {name} | {number} | {result.requests} | {result.throughput:,.0f}/s | "
                f"{result.percentile(0.50):.1f} ms | {result.percentile(0.99):.1f} ms | "
                f"{cpu} | {result.statuses} |"
            )
    health = statistics.median(r.throughput for r in results["health"])
    submit = statistics.median(r.throughput for r in results["submit"])
    p99 = max(r.percentile(0.99) for r in results["submit"])
    print(
        f"\nsubmission / trivial throughput: {submit:,.0f}/s / {health:,.0f}/s = "
        f"{submit / health:.0%} (goal at least 40%); submission p99 {p99:.0f} ms "
        "(goal under 200 ms)"
    )


def check(url: str, results: dict[str, list[Result]]) -> None:
    created = sum(r.statuses.get(201, 0) for r in results["submit"])
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine)() as session:
            stored = session.execute(select(func.count()).select_from(PortalRequest)).scalar_one()
            started = time.perf_counter()
            chain = audit_log.verify(session)
            verify_s = time.perf_counter() - started
    finally:
        engine.dispose()
    # The warm-up round's submissions are stored too.
    print(
        f"registry: {stored} requests stored for {created} measured 201s (plus the warm-up); "
        f"audit log {'verifies' if chain.ok else 'BROKEN: ' + chain.message} "
        f"({chain.entries} entries, {verify_s:.1f} s)"
    )
    if not chain.ok or stored < created:
        sys.exit(1)


if __name__ == "__main__":
    main()
