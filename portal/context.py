"""What every request handler of one portal process shares: county, database, settings."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from govcloud.model import County, SiteRole
from portal.accounts import Limits

if TYPE_CHECKING:  # the live-state reader imports openstacksdk: seconds, for every worker
    from cloud.inventory import Snapshot

SnapshotSource = Callable[[], "Snapshot | None"]


class CachedSnapshot:
    """A live-cloud reading reused for `ttl` seconds (a full read takes seconds)."""

    def __init__(self, read: Callable[[], Snapshot], ttl: float) -> None:
        self._read = read
        self._ttl = ttl
        self._lock = threading.Lock()
        self._taken = 0.0
        self._snapshot: Snapshot | None = None

    def __call__(self) -> Snapshot | None:
        with self._lock:
            if self._snapshot is None or time.monotonic() - self._taken > self._ttl:
                self._snapshot = self._read()
                self._taken = time.monotonic()
            return self._snapshot


def _no_snapshot() -> Snapshot | None:
    return None


@dataclass
class PortalContext:
    """The county model, the registry and the settings one portal process works with."""

    county: County
    engine: Engine
    sessions: sessionmaker[Session]
    limits: Limits = field(default_factory=Limits)
    secure_cookies: bool = False
    snapshot: SnapshotSource = _no_snapshot

    @property
    def primary_region(self) -> str:
        """The region whose usage counts against department quotas."""
        return self.county.site(SiteRole.PRIMARY).region
