"""Benchmark the sign-in stall: GET /api/v1/me while other clients sign in (issue 17, finding 1).

Two causes, fixed in turn: the sign-in check opened the write transaction (on SQLite `BEGIN
IMMEDIATE`) before the Argon2 password check, so correct sign-ins held the write lock for
~0.3 s each; and every transaction, reads included, began with `BEGIN IMMEDIATE`, so a GET
queued for the write lock behind the sign-ins' short writes, and SQLite's busy handler, which
polls rather than queues, let it wait seconds under load. Reads now take no write lock
(`db.reading_session`). This benchmark measures what a signed-in user sees: for
each backend (SQLite in a temporary directory, and a throw-away PostgreSQL cluster), the portal
is served with `govcloud portal serve --workers N` and the default Argon2 parameters, and

- the baseline: `--readers` clients call GET /api/v1/me back to back (a token lookup) for
  `--seconds`, nobody signing in;
- under sign-ins: the same readers while `--signers` clients sign in with correct passwords
  back to back (GET /login for the form's CSRF token, POST /login, a new session each time),

in the same run, one after the other. It reports the readers' p50 and p99 latency in both
rounds and the ratio p99 under sign-ins / p99 baseline per backend, and how many sign-ins
completed. A ratio near 1 means sign-ins do not stall other requests.

Run: .venv/bin/python bench/bench_portal_signin.py [--workers 4] [--readers 12]
     [--signers 12] [--seconds 15] [--backend sqlite --backend postgresql]
Needs Debian's postgresql for the PostgreSQL half (`make test` installs it). Run it alone on
the machine: Argon2 is CPU-bound by design.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
from bench_portal import bench_county, portal_server, postgres

from govcloud.loader import load_county
from govcloud.registry import db
from portal import accounts, passwords
from portal.lifecycle import Role

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
BACKENDS = ("sqlite", "postgresql")


@dataclass
class Round:
    """The readers' latencies in one round, and the sign-ins completed meanwhile."""

    latencies: list[float]
    sign_ins: int
    failures: int

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def prepare(url: str, county_dir: Path, signers: int) -> tuple[str, list[tuple[str, str]]]:
    """A reader's API token, and `signers` accounts with their passwords (default Argon2)."""
    county = load_county(county_dir)
    department = county.departments[0].code
    engine = db.make_engine(url)
    db.upgrade(engine, actor="bench:setup")
    people = []
    with db.session_factory(engine)() as session:
        reader = accounts.create_user(
            session,
            county,
            by="bench:setup",
            name="bench-reader",
            role=Role.REQUESTER,
            department=department,
            password=passwords.generate("bench-reader"),
        )
        token = accounts.issue_token(session, by="bench:setup", user=reader)
        for number in range(signers):
            name = f"bench-signer-{number}"
            password = passwords.generate(name)
            accounts.create_user(
                session,
                county,
                by="bench:setup",
                name=name,
                role=Role.REQUESTER,
                department=department,
                password=password,
            )
            people.append((name, password))
        session.commit()
    engine.dispose()
    return token, people


async def measure(
    base: str, token: str, people: list[tuple[str, str]], readers: int, seconds: float
) -> Round:
    """Readers call GET /api/v1/me for `seconds` while each of `people` signs in repeatedly."""
    latencies: list[float] = []
    counts = {"ok": 0, "failed": 0}
    stop_at = time.perf_counter() + seconds
    limits = httpx2.Limits(max_connections=readers, max_keepalive_connections=readers)
    async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=120) as client:

        async def read() -> None:
            headers = {"Authorization": f"Bearer {token}"}
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                response = await client.get("/api/v1/me", headers=headers)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()

        async def sign_in(name: str, password: str) -> None:
            while time.perf_counter() < stop_at:
                async with httpx2.AsyncClient(base_url=base, timeout=120) as browser:
                    form = await browser.get("/login")
                    found = CSRF_FIELD.search(form.text)
                    answer = await browser.post(
                        "/login",
                        data={
                            "name": name,
                            "password": password,
                            "csrf_token": found.group(1) if found else "",
                        },
                        follow_redirects=False,
                    )
                counts["ok" if answer.status_code == 303 else "failed"] += 1

        await asyncio.gather(*(read() for _ in range(readers)), *(sign_in(n, p) for n, p in people))
    return Round(latencies, counts["ok"], counts["failed"])


@contextmanager
def registry(backend: str, root: Path) -> Iterator[str]:
    """The registry URL of a fresh database on this backend."""
    if backend == "sqlite":
        yield f"sqlite:///{root / 'registry.sqlite3'}"
        return
    with postgres(fast=False) as cluster:
        yield cluster.url


def run_backend(backend: str, args: argparse.Namespace) -> tuple[Round, Round]:
    """The baseline round and the round under sign-ins, on one backend."""
    with tempfile.TemporaryDirectory(prefix="govcloud-bench-signin-") as temporary:
        root = Path(temporary)
        county_dir = bench_county(root / "county")
        with registry(backend, root) as url:
            token, people = prepare(url, county_dir, args.signers)
            with portal_server(url, county_dir, args.workers, args.pool) as (base, _pid):
                baseline = asyncio.run(measure(base, token, [], args.readers, args.seconds))
                loaded = asyncio.run(measure(base, token, people, args.readers, args.seconds))
    return baseline, loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4, help="uvicorn worker processes")
    parser.add_argument("--readers", type=int, default=12, help="clients calling /api/v1/me")
    parser.add_argument("--signers", type=int, default=12, help="clients signing in")
    parser.add_argument("--seconds", type=float, default=15, help="length of each round")
    parser.add_argument("--pool", type=int, default=10, help="database connections per worker")
    parser.add_argument(
        "--backend", action="append", choices=BACKENDS, help="sqlite, postgresql (default both)"
    )
    args = parser.parse_args()
    print(
        f"GET /api/v1/me, {args.readers} readers, {args.workers} workers, {args.seconds:.0f} s "
        f"rounds; {args.signers} clients signing in during the second round"
    )
    print(f"{'backend':<11} {'round':<14} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} sign-ins")
    for backend in args.backend or BACKENDS:
        baseline, loaded = run_backend(backend, args)
        for label, measured in (("baseline", baseline), ("under sign-ins", loaded)):
            print(
                f"{backend:<11} {label:<14} {len(measured.latencies):>9} "
                f"{measured.percentile(0.5):>8.1f} {measured.percentile(0.99):>8.1f} "
                f"{measured.sign_ins} ok, {measured.failures} refused"
            )
        ratio = loaded.percentile(0.99) / baseline.percentile(0.99)
        print(f"{backend:<11} p99 under sign-ins / p99 baseline: {ratio:.2f}")


if __name__ == "__main__":
    main()
