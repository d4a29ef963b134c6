"""Sign-in with the county's identity provider (OIDC) against a real provider: Authlib's
server components on loopback (tests/oidc_kit.py). Accounts made at the first sign-in and
following the provider's groups, deactivated when the groups no longer map, every forgery
refused with nothing written, the client secret never shown, TOTP still asked of privileged
roles unless the county accepts the provider's `amr` (issue 17, 统一身份认证)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from clirunner import govcloud
from fastapi.testclient import TestClient
from oidc_kit import CLIENT_ID, Person, Provider
from portal_kit import PASSWORD, Portal
from sqlalchemy import func, select
from test_portal_pages import csrf_of

from govcloud.registry.tables import AuditEntry, PortalSession, PortalUser
from portal import oidc
from portal.directory import parse_groups
from portal.errors import InvalidError
from portal.lifecycle import Role
from portal.settings import PortalSettings

GROUP_MAP = {
    "alpha-staff": "requester:alpha",
    "alpha-heads": "dept_approver:alpha",
    "cloud-ops": "ops_approver",
}


def relying_party(provider: Provider, **extra: Any) -> oidc.Provider:
    return oidc.Provider(
        issuer=provider.issuer,
        client_id=CLIENT_ID,
        client_secret=provider.client.client_secret,
        groups=tuple(parse_groups(GROUP_MAP)),
        **extra,
    )


def begin(portal: Portal, client: TestClient | None = None) -> tuple[TestClient, str]:
    """A browser starts the sign-in: where the portal sends it at the provider."""
    client = client or TestClient(portal.client.app)
    started = client.get("/login/oidc", params={"next": "/requests"}, follow_redirects=False)
    assert started.status_code == 303, started.text
    return client, started.headers["location"]


def at_provider(provider: Provider, name: str, authorize_url: str) -> str:
    """The provider signs `name` in: the callback URL it sends the browser back to."""
    provider.user = name
    answer = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return str(answer.headers["location"])


def callback(client: TestClient, url: str) -> Any:
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def sign_in(portal: Portal, provider: Provider, name: str) -> tuple[TestClient, Any]:
    client, url = begin(portal)
    return client, callback(client, at_provider(provider, name, url))


def account(portal: Portal, name: str) -> PortalUser | None:
    with portal.context.sessions() as session:
        return session.execute(
            select(PortalUser).where(PortalUser.name == name)
        ).scalar_one_or_none()


def written(portal: Portal) -> tuple[int, int, int]:
    """Audit entries, accounts and sessions: what a refused sign-in must leave as it was."""
    with portal.context.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
            session.scalar(select(func.count()).select_from(PortalUser)) or 0,
            session.scalar(select(func.count()).select_from(PortalSession)) or 0,
        )


def test_first_sign_in_provisions_and_the_next_follows_the_provider(
    portal: Portal, oidc_provider: Provider
) -> None:
    p = portal  # on SQLite and PostgreSQL: the callback is a GET that writes
    p.context.oidc = relying_party(oidc_provider)
    page = TestClient(p.client.app).get("/login", headers={"Accept-Language": "zh-CN"})
    assert "使用统一身份认证登录" in page.text and 'href="/login/oidc?next=' in page.text
    client, url = begin(p)
    query = parse_qs(urlsplit(url).query)
    # PKCE (S256), state and nonce, all sent; the code verifier stays with the portal.
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    answer = callback(client, at_provider(oidc_provider, "zhang", url))
    assert (answer.status_code, answer.headers["location"]) == (303, "/requests")
    assert oidc_provider.token_requests[-1]["code_verifier"]
    made = account(p, "zhang")
    assert made is not None
    assert (made.source, made.role, made.department, made.display_name) == (
        "oidc", "requester", "alpha", "zhang (IdP)",
    )  # fmt: skip
    assert client.get("/api/v1/me").json()["source"] == "oidc"
    added = p.get("auditor", "/audit", action="portal.user.add", object="user/zhang").json()
    assert [(e["actor"], e["after"]["source"]) for e in added] == [(oidc.SIGN_IN_ACTOR, "oidc")]
    # Moved to the heads' group at the provider: the next sign-in follows, audited.
    oidc_provider.people["zhang"].groups = ["alpha-heads"]
    assert sign_in(p, oidc_provider, "zhang")[1].status_code == 303
    assert account(p, "zhang").role == Role.DEPT_APPROVER  # type: ignore[union-attr]
    moved = p.get("auditor", "/audit", action="portal.user.role", object="user/zhang").json()
    assert [(e["before"]["role"], e["after"]["role"]) for e in moved] == [
        ("requester", "dept_approver")
    ]
    logins = p.get("auditor", "/audit", action="portal.login", object="user/zhang").json()
    assert len(logins) == 2 and all(e["after"]["source"] == "oidc" for e in logins)


def test_groups_that_no_longer_map_refuse_and_deactivate(
    sqlite_portal: Portal, oidc_provider: Provider
) -> None:
    p = sqlite_portal
    p.context.oidc = relying_party(oidc_provider)
    # In no mapped group: refused, the failure audited, no account.
    _, answer = sign_in(p, oidc_provider, "chen")
    assert answer.status_code == 403 and ("没有角色" in answer.text or "no role" in answer.text)
    assert account(p, "chen") is None
    browser, answer = sign_in(p, oidc_provider, "zhang")
    assert answer.status_code == 303 and browser.get("/api/v1/me").status_code == 200
    # Taken out of the mapped group: the next sign-in is refused and the account deactivated,
    # its sessions (the earlier browser's too) ended.
    oidc_provider.people["zhang"].groups = ["canteen"]
    assert sign_in(p, oidc_provider, "zhang")[1].status_code == 403
    assert account(p, "zhang").active is False  # type: ignore[union-attr]
    assert browser.get("/api/v1/me").status_code == 401
    gone = p.get("auditor", "/audit", action="portal.user.deactivate").json()
    assert [(e["actor"], e["object"]) for e in gone] == [(oidc.SIGN_IN_ACTOR, "user/zhang")]
    # Back in the group: still refused until an administrator reactivates the account.
    oidc_provider.people["zhang"].groups = ["alpha-staff"]
    assert sign_in(p, oidc_provider, "zhang")[1].status_code == 403
    assert p.post("admin", "/users/zhang/reactivate", {"reason": "back"}).status_code == 200
    assert sign_in(p, oidc_provider, "zhang")[1].status_code == 303


def _tampered_state(url: str) -> str:
    return url.replace("state=", "state=x", 1)


@pytest.mark.parametrize(
    ("how", "tamper", "reason"),
    [
        ("state", {}, "the state is not the one"),
        ("nonce", {"nonce": "another-nonce"}, "'nonce'"),
        ("issuer", {"iss": "http://127.0.0.1:9/other"}, "'iss'"),
        ("audience", {"aud": "another-client"}, "'aud'"),
        ("expired", {"expired": True}, "expired"),
        ("signature", {"key": True}, "signature"),
        ("no flow cookie", {}, "without this browser's flow"),
        ("refused at the provider", {}, "refused by the provider"),
    ],
)
def test_forgeries_are_refused_and_write_nothing(
    *,
    sqlite_portal: Portal,
    oidc_provider: Provider,
    caplog: pytest.LogCaptureFixture,
    how: str,
    tamper: dict[str, Any],
    reason: str,
) -> None:
    p = sqlite_portal
    caplog.set_level(logging.WARNING, logger="portal")
    p.context.oidc = relying_party(oidc_provider)
    before = written(p)
    client, url = begin(p)
    oidc_provider.tamper = tamper
    back = at_provider(oidc_provider, "zhang", url)
    if how == "state":
        back = _tampered_state(back)
    elif how == "no flow cookie":  # the provider's answer replayed in another browser
        client = TestClient(p.client.app)
    elif how == "refused at the provider":
        back = back.split("?")[0] + "?error=access_denied&error_description=%3Cb%3Eno%3C/b%3E"
    answer = callback(client, back)
    assert answer.status_code in {400, 401}, answer.text
    assert "set-cookie" not in answer.headers or "govcloud_session" not in str(
        answer.headers.get_list("set-cookie")
    )
    assert "did not complete" in answer.text or "未完成" in answer.text
    assert "<b>no</b>" not in answer.text and "&lt;b&gt;" not in answer.text  # nothing echoed
    assert written(p) == before
    assert account(p, "zhang") is None
    assert reason in caplog.text, caplog.text  # refused for that reason, not another


def test_privileged_roles_give_totp_unless_the_county_accepts_the_providers_amr(
    sqlite_portal: Portal, oidc_provider: Provider
) -> None:
    p = sqlite_portal
    p.context.oidc = relying_party(oidc_provider)
    oidc_provider.people["wang"].amr = ["pwd", "otp"]
    _, answer = sign_in(p, oidc_provider, "wang")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login/second-factor")  # default: TOTP here
    p.context.oidc = relying_party(oidc_provider, mfa_amr=frozenset({"otp", "hwk"}))
    oidc_provider.people["wang"].amr = ["pwd"]
    _, answer = sign_in(p, oidc_provider, "wang")
    assert answer.headers["location"].startswith("/login/second-factor")  # no accepted amr
    oidc_provider.people["wang"].amr = ["pwd", "otp"]
    browser, answer = sign_in(p, oidc_provider, "wang")
    assert (answer.status_code, answer.headers["location"]) == (303, "/requests")
    assert browser.get("/api/v1/me").json()["name"] == "wang"
    logins = p.get("auditor", "/audit", action="portal.login", object="user/wang").json()
    assert logins[0]["after"]["second_factor"] == "amr:otp"
    assert all("second_factor" not in e["after"] for e in logins[1:])
    # An acr the county names counts the same way.
    p.context.oidc = relying_party(oidc_provider, mfa_acr=frozenset({"urn:county:mfa"}))
    oidc_provider.people["wang"].amr, oidc_provider.people["wang"].acr = ["pwd"], "urn:county:mfa"
    assert sign_in(p, oidc_provider, "wang")[1].headers["location"] == "/requests"


def test_the_client_secret_is_never_shown(
    sqlite_portal: Portal,
    oidc_provider: Provider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    p = sqlite_portal
    secret = oidc_provider.client.client_secret
    p.context.oidc = relying_party(oidc_provider)
    caplog.set_level(logging.DEBUG)
    seen = []
    client, url = begin(p)
    seen += [url, str(client.cookies)]
    answer = callback(client, at_provider(oidc_provider, "zhang", url))
    seen += [answer.text, str(answer.headers)]
    oidc_provider.tamper = {"aud": "another-client"}
    client, url = begin(p)
    answer = callback(client, at_provider(oidc_provider, "zhang", url))
    seen += [answer.text, str(answer.headers), client.get("/login").text]
    seen.append(repr(p.context.oidc))
    audit = p.get("auditor", "/audit", limit=1000).json()
    seen.append(json.dumps(audit))
    seen.append(caplog.text)
    assert all(secret not in text for text in seen)
    assert "refused" in caplog.text  # the reason is in the server log, without the secret


def test_settings_read_the_secret_from_a_file_and_refuse_what_is_unsafe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "client.secret"
    secret_file.write_text("s3cret-from-file\n")
    secret_file.chmod(0o600)
    monkeypatch.setenv("GOVCLOUD_PORTAL_OIDC_ISSUER", "https://id.county.example")
    monkeypatch.setenv("GOVCLOUD_PORTAL_OIDC_CLIENT_ID", "portal")
    monkeypatch.setenv("GOVCLOUD_PORTAL_OIDC_GROUPS", json.dumps(GROUP_MAP))
    monkeypatch.setenv("GOVCLOUD_PORTAL_OIDC_MFA_AMR", '["otp", "hwk"]')
    with pytest.raises(InvalidError, match="client secret"):
        PortalSettings().oidc()
    monkeypatch.setenv("GOVCLOUD_PORTAL_OIDC_CLIENT_SECRET_FILE", str(secret_file))
    provider = PortalSettings().oidc()
    assert provider is not None and provider.client_secret == "s3cret-from-file"  # noqa: S105
    assert provider.mfa_amr == {"otp", "hwk"} and "s3cret" not in repr(provider)
    monkeypatch.delenv("GOVCLOUD_PORTAL_OIDC_CLIENT_SECRET_FILE")
    monkeypatch.setenv("GOVCLOUD_PORTAL_OIDC_CLIENT_SECRET", "s3cret-from-env")
    settings = PortalSettings()
    assert "s3cret" not in repr(settings) and settings.oidc() is not None
    monkeypatch.setenv("GOVCLOUD_PORTAL_OIDC_ISSUER", "http://id.county.example")
    with pytest.raises(InvalidError, match="https://"):
        PortalSettings().oidc()  # in clear off loopback: refused
    monkeypatch.setenv("GOVCLOUD_PORTAL_OIDC_ISSUER", "https://id.county.example")
    monkeypatch.setenv("GOVCLOUD_PORTAL_OIDC_GROUPS", json.dumps({"x": "boss"}))
    with pytest.raises(InvalidError, match="GOVCLOUD_PORTAL_OIDC_GROUPS"):
        PortalSettings().oidc()


def test_an_unreachable_provider_is_said_and_local_accounts_still_sign_in(
    sqlite_portal: Portal, oidc_provider: Provider
) -> None:
    p = sqlite_portal
    p.context.oidc = relying_party(oidc_provider)
    p.context.oidc.issuer = "http://127.0.0.1:9"  # nothing listens there
    answer = TestClient(p.client.app).get("/login/oidc", follow_redirects=False)
    assert answer.status_code == 503
    assert "无法连接" in answer.text or "cannot be reached" in answer.text
    assert written(p)[1] == len(p.tokens)
    local = TestClient(p.client.app)
    token = csrf_of(local.get("/login").text)
    signed = local.post(
        "/login",
        data={"name": "req-a", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert signed.status_code == 303 and local.get("/api/v1/me").json()["name"] == "req-a"


def test_serve_refuses_unsafe_provider_settings(tmp_path: Path) -> None:
    env = {
        "GOVCLOUD_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.sqlite3'}",
        "GOVCLOUD_PORTAL_OIDC_ISSUER": "http://id.county.example",
        "GOVCLOUD_PORTAL_OIDC_CLIENT_ID": "portal",
        "GOVCLOUD_PORTAL_OIDC_CLIENT_SECRET": "s3cret-in-env",
    }
    refused = govcloud("portal", "serve", cwd=tmp_path, env=env)
    assert refused.returncode == 2 and "must be an https:// URL" in refused.stderr
    assert "s3cret" not in refused.stdout + refused.stderr


def test_a_local_account_is_not_taken_over(sqlite_portal: Portal, oidc_provider: Provider) -> None:
    p = sqlite_portal
    p.context.oidc = relying_party(oidc_provider)
    oidc_provider.people["req-b"] = Person("req-b", ["alpha-heads"])  # local, in beta
    before = written(p)
    _, answer = sign_in(p, oidc_provider, "req-b")
    assert answer.status_code == 403 and "govcloud_session" not in answer.headers.get(
        "set-cookie", ""
    )
    kept = account(p, "req-b")
    assert kept is not None and (kept.source, kept.role, kept.department) == (
        "local", "requester", "beta",
    )  # fmt: skip
    assert written(p) == before


def test_over_tls_the_flow_cookie_cannot_be_planted_by_a_sibling_host(
    sqlite_portal: Portal, oidc_provider: Provider
) -> None:
    p = sqlite_portal
    p.context.oidc = relying_party(oidc_provider)
    p.context.secure_cookies = True
    started = TestClient(p.client.app).get("/login/oidc", follow_redirects=False)
    cookie = started.headers["set-cookie"]
    assert cookie.startswith("__Host-govcloud_oidc_flow=")
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"secure", "httponly", "path=/", "samesite=lax"} <= attributes
    assert not any(a.startswith("domain") for a in attributes)
