"""The catalogue's platform items over constructed facts: Keystone's password rule, the
images county servers run, the encryption of county volumes.

Each is planted wrong on purpose (a weak regex, an image without its multihash, a volume on a
plain type where an encrypted one exists) and must fail; a part the cloud did not answer is
unchecked (人工核查), never 符合.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest
from snapshot_kit import DR, PRIMARY, SNAPSHOT, audit_facts, server, volume

from audit.catalogue import (
    MIN_PASSWORD_LENGTH,
    RULES,
    Facts,
    Verdict,
    check_image_integrity,
    check_keystone_password_policy,
    check_volumes_encrypted,
    evaluate,
    weak_passwords,
)
from cloud.controls import (
    PART_IMAGES,
    PART_KEYSTONE,
    PART_VOLUME_TYPES,
    Controls,
    Encryption,
    Image,
    PasswordRule,
    VolumeType,
)
from govcloud.loader import load_county
from govcloud.model import County
from lab.localcloud.layout import COMPLEXITY_REGEX

REPO = Path(__file__).resolve().parents[2]
SHA512 = "ab" * 64
LUKS = Encryption(
    provider="luks", cipher="aes-xts-plain64", key_size=256, control_location="front-end"
)


def image(iid: str, region: str = PRIMARY, **changes: Any) -> Image:
    fields: dict[str, Any] = {
        "name": iid,
        "status": "active",
        "visibility": "public",
        "owner": "p-other",
        "checksum": "cd" * 16,
        "hash_algo": "sha512",
        "hash_value": SHA512,
    }
    return Image(id=iid, region=region, **(fields | changes))


def vtype(name: str, region: str = PRIMARY, encryption: Encryption | None = None) -> VolumeType:
    return VolumeType(
        id=f"{region}-{name}", region=region, name=name, is_public=True, encryption=encryption
    )


def controls(
    *,
    regex: str | None = COMPLEXITY_REGEX,
    images: tuple[Image, ...] = (),
    types: tuple[VolumeType, ...] = (),
    unreadable: dict[str, str] | None = None,
) -> Controls:
    return Controls(
        cloud="test",
        regions=(PRIMARY, DR),
        taken_at=1.0,
        api_calls=0,
        images=images,
        volume_types=types,
        password_rule=PasswordRule(domain_id="default", regex=regex, description="rule"),
        unreadable=unreadable or {},
    )


@functools.cache
def county() -> County:
    return load_county(REPO / "county")


def facts(settings: Controls | None, **records: Any) -> Facts:
    snapshot = SNAPSHOT.model_copy(update={k: tuple(v) for k, v in records.items()})
    return audit_facts(county(), snapshot=snapshot, controls=settings)


# --- Keystone's password rule -----------------------------------------------------------------


def test_the_local_clouds_rule_meets_the_catalogue() -> None:
    verdict, evidence = check_keystone_password_policy(facts(controls()))
    assert verdict is Verdict.PASS, evidence
    assert evidence["accepted_weak"] == [] and evidence["accepts_a_strong_password"]
    assert "lockout_failure_attempts" in evidence["not_readable"]


@pytest.mark.parametrize(
    ("regex", "accepted"),
    [
        # Keystone's own documentation example: letters and a digit, 7 long.
        (r"^(?=.*\d)(?=.*[a-zA-Z]).{7,}$", "7 characters"),
        # Long enough, but any single class will do.
        (r"^.{8,}$", "16 characters, only lower"),
        # Three classes demanded, no length: re.match takes a prefix of any length.
        (r"(?=.*[a-z])(?=.*[A-Z])(?=.*\d)", "3 characters"),
    ],
)
def test_a_weak_regex_fails_and_names_what_it_lets_through(regex: str, accepted: str) -> None:
    verdict, evidence = check_keystone_password_policy(facts(controls(regex=regex)))
    assert verdict is Verdict.FAIL
    assert accepted in evidence["accepted_weak"], evidence["accepted_weak"]


@pytest.mark.parametrize("regex", [None, "", "^(?=.*[a-z]"])
def test_no_regex_or_one_that_does_not_compile_fails(regex: str | None) -> None:
    verdict, evidence = check_keystone_password_policy(facts(controls(regex=regex)))
    assert verdict is Verdict.FAIL
    assert "password_regex" in evidence["reason"]


def test_the_weak_samples_are_what_they_say() -> None:
    for why, sample in weak_passwords().items():
        short = len(sample) < MIN_PASSWORD_LENGTH
        classes = sum(bool(re.search(p, sample)) for p in ("[A-Z]", "[a-z]", r"\d", r"[^\w]|_"))
        assert short or classes < 3, why


# --- images -----------------------------------------------------------------------------------


def test_servers_images_with_sha512_multihash_pass_and_are_listed() -> None:
    settings = controls(images=(image("img-1"), image("img-1", DR)))
    verdict, evidence = check_image_integrity(
        facts(
            settings,
            servers=[
                server("s1", "p-alpha", "m1.small", image_id="img-1"),
                server("s2", "p-beta", "m1.small", DR, image_id="img-1"),
                server("s3", "p-elsewhere", "m1.small", image_id="img-gone"),  # not ours
            ],
        )
    )
    assert verdict is Verdict.PASS, evidence
    assert [(i["region"], i["servers"], i["os_hash_value"]) for i in evidence["images"]] == [
        (PRIMARY, ["519901-alpha/s1"], SHA512),
        (DR, ["519901-beta/s2"], SHA512),
    ]


@pytest.mark.parametrize(
    ("planted", "reason"),
    [
        (image("img-1", hash_algo=None, hash_value=None), "no sha512 multihash"),
        (image("img-1", hash_algo="md5", hash_value="cd" * 16), "no sha512 multihash"),
        (image("img-1", status="queued"), "status queued"),
        (None, "not in Glance"),
    ],
)
def test_an_image_without_multihash_inactive_or_gone_fails(
    planted: Image | None, reason: str
) -> None:
    settings = controls(images=(planted,) if planted else ())
    verdict, evidence = check_image_integrity(
        facts(settings, servers=[server("s1", "p-alpha", "m1.small", image_id="img-1")])
    )
    assert verdict is Verdict.FAIL
    [failure] = evidence["failures"]
    assert reason in failure["reason"] and failure["servers"] == ["519901-alpha/s1"]


def test_a_server_booted_from_a_volume_is_left_to_a_person() -> None:
    verdict, evidence = check_image_integrity(
        facts(controls(), servers=[server("s1", "p-alpha", "m1.small", image_id=None)])
    )
    assert verdict is Verdict.MANUAL
    assert evidence["servers_without_image"] == [f"{PRIMARY}/519901-alpha/s1"]


# --- volumes ----------------------------------------------------------------------------------


def test_a_plain_volume_where_an_encrypted_type_exists_fails() -> None:
    types = (vtype("plain"), vtype("secret", encryption=LUKS))
    plain = volume("v1", "p-alpha", 10).model_copy(update={"volume_type": "plain"})
    secret = volume("v2", "p-alpha", 10).model_copy(update={"volume_type": "secret"})
    verdict, evidence = check_volumes_encrypted(
        facts(controls(types=types), volumes=[plain, secret])
    )
    assert verdict is Verdict.FAIL
    assert evidence["failures"] == [
        {
            "volume": "519901-alpha/v1",
            "region": PRIMARY,
            "volume_type": "plain",
            "encrypted_types": ["secret"],
        }
    ]
    assert evidence["volumes_on_encrypted_types"] == [f"{PRIMARY}/519901-alpha/v2"]


def test_volumes_where_no_type_offers_encryption_are_partly_met() -> None:
    types = (vtype("__DEFAULT__"), vtype("__DEFAULT__", DR), vtype("secret", DR, LUKS))
    ours = volume("v1", "p-alpha", 10).model_copy(update={"volume_type": "__DEFAULT__"})
    verdict, evidence = check_volumes_encrypted(facts(controls(types=types), volumes=[ours]))
    assert verdict is Verdict.PARTIAL
    assert evidence["unencrypted_where_no_type_offers_encryption"] == {PRIMARY: ["519901-alpha/v1"]}
    assert "RegionOne offers no encrypted volume type" in evidence["reason"]


def test_all_volumes_on_encrypted_types_pass() -> None:
    types = (vtype("secret", encryption=LUKS),)
    ours = volume("v1", "p-alpha", 10).model_copy(update={"volume_type": "secret"})
    assert check_volumes_encrypted(facts(controls(types=types), volumes=[ours]))[0] is Verdict.PASS


# --- what was not read is never met -----------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_id", "part"),
    [
        ("keystone-password-policy", PART_KEYSTONE),
        ("image-integrity", PART_IMAGES),
        ("volumes-encrypted", PART_VOLUME_TYPES),
    ],
)
def test_an_unread_part_is_unchecked_not_met(rule_id: str, part: str) -> None:
    rule = next(r for r in RULES if r.id == rule_id)
    refused = controls(unreadable={part: "GET …: 403 Forbidden"})
    verdict, evidence = evaluate(rule, facts(refused))
    assert verdict is Verdict.MANUAL
    assert "403 Forbidden" in evidence["unchecked"]
    verdict, evidence = evaluate(rule, facts(None))
    assert verdict is Verdict.MANUAL and "not read" in evidence["unchecked"]


def test_lockout_and_expiry_are_left_to_a_person_with_what_to_collect() -> None:
    manual = {r.id: r.collect for r in RULES if r.check is None}
    assert "lockout_failure_attempts" in manual["keystone-lockout"]
    assert "password_expires_days" in manual["keystone-password-expiry"]
