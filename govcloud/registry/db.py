"""Engines and sessions for the registry, and schema migrations through Alembic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from govcloud.errors import BadInputError, UnreachableError
from govcloud.registry.audit_log import record
from govcloud.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30
# An execution option: the transactions of a session made with it only read (see `make_engine`).
READ_ONLY = "govcloud_read_only"
_QUERY_ONLY = "govcloud_query_only"  # on a pooled SQLite connection: PRAGMA query_only is on


def as_utc(at: dt.datetime) -> dt.datetime:
    """A registry time in UTC: SQLite hands back naive datetimes, and everything written is UTC."""
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def make_engine(url: str, *, pool_size: int | None = None) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and write-serialising transactions.

    On SQLite a transaction takes the write lock when it begins (BEGIN IMMEDIATE), unless its
    session was made with the execution option `READ_ONLY` (`reading_session`): then it begins
    deferred and, in WAL mode, reads a snapshot without waiting for any writer; a write in it
    fails at once (PRAGMA query_only) rather than upgrading the lock halfway.

    `pool_size` sets how many PostgreSQL connections the engine keeps (and as many again may
    open under load); servers with many threads, like the portal, raise it.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise BadInputError(
            f"GOVCLOUD_DATABASE_URL {url!r} is not a SQLAlchemy URL; use e.g. "
            "postgresql+psycopg://user@host/db or sqlite:///path/registry.sqlite3"
        ) from None
    if parsed.drivername == "postgresql":
        # psycopg 3 is the driver we ship; plain postgresql:// would look for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        if pool_size is None:
            return create_engine(parsed, pool_pre_ping=True)
        return create_engine(
            parsed, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size
        )

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide where transactions begin (SQLAlchemy docs,
        # "Serializable isolation / Savepoints / Transactional DDL" for pysqlite).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = bool(connection.get_execution_options().get(READ_ONLY))
        if connection.info.get(_QUERY_ONLY, False) != read_only:
            connection.exec_driver_sql(f"PRAGMA query_only = {'ON' if read_only else 'OFF'}")
            connection.info[_QUERY_ONLY] = read_only
        # IMMEDIATE takes the write lock up front: a read-check-write (quota check, chain append)
        # cannot interleave with another writer, and no deadlock arises on lock upgrade. A read
        # must not queue for that lock: SQLite's busy handler keeps no queue but polls, sleeping
        # up to 100 ms between tries, so under load a read behind many short writes (sign-ins)
        # waited seconds (issue 17, finding 1).
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def reading_session(sessions: sessionmaker[Session]) -> Session:
    """A session whose transactions only read, unless one begins with `begin_write`."""
    return sessions(execution_options={READ_ONLY: True})


def begin_write(session: Session) -> None:
    """Make the session's next transaction a writing one, also in a `reading_session`.

    Call it before the transaction's first query; inside a transaction it changes nothing."""
    if not session.in_transaction():
        session.connection(execution_options={READ_ONLY: False})


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest migration shipped with this version of govcloud."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")  # a packaging bug, not a user mistake
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the registry is at (None for an empty database)."""
    with _connect(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _connect(engine: Engine) -> Iterator[Any]:
    try:
        with engine.connect() as connection:
            yield connection
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise UnreachableError(
            f"cannot reach the registry at {redact(str(engine.url))}: {reason}"
        ) from None


def upgrade(engine: Engine, *, actor: str, revision: str = "head") -> tuple[str | None, str]:
    """Migrate the registry to `revision` and audit it, all in one transaction."""
    before = current_revision(engine)
    try:
        with engine.begin() as connection:
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            after = MigrationContext.configure(connection).get_current_revision()
            if after != before:
                with Session(bind=connection) as session:
                    record(
                        session,
                        actor=actor,
                        action="registry.upgrade",
                        object=f"registry:{redact(str(engine.url))}",
                        before={"revision": before},
                        after={"revision": after},
                    )
                    session.flush()
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise UnreachableError(
            f"cannot migrate the registry at {redact(str(engine.url))}: {reason}"
        ) from None
    if after is None:
        raise RuntimeError("migration left no revision")  # a bug, not a user mistake
    return before, after


def require_current(engine: Engine) -> None:
    """Raise a clear error when the registry is not migrated to this version's schema."""
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        state = "has no schema" if current is None else f"is at revision {current}"
        raise BadInputError(
            f"the registry at {redact(str(engine.url))} {state}, this govcloud needs {head}; "
            "run `govcloud db upgrade`"
        )


@contextmanager
def registry_session(url: str | None = None) -> Iterator[Session]:
    """A session on the migrated registry (`url`, else the settings' registry); the caller
    commits."""
    engine = make_engine(url or get_settings().registry_url())
    try:
        require_current(engine)
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()
