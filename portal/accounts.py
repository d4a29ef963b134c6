"""Local accounts: argon2 password hashes, API tokens, browser sessions, sign-in rate limits.

- Passwords are hashed with Argon2id (argon2-cffi, RFC 9106's low-memory parameters unless
  GOVCLOUD_PORTAL_PASSWORD_PROFILE says otherwise); a hash made with other parameters is
  replaced at the next sign-in.
- API tokens and session ids are 256-bit random values; the registry stores only their SHA-256
  (a fast hash is right for random secrets: there is nothing to guess), so a copy of the
  database signs nobody in. One API token per account: issuing a new one replaces the old.
- Sessions expire 8 hours after sign-in and after 30 minutes without use (both configurable).
- Sign-in slows down progressively (HTTP 429 with Retry-After): after 5 failures for one
  account from one address, or 20 from one address, each further try waits twice as long
  (30 s, 1 min, 2 min, ... up to 15 minutes) after the last failure; while it waits, the
  password is not even checked. An account is never locked by failures from elsewhere.

Account changes, token issues, sign-ins and failed sign-ins go through the audit log.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import math
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from govcloud.model import County
from govcloud.registry import audit_log, db
from govcloud.registry.tables import (
    PortalApiToken,
    PortalLoginFailure,
    PortalPasswordHistory,
    PortalSession,
    PortalUser,
)
from portal.errors import (
    ConflictError,
    InvalidError,
    NotFoundError,
    PasswordExpiredError,
    RateLimitedError,
)
from portal.lifecycle import DEPARTMENT_ROLES, PRIVILEGED_ROLES, Actor, Role
from portal.passwords import ACCOUNT_NAME_PATTERN, PASSWORD_HISTORY, problems

TOKEN_PREFIX = "gcp_"  # noqa: S105  (not a secret: tokens start with it, for secret scanners)
TOKEN_HINT_LENGTH = 8
SESSION_HANDLE_LENGTH = 12
LOCAL_SOURCE = "local"  # an account whose password the portal keeps (else the directory's)
SIGNING_KEY_BYTES = 32
SIGNING_KEY_FILE = "portal-signing.key"  # in the state directory, mode 0600
# API tokens expire after this many days unless the county says otherwise (0: never).
DEFAULT_TOKEN_DAYS = 90
# Argon2 parameter sets by name (GOVCLOUD_PORTAL_PASSWORD_PROFILE); "cheapest" is for tests
# only. A hash keeps its own parameters, so changing the profile rehashes at the next sign-in.
PASSWORD_PROFILES = {
    "rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY,  # t=3, 64 MiB, p=4: the default
    "rfc9106-high-memory": profiles.RFC_9106_HIGH_MEMORY,  # t=1, 2 GiB, p=4
    "cheapest": profiles.CHEAPEST,
}
PASSWORD_PROFILE_ENV = "GOVCLOUD_PORTAL_PASSWORD_PROFILE"  # noqa: S105  (a setting's name)
DEFAULT_PASSWORD_PROFILE = "rfc9106-low-memory"  # noqa: S105


@functools.cache
def _hasher() -> PasswordHasher:
    name = os.environ.get(PASSWORD_PROFILE_ENV) or DEFAULT_PASSWORD_PROFILE
    if name not in PASSWORD_PROFILES:
        raise InvalidError(
            f"{PASSWORD_PROFILE_ENV}={name!r}: choose one of {', '.join(PASSWORD_PROFILES)}"
        )
    return PasswordHasher.from_parameters(PASSWORD_PROFILES[name])


@functools.cache
def _dummy_hash() -> str:
    # No password verifies against this hash: checking it keeps the timing of unknown
    # accounts the same as that of known ones.
    return _hasher().hash(secrets.token_urlsafe(16))


def reset_hashing() -> None:
    """Read GOVCLOUD_PORTAL_PASSWORD_PROFILE again (tests switch it)."""
    _hasher.cache_clear()
    _dummy_hash.cache_clear()


@dataclass(frozen=True)
class Limits:
    """Session lifetimes and sign-in rate limits."""

    session_hours: float = 8
    idle_minutes: float = 30
    max_failures_per_account: int = 5  # from one address, before the waits begin
    max_failures_per_address: int = 20  # for any accounts, before the waits begin
    failure_window_minutes: float = 15  # how long failures count; the longest wait
    delay_base_seconds: float = 30  # the first wait; each further failure doubles it
    password_max_age_days: float = 0  # local passwords expire after this (0: never)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(at: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything is written in UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def digest(secret: str) -> str:
    """The SHA-256 under which a token or session id is stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    """An Argon2id hash of the password."""
    return _hasher().hash(password)


def actor_of(
    user: PortalUser, *, issued_by: str = "", break_glass_role: Role | None = None
) -> Actor:
    """The account as the lifecycle rules see it (`issued_by`: who issued the token used)."""
    own = f"portal:{user.name}"
    # Only a portal account issuing a token for another is someone else's hand in it: the
    # CLI runs with the registry's own credentials, which no rule in the portal can bind.
    via = issued_by if issued_by.startswith("portal:") and issued_by != own else None
    role = Role(user.role)
    return Actor(user.id, user.name, role, user.department, via, role is break_glass_role)


# -- accounts ----------------------------------------------------------------------------------


def check_name(name: str) -> None:
    """Refuse an account name the API would refuse (InvalidError saying what is allowed)."""
    if not re.fullmatch(ACCOUNT_NAME_PATTERN, name):
        raise InvalidError(
            f"the account name {name[:64]!r} is not allowed: use 2 to 64 letters, digits "
            "and . _ @ - (no spaces)"
        )


def check_password(password: str, *, name: str) -> None:
    """Refuse a password against the policy (InvalidError naming every problem)."""
    found = problems(password, name=name)
    if found:
        raise InvalidError("the password is refused: " + "; ".join(found))


def create_user(
    session: Session,
    county: County,
    *,
    by: str,
    name: str,
    role: Role,
    department: str | None,
    password: str,
    display_name: str = "",
) -> PortalUser:
    """Create an account; department roles need a department of the county, others none."""
    if role in DEPARTMENT_ROLES:
        if not department:
            raise InvalidError(f"a {role.value} belongs to a department: give --department CODE")
        try:
            county.department(department)
        except KeyError:
            raise InvalidError(f"no department {department!r} in county {county.code}") from None
    elif department:
        raise InvalidError(f"a {role.value} sees every department: give no department")
    check_name(name)
    check_password(password, name=name)
    if session.execute(select(PortalUser.id).where(PortalUser.name == name)).first():
        raise ConflictError(f"an account named {name!r} exists already")
    user = PortalUser(
        name=name,
        display_name=display_name or name,
        role=role.value,
        department=department,
        password_hash=hash_password(password),
        active=True,
        created_at=_now(),
        password_changed_at=_now(),
        source=LOCAL_SOURCE,
    )
    session.add(user)
    session.flush()
    audit_log.record(
        session,
        actor=by,
        action="portal.user.add",
        object=f"user/{name}",
        after={"name": name, "role": role.value, "department": department},
    )
    return user


def find_user(session: Session, name: str) -> PortalUser:
    """The account with this name, or NotFoundError."""
    user = session.execute(select(PortalUser).where(PortalUser.name == name)).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"no account named {name!r}")
    return user


def set_password(session: Session, *, by: str, user: PortalUser, password: str) -> None:
    """Replace an account's password and end its sessions; none of its last few passwords
    may come back (GB/T 22239-2019 §8.1.4.1 a)."""
    check_password(password, name=user.name)
    earlier = session.execute(
        select(PortalPasswordHistory)
        .where(PortalPasswordHistory.user_id == user.id)
        .order_by(PortalPasswordHistory.changed_at.desc(), PortalPasswordHistory.id.desc())
    ).scalars()
    kept = list(earlier)  # newest first, at most PASSWORD_HISTORY - 1 of them
    if any(
        verify_password(h, password) for h in (user.password_hash, *(k.password_hash for k in kept))
    ):
        raise InvalidError(
            f"the password is refused: it is one of the account's last {PASSWORD_HISTORY}"
        )
    now = _now()
    session.add(
        PortalPasswordHistory(user_id=user.id, password_hash=user.password_hash, changed_at=now)
    )
    for old in kept[PASSWORD_HISTORY - 2 :]:  # the current one joins them
        session.delete(old)
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    session.execute(delete(PortalSession).where(PortalSession.user_id == user.id))
    audit_log.record(session, actor=by, action="portal.user.password", object=f"user/{user.name}")


def password_expired(user: PortalUser, limits: Limits) -> bool:
    """True when the county sets a maximum age and the account's password is older."""
    if not limits.password_max_age_days or user.source != LOCAL_SOURCE:
        return False
    changed = _aware(user.password_changed_at or user.created_at)
    return changed + dt.timedelta(days=limits.password_max_age_days) <= _now()


def has_token(session: Session, user: PortalUser) -> bool:
    """True when the account has an API token."""
    found = session.execute(select(PortalApiToken.id).where(PortalApiToken.user_id == user.id))
    return found.first() is not None


# -- API tokens --------------------------------------------------------------------------------


def issue_token(
    session: Session, *, by: str, user: PortalUser, days: float = DEFAULT_TOKEN_DAYS
) -> str:
    """A new API token for the account (replacing any old one); returned once, stored hashed.

    It expires after `days` (0: never). When someone else issues it, the account's browser
    sessions end too: a new credential from an administrator is a reset, not an extra."""
    require_active(user)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    hint = token[: len(TOKEN_PREFIX) + TOKEN_HINT_LENGTH]
    now = _now()
    expires = now + dt.timedelta(days=days) if days else None
    existing = session.execute(
        select(PortalApiToken).where(PortalApiToken.user_id == user.id)
    ).scalar_one_or_none()
    if existing is None:
        existing = PortalApiToken(user_id=user.id)
        session.add(existing)
        replaced = False
    else:
        replaced = True
    existing.token_hash = digest(token)
    existing.hint = hint
    existing.created_at = now
    existing.issued_by = by
    existing.expires_at = expires
    ended = 0 if by == f"portal:{user.name}" else _end_sessions(session, user)
    audit_log.record(
        session,
        actor=by,
        action="portal.token.issue",
        object=f"user/{user.name}",
        after={
            "hint": hint,
            "replaced": replaced,
            "expires_at": expires.isoformat() if expires else None,
            "sessions_ended": ended,
        },
    )
    return token


def revoke_token(session: Session, *, by: str, user: PortalUser) -> bool:
    """Delete the account's API token (audited); False when it had none."""
    gone = session.execute(delete(PortalApiToken).where(PortalApiToken.user_id == user.id))
    revoked = bool(getattr(gone, "rowcount", 0))
    if revoked:
        audit_log.record(
            session, actor=by, action="portal.token.revoke", object=f"user/{user.name}"
        )
    return revoked


@dataclass(frozen=True)
class TokenHolder:
    """The account an API token belongs to, and who issued the token."""

    user: PortalUser
    issued_by: str


def user_for_token(session: Session, token: str) -> TokenHolder | None:
    """The active account an API token belongs to (None: unknown, expired, or deactivated)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    found = session.execute(
        select(PortalUser, PortalApiToken)
        .join(PortalApiToken, PortalApiToken.user_id == PortalUser.id)
        .where(PortalApiToken.token_hash == digest(token), PortalUser.active.is_(True))
    ).first()
    if found is None:
        return None
    user, row = found
    if row.expires_at is not None and _aware(row.expires_at) <= _now():
        return None
    return TokenHolder(user, row.issued_by)


# -- lifecycle: deactivate, reactivate, sessions ------------------------------------------------


def require_active(user: PortalUser) -> None:
    """Refuse to give a deactivated account a credential (409: reactivate it first)."""
    if not user.active:
        raise ConflictError(
            f"the account {user.name!r} is deactivated: reactivate it first "
            "(govcloud portal user reactivate)"
        )


def _end_sessions(session: Session, user: PortalUser) -> int:
    gone = session.execute(delete(PortalSession).where(PortalSession.user_id == user.id))
    return int(getattr(gone, "rowcount", 0) or 0)


def deactivate(session: Session, *, by: str, user: PortalUser, reason: str) -> None:
    """Deactivate the account: its sessions end and its API token is revoked (audited)."""
    if not user.active:
        raise ConflictError(f"the account {user.name!r} is deactivated already")
    if by == f"portal:{user.name}":
        raise ConflictError("nobody deactivates their own account: ask another administrator")
    user.active = False
    user.deactivated_at = _now()
    ended = _end_sessions(session, user)
    session.execute(delete(PortalApiToken).where(PortalApiToken.user_id == user.id))
    audit_log.record(
        session,
        actor=by,
        action="portal.user.deactivate",
        object=f"user/{user.name}",
        before={"active": True},
        after={"active": False, "reason": reason, "sessions_ended": ended},
    )


def reactivate(session: Session, *, by: str, user: PortalUser, reason: str) -> None:
    """Reactivate the account (audited); it signs in again with its password or directory."""
    if user.active:
        raise ConflictError(f"the account {user.name!r} is active already")
    user.active = True
    user.deactivated_at = None
    audit_log.record(
        session,
        actor=by,
        action="portal.user.reactivate",
        object=f"user/{user.name}",
        before={"active": False},
        after={"active": True, "reason": reason},
    )


def sessions_of(
    session: Session, user: PortalUser | None = None
) -> list[tuple[PortalSession, str]]:
    """Open sessions (of one account, or all) with their account's name, newest first."""
    query = (
        select(PortalSession, PortalUser.name)
        .join(PortalUser, PortalUser.id == PortalSession.user_id)
        .where(PortalSession.expires_at > _now())
        .order_by(PortalSession.created_at.desc())
    )
    if user is not None:
        query = query.where(PortalSession.user_id == user.id)
    return [(row, name) for row, name in session.execute(query).all()]


def session_handle(row: PortalSession) -> str:
    """How people name a session: the first characters of its stored hash (never the cookie)."""
    return row.id[:SESSION_HANDLE_LENGTH]


def end_sessions(session: Session, *, by: str, user: PortalUser, handle: str | None = None) -> int:
    """End the account's sessions, or the one whose handle is given (audited); how many."""
    query = delete(PortalSession).where(PortalSession.user_id == user.id)
    if handle is not None:
        if len(handle) < SESSION_HANDLE_LENGTH:
            raise InvalidError(f"a session handle has {SESSION_HANDLE_LENGTH} characters")
        query = query.where(PortalSession.id.startswith(handle, autoescape=True))
    gone = session.execute(query)
    ended = int(getattr(gone, "rowcount", 0) or 0)
    if handle is not None and not ended:
        raise NotFoundError(f"no session {handle} of {user.name!r}")
    audit_log.record(
        session,
        actor=by,
        action="portal.session.end",
        object=f"user/{user.name}",
        after={"sessions_ended": ended, "session": handle},
    )
    return ended


# -- sign-in and sessions ----------------------------------------------------------------------


def _delay(failures: int, free: int, limits: Limits) -> dt.timedelta | None:
    """How long after the last failure the next try must wait (None: no wait).

    Each failure past the free ones doubles the wait, up to the failure window."""
    if failures < free:
        return None
    seconds = limits.delay_base_seconds * 2 ** min(failures - free, 32)
    return dt.timedelta(seconds=min(seconds, limits.failure_window_minutes * 60))


def check_rate(session: Session, name: str, address: str, limits: Limits) -> None:
    """Refuse while the account from this address, or this address for any account, must wait.

    Failures count per account *and* source, never per account alone: a stranger who guesses
    wrong from elsewhere slows down himself, not the account's owner (issue 17, finding 9)."""
    since = _now() - dt.timedelta(minutes=limits.failure_window_minutes)
    for condition, free in (
        (
            (PortalLoginFailure.name == name) & (PortalLoginFailure.address == address),
            limits.max_failures_per_account,
        ),
        (PortalLoginFailure.address == address, limits.max_failures_per_address),
    ):
        count, latest = session.execute(
            select(func.count(), func.max(PortalLoginFailure.at)).where(
                condition, PortalLoginFailure.at >= since
            )
        ).one()
        wait = _delay(count, free, limits)
        if wait is None:
            continue
        remaining = (_aware(latest) + wait - _now()).total_seconds()
        if remaining > 0:
            retry = math.ceil(remaining)
            raise RateLimitedError(
                f"too many failed sign-ins; try again in {retry} seconds", retry_after=retry
            )


def verify_password(stored: str, password: str) -> bool:
    """True when the password matches the Argon2 hash (costly by design: ~0.3 s)."""
    try:
        return _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie value (shown once) and the form token."""

    user: PortalUser
    cookie: str
    csrf_token: str
    expires_at: dt.datetime
    pending_factor: bool = False


def sign_in(
    session: Session, *, name: str, password: str, address: str, limits: Limits
) -> SignedIn | None:
    """Check the password and open a session, or record the failure and return None.

    Raises RateLimitedError while the account from this address, or the address, must wait.
    The read (rate and account) is committed before the password is checked: the Argon2 check
    takes about 0.3 s, and on SQLite a sign-in's transactions hold the write lock, so holding
    one across the check stalled every other request (issue 17, finding 1). The write that
    follows is left to the caller to commit, in both cases: a failure must be counted.
    """
    check_rate(session, name, address, limits)
    user = session.execute(select(PortalUser).where(PortalUser.name == name)).scalar_one_or_none()
    stored = user.password_hash if user is not None and user.active else _dummy_hash()
    user_id = user.id if user is not None and user.active else None
    session.commit()
    ok = verify_password(stored, password) and user_id is not None
    # A rehash costs as much as the check: made here too, before the write transaction.
    rehashed = hash_password(password) if ok and _hasher().check_needs_rehash(stored) else None
    user = session.get(PortalUser, user_id, populate_existing=True) if ok else None
    if user is None or not user.active or user.password_hash != stored:
        record_failure(session, name=name, address=address, action="portal.login.failed")
        return None
    if password_expired(user, limits):
        # Said only to whoever knows the password; the failure is not counted.
        raise PasswordExpiredError(
            "the password has expired: ask the system administrator for a new one "
            "(govcloud portal user password), or change it with POST /api/v1/me/password"
        )
    if rehashed is not None:
        user.password_hash = rehashed
    return open_session(session, user, address=address, limits=limits)


def open_session(
    session: Session, user: PortalUser, *, address: str, limits: Limits, factor: str | None = None
) -> SignedIn:
    """A new browser session for an account whose credentials were just checked (audited).

    `factor`: how the identity provider says it checked a second factor the county accepts
    (OIDC's `amr`/`acr`); a privileged account then gives no TOTP code here."""
    session.execute(
        delete(PortalLoginFailure).where(
            PortalLoginFailure.name == user.name, PortalLoginFailure.address == address
        )
    )  # a success clears the account's count from this address (not the address's own)
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = _now()
    expires = now + dt.timedelta(hours=limits.session_hours)
    # A privileged account's session opens nothing until the second factor is given.
    pending = Role(user.role) in PRIVILEGED_ROLES and factor is None
    session.add(
        PortalSession(
            id=digest(cookie),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
            address=address[:64],
            pending_factor=pending,
        )
    )
    audit_log.record(
        session,
        actor=f"portal:{user.name}",
        action="portal.login",
        object=f"user/{user.name}",
        after={"address": address, "source": user.source}
        | ({"second_factor": factor} if factor else {}),
    )
    return SignedIn(user, cookie, csrf, expires, pending)


def is_local(session: Session, name: str) -> bool:
    """True when a local account (password kept here) has this name."""
    found = session.execute(
        select(PortalUser.id).where(PortalUser.name == name, PortalUser.source == LOCAL_SOURCE)
    ).first()
    return found is not None


# How often a session's last use is written back (each write is a database round trip).
_TOUCH_INTERVAL = dt.timedelta(seconds=60)


def session_user(
    session: Session, cookie: str, limits: Limits, *, pending: bool = False
) -> tuple[PortalUser, PortalSession] | None:
    """The account and session a cookie belongs to, if it is neither expired nor idle; only
    complete sessions, or with `pending` only those still waiting for the second factor.

    It writes (last use, an expired session's end), so it begins a writing transaction."""
    db.begin_write(session)
    found = session.execute(
        select(PortalSession, PortalUser)
        .join(PortalUser, PortalUser.id == PortalSession.user_id)
        .where(
            PortalSession.id == digest(cookie),
            PortalUser.active.is_(True),
            PortalSession.pending_factor.is_(pending),
        )
    ).first()
    if found is None:
        return None
    browser, user = found
    now = _now()
    idle = dt.timedelta(minutes=limits.idle_minutes)
    if _aware(browser.expires_at) <= now or _aware(browser.last_seen_at) + idle <= now:
        session.delete(browser)
        return None
    if now - _aware(browser.last_seen_at) >= _TOUCH_INTERVAL:
        browser.last_seen_at = now
    return user, browser


def complete_session(session: Session, cookie: str) -> None:
    """The second factor was given: the session opens the portal now (audited)."""
    browser = session.get(PortalSession, digest(cookie))
    if browser is None:
        return
    browser.pending_factor = False
    user = session.get(PortalUser, browser.user_id)
    name = user.name if user is not None else str(browser.user_id)
    audit_log.record(
        session, actor=f"portal:{name}", action="portal.second_factor", object=f"user/{name}"
    )


def record_failure(session: Session, *, name: str, address: str, action: str) -> None:
    """Count a failed sign-in step for the waits, and audit it."""
    session.add(PortalLoginFailure(name=name[:64], address=address[:64], at=_now()))
    audit_log.record(
        session,
        actor=f"portal:{name[:64]}",
        action=action,
        object=f"user/{name[:64]}",
        after={"address": address},
    )


def sign_out(session: Session, cookie: str) -> None:
    """End the session the cookie belongs to (audited)."""
    browser = session.get(PortalSession, digest(cookie))
    if browser is None:
        return
    user = session.get(PortalUser, browser.user_id)
    session.delete(browser)
    if user is not None:
        audit_log.record(
            session, actor=f"portal:{user.name}", action="portal.logout", object=f"user/{user.name}"
        )


def signed_nonce(key: bytes) -> str:
    """A random value with its HMAC: the sign-in form's CSRF token (signed double submit)."""
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_mac(key, nonce)}"


def signed_nonce_valid(key: bytes, cookie: str | None, given: str | None) -> bool:
    """True when the form's token equals the cookie's and carries the server's signature, so
    a cookie planted from a sibling host (which cannot sign) does not pass (OWASP)."""
    if not cookie or not csrf_matches(cookie, given):
        return False
    nonce, _, mac = cookie.partition(".")
    return hmac.compare_digest(mac.encode(), _mac(key, nonce).encode())


def _mac(key: bytes, nonce: str) -> str:
    return hmac.new(key, f"login-csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


def load_signing_key(path: Path) -> bytes:
    """The portal's signing key from `path`, made (0600, atomically) when there is none.

    Every worker reads the same file; the first to start makes it. A key is never passed on a
    command line or in the environment."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".signing-")
    try:
        os.write(fd, secrets.token_bytes(SIGNING_KEY_BYTES))
        os.close(fd)
        os.link(temporary, path)  # fails if another worker made it first: then use theirs
    except FileExistsError:
        pass
    finally:
        Path(temporary).unlink()
    return path.read_bytes()


def csrf_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of the session's CSRF token with the one a form sent."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def purge_expired(session: Session, limits: Limits) -> int:
    """Delete expired sessions and old sign-in failures; return how many sessions went."""
    now = _now()
    gone = session.execute(delete(PortalSession).where(PortalSession.expires_at <= now))
    session.execute(
        delete(PortalLoginFailure).where(
            PortalLoginFailure.at < now - dt.timedelta(minutes=limits.failure_window_minutes)
        )
    )
    return int(getattr(gone, "rowcount", 0) or 0)
