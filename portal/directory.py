"""Sign-in against the county's directory (统一身份认证): LDAP, OpenLDAP or Active Directory.

python-ldap (the OpenLDAP client library's binding, maintained with OpenLDAP's releases) is
used rather than ldap3: it is the better kept of the two (ldap3's last release is from 2021)
and it shares the TLS and SASL code of the `ldapsearch` an operator debugs with.

- The connection is encrypted before anything is sent: `ldaps://` or `ldap://` with StartTLS
  (refused if the server cannot), the server's certificate checked against `ca_file`.
- The portal's service account (its password read from a file, never a command line) finds
  the person's entry and their groups (`groupOfNames`/`member`, so no overlay is needed), then
  the person's own bind checks the password: the portal never sees a hash.
- Groups map to a portal role and, for department roles, a department
  (`GOVCLOUD_PORTAL_LDAP_GROUPS`, first match wins); someone in no mapped group gets no account.
- An account is made at the first sign-in (source `ldap`, no local password) and its role and
  department follow the directory at every sign-in. `govcloud portal directory sync`
  deactivates every directory account the directory no longer has, or no longer maps.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import ldap
from ldap.filter import escape_filter_chars
from sqlalchemy import select
from sqlalchemy.orm import Session

from govcloud.model import County
from govcloud.registry import audit_log
from govcloud.registry.tables import PortalUser
from portal import accounts
from portal.errors import InvalidError, UnreachableDirectoryError
from portal.lifecycle import DEPARTMENT_ROLES, Role

DIRECTORY_SOURCE = "ldap"
# No password verifies against this: a directory account signs in through the directory only.
NO_LOCAL_PASSWORD = "!directory"  # noqa: S105  (not a password: no hash matches it)
TIMEOUT_SECONDS = 10
SYNC_ACTOR = "directory:sync"


@dataclass(frozen=True)
class Mapping:
    """A directory group's portal role, and its department for department roles."""

    group_dn: str
    role: Role
    department: str | None


def parse_groups(
    text: dict[str, str], setting: str = "GOVCLOUD_PORTAL_LDAP_GROUPS"
) -> list[Mapping]:
    """`{"cn=...": "requester:jyj", "cn=...": "ops_approver"}` as mappings, in order (group
    names, for OIDC's groups claim, the same way)."""
    found = []
    for group, value in text.items():
        role_name, _, department = value.partition(":")
        try:
            role = Role(role_name)
        except ValueError:
            raise InvalidError(
                f"{setting}: {value!r} for {group}: the role is one of " + ", ".join(Role)
            ) from None
        if (role in DEPARTMENT_ROLES) != bool(department):
            raise InvalidError(
                f"{setting}: {value!r} for {group}: department roles are "
                "written role:department, others role alone"
            )
        found.append(Mapping(group.lower(), role, department or None))
    return found


@dataclass(frozen=True)
class Person:
    """What the directory says of someone: their entry, name and mapped role."""

    dn: str
    name: str
    display_name: str
    role: Role
    department: str | None


@dataclass(frozen=True)
class Directory:
    """How to reach the county's directory and read people and groups from it."""

    url: str
    ca_file: Path
    bind_dn: str
    bind_password_file: Path
    user_base: str
    group_base: str
    groups: tuple[Mapping, ...]
    user_attribute: str = "uid"
    display_attribute: str = "cn"

    def _connect(self) -> ldap.ldapobject.LDAPObject:
        connection = ldap.initialize(self.url)
        connection.set_option(ldap.OPT_PROTOCOL_VERSION, ldap.VERSION3)
        connection.set_option(ldap.OPT_REFERRALS, 0)
        connection.set_option(ldap.OPT_NETWORK_TIMEOUT, TIMEOUT_SECONDS)
        connection.set_option(ldap.OPT_TIMEOUT, TIMEOUT_SECONDS)
        connection.set_option(ldap.OPT_X_TLS_CACERTFILE, str(self.ca_file))
        connection.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
        connection.set_option(ldap.OPT_X_TLS_NEWCTX, 0)  # apply the TLS options above
        if not self.url.lower().startswith("ldaps://"):
            connection.start_tls_s()  # raises when the server offers no TLS: never in clear
        return connection

    def _service(self) -> ldap.ldapobject.LDAPObject:
        connection = self._connect()
        password = self.bind_password_file.read_text(encoding="utf-8").strip()
        connection.simple_bind_s(self.bind_dn, password)
        return connection

    def find(self, name: str) -> Person | None:
        """The person with this sign-in name and a mapped group, or None."""
        try:
            connection = self._service()
            try:
                return self._find(connection, name)
            finally:
                connection.unbind_s()
        except ldap.LDAPError as error:
            raise UnreachableDirectoryError(f"the directory {self.url}: {_reason(error)}") from None

    def _find(self, connection: ldap.ldapobject.LDAPObject, name: str) -> Person | None:
        wanted = f"({self.user_attribute}={escape_filter_chars(name)})"
        entries = connection.search_s(
            self.user_base,
            ldap.SCOPE_SUBTREE,
            wanted,
            [self.user_attribute, self.display_attribute],
        )
        entries = [(dn, attributes) for dn, attributes in entries if dn]
        if len(entries) != 1:
            return None
        dn, attributes = entries[0]
        member_of = connection.search_s(
            self.group_base,
            ldap.SCOPE_SUBTREE,
            f"(member={escape_filter_chars(dn)})",
            ["cn"],
        )
        groups = {group_dn.lower() for group_dn, _ in member_of if group_dn}
        mapping = next((m for m in self.groups if m.group_dn in groups), None)
        if mapping is None:
            return None
        display = attributes.get(self.display_attribute, [name.encode()])[0].decode()
        return Person(dn, name, display, mapping.role, mapping.department)

    def authenticate(self, name: str, password: str) -> Person | None:
        """The person, when the directory accepts their password; None otherwise."""
        if not password:
            return None  # an empty password is an anonymous bind: it proves nothing
        person = self.find(name)
        if person is None:
            return None
        try:
            connection = self._connect()
            try:
                connection.simple_bind_s(person.dn, password)
            finally:
                connection.unbind_s()
        except ldap.INVALID_CREDENTIALS:
            return None
        except ldap.LDAPError as error:
            raise UnreachableDirectoryError(f"the directory {self.url}: {_reason(error)}") from None
        return person


def _reason(error: ldap.LDAPError) -> str:
    detail = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    return str(detail.get("desc") or detail.get("info") or error)


def existing(session: Session, name: str) -> PortalUser | None:
    """The account with this name, if there is one."""
    return session.execute(select(PortalUser).where(PortalUser.name == name)).scalar_one_or_none()


def provision(
    session: Session,
    county: County,
    person: Person,
    *,
    source: str = DIRECTORY_SOURCE,
    actor: str = SYNC_ACTOR,
) -> PortalUser:
    """The portal account of a person the directory (or the identity provider, `source`)
    accepted: made at the first sign-in, its role and department following the directory's
    (audited when they change)."""
    user = existing(session, person.name)
    if user is None:
        accounts.check_name(person.name)
        if person.department is not None:
            county.department(person.department)  # KeyError: the mapping names no department
        user = PortalUser(
            name=person.name,
            display_name=person.display_name,
            role=person.role.value,
            department=person.department,
            password_hash=NO_LOCAL_PASSWORD,
            active=True,
            created_at=dt.datetime.now(dt.UTC),
            source=source,
        )
        session.add(user)
        session.flush()
        audit_log.record(
            session,
            actor=actor,
            action="portal.user.add",
            object=f"user/{person.name}",
            after={"name": person.name, "role": person.role.value,
                   "department": person.department, "source": source},
        )  # fmt: skip
        return user
    if user.source != source:
        raise InvalidError(
            f"{person.name} is a {user.source} account: it signs in with its own (not {source})"
        )
    before = {"role": user.role, "department": user.department}
    after = {"role": person.role.value, "department": person.department}
    if before != after:
        user.role, user.department = person.role.value, person.department
        audit_log.record(
            session, actor=actor, action="portal.user.role", object=f"user/{user.name}",
            before=before, after=after,
        )  # fmt: skip
    return user


def sync(session: Session, directory: Directory) -> list[str]:
    """Deactivate every active directory account the directory no longer has or no longer
    maps to a role; the names deactivated."""
    gone = []
    users = session.execute(
        select(PortalUser).where(PortalUser.source == DIRECTORY_SOURCE, PortalUser.active.is_(True))
    ).scalars()
    for user in list(users):
        if directory.find(user.name) is None:
            accounts.deactivate(
                session, by=SYNC_ACTOR, user=user, reason="removed from the directory"
            )
            gone.append(user.name)
    return gone


def sign_in(
    session: Session,
    county: County,
    directory: Directory,
    *,
    name: str,
    password: str,
    address: str,
    limits: accounts.Limits,
) -> accounts.SignedIn | None:
    """`accounts.sign_in` for directory accounts: the waits, then the directory's own check
    (outside any transaction: a bind takes a round trip or more), then the account."""
    accounts.check_rate(session, name, address, limits)
    session.commit()
    person = directory.authenticate(name, password)
    if person is None:
        accounts.record_failure(session, name=name, address=address, action="portal.login.failed")
        return None
    user = provision(session, county, person)
    if not user.active:  # deactivated here: the directory does not reactivate it
        accounts.record_failure(session, name=name, address=address, action="portal.login.failed")
        return None
    return accounts.open_session(session, user, address=address, limits=limits)
