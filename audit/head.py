"""The audit chain's signed head (GB/T 22239-2019 8.1.4.3 c)): exported, signed, checked.

The SM3 chain shows an entry altered in place, but whoever can rewrite the whole table can
recompute every hash after it. An exported head (the last entry's sequence number and hash,
its time, the number of entries) signed with an Ed25519 key the county keeps away from the
registry pins the chain: a rewritten or truncated log no longer holds that head at that
sequence number with that hash, and nobody without the key can sign a new one.

The export is itself the head it signs: its `audit.head-export` entry is written first, in the
same transaction (under the chain's lock), and the file is written before that commits.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govcloud import constants
from govcloud.errors import BadInputError, GovcloudError
from govcloud.files import write_files
from govcloud.registry import audit_log
from govcloud.registry.audit_log import ACTION_HEAD_EXPORT, sm3_hex
from govcloud.registry.tables import AuditEntry

HEAD_FORMAT: Final = "govcloud-audit-head/1"
SIGNATURE_ALGORITHM: Final = "Ed25519"
PRIVATE_KEY_FILE: Final = "audit-head.key"
PUBLIC_KEY_FILE: Final = "audit-head.pub"
PRIVATE_KEY_MODE: Final = 0o600
PUBLIC_KEY_MODE: Final = 0o644
# Permission bits a private key must not have: anyone but its owner may read or write it.
OTHERS_BITS: Final = 0o077
KEY_ID_DIGITS: Final = 16  # hex digits of SM3 over the public key's PEM: names the key
HEAD_OBJECT: Final = "audit_log/head"
KEY_ENV: Final = "GOVCLOUD_AUDIT_HEAD_KEY"
PUBLIC_KEY_ENV: Final = "GOVCLOUD_AUDIT_HEAD_PUBLIC_KEY"
HASH_SHOWN: Final = 16  # hex digits of a hash shown in a message


class ChainBrokenError(GovcloudError):
    """The chain does not verify: its head is not signed, since that would vouch for it."""

    exit_code = constants.EXIT_FINDINGS


@dataclass(frozen=True)
class Head:
    """What a signed head pins: the last entry's number and hash, its time, the count."""

    seq: int
    hash: str
    at: str  # the entry's time, ISO 8601 in UTC
    count: int

    def signed_bytes(self) -> bytes:
        """The canonical JSON the signature covers."""
        text = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8")

    def time(self) -> dt.datetime:
        """When the head entry was written."""
        return dt.datetime.fromisoformat(self.at)


@dataclass(frozen=True)
class SignedHead:
    """A head with its Ed25519 signature and the id of the key that made it."""

    head: Head
    key_id: str
    signature: str  # base64

    def as_dict(self) -> dict[str, Any]:
        """The head file's content."""
        return {
            "format": HEAD_FORMAT,
            "algorithm": SIGNATURE_ALGORITHM,
            "head": asdict(self.head),
            "key_id": self.key_id,
            "signature": self.signature,
        }


@dataclass(frozen=True)
class HeadCheck:
    """A signed head checked against a public key and the live chain: what differs, if any."""

    file: str
    head: Head | None = None
    key_id: str | None = None
    signature_ok: bool = False
    contained: bool = False
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when the signature holds and the live chain still holds the head."""
        return self.signature_ok and self.contained and not self.problems

    def as_dict(self) -> dict[str, Any]:
        """For machines (`verify-log --head --json`, the catalogue's evidence)."""
        return {
            "ok": self.ok,
            "file": self.file,
            "head": asdict(self.head) if self.head else None,
            "key_id": self.key_id,
            "signature_ok": self.signature_ok,
            "contained": self.contained,
            "problems": list(self.problems),
        }


# --- keys --------------------------------------------------------------------------------------


def _public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: Ed25519PublicKey) -> str:
    """A short name for a public key: SM3 of its PEM."""
    return sm3_hex(_public_pem(key).decode("ascii"))[:KEY_ID_DIGITS]


def generate_keys(directory: Path) -> tuple[Path, Path, str]:
    """A new key pair in `directory` (private key 0600); never overwrites a key."""
    private_path = directory / PRIVATE_KEY_FILE
    public_path = directory / PUBLIC_KEY_FILE
    for path in (private_path, public_path):
        if path.exists():
            raise BadInputError(
                f"{path} exists: a key is never overwritten; choose another --out directory"
            )
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Created 0600 from the start: the key is never readable by others, not even briefly.
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_KEY_MODE)
        with os.fdopen(descriptor, "wb") as file:
            file.write(private_pem)
        public_path.write_bytes(_public_pem(key.public_key()))
        public_path.chmod(PUBLIC_KEY_MODE)
    except OSError as error:
        raise BadInputError(f"cannot write the key pair to {directory}: {error.strerror}") from None
    return private_path.resolve(), public_path.resolve(), key_id(key.public_key())


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise BadInputError(f"cannot read the {what} {path}: {error.strerror}") from None


def load_private_key(path: Path | None) -> Ed25519PrivateKey:
    """The signing key from its file (0600, PEM, Ed25519), or a message saying what to fix."""
    if path is None:
        raise BadInputError(
            f"no signing key: set {KEY_ENV} to the private key's file "
            "(`govcloud audit head keygen --out DIR` makes a pair)"
        )
    data = _read_key_file(path, "signing key")
    mode = path.stat().st_mode & 0o777
    if mode & OTHERS_BITS:
        raise BadInputError(
            f"the signing key {path} is open to others (mode {mode:04o}): run `chmod 600 {path}`"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadInputError(f"{path} is not an unencrypted Ed25519 private key in PEM")
    return key


def load_public_key(path: Path | None) -> Ed25519PublicKey:
    """The verifying key from its file (PEM, Ed25519), or a message saying what to fix."""
    if path is None:
        raise BadInputError(
            f"no public key: give --public-key FILE or set {PUBLIC_KEY_ENV} "
            f"(the {PUBLIC_KEY_FILE} that `govcloud audit head keygen` wrote)"
        )
    data = _read_key_file(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise BadInputError(f"{path} is not an Ed25519 public key in PEM")
    return key


# --- export ------------------------------------------------------------------------------------


def sign(head: Head, key: Ed25519PrivateKey) -> SignedHead:
    """The head signed with the county's key."""
    signature = base64.b64encode(key.sign(head.signed_bytes())).decode("ascii")
    return SignedHead(head, key_id(key.public_key()), signature)


def export(session: Session, *, key: Ed25519PrivateKey, out: Path, actor: str) -> SignedHead:
    """Verify the chain, record the export, write the signed head to `out`, then commit.

    A broken chain is not signed (ChainBrokenError); a file that cannot be written leaves
    nothing recorded (the transaction is not committed)."""
    chain = audit_log.verify(session)
    if not chain.ok:
        raise ChainBrokenError(
            f"the audit log is broken at entry {chain.broken_at} ({chain.kind}): "
            f"{chain.message}; its head is not signed"
        )
    entry = audit_log.record(
        session,
        actor=actor,
        action=ACTION_HEAD_EXPORT,
        object=HEAD_OBJECT,
        after={
            "file": str(out.resolve()),
            "algorithm": SIGNATURE_ALGORITHM,
            "key_id": key_id(key.public_key()),
            "count": chain.entries + 1,
        },
    )
    head = Head(
        seq=entry.seq,
        hash=entry.hash,
        at=entry.at.astimezone(dt.UTC).isoformat(),
        count=chain.entries + 1,
    )
    signed = sign(head, key)
    text = json.dumps(signed.as_dict(), ensure_ascii=False, indent=2) + "\n"
    write_files(out.parent, {out.name: text})
    session.commit()
    return signed


# --- verification ------------------------------------------------------------------------------


def read_signed(path: Path) -> SignedHead:
    """A head file, or a message saying why it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
        raise BadInputError(f"cannot read the head file {path}: {reason}") from None
    try:
        document = json.loads(text)
        if document.get("format") != HEAD_FORMAT:
            raise ValueError(f"its format is not {HEAD_FORMAT}")
        fields = document["head"]
        head = Head(
            seq=int(fields["seq"]),
            hash=str(fields["hash"]),
            at=str(fields["at"]),
            count=int(fields["count"]),
        )
        head.time()  # a time that does not parse is a malformed file, not a failed check
        return SignedHead(head, str(document["key_id"]), str(document["signature"]))
    except json.JSONDecodeError as error:
        raise BadInputError(
            f"{path}:{error.lineno}:{error.colno}: not JSON ({error.msg}); "
            "give the file `govcloud audit head export` wrote"
        ) from None
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise BadInputError(
            f"{path} is not a signed audit head ({error}); "
            "give the file `govcloud audit head export` wrote"
        ) from None


def _signature_holds(signed: SignedHead, key: Ed25519PublicKey) -> bool:
    try:
        key.verify(base64.b64decode(signed.signature, validate=True), signed.head.signed_bytes())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def _containment(session: Session, head: Head) -> list[str]:
    """What differs between the signed head and the live chain at its sequence number."""
    entry = session.get(AuditEntry, head.seq)
    if entry is None:
        last = session.execute(select(func.max(AuditEntry.seq))).scalar_one_or_none()
        return [
            f"the log has no entry {head.seq}: it ends at entry {last or 0}, so entries were "
            "removed (truncated) or the log was rewritten shorter"
        ]
    problems = []
    live = audit_log.content_hash(entry)
    if entry.hash != head.hash or live != head.hash:
        problems.append(
            f"entry {head.seq} hashes to {live[:HASH_SHOWN]}…, the signed head says "
            f"{head.hash[:HASH_SHOWN]}…: the log was rewritten at or before entry {head.seq}"
        )
    count = session.execute(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.seq <= head.seq)
    ).scalar_one()
    if count != head.count:
        problems.append(
            f"the log holds {count} entries up to entry {head.seq}, the signed head counted "
            f"{head.count}"
        )
    return problems


def check(session: Session, signed: SignedHead, key: Ed25519PublicKey, *, file: str) -> HeadCheck:
    """The signature against the public key, then the head against the live chain."""
    problems = []
    signature_ok = _signature_holds(signed, key)
    if not signature_ok:
        problems.append(
            f"the signature does not verify with public key {key_id(key)} (the file names key "
            f"{signed.key_id}): the head file was altered or signed with another key"
        )
    differences = _containment(session, signed.head)
    return HeadCheck(
        file=file,
        head=signed.head,
        key_id=signed.key_id,
        signature_ok=signature_ok,
        contained=not differences,
        problems=tuple(problems + differences),
    )


def latest_export(session: Session, public_key: Path | None) -> HeadCheck | None:
    """The newest exported head, checked (for the MLPS catalogue); None when none was exported.

    Never raises: an unreadable file or key is a problem of the check."""
    entry = session.execute(
        select(AuditEntry)
        .where(AuditEntry.action == ACTION_HEAD_EXPORT)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    if entry is None:
        return None
    file = str((entry.after or {}).get("file", ""))
    try:
        key = load_public_key(public_key)
        signed = read_signed(Path(file))
    except BadInputError as error:
        return HeadCheck(file=file, problems=(str(error),))
    return check(session, signed, key, file=file)
