"""Sign-in: no write lock held across the password check, reads that wait for no sign-in,
waits per account and source (issue 17, findings 1 and 9)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_kit import PASSWORD, Portal
from sqlalchemy import select
from test_portal_pages import csrf_of

from govcloud.registry.tables import PortalLoginFailure
from portal import accounts
from portal.errors import RateLimitedError
from portal.lifecycle import Role

WRONG = "guess"
STRANGER = ("198.51.100.7", 40000)
OWNER = ("203.0.113.9", 40000)
# Far longer than a read takes, far shorter than SQLite's busy timeout (30 s): a read that
# waits for the write lock is still waiting when this runs out.
BLOCKED_S = 5


def test_the_password_check_holds_no_write_lock(
    sqlite_portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While Argon2 runs, another writer gets the SQLite write lock at once."""
    database = sqlite_portal.context.engine.url.database
    assert database is not None
    checked: list[bool] = []
    verify = accounts.verify_password

    def verify_while_writing(stored: str, password: str) -> bool:
        other = sqlite3.connect(database, timeout=0.05, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            checked.append(True)
        except sqlite3.OperationalError:  # "database is locked"
            checked.append(False)
        finally:
            other.close()
        return verify(stored, password)

    monkeypatch.setattr(accounts, "verify_password", verify_while_writing)
    assert login(sqlite_portal, OWNER, "req-a", "wrong password") == 401
    assert login(sqlite_portal, OWNER, "req-a", PASSWORD) == 303
    assert checked == [True, True]


def test_a_read_waits_for_no_sign_in_holding_the_write_lock(
    sqlite_portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET /api/v1/me answers while a sign-in holds SQLite's write lock (its write step).

    Every transaction once began with BEGIN IMMEDIATE, reads too, so a read waited in SQLite's
    busy handler for whichever sign-in or request was writing; under load the tail was seconds.
    """
    writing, release = threading.Event(), threading.Event()
    opened: list[Role] = []
    open_session = accounts.open_session

    def open_slowly(session: Any, user: Any, **given: Any) -> accounts.SignedIn:
        opened.append(Role(user.role))
        writing.set()  # this sign-in's write transaction holds the lock from here
        release.wait(BLOCKED_S * 4)
        return open_session(session, user, **given)

    monkeypatch.setattr(accounts, "open_session", open_slowly)
    reader = TestClient(sqlite_portal.client.app)
    with ThreadPoolExecutor(max_workers=2) as pool:
        signing_in = pool.submit(login, sqlite_portal, OWNER, "req-a", PASSWORD)
        assert writing.wait(BLOCKED_S), "the sign-in never reached its write step"
        reading = pool.submit(reader.get, "/api/v1/me", headers=sqlite_portal.auth("req-b"))
        try:
            answer = reading.result(timeout=BLOCKED_S)
        except TimeoutError:
            pytest.fail(f"GET /api/v1/me waited {BLOCKED_S} s for a sign-in's write lock")
        finally:
            release.set()
        assert answer.status_code == 200, answer.text
        assert answer.json()["name"] == "req-b"
        assert signing_in.result(timeout=BLOCKED_S) == 303
    assert opened == [Role.REQUESTER]


def login(portal: Portal, source: tuple[str, int], name: str, password: str) -> int:
    client = TestClient(portal.client.app, client=source)
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    return answer.status_code


def test_a_stranger_cannot_lock_an_account_out(sqlite_portal: Portal) -> None:
    for _ in range(8):
        assert login(sqlite_portal, STRANGER, "ops", "guess") in {401, 429}
    assert login(sqlite_portal, STRANGER, "ops", PASSWORD) == 429  # the stranger waits
    assert login(sqlite_portal, OWNER, "ops", PASSWORD) == 303  # the owner gets in


def test_waits_grow_with_each_failure(sqlite_portal: Portal) -> None:
    limits = sqlite_portal.context.limits
    base = limits.delay_base_seconds
    for _ in range(limits.max_failures_per_account):
        assert login(sqlite_portal, STRANGER, "ops", "guess") == 401
    waits = []
    for _ in range(3):
        with pytest.raises(RateLimitedError) as refused, sqlite_portal.context.sessions() as s:
            accounts.sign_in(s, name="ops", password=WRONG, address=STRANGER[0], limits=limits)
        waits.append(refused.value.retry_after)
        # Let the wait pass, then fail once more.
        with sqlite_portal.context.sessions() as session:
            for failure in session.execute(select(PortalLoginFailure)).scalars():
                failure.at = failure.at - dt.timedelta(seconds=waits[-1])
            session.commit()
        assert login(sqlite_portal, STRANGER, "ops", "guess") == 401
    assert [round(w / base) for w in waits] == [1, 2, 4]
