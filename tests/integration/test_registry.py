"""The registry and its audit log on SQLite and on a real PostgreSQL.

Tampering is done the way an attacker with database access would: plain SQL on the tables.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from govcloud.errors import BadInputError, UnreachableError
from govcloud.registry import audit_log, db
from govcloud.registry.audit_log import Break
from govcloud.registry.tables import AuditEntry, AuditHead, Base


def append(engine: Engine, count: int, *, actor: str = "test") -> None:
    with Session(engine) as session, session.begin():
        for number in range(count):
            audit_log.record(
                session,
                actor=actor,
                action="test.change",
                object=f"thing/{number}",
                before={"n": number},
                after={"n": number + 1, "名称": "县教育局"},
            )


def verify(engine: Engine) -> audit_log.ChainReport:
    with Session(engine) as session:
        return audit_log.verify(session)


def sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement), params)


def test_upgrade_creates_the_schema_and_audits_itself(registry_url: str) -> None:
    engine = db.make_engine(registry_url)
    try:
        assert db.current_revision(engine) is None
        before, after = db.upgrade(engine, actor="test:ops")
        assert (before, after) == (None, db.head_revision())
        assert db.upgrade(engine, actor="test:ops") == (after, after)
        with Session(engine) as session:
            entries = audit_log.latest(session, limit=10)
        assert [(e.actor, e.action, e.before, e.after) for e in entries] == [
            ("test:ops", "registry.upgrade", {"revision": None}, {"revision": after})
        ]
    finally:
        engine.dispose()


def test_unmigrated_registry_is_refused_with_the_fix(registry_url: str) -> None:
    engine = db.make_engine(registry_url)
    try:
        with pytest.raises(BadInputError, match=r"has no schema.*run `govcloud db upgrade`"):
            db.require_current(engine)
    finally:
        engine.dispose()


def test_intact_chain_verifies(registry: Engine) -> None:
    append(registry, 50)
    report = verify(registry)
    assert report.ok, report.message
    assert (report.entries, report.head_seq) == (51, 51)  # 50 + the upgrade entry


def test_entries_round_trip_exactly(registry: Engine) -> None:
    append(registry, 1)
    with Session(registry) as session:
        entry = audit_log.latest(session, limit=1)[0]
    assert entry.after == {"n": 1, "名称": "县教育局"}
    assert len(entry.hash) == 64


def test_altered_entry_is_named(registry: Engine) -> None:
    append(registry, 10)
    sql(registry, "UPDATE audit_log SET actor = 'intruder' WHERE seq = 5")
    report = verify(registry)
    assert (report.broken_at, report.kind) == (5, Break.ALTERED)
    assert report.message == "entry 5 was altered: its content no longer matches its hash"


def test_altered_and_rehashed_entry_is_named(registry: Engine) -> None:
    append(registry, 10)
    with Session(registry) as session, session.begin():
        entry = session.get(AuditEntry, 5)
        assert entry is not None
        entry.after = {"n": 999}
        entry.hash = audit_log.content_hash(entry)
    report = verify(registry)
    assert (report.broken_at, report.kind) == (5, Break.ALTERED)
    assert "entry 6 does not follow entry 5" in report.message


def test_removed_entry_is_named(registry: Engine) -> None:
    append(registry, 10)
    sql(registry, "DELETE FROM audit_log WHERE seq = 4")
    report = verify(registry)
    assert (report.broken_at, report.kind) == (4, Break.REMOVED)
    assert report.message.startswith("entry 4 was removed")


def test_removed_range_is_named(registry: Engine) -> None:
    append(registry, 10)
    sql(registry, "DELETE FROM audit_log WHERE seq BETWEEN 3 AND 6")
    report = verify(registry)
    assert (report.broken_at, report.kind) == (3, Break.REMOVED)
    assert report.message.startswith("entries 3 to 6 were removed")


def test_removed_tail_is_named(registry: Engine) -> None:
    append(registry, 10)
    sql(registry, "DELETE FROM audit_log WHERE seq > 8")
    report = verify(registry)
    assert (report.broken_at, report.kind) == (9, Break.TRUNCATED)
    assert report.message == "entries 9 to 11 were removed from the end of the log"


def test_reordered_entries_are_named(registry: Engine) -> None:
    append(registry, 10)
    # Swap entries 4 and 5 by their sequence numbers, through a free number.
    sql(registry, "UPDATE audit_log SET seq = 1000 WHERE seq = 4")
    sql(registry, "UPDATE audit_log SET seq = 4 WHERE seq = 5")
    sql(registry, "UPDATE audit_log SET seq = 5 WHERE seq = 1000")
    report = verify(registry)
    assert (report.broken_at, report.kind) == (4, Break.REORDERED)
    assert report.message == (
        "entry 4 is out of order: it was written after entry 5, not after entry 3"
    )


def test_rolled_back_change_leaves_no_entry(registry: Engine) -> None:
    class BoomError(Exception):
        pass

    with pytest.raises(BoomError), Session(registry) as session, session.begin():
        audit_log.record(session, actor="test", action="test.change", object="x")
        raise BoomError
    with Session(registry) as session:
        assert audit_log.count(session) == 1
    assert verify(registry).ok


@pytest.mark.parametrize("writers", [8])
def test_concurrent_appends_never_fork_the_chain(registry: Engine, writers: int) -> None:
    per_writer = 25
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def work(number: int) -> None:
        try:
            start.wait()
            for _ in range(per_writer):
                append(registry, 1, actor=f"writer-{number}")
        except BaseException as error:  # collected and re-raised in the test thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = verify(registry)
    assert report.ok, report.message
    assert report.entries == 1 + writers * per_writer


def test_sqlite_reads_wait_for_no_writer_and_write_nothing(tmp_path: Path) -> None:
    """A reading session reads while another connection holds the write lock, refuses a
    write, and `begin_write` gives it a writing transaction again (issue 17, finding 1)."""
    path = tmp_path / "registry.sqlite3"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine, actor="test:setup")
    sessions = db.session_factory(engine)
    writer = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        with db.reading_session(sessions) as session:
            assert session.execute(select(AuditHead.seq)).scalar_one() == 1
            session.commit()
        writer.execute("ROLLBACK")
        with db.reading_session(sessions) as session:
            with pytest.raises(OperationalError, match="readonly"):
                audit_log.record(session, actor="test", action="test.change", object="x")
                session.flush()
            session.rollback()
            db.begin_write(session)
            audit_log.record(session, actor="test", action="test.change", object="x")
            session.commit()
        assert verify(engine).entries == 2
    finally:
        writer.close()
        engine.dispose()


def test_unreachable_postgres_exits_with_a_message() -> None:
    engine = db.make_engine("postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    try:
        with pytest.raises(UnreachableError) as caught:
            db.current_revision(engine)
    finally:
        engine.dispose()
    assert "cannot reach the registry at postgresql+psycopg://nobody:***@127.0.0.1:1/none" in (
        str(caught.value)
    )
    assert "secret" not in str(caught.value)


def test_bad_url_is_bad_input() -> None:
    with pytest.raises(BadInputError, match="is not a SQLAlchemy URL"):
        db.make_engine("not a url")


def test_migrations_build_exactly_the_tables_the_code_declares(registry: Engine) -> None:
    """A table or column added to tables.py without its Alembic revision fails here."""
    with registry.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], f"tables.py and the migrations differ: {differences}"
