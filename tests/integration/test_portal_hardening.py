"""Hardening of every response and request body (issue 17, findings 3, 4, 5 and 11)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_kit import PASSWORD, Portal
from test_portal_pages import csrf_of, sign_in

from portal import accounts
from portal.hardening import CONTENT_SECURITY_POLICY
from portal.web.auth import LOGIN_CSRF_COOKIE

# JSON that Python's json module parses and JSON itself does not allow (RFC 8259 §6, §8.2).
NOT_JSON = [
    b'{"department": "alpha", "kind": "storage", "storage_gb": NaN}',
    b'{"department": "alpha", "kind": "storage", "storage_gb": Infinity}',
    b'{"department": "alpha", "kind": "storage", "storage_gb": -Infinity}',
    b'{"department": "alpha", "kind": "storage", "storage_gb": 1e309}',
    b'{"department": "alpha", "kind": "storage", "storage_gb": 10, "title": "\\ud800"}',
    b'{"department": "\\udfff", "kind": "storage", "storage_gb": 10}',
    b'{"\\ud800": 1}',
    b'{"reason": "\\ud83d"}',
    b"NaN",
    b'["\\ud800"]',
]


def post_raw(portal: Portal, path: str, body: bytes, **headers: str) -> Any:
    return portal.client.post(
        path,
        content=body,
        headers={**portal.auth("admin"), "Content-Type": "application/json", **headers},
    )


def json_operations(portal: Portal) -> list[str]:
    """Every POST of the OpenAPI document that takes a JSON body, with its path filled in."""
    document = portal.client.get("/openapi.json").json()
    found = []
    for path, methods in document["paths"].items():
        post = methods.get("post")
        if post and "application/json" in post.get("requestBody", {}).get("content", {}):
            found.append(path.replace("{request_id}", "1").replace("{name}", "req-a"))
    return found


@pytest.mark.parametrize("body", NOT_JSON, ids=range(len(NOT_JSON)))
def test_non_finite_and_surrogates_are_422_on_every_json_route(
    sqlite_portal: Portal, body: bytes
) -> None:
    operations = json_operations(sqlite_portal)
    assert "/api/v1/requests" in operations and len(operations) >= 3
    for path in operations:
        answer = post_raw(sqlite_portal, path, body)
        assert answer.status_code == 422, (path, body, answer.status_code, answer.text)
        assert "send" in answer.json()["detail"][0]["msg"]  # says what to do


def test_validation_errors_do_not_echo_the_input(sqlite_portal: Portal) -> None:
    marker = "ECHO-ME-" * 40  # longer than a title may be
    answer = sqlite_portal.post(
        "admin",
        "/requests",
        {"department": "alpha", "kind": "storage", "storage_gb": 1, "title": marker},
    )
    assert answer.status_code == 422
    assert "ECHO-ME" not in answer.text
    assert answer.json()["detail"][0]["loc"][-1] == "title"
    wrong_shape = sqlite_portal.post(
        "admin", "/users", {"name": "x1", "role": "auditor", "password": ["Sec-ret-123-xyz"]}
    )
    assert wrong_shape.status_code == 422 and "Sec-ret-123-xyz" not in wrong_shape.text


def test_the_sign_in_form_does_not_echo_a_password(sqlite_portal: Portal) -> None:
    client = TestClient(sqlite_portal.client.app)
    token = csrf_of(client.get("/login").text)
    secret = "p" * 2000  # longer than a password may be: a validation error
    answer = client.post("/login", data={"name": "admin", "password": secret, "csrf_token": token})
    assert answer.status_code == 422 and secret[:100] not in answer.text


def test_bodies_are_limited_for_everyone(sqlite_portal: Portal) -> None:
    big = (
        b'{"department": "alpha", "kind": "storage", "storage_gb": 1, "title": "'
        + (b"x" * (10 * 1024 * 1024))
        + b'"}'
    )
    answer = post_raw(sqlite_portal, "/api/v1/requests", big)
    assert answer.status_code == 413 and len(answer.content) < 1000
    # Without Content-Length (chunked) the limit holds too.
    chunked = sqlite_portal.client.post(
        "/api/v1/requests",
        content=iter([big[i : i + 65536] for i in range(0, len(big), 65536)]),
        headers={**sqlite_portal.auth("admin"), "Content-Type": "application/json"},
    )
    assert chunked.status_code == 413


def test_security_headers_on_every_response(sqlite_portal: Portal) -> None:
    client = TestClient(sqlite_portal.client.app)
    for path in ("/login", "/api/v1/health", "/api/v1/me", "/no-such-page", "/static/portal.css"):
        answer = client.get(path, follow_redirects=False)
        headers = answer.headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path
    assert "no-store" in client.get("/login").headers["cache-control"]
    assert "strict-transport-security" not in client.get("/login").headers  # not over TLS here


def test_token_responses_are_not_cached(sqlite_portal: Portal) -> None:
    issued = sqlite_portal.post("req-a", "/me/token")
    assert issued.status_code == 201 and issued.headers["cache-control"] == "no-store"


def test_no_docs_from_a_public_cdn(sqlite_portal: Portal) -> None:
    client = TestClient(sqlite_portal.client.app)
    assert client.get("/api/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 200
    for path in ("/login", "/api/docs", "/redoc"):
        assert "cdn." not in client.get(path).text


def test_cross_site_posts_are_refused(sqlite_portal: Portal) -> None:
    client = sign_in(sqlite_portal, "req-a")
    token = csrf_of(client.get("/requests/new").text)
    data = {"csrf_token": token, "kind": "storage", "department": "alpha", "storage_gb": "1"}
    evil = client.post("/requests/new", data=data, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    fetch = client.post("/requests/new", data=data, headers={"Sec-Fetch-Site": "cross-site"})
    assert fetch.status_code == 403
    same = client.post(
        "/requests/new",
        data=data,
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert same.status_code == 303
    # The sign-in form too (login CSRF), and a script with a bearer token is not a browser.
    login = TestClient(sqlite_portal.client.app)
    login_token = csrf_of(login.get("/login").text)
    forged = login.post(
        "/login",
        data={"name": "req-a", "password": PASSWORD, "csrf_token": login_token},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403
    scripted = sqlite_portal.client.post(
        "/api/v1/me/token",
        headers={**sqlite_portal.auth("req-a"), "Origin": "https://evil.example"},
    )
    assert scripted.status_code == 201


def test_the_sign_in_csrf_cookie_is_signed(sqlite_portal: Portal) -> None:
    """Issue 17, finding 11: a cookie planted from a sibling host (unsigned) does not pass."""
    client = TestClient(sqlite_portal.client.app)
    planted = "attacker-chosen-value"
    client.cookies.set(LOGIN_CSRF_COOKIE, planted, path="/login")
    answer = client.post(
        "/login", data={"name": "req-a", "password": PASSWORD, "csrf_token": planted}
    )
    assert answer.status_code == 403
    # A signed one from another key does not either.
    forged = accounts.signed_nonce(b"another key" * 3)
    client.cookies.set(LOGIN_CSRF_COOKIE, forged, path="/login")
    answer = client.post(
        "/login", data={"name": "req-a", "password": PASSWORD, "csrf_token": forged}
    )
    assert answer.status_code == 403
    # The form replaces an invalid cookie with a signed one, which works.
    fresh = TestClient(sqlite_portal.client.app)
    token = csrf_of(fresh.get("/login").text)
    assert "." in token
    signed_in = fresh.post(
        "/login",
        data={"name": "req-a", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303


def test_the_signing_key_is_made_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / accounts.SIGNING_KEY_FILE
    first = accounts.load_signing_key(path)
    assert len(first) == accounts.SIGNING_KEY_BYTES
    assert accounts.load_signing_key(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
