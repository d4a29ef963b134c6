"""200 simultaneous requests from one department against PostgreSQL, through the real server.

`govcloud portal serve` runs with several worker processes; 200 clients submit storage requests
at once that together ask for about twice the department's quota. The accepted ones must sum to
at most the quota, none may be lost (every 201 is in the registry, nothing else is), every
refusal must be a 409 that was right when it was made, and the audit log must verify.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from portal_kit import PASSWORD
from small_county import write_county
from sqlalchemy import select

from govcloud.loader import load_county
from govcloud.registry import audit_log, db
from govcloud.registry.tables import AuditEntry, PortalLedger, PortalRequest
from portal import accounts, service
from portal.lifecycle import Role

pytestmark = pytest.mark.postgres

CLIENTS = 200
QUOTA_GB = 1000
WORKERS = 4
STARTUP_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(postgres_url: str, tmp_path: Path, cheap_passwords: None) -> Iterator[tuple[str, str]]:
    """The portal on a fresh PostgreSQL database: (base URL, an API token of alpha's staff)."""
    county_dir = write_county(
        tmp_path / "county",
        {"departments/alpha.yaml": ("storage_gb: 100", f"storage_gb: {QUOTA_GB}")},
    )
    engine = db.make_engine(postgres_url)
    db.upgrade(engine, actor="test:setup")
    with db.session_factory(engine)() as session:
        user = accounts.create_user(
            session,
            load_county(county_dir),
            by="test:setup",
            name="req-a",
            role=Role.REQUESTER,
            department="alpha",
            password=PASSWORD,
        )
        token = accounts.issue_token(session, by="test:setup", user=user)
        session.commit()
    engine.dispose()
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")},
        "GOVCLOUD_DATABASE_URL": postgres_url,
        "GOVCLOUD_COUNTY": str(county_dir),
        "GOVCLOUD_PORTAL_POOL_SIZE": "20",
    }
    log = tmp_path / "portal.log"
    # A file, not a pipe: nobody reads a pipe while the test runs, and a full one blocks.
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli",
                "portal",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(WORKERS),
            ],
            env=env,
            cwd=tmp_path,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"the portal did not start: {log.read_text()[-3000:]}")
            try:
                if httpx2.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the portal did not answer within a minute")
            time.sleep(0.2)
        yield base, token
        errors = log.read_text()
        assert "Traceback" not in errors, errors[-3000:]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def _fire(base: str, token: str, sizes: list[int]) -> list[httpx2.Response]:
    limits = httpx2.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=120
    ) as client:
        start = asyncio.Event()

        async def one(size: int) -> httpx2.Response:
            await start.wait()
            return await client.post(
                "/api/v1/requests",
                json={"department": "alpha", "kind": "storage", "storage_gb": size},
            )

        tasks = [asyncio.create_task(one(size)) for size in sizes]
        await asyncio.sleep(0.1)  # every task is waiting on the event: release them at once
        start.set()
        return await asyncio.gather(*tasks)


def test_200_simultaneous_requests_never_exceed_the_quota(
    server: tuple[str, str], postgres_url: str
) -> None:
    base, token = server
    rng = random.Random(6)  # noqa: S311  (sizes, not secrets)
    sizes = [rng.randint(1, 20) for _ in range(CLIENTS)]
    assert sum(sizes) > 1.5 * QUOTA_GB  # together they ask for far more than the quota

    responses = asyncio.run(_fire(base, token, sizes))

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, {s: statuses.count(s) for s in set(statuses)}
    accepted = {
        r.json()["id"]: size
        for r, size in zip(responses, sizes, strict=True)
        if r.status_code == 201
    }
    refused = [size for r, size in zip(responses, sizes, strict=True) if r.status_code == 409]
    assert len(accepted) + len(refused) == CLIENTS
    total = sum(accepted.values())
    assert total <= QUOTA_GB
    # A refusal was right: what was left when it came is smaller than it, and what is left
    # now is smaller still (nothing is released in this test).
    assert QUOTA_GB - total < min(refused)
    for response in responses:
        if response.status_code == 409:
            (shortfall,) = response.json()["detail"]["shortfalls"]
            assert shortfall["resource"] == "storage_gb"
            assert shortfall["requested"] > shortfall["available"]

    engine = db.make_engine(postgres_url)
    try:
        with db.session_factory(engine)() as session:
            rows = session.execute(select(PortalRequest.id, PortalRequest.storage_gb)).all()
            stored = {int(rid): int(size) for rid, size in rows}
            assert stored == accepted  # none lost, none extra
            ledger = session.get(PortalLedger, "alpha")
            assert ledger is not None and ledger.pending_storage_gb == total
            assert service.recompute(session, "alpha").pending.storage_gb == total
            submits = session.execute(
                select(AuditEntry.object).where(AuditEntry.action == "request.submit")
            ).scalars()
            assert sorted(submits) == sorted(f"request/{rid}" for rid in accepted)
            report = audit_log.verify(session)
            assert report.ok, report.message
    finally:
        engine.dispose()
