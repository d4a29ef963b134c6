"""The whole role x action x department matrix, against the API.

The expectations are written out here as data, independently of portal.lifecycle: each role's
actions, and the rule that department roles act only within their own department.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from portal_kit import CAST, PASSWORD, Portal, make_portal
from small_county import write_county

from govcloud.registry import db
from portal import accounts
from portal.lifecycle import Role

READ = {"read", "history", "list", "quota", "usage", "grants"}
REQUESTER = READ | {
    "create",
    "submit@draft",
    "withdraw@draft",
    "withdraw@submitted",
    "withdraw@dept_approved",
    "accept@deployed",
    "decommission@deployed",
    "decommission@in_use",
}
DEPT_APPROVER = REQUESTER | {"approve@submitted", "reject@submitted"}
OPS = READ | {
    "approve@dept_approved",
    "reject@dept_approved",
    "deploy@ops_approved",
    "approve@decommission_requested",
}
STEPS = sorted((REQUESTER | DEPT_APPROVER | OPS) - READ - {"create"})
OPERATIONS = sorted(READ | {"create"}) + STEPS
MAY = {
    "requester": REQUESTER,
    "dept_approver": DEPT_APPROVER,
    "ops_approver": OPS,
    "auditor": READ,
    # Issue 17: administrators manage accounts; they neither request nor approve.
    "admin": READ,
    "security_admin": set(),
}
# How each state is reached: (who, action) in order, "X" standing for the department's letter.
REACH = {
    "draft": [],
    "submitted": [],
    "dept_approved": [("head-X", "approve")],
    "ops_approved": [("head-X", "approve"), ("ops", "approve")],
    "deployed": [("head-X", "approve"), ("ops", "approve"), ("ops", "deploy")],
    "in_use": [("head-X", "approve"), ("ops", "approve"), ("ops", "deploy"), ("req-X", "accept")],
    "decommission_requested": [
        ("head-X", "approve"),
        ("ops", "approve"),
        ("ops", "deploy"),
        ("req-X", "accept"),
        ("req-X", "decommission"),
    ],
}
# Ample quotas: the module shares one registry across every case.
BIG_QUOTAS = {
    "departments/alpha.yaml": ("storage_gb: 100", "storage_gb: 100000"),
    "departments/beta.yaml": ("storage_gb: 50", "storage_gb: 100000"),
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    root = tmp_path_factory.mktemp("matrix")
    county = write_county(root / "county", BIG_QUOTAS)
    engine = db.make_engine(f"sqlite:///{root / 'registry.sqlite3'}")
    db.upgrade(engine, actor="test:setup")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(accounts.PASSWORD_PROFILE_ENV, "cheapest")
        accounts.reset_hashing()
        yield make_portal(engine, Path(county))
    accounts.reset_hashing()
    engine.dispose()


def request_in(portal: Portal, department: str, state: str) -> int:
    letter = "a" if department == "alpha" else "b"
    created = portal.submit(
        f"req-{letter}",
        department=department,
        kind="storage",
        storage_gb=1,
        submit=state != "draft",
    )
    assert created.status_code == 201, created.text
    rid: int = created.json()["id"]
    for who, action in REACH[state]:
        done = portal.post(who.replace("X", letter), f"/requests/{rid}/{action}", {"reason": "r"})
        assert done.status_code == 200, done.text
    return rid


def perform(portal: Portal, who: str, operation: str, department: str) -> int:
    if operation == "create":
        body = {"department": department, "kind": "storage", "storage_gb": 1}
        return int(portal.post(who, "/requests", body).status_code)
    if operation in {"quota", "usage", "grants"}:
        return int(portal.get(who, f"/departments/{department}/{operation}").status_code)
    if operation == "list":
        return int(portal.get(who, "/requests", department=department).status_code)
    if operation in {"read", "history"}:
        rid = request_in(portal, department, "submitted")
        suffix = "/history" if operation == "history" else ""
        return int(portal.get(who, f"/requests/{rid}{suffix}").status_code)
    action, state = operation.split("@")
    rid = request_in(portal, department, state)
    return int(portal.post(who, f"/requests/{rid}/{action}", {"reason": "matrix"}).status_code)


def expected(who: str, operation: str, department: str) -> int:
    role, home = CAST[who]
    allowed = operation in MAY[role.value] and (home is None or home == department)
    if not allowed:
        return 403
    return 201 if operation == "create" else 200


@pytest.mark.parametrize("department", ["alpha", "beta"])
@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("who", list(CAST))
def test_matrix(shared: Portal, who: str, operation: str, department: str) -> None:
    assert perform(shared, who, operation, department) == expected(who, operation, department)


def test_the_matrix_covers_every_lifecycle_step() -> None:
    from portal.lifecycle import STEPS as LIFECYCLE  # noqa: PLC0415

    assert {f"{s.action.value}@{s.source.value}" for s in LIFECYCLE} == set(STEPS)


# -- accounts, audit and overview routes: every role, anonymous included ------------------------

ANONYMOUS = "anonymous"
EVERYONE = set(CAST)
ACCOUNT_ADMINS = {"admin", "security"}
# (method, path with {target} for a fresh account made for the case) -> who may call it.
ACCOUNT_ROUTES: dict[tuple[str, str], set[str]] = {
    ("GET", "/me"): EVERYONE,
    ("POST", "/me/token"): EVERYONE,
    ("DELETE", "/me/token"): EVERYONE,
    ("GET", "/users"): ACCOUNT_ADMINS,
    ("POST", "/users"): {"admin"},
    ("POST", "/users/{target}/token"): {"admin"},
    ("DELETE", "/users/{target}/token"): ACCOUNT_ADMINS,
    ("POST", "/users/{target}/deactivate"): {"admin"},
    ("POST", "/users/{target}/reactivate"): {"admin"},
    ("GET", "/sessions"): ACCOUNT_ADMINS,
    ("GET", "/users/{target}/sessions"): ACCOUNT_ADMINS,
    ("DELETE", "/users/{target}/sessions"): ACCOUNT_ADMINS,
    ("GET", "/audit"): {"auditor"},
    ("GET", "/export/requests.csv"): {"auditor"},
    ("GET", "/export/audit.csv"): {"auditor"},
    ("GET", "/ops/overview"): {"ops", "auditor", "admin"},
    ("GET", "/grants"): {"ops", "auditor", "admin"},
}
_made = iter(range(1_000_000))


def fresh_account(portal: Portal, *, active: bool = True) -> str:
    name = f"target{next(_made)}"
    with portal.context.sessions() as session:
        user = accounts.create_user(
            session,
            portal.county,
            by="test:setup",
            name=name,
            role=Role.REQUESTER,
            department="alpha",
            password=PASSWORD,
        )
        accounts.issue_token(session, by="test:setup", user=user)
        if not active:
            accounts.deactivate(session, by="test:setup", user=user, reason="matrix")
        session.commit()
    return name


@pytest.mark.parametrize("route", list(ACCOUNT_ROUTES), ids=" ".join)
@pytest.mark.parametrize("who", [*CAST, ANONYMOUS])
def test_account_routes(shared: Portal, who: str, route: tuple[str, str]) -> None:
    method, path = route
    target = fresh_account(shared, active=not path.endswith("reactivate"))
    body: dict[str, Any] | None = None
    if path.endswith("activate"):
        body = {"reason": "matrix"}
    elif (method, path) == ("POST", "/users"):
        body = {"name": f"new{next(_made)}", "role": "auditor", "password": PASSWORD}
    headers = {}
    if who != ANONYMOUS:
        # Each case its own token: a case that revokes or replaces one spoils no other.
        with shared.context.sessions() as session:
            user = accounts.find_user(session, who)
            token = accounts.issue_token(session, by="test:setup", user=user)
            session.commit()
        shared.tokens[who] = token
        headers = shared.auth(who)
    answer = shared.client.request(
        method, f"/api/v1{path.format(target=target)}", json=body, headers=headers
    )
    if who == ANONYMOUS:
        assert answer.status_code == 401
    elif who in ACCOUNT_ROUTES[route]:
        assert answer.status_code in {200, 201, 204}, answer.text
    else:
        assert answer.status_code == 403, answer.text
