"""What the portal's tests share: a cast of accounts over the small county, and an API client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from simulated_cloud import holding_grants, simulated_capacity
from small_county import write_county
from sqlalchemy import Engine, update

from desired.grants import read_grants
from govcloud.loader import load_county
from govcloud.model import County
from govcloud.registry import db
from govcloud.registry.tables import PortalUser
from portal import accounts, second_factor
from portal.app import create_app
from portal.context import LiveCloud, PortalContext
from portal.lifecycle import Actor, Role

PASSWORD = "Correct horse battery 9"  # noqa: S105  (every test account's password)

# name: (role, department). The small county has department alpha and township beta.
CAST: dict[str, tuple[Role, str | None]] = {
    "req-a": (Role.REQUESTER, "alpha"),
    "head-a": (Role.DEPT_APPROVER, "alpha"),
    "req-b": (Role.REQUESTER, "beta"),
    "head-b": (Role.DEPT_APPROVER, "beta"),
    "ops": (Role.OPS_APPROVER, None),
    "auditor": (Role.AUDITOR, None),
    "admin": (Role.ADMIN, None),
    "security": (Role.SECURITY_ADMIN, None),
}


@pytest.fixture
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Argon2's cheapest parameters: the default costs 0.3 s a hash."""
    monkeypatch.setenv(accounts.PASSWORD_PROFILE_ENV, "cheapest")
    accounts.reset_hashing()
    yield
    monkeypatch.delenv(accounts.PASSWORD_PROFILE_ENV)
    accounts.reset_hashing()


@dataclass
class Portal:
    """A portal around one registry, its accounts, and a client for its API."""

    context: PortalContext
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    totp: dict[str, str] = field(default_factory=dict)  # privileged accounts' TOTP keys
    actors: dict[str, Actor] = field(default_factory=dict)

    @property
    def county(self) -> County:
        return self.context.county

    def code(self, name: str) -> str:
        """The account's TOTP code now; the step it used is forgotten first, so that tests
        may sign one account in several times within one 30-second step."""
        with self.context.sessions() as session:
            session.execute(
                update(PortalUser).where(PortalUser.name == name).values(totp_last_step=None)
            )
            session.commit()
        return pyotp.TOTP(self.totp[name]).now()

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def post(self, name: str, path: str, body: Any = None) -> Any:
        return self.client.post(f"/api/v1{path}", json=body, headers=self.auth(name))

    def get(self, name: str, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", params=params, headers=self.auth(name))

    def submit(self, who: str, /, **body: Any) -> Any:
        body.setdefault("department", CAST[who][1])
        return self.post(who, "/requests", body)

    def approve_twice(self, request_id: int, head: str = "head-a") -> Any:
        first = self.post(head, f"/requests/{request_id}/approve")
        assert first.status_code == 200, first.text
        return self.post("ops", f"/requests/{request_id}/approve")


SIMULATED_CLOUD = "simulated"


def granted_cloud(context: PortalContext) -> LiveCloud:
    """A cloud that always holds exactly what the registry granted (`holding_grants`), with
    one simulated compute host per region: requests pass `deploy` once ops approved them."""

    def snapshot() -> Any:
        with context.sessions() as session:
            grants = read_grants(context.county, session)
        return holding_grants(context.county, grants, context.primary_region, SIMULATED_CLOUD)

    return LiveCloud(
        SIMULATED_CLOUD,
        snapshot=snapshot,
        capacity=lambda: simulated_capacity(context.regions, SIMULATED_CLOUD),
        ttl=0,
    )


def make_portal(engine: Engine, county_dir: Path) -> Portal:
    """The portal on this registry with the test cast, reading a cloud that holds its grants."""
    county = load_county(county_dir)
    context = PortalContext(county=county, engine=engine, sessions=db.session_factory(engine))
    context.cloud = granted_cloud(context)
    portal = Portal(context, TestClient(create_app(context)))
    with context.sessions() as session:
        for name, (role, department) in CAST.items():
            user = accounts.create_user(
                session,
                county,
                by="test:setup",
                name=name,
                role=role,
                department=department,
                password=PASSWORD,
            )
            portal.tokens[name] = accounts.issue_token(session, by="test:setup", user=user)
            portal.actors[name] = accounts.actor_of(user)
            if second_factor.required(user):  # set up as at a first sign-in
                user.totp_secret = portal.totp[name] = pyotp.random_base32()
                user.totp_confirmed_at = user.created_at
        session.commit()
    return portal


@pytest.fixture
def small_county_dir(tmp_path: Path) -> Path:
    return write_county(tmp_path / "county")


@pytest.fixture
def portal(registry: Engine, small_county_dir: Path, cheap_passwords: None) -> Portal:
    """The portal on each backend (SQLite, PostgreSQL)."""
    return make_portal(registry, small_county_dir)


@pytest.fixture
def sqlite_portal(
    tmp_path: Path, small_county_dir: Path, cheap_passwords: None
) -> Iterator[Portal]:
    """The portal on SQLite only (API behaviour does not depend on the backend)."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'registry.sqlite3'}")
    db.upgrade(engine, actor="test:setup")
    try:
        yield make_portal(engine, small_county_dir)
    finally:
        engine.dispose()
