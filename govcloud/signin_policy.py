"""The portal's sign-in policy and accounts as the audit reads them.

Defined here, below both: the portal fills it in (`portal.policy`), the MLPS catalogue checks it
(`audit.catalogue`), and neither imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PortalPolicy:
    """The portal's sign-in policy and accounts, as the audit reads them."""

    min_password_length: int
    password_max_age_days: float
    max_failures_per_account: int
    idle_minutes: float
    session_hours: float
    secure_cookies: bool
    password_history: int
    token_days: float
    second_factor_roles: frozenset[str]
    accounts: tuple[Mapping[str, Any], ...]  # name, role, active, totp
