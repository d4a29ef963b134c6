"""The second factor of privileged accounts: TOTP (RFC 6238, pyotp) and one-time recovery codes.

MLPS level 3 asks administrators to sign in with two factors (GB/T 22239-2019 §8.1.4.1 d).
Accounts of `SECOND_FACTOR_ROLES` set up an authenticator app at their first sign-in (the key
is shown once, as text and as an otpauth:// URI) and confirm it with a code; they get
`RECOVERY_CODES` one-time recovery codes, shown once and stored as SHA-256. From then on a
correct password opens only a pending session, which the code (or a recovery code) completes.
A code is accepted once (RFC 6238 §5.2: the last time step used is kept), one step of clock
drift either way is allowed, and a wrong code counts as a failed sign-in. The security
administrator resets a lost authenticator; the account sets up a new one at its next sign-in.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time

import pyotp
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from govcloud.registry import audit_log
from govcloud.registry.tables import PortalRecoveryCode, PortalSession, PortalUser
from portal.accounts import digest
from portal.errors import ConflictError
from portal.lifecycle import PRIVILEGED_ROLES, Role

ISSUER = "govcloud portal"
STEP_SECONDS = 30  # RFC 6238's default time step, what authenticator apps use
DRIFT_STEPS = 1  # a code of the step before or after is accepted too (RFC 6238 §5.2)
RECOVERY_CODES = 10
RECOVERY_CODE_LENGTH = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # nothing that reads as another


def required(user: PortalUser) -> bool:
    """True when the account must give a second factor to sign in (the privileged roles)."""
    return Role(user.role) in PRIVILEGED_ROLES


def enrolled(user: PortalUser) -> bool:
    """True when the account has a confirmed authenticator."""
    return user.totp_confirmed_at is not None and user.totp_secret is not None


def new_secret(user: PortalUser) -> str:
    """A fresh key for the account (unconfirmed until a code from it is given)."""
    if enrolled(user):
        raise ConflictError("the account has an authenticator: the security admin resets it")
    user.totp_secret = pyotp.random_base32()
    return user.totp_secret


def provisioning_uri(user: PortalUser) -> str:
    """The otpauth:// URI an authenticator app reads (the key, the account, the issuer)."""
    assert user.totp_secret is not None  # noqa: S101  (set by new_secret first)
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.name, issuer_name=ISSUER)


def _matching_step(secret: str, code: str, at: float) -> int | None:
    totp = pyotp.TOTP(secret)
    now_step = int(at // STEP_SECONDS)
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def check_code(user: PortalUser, code: str, *, at: float | None = None) -> bool:
    """True (and the step is used up) when the code is the account's current TOTP code."""
    code = code.strip().replace(" ", "")
    if user.totp_secret is None or not code.isdigit():
        return False
    step = _matching_step(user.totp_secret, code, time.time() if at is None else at)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        return False
    user.totp_last_step = step
    return True


def confirm(session: Session, user: PortalUser, code: str) -> list[str] | None:
    """Confirm a new authenticator with a code from it; the recovery codes (shown once), or
    None when the code is wrong."""
    if enrolled(user) or not check_code(user, code):
        return None
    user.totp_confirmed_at = dt.datetime.now(dt.UTC)
    codes = _new_recovery_codes(session, user)
    audit_log.record(
        session,
        actor=f"portal:{user.name}",
        action="portal.second_factor.enrol",
        object=f"user/{user.name}",
        after={"recovery_codes": len(codes)},
    )
    return codes


def _new_recovery_codes(session: Session, user: PortalUser) -> list[str]:
    session.execute(delete(PortalRecoveryCode).where(PortalRecoveryCode.user_id == user.id))
    codes = [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        for _ in range(RECOVERY_CODES)
    ]
    session.add_all(PortalRecoveryCode(user_id=user.id, code_hash=digest(c)) for c in codes)
    return codes


def use_recovery_code(session: Session, user: PortalUser, code: str) -> bool:
    """True (and the code is used up, audited) when it is one of the account's unused codes."""
    code = code.strip().lower().replace(" ", "").replace("-", "")
    if len(code) != RECOVERY_CODE_LENGTH:
        return False
    used = session.execute(
        update(PortalRecoveryCode)
        .where(
            PortalRecoveryCode.user_id == user.id,
            PortalRecoveryCode.code_hash == digest(code),
            PortalRecoveryCode.used_at.is_(None),
        )
        .values(used_at=dt.datetime.now(dt.UTC))
    )
    if not getattr(used, "rowcount", 0):
        return False
    left = session.execute(
        select(PortalRecoveryCode.id).where(
            PortalRecoveryCode.user_id == user.id, PortalRecoveryCode.used_at.is_(None)
        )
    ).all()
    audit_log.record(
        session,
        actor=f"portal:{user.name}",
        action="portal.second_factor.recovery_code",
        object=f"user/{user.name}",
        after={"left": len(left)},
    )
    return True


def reset(session: Session, *, by: str, user: PortalUser) -> None:
    """Forget the account's authenticator and recovery codes, end its sessions (audited)."""
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    session.execute(delete(PortalRecoveryCode).where(PortalRecoveryCode.user_id == user.id))
    session.execute(delete(PortalSession).where(PortalSession.user_id == user.id))
    audit_log.record(
        session, actor=by, action="portal.second_factor.reset", object=f"user/{user.name}"
    )
