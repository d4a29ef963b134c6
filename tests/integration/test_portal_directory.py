"""Sign-in against a real directory (Debian's slapd): StartTLS and LDAPS, groups mapped to
roles and departments, accounts made at the first sign-in and deactivated when the directory
removes them (issue 17, 统一身份认证)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirunner import govcloud
from fastapi.testclient import TestClient
from ldap_kit import GROUPS, PEOPLE, SERVICE_DN, Slapd
from portal_kit import Portal
from sqlalchemy import select
from test_portal_pages import csrf_of

from govcloud.registry.tables import PortalUser
from portal import directory
from portal.errors import UnreachableDirectoryError
from portal.lifecycle import Role

GROUP_MAP = {
    f"cn=alpha-staff,{GROUPS}": "requester:alpha",
    f"cn=alpha-heads,{GROUPS}": "dept_approver:alpha",
    f"cn=cloud-ops,{GROUPS}": "ops_approver",
}


def county_directory(server: Slapd, url: str) -> directory.Directory:
    return directory.Directory(
        url=url,
        ca_file=server.ca_file,
        bind_dn=SERVICE_DN,
        bind_password_file=server.service_password_file,
        user_base=PEOPLE,
        group_base=GROUPS,
        groups=tuple(directory.parse_groups(GROUP_MAP)),
    )


def login(portal: Portal, name: str, password: str) -> tuple[TestClient, int, str]:
    client = TestClient(portal.client.app)
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    return client, answer.status_code, answer.headers.get("location", "")


def account(portal: Portal, name: str) -> PortalUser | None:
    with portal.context.sessions() as session:
        return session.execute(
            select(PortalUser).where(PortalUser.name == name)
        ).scalar_one_or_none()


@pytest.mark.parametrize("scheme", ["starttls", "ldaps"])
def test_directory_sign_in_provisions_and_maps(
    sqlite_portal: Portal,
    slapd: Slapd,
    scheme: str,
) -> None:
    p = sqlite_portal
    url = slapd.ldap_url if scheme == "starttls" else slapd.ldaps_url
    p.context.directory = county_directory(slapd, url)
    assert account(p, "zhang") is None
    client, status, location = login(p, "zhang", slapd.passwords["zhang"])
    assert (status, location) == (303, "/")
    made = account(p, "zhang")
    assert made is not None and (made.source, made.role, made.department) == (
        "ldap",
        "requester",
        "alpha",
    )
    assert client.get("/api/v1/me").json()["source"] == "ldap"
    # The head maps to dept_approver of alpha; ops is privileged: the second factor follows.
    assert login(p, "li", slapd.passwords["li"])[1] == 303
    assert account(p, "li").role == Role.DEPT_APPROVER  # type: ignore[union-attr]
    _, status, location = login(p, "wang", slapd.passwords["wang"])
    assert status == 303 and location.startswith("/login/second-factor")
    # Wrong password, empty password, no mapped group, nobody: refused, counted, no account.
    assert login(p, "zhang", "wrong")[1] == 401
    assert login(p, "li", "")[1] == 401
    assert login(p, "chen", slapd.passwords["chen"])[1] == 401
    assert account(p, "chen") is None
    assert login(p, "nobody", "whatever-123-X")[1] == 401
    assert login(p, "zhang*", slapd.passwords["zhang"])[1] == 401  # a filter is not a name
    # Local accounts still sign in with their passwords.
    assert login(p, "req-a", "Correct horse battery 9")[1] == 303


def test_directory_changes_follow_and_removal_deactivates(
    sqlite_portal: Portal,
    slapd: Slapd,
    tmp_path: Path,
) -> None:
    p = sqlite_portal
    found = county_directory(slapd, slapd.ldap_url)
    p.context.directory = found
    assert login(p, "zhang", slapd.passwords["zhang"])[1] == 303
    # Moved to the heads' group: the next sign-in follows.
    slapd.modify(
        "ldapmodify",
        f"dn: cn=alpha-heads,{GROUPS}\nchangetype: modify\nadd: member\n"
        f"member: uid=zhang,{PEOPLE}\n\n"
        # (a groupOfNames keeps one member at least: chen stays in the staff group)
        f"dn: cn=alpha-staff,{GROUPS}\nchangetype: modify\nadd: member\n"
        f"member: uid=chen,{PEOPLE}\n-\ndelete: member\nmember: uid=zhang,{PEOPLE}\n",
    )
    assert login(p, "zhang", slapd.passwords["zhang"])[1] == 303
    assert account(p, "zhang").role == Role.DEPT_APPROVER  # type: ignore[union-attr]
    # Removed from the directory: the sync deactivates the account, sessions and token go.
    browser, _, _ = login(p, "li", slapd.passwords["li"])
    slapd.modify("ldapdelete", "", f"uid=li,{PEOPLE}")
    with p.context.sessions() as session:
        assert directory.sync(session, found) == ["li"]
        session.commit()
    assert account(p, "li").active is False  # type: ignore[union-attr]
    assert browser.get("/api/v1/me").status_code == 401
    entries = p.get("auditor", "/audit", action="portal.user.deactivate").json()
    assert [e["actor"] for e in entries] == [directory.SYNC_ACTOR]


def test_the_directory_is_reached_over_tls_only(
    sqlite_portal: Portal,
    slapd: Slapd,
    tmp_path: Path,
) -> None:
    other_ca = tmp_path / "other-ca.crt"
    other_ca.write_text(Path("/etc/ssl/certs/ca-certificates.crt").read_text())
    wrong = county_directory(slapd, slapd.ldap_url)
    untrusted = directory.Directory(**{**wrong.__dict__, "ca_file": other_ca})
    with pytest.raises(UnreachableDirectoryError):
        untrusted.find("zhang")  # the server's certificate is not from a CA we trust
    sqlite_portal.context.directory = untrusted
    assert login(sqlite_portal, "zhang", slapd.passwords["zhang"])[1] == 503


def test_directory_sync_from_the_command_line(slapd: Slapd, tmp_path: Path) -> None:
    from small_county import write_county  # noqa: PLC0415

    write_county(tmp_path / "county")
    env = {
        "GOVCLOUD_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.sqlite3'}",
        "GOVCLOUD_PORTAL_LDAP_URL": slapd.ldap_url,
        "GOVCLOUD_PORTAL_LDAP_CA_FILE": str(slapd.ca_file),
        "GOVCLOUD_PORTAL_LDAP_BIND_DN": SERVICE_DN,
        "GOVCLOUD_PORTAL_LDAP_BIND_PASSWORD_FILE": str(slapd.service_password_file),
        "GOVCLOUD_PORTAL_LDAP_USER_BASE": PEOPLE,
        "GOVCLOUD_PORTAL_LDAP_GROUP_BASE": GROUPS,
        "GOVCLOUD_PORTAL_LDAP_GROUPS": json.dumps(GROUP_MAP),
    }
    assert govcloud("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    synced = govcloud("portal", "directory", "sync", cwd=tmp_path, env=env)
    assert synced.returncode == 0 and "0 directory account(s)" in synced.stdout, synced.stderr
    bad = govcloud(
        "portal", "directory", "sync", cwd=tmp_path,
        env={**env, "GOVCLOUD_PORTAL_LDAP_GROUPS": json.dumps({"cn=x": "boss"})},
    )  # fmt: skip
    assert bad.returncode == 2 and "the role is one of" in bad.stderr
