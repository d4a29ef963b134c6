"""What every request handler of one portal process shares: county, database, settings, and
the live cloud it reads."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from govcloud.errors import UnreachableError
from govcloud.model import County, SiteRole
from portal.accounts import DEFAULT_TOKEN_DAYS, Limits
from portal.hardening import DEFAULT_MAX_BODY_BYTES
from portal.lifecycle import Role

# The live-state reader imports openstacksdk: seconds, for every worker.
if TYPE_CHECKING:
    from cloud.capacity import Capacity
    from cloud.inventory import Snapshot
    from portal.directory import Directory
    from portal.oidc import Provider

T = TypeVar("T")


class CachedReading(Generic[T]):
    """A reading of the live cloud, reused for `ttl` seconds (a full read takes seconds).

    Calling it gives the cached reading (read when there is none or it is older than the TTL);
    `fresh()` reads now, for checks that must not act on an old reading, and keeps the result
    for the callers after it.
    """

    def __init__(self, read: Callable[[], T], ttl: float) -> None:
        self._read = read
        self._ttl = ttl
        self._lock = threading.Lock()
        self._taken = 0.0
        self._value: T | None = None

    def __call__(self) -> T:
        with self._lock:
            if self._value is None or time.monotonic() - self._taken > self._ttl:
                self._store(self._read())
            assert self._value is not None  # noqa: S101  (stored just above)
            return self._value

    def fresh(self) -> T:
        """A reading taken now."""
        with self._lock:
            self._store(self._read())
            assert self._value is not None  # noqa: S101  (stored just above)
            return self._value

    def _store(self, value: T) -> None:
        self._value = value
        self._taken = time.monotonic()


class LiveCloud:
    """The cloud the portal reads: its clouds.yaml name, and cached readings of its resources
    (the snapshot the stacks' tags are found in) and of its capacity (Placement)."""

    def __init__(
        self,
        name: str,
        *,
        snapshot: Callable[[], Snapshot],
        capacity: Callable[[], Capacity],
        ttl: float,
    ) -> None:
        self.name = name
        self.snapshot = CachedReading(snapshot, ttl)
        self.capacity = CachedReading(capacity, ttl)


@dataclass
class PortalContext:
    """The county model, the registry, the settings and the cloud one portal process uses."""

    county: County
    engine: Engine
    sessions: sessionmaker[Session]
    limits: Limits = field(default_factory=Limits)
    secure_cookies: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # The county's break-glass role: may also approve and reject, always marked in the audit.
    break_glass_role: Role | None = None
    token_days: float = DEFAULT_TOKEN_DAYS
    # Signs the sign-in form's CSRF token; from the state directory when served.
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    # The county's directory (LDAP) for accounts not kept here; None: local accounts only.
    directory: Directory | None = None
    # The county's OpenID provider; None: no "sign in with the identity provider".
    oidc: Provider | None = None
    cloud: LiveCloud | None = None

    @property
    def primary_region(self) -> str:
        """The region whose usage counts against department quotas."""
        return self.county.site(SiteRole.PRIMARY).region

    @property
    def regions(self) -> list[str]:
        """The county's regions, primary first."""
        primary = self.primary_region
        return [primary, *sorted({s.region for s in self.county.sites} - {primary})]

    def live(self) -> LiveReading:
        """The cached reading of the live cloud (empty when the portal reads no cloud, or the
        cloud does not answer: then with the reason). Read it before opening a registry
        transaction: a reading can take seconds, and on SQLite every writing transaction
        holds the write lock."""
        if self.cloud is None:
            return LiveReading(None, None, None)
        try:
            return LiveReading(self.cloud.name, self.cloud.snapshot(), None)
        except UnreachableError as error:
            return LiveReading(self.cloud.name, None, str(error))


@dataclass(frozen=True)
class LiveReading:
    """A reading of the live cloud for a page or an API answer."""

    cloud: str | None  # which cloud (None: the portal reads none)
    snapshot: Snapshot | None
    error: str | None  # why there is no snapshot, when the cloud did not answer
