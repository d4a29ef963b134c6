"""The portal's sign-in policy (its settings) and accounts (the registry), for the audit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from govcloud.registry.tables import PortalUser
from govcloud.signin_policy import PortalPolicy
from portal.lifecycle import PRIVILEGED_ROLES
from portal.passwords import MIN_PASSWORD_LENGTH, PASSWORD_HISTORY
from portal.settings import PortalSettings


def portal_policy(session: Session) -> PortalPolicy:
    """The portal's sign-in policy (its settings) and accounts (the registry)."""
    portal = PortalSettings()
    accounts = tuple(
        {
            "name": user.name,
            "role": user.role,
            "active": user.active,
            "totp": user.totp_confirmed_at is not None,
        }
        for user in session.execute(select(PortalUser).order_by(PortalUser.name)).scalars()
    )
    return PortalPolicy(
        min_password_length=MIN_PASSWORD_LENGTH,
        password_max_age_days=portal.password_max_age_days,
        max_failures_per_account=portal.max_failures_per_account,
        idle_minutes=portal.idle_minutes,
        session_hours=portal.session_hours,
        secure_cookies=portal.secure_cookies,
        password_history=PASSWORD_HISTORY,
        token_days=portal.token_days,
        second_factor_roles=frozenset(r.value for r in PRIVILEGED_ROLES),
        accounts=accounts,
    )
