"""The signed chain head without a registry: keys, signatures, head files, the MLPS rule.

Bad input names the file and what to do; the catalogue's rule fails when no head was
exported, when it does not verify, and when it is older than the configured age.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from snapshot_kit import facts as county_facts

from audit import head
from audit.catalogue import Facts, Verdict, check_head_exported
from govcloud.errors import BadInputError
from govcloud.loader import load_county
from govcloud.registry.audit_log import ChainReport

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2027, 3, 31, 12, tzinfo=dt.UTC)
HEAD = head.Head(seq=7, hash="ab" * 32, at="2027-03-31T10:00:00+00:00", count=7)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public, _ = head.generate_keys(tmp_path / "keys")
    return private, public


def test_keygen_writes_a_private_key_only_its_owner_reads(keys: tuple[Path, Path]) -> None:
    private, public = keys
    assert stat.S_IMODE(private.stat().st_mode) == head.PRIVATE_KEY_MODE
    signing = head.load_private_key(private)
    assert head.key_id(signing.public_key()) == head.key_id(head.load_public_key(public))


def test_keygen_never_overwrites_a_key(keys: tuple[Path, Path]) -> None:
    private, _ = keys
    before = private.read_bytes()
    with pytest.raises(BadInputError, match="never overwritten"):
        head.generate_keys(private.parent)
    assert private.read_bytes() == before


def test_a_signed_head_verifies_and_any_change_to_it_does_not(keys: tuple[Path, Path]) -> None:
    private, public = keys
    signed = head.sign(HEAD, head.load_private_key(private))
    verifying = head.load_public_key(public)
    assert head._signature_holds(signed, verifying)
    for changed in (
        dataclasses.replace(HEAD, seq=8),
        dataclasses.replace(HEAD, hash="cd" * 32),
        dataclasses.replace(HEAD, count=6),
        dataclasses.replace(HEAD, at="2027-03-31T11:00:00+00:00"),
    ):
        assert not head._signature_holds(dataclasses.replace(signed, head=changed), verifying)


def test_another_keys_signature_does_not_verify(keys: tuple[Path, Path], tmp_path: Path) -> None:
    private, _ = keys
    _, other_public, _ = head.generate_keys(tmp_path / "other")
    signed = head.sign(HEAD, head.load_private_key(private))
    assert not head._signature_holds(signed, head.load_public_key(other_public))


def test_missing_signing_key_says_which_setting(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=head.KEY_ENV):
        head.load_private_key(None)
    with pytest.raises(BadInputError, match=r"cannot read the signing key .*nokey"):
        head.load_private_key(tmp_path / "nokey")


def test_signing_key_open_to_others_is_refused(keys: tuple[Path, Path]) -> None:
    private, _ = keys
    private.chmod(0o644)
    with pytest.raises(BadInputError, match="chmod 600"):
        head.load_private_key(private)


def test_a_file_that_is_no_key_is_refused(keys: tuple[Path, Path]) -> None:
    private, _ = keys
    bogus = private.with_name("bogus.key")
    bogus.write_text("not a key\n")
    bogus.chmod(0o600)
    with pytest.raises(BadInputError, match="not an unencrypted Ed25519 private key"):
        head.load_private_key(bogus)
    with pytest.raises(BadInputError, match="not an Ed25519 public key"):
        head.load_public_key(private)  # the private key given where the public one belongs
    with pytest.raises(BadInputError, match="--public-key"):
        head.load_public_key(None)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"head\.json:1:2: not JSON"),
        ('{"format": "something-else/1"}', "its format is not govcloud-audit-head/1"),
        ('{"format": "govcloud-audit-head/1", "head": {"seq": 1}}', "not a signed audit head"),
        ("[1, 2]", "not a signed audit head"),
    ],
)
def test_malformed_head_files_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "head.json"
    path.write_text(content)
    with pytest.raises(BadInputError, match=message):
        head.read_signed(path)


def test_unreadable_head_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="cannot read the head file"):
        head.read_signed(tmp_path / "absent.json")


def test_head_file_round_trips(keys: tuple[Path, Path], tmp_path: Path) -> None:
    signed = head.sign(HEAD, head.load_private_key(keys[0]))
    path = tmp_path / "head.json"
    path.write_text(json.dumps(signed.as_dict()))
    assert head.read_signed(path) == signed


# --- the MLPS rule ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def facts() -> Facts:
    return county_facts(
        load_county(REPO / "county"), chain=ChainReport(entries=7, head_seq=7), now=NOW
    )


VERIFIED = head.HeadCheck(
    file="/backup/head.json",
    head=HEAD,
    key_id="0123456789abcdef",
    signature_ok=True,
    contained=True,
)


def checked(**changes: object) -> head.HeadCheck:
    return dataclasses.replace(VERIFIED, **changes)  # type: ignore[arg-type]


def test_rule_fails_when_no_head_was_exported(facts: Facts) -> None:
    verdict, evidence = check_head_exported(facts)
    assert verdict is Verdict.FAIL
    assert "was ever exported" in evidence["reason"]


def test_rule_passes_on_a_recent_head_that_verifies(facts: Facts) -> None:
    verdict, evidence = check_head_exported(dataclasses.replace(facts, head=checked()))
    assert verdict is Verdict.PASS
    assert evidence["age_days"] == pytest.approx(2 / 24, abs=0.01)
    assert evidence["head"]["seq"] == 7


def test_rule_fails_on_a_head_older_than_the_configured_age(facts: Facts) -> None:
    old = checked(head=dataclasses.replace(HEAD, at="2027-03-29T12:00:00+00:00"))
    verdict, evidence = check_head_exported(dataclasses.replace(facts, head=old))
    assert verdict is Verdict.FAIL
    assert evidence["age_days"] == 2.0 and "more than 1" in evidence["reason"]
    relaxed = dataclasses.replace(facts, head=old, head_max_age_days=3)
    assert check_head_exported(relaxed)[0] is Verdict.PASS


def test_rule_fails_when_the_head_does_not_verify(facts: Facts) -> None:
    rewritten = checked(contained=False, problems=("entry 7 hashes to …: the log was rewritten",))
    verdict, evidence = check_head_exported(dataclasses.replace(facts, head=rewritten))
    assert verdict is Verdict.FAIL
    assert evidence["problems"] == ["entry 7 hashes to …: the log was rewritten"]
    forged = checked(signature_ok=False)
    assert check_head_exported(dataclasses.replace(facts, head=forged))[0] is Verdict.FAIL
