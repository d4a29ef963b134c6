"""The signed chain head against a real registry, on SQLite and on a real PostgreSQL.

Tampering is done as an attacker with database access would, who can recompute every SM3
hash but holds no signing key: the rewritten chain verifies on its own, the signed head does
not. Then the same through the `govcloud` command, exit codes and messages included.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from clirunner import govcloud
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from audit import head, runs
from audit.catalogue import Verdict
from audit.findings import DriftReport
from govcloud.loader import load_county
from govcloud.registry import audit_log
from govcloud.registry.audit_log import ACTION_HEAD_EXPORT
from govcloud.registry.tables import AuditEntry, AuditHead
from portal.policy import portal_policy

ACTOR = "ops:zhang"
SAMPLE_COUNTY = Path(__file__).resolve().parents[2] / "county"


def append(engine: Engine, count: int) -> None:
    with Session(engine) as session, session.begin():
        for number in range(count):
            audit_log.record(session, actor="test", action="test.change", object=f"thing/{number}")


def sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement), params)


def rechain(engine: Engine) -> None:
    """What an attacker who rewrote entries does next: recompute every hash and the head."""
    with Session(engine) as session, session.begin():
        previous = audit_log.constants.AUDIT_GENESIS_HASH
        entries = list(session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())
        for entry in entries:
            entry.prev_hash = previous
            entry.hash = audit_log.content_hash(entry)
            previous = entry.hash
            session.flush()
        row = session.get(AuditHead, audit_log.HEAD_ROW_ID)
        assert row is not None
        row.seq, row.hash = entries[-1].seq, previous


@pytest.fixture
def signing(tmp_path: Path) -> tuple[Ed25519PrivateKey, Path]:
    private, public, _ = head.generate_keys(tmp_path / "keys")
    return head.load_private_key(private), public


def export(engine: Engine, key: Ed25519PrivateKey, out: Path) -> head.SignedHead:
    with Session(engine, expire_on_commit=False) as session:
        return head.export(session, key=key, out=out, actor=ACTOR)


def check(engine: Engine, out: Path, public: Path) -> head.HeadCheck:
    with Session(engine) as session:
        return head.check(
            session, head.read_signed(out), head.load_public_key(public), file=str(out)
        )


def test_export_signs_its_own_entry_and_the_live_chain_holds_it(
    registry: Engine, signing: tuple[Ed25519PrivateKey, Path], tmp_path: Path
) -> None:
    append(registry, 4)
    key, public = signing
    out = tmp_path / "heads" / "head.json"
    signed = export(registry, key, out)
    with Session(registry) as session:
        last = audit_log.latest(session, limit=1)[0]
        assert audit_log.verify(session).ok
    assert (last.seq, last.hash, last.action) == (6, signed.head.hash, ACTION_HEAD_EXPORT)
    assert signed.head.count == 6 and last.after["file"] == str(out.resolve())
    assert head.read_signed(out) == signed
    result = check(registry, out, public)
    assert result.ok, result.problems
    append(registry, 2)  # later entries leave an earlier head in place
    assert check(registry, out, public).ok


def test_a_rewritten_and_rehashed_log_no_longer_holds_the_head(
    registry: Engine, signing: tuple[Ed25519PrivateKey, Path], tmp_path: Path
) -> None:
    append(registry, 4)
    key, public = signing
    out = tmp_path / "head.json"
    signed = export(registry, key, out)
    sql(registry, "UPDATE audit_log SET actor = 'intruder' WHERE seq = 3")
    rechain(registry)
    with Session(registry) as session:
        assert audit_log.verify(session).ok  # the chain alone cannot tell
    with Session(registry) as session:
        rewritten = session.get(AuditEntry, signed.head.seq)
        assert rewritten is not None
    result = check(registry, out, public)
    assert result.signature_ok and not result.contained and not result.ok
    assert result.problems == (
        f"entry 6 hashes to {rewritten.hash[:16]}…, the signed head says "
        f"{signed.head.hash[:16]}…: the log was rewritten at or before entry 6",
    )


def test_a_truncated_log_no_longer_holds_the_head(
    registry: Engine, signing: tuple[Ed25519PrivateKey, Path], tmp_path: Path
) -> None:
    append(registry, 4)
    key, public = signing
    out = tmp_path / "head.json"
    export(registry, key, out)
    sql(registry, "DELETE FROM audit_log WHERE seq > 4")
    rechain(registry)
    result = check(registry, out, public)
    assert not result.ok
    assert result.problems == (
        "the log has no entry 6: it ends at entry 4, so entries were removed (truncated) "
        "or the log was rewritten shorter",
    )


def test_an_altered_head_file_or_another_key_fails_the_signature(
    registry: Engine, signing: tuple[Ed25519PrivateKey, Path], tmp_path: Path
) -> None:
    append(registry, 2)
    key, public = signing
    out = tmp_path / "head.json"
    export(registry, key, out)
    _, other, _ = head.generate_keys(tmp_path / "other")
    wrong_key = check(registry, out, other)
    assert not wrong_key.signature_ok and wrong_key.contained
    assert "does not verify with public key" in wrong_key.problems[0]
    document = json.loads(out.read_text())
    document["head"]["count"] = 99
    out.write_text(json.dumps(document))
    altered = check(registry, out, public)
    assert not altered.signature_ok
    assert "the log holds 4 entries up to entry 4, the signed head counted 99" in (altered.problems)


def test_a_broken_chain_is_not_signed_and_nothing_is_recorded(
    registry: Engine, signing: tuple[Ed25519PrivateKey, Path], tmp_path: Path
) -> None:
    append(registry, 3)
    sql(registry, "UPDATE audit_log SET actor = 'intruder' WHERE seq = 2")
    out = tmp_path / "head.json"
    with pytest.raises(head.ChainBrokenError, match="broken at entry 2"):
        export(registry, signing[0], out)
    assert not out.exists()
    with Session(registry) as session:
        assert audit_log.count(session) == 4


def test_an_unwritable_file_records_no_export(
    registry: Engine, signing: tuple[Ed25519PrivateKey, Path], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(head.BadInputError, match="cannot write"):
        export(registry, signing[0], blocker / "head.json")
    with Session(registry) as session:
        assert audit_log.count(session) == 1 and audit_log.verify(session).ok


def test_latest_export_for_the_catalogue(
    registry: Engine, signing: tuple[Ed25519PrivateKey, Path], tmp_path: Path
) -> None:
    key, public = signing
    with Session(registry) as session:
        assert head.latest_export(session, public) is None
    out = tmp_path / "head.json"
    export(registry, key, out)
    with Session(registry) as session:
        assert head.latest_export(session, public).ok  # type: ignore[union-attr]
        unset = head.latest_export(session, None)
        assert unset is not None and not unset.ok and "--public-key" in unset.problems[0]
    out.unlink()
    with Session(registry) as session:
        gone = head.latest_export(session, public)
        assert gone is not None and "cannot read the head file" in gone.problems[0]


# --- through the command line --------------------------------------------------------------------


def test_head_commands_through_the_cli(registry_url: str, tmp_path: Path) -> None:
    env = {"GOVCLOUD_DATABASE_URL": registry_url, "GOVCLOUD_ACTOR": ACTOR}
    assert govcloud("db", "upgrade", cwd=tmp_path, env=env).returncode == 0

    no_key = govcloud("audit", "head", "export", "--out", "head.json", cwd=tmp_path, env=env)
    assert no_key.returncode == 2 and "GOVCLOUD_AUDIT_HEAD_KEY" in no_key.stderr

    made = govcloud("audit", "head", "keygen", "--out", "keys", "--json", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    keys = json.loads(made.stdout)
    assert stat.S_IMODE(Path(keys["private_key"]).stat().st_mode) == 0o600
    again = govcloud("audit", "head", "keygen", "--out", "keys", cwd=tmp_path, env=env)
    assert again.returncode == 2 and "never overwritten" in again.stderr

    env |= {"GOVCLOUD_AUDIT_HEAD_KEY": keys["private_key"]}
    exported = govcloud("audit", "head", "export", "--out", "head.json", cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    assert keys["key_id"] in exported.stdout and "head entry 2" in exported.stdout

    verify = ("audit", "verify-log", "--head", "head.json", "--public-key", keys["public_key"])
    intact = govcloud(*verify, "--json", cwd=tmp_path, env=env)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    document = json.loads(intact.stdout)
    assert document["ok"] and document["head"]["head"]["seq"] == 2
    log = json.loads(govcloud("audit", "log", "--json", cwd=tmp_path, env=env).stdout)
    assert (log[0]["action"], log[0]["actor"]) == (ACTION_HEAD_EXPORT, ACTOR)

    no_public = govcloud("audit", "verify-log", "--head", "head.json", cwd=tmp_path, env=env)
    assert no_public.returncode == 2 and "--public-key" in no_public.stderr
    missing = govcloud("audit", "verify-log", "--head", "absent.json", cwd=tmp_path, env=env)
    assert missing.returncode == 2 and "cannot read the head file" in missing.stderr

    from govcloud.registry import db  # noqa: PLC0415  (the tampering side)

    engine = db.make_engine(registry_url)
    try:
        sql(engine, "DELETE FROM audit_log WHERE seq = 2")
        rechain(engine)
    finally:
        engine.dispose()
    truncated = govcloud(*verify, cwd=tmp_path, env=env)
    assert truncated.returncode == 1
    shown = " ".join(truncated.stdout.split())  # as printed, wrapped to the terminal
    assert "audit log intact: 1 entry" in shown
    assert "the log has no entry 2: it ends at entry 1" in shown


def test_the_catalogue_item_reads_the_newest_export(
    registry_url: str,
    registry: Engine,
    signing: tuple[Ed25519PrivateKey, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`audit check`'s run with the cloud unread: the registry's items are still evaluated,
    the signed head's among them, and the run is exit 3 (nothing is called clean)."""
    monkeypatch.setenv("GOVCLOUD_DATABASE_URL", registry_url)
    monkeypatch.setenv("GOVCLOUD_AUDIT_HEAD_PUBLIC_KEY", str(signing[1]))
    county = load_county(SAMPLE_COUNTY)
    unread = DriftReport(unreachable=True, unchecked=[{"part": "cloud", "reason": "refused"}])
    run = runs.DriftRun(county, "dead", ["primary", "dr"], unread, None, ())

    def item(document: dict[str, Any]) -> dict[str, Any]:
        return next(i for i in document["items"] if i["id"] == "audit-head-exported")

    document, code = runs.check(run, actor=ACTOR, portal=portal_policy)
    assert code == 3 and item(document)["verdict"] == Verdict.FAIL.value
    export(registry, signing[0], tmp_path / "head.json")
    document, code = runs.check(run, actor=ACTOR, portal=portal_policy)
    assert item(document)["verdict"] == Verdict.PASS.value, item(document)["evidence"]
    assert item(document)["clause"] == "8.1.4.3 c)" and item(document)["test_item"] == "L3-CES1-14"
    sql(registry, "UPDATE audit_log SET actor = 'intruder' WHERE seq = 1")
    rechain(registry)  # entry 3 is the export
    document, _ = runs.check(run, actor=ACTOR, portal=portal_policy)
    assert item(document)["verdict"] == Verdict.FAIL.value
    assert "the log was rewritten at or before entry 3" in item(document)["evidence"]["problems"][0]
    sql(registry, "DELETE FROM audit_log WHERE seq > 2")  # the export's own entry goes too
    rechain(registry)
    document, _ = runs.check(run, actor=ACTOR, portal=portal_policy)
    assert item(document)["verdict"] == Verdict.FAIL.value
    assert "was ever exported" in item(document)["evidence"]["reason"]
