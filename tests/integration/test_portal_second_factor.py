"""The second factor of privileged accounts: set-up, codes, replay, recovery codes, reset."""

from __future__ import annotations

import re
from typing import Any

import pyotp
from fastapi.testclient import TestClient
from portal_kit import PASSWORD, Portal
from test_portal_pages import csrf_of

from govcloud.registry.tables import PortalUser
from portal import second_factor

FACTOR = "/login/second-factor"


def password_step(portal: Portal, name: str) -> tuple[TestClient, str]:
    client = TestClient(portal.client.app)
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"name": name, "password": PASSWORD, "csrf_token": token, "next": "/queue"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith(FACTOR)
    return client, answer.headers["location"]


def give(client: TestClient, form: str, code: str) -> Any:
    return client.post(
        FACTOR,
        data={"code": code, "csrf_token": csrf_of(form), "next": "/queue"},
        follow_redirects=False,
    )


def forget(portal: Portal, name: str) -> None:
    with portal.context.sessions() as session:
        user = session.query(PortalUser).filter_by(name=name).one()
        second_factor.reset(session, by="test:setup", user=user)
        session.commit()


def test_a_privileged_account_sets_up_its_second_factor(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    forget(p, "ops")
    client, location = password_step(p, "ops")
    # The password alone opens nothing: neither pages nor the API.
    assert client.get("/queue", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/me").status_code == 401
    setup = client.get(location)
    assert setup.status_code == 200 and "身份验证器" in setup.text
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', setup.text)
    assert secret and "otpauth://totp/" in setup.text
    wrong = give(client, setup.text, "000000")
    assert wrong.status_code == 401 and "不正确" in wrong.text
    done = give(client, setup.text, pyotp.TOTP(secret.group(1)).now())
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", done.text)
    assert len(codes) == second_factor.RECOVERY_CODES
    assert client.get("/queue").status_code == 200
    assert client.get("/api/v1/me").json()["second_factor"] is True
    # Next time: the code is asked for, a used one is refused, a recovery code works once.
    again, location = password_step(p, "ops")
    form = again.get(location).text
    assert "totp-secret" not in form
    replayed = give(again, form, pyotp.TOTP(secret.group(1)).now())
    assert replayed.status_code == 401
    assert give(again, form, codes[0]).status_code == 303
    third, location = password_step(p, "ops")
    form = third.get(location).text
    assert give(third, form, codes[0]).status_code == 401
    actions = [
        e["action"] for e in p.get("auditor", "/audit", action="portal.second_factor.").json()
    ]
    for action in ("enrol", "recovery_code", "failed"):
        assert f"portal.second_factor.{action}" in actions


def test_department_roles_need_no_second_factor(sqlite_portal: Portal) -> None:
    client = TestClient(sqlite_portal.client.app)
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"name": "req-a", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_wrong_codes_slow_down_like_wrong_passwords(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    client, location = password_step(p, "admin")
    form = client.get(location).text
    limit = p.context.limits.max_failures_per_account
    statuses = [give(client, form, "123456").status_code for _ in range(limit + 1)]
    assert statuses[:limit] == [401] * limit and statuses[limit] == 429


def test_the_security_admin_resets_a_lost_authenticator(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    assert p.post("admin", "/users/ops/second-factor/reset").status_code == 403
    assert p.post("security", "/users/nobody/second-factor/reset").status_code == 404
    reset = p.post("security", "/users/ops/second-factor/reset")
    assert reset.status_code == 200 and reset.json()["second_factor"] is False
    client, location = password_step(p, "ops")
    assert "totp-secret" in client.get(location).text  # set up anew
