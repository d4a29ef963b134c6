"""The security settings the MLPS catalogue reads beside the inventory: Glance images with
their hashes, Cinder volume types with their encryption, and Keystone's password rule.

Kept apart from `cloud.inventory`: `govcloud plan`, drift and the portal never need these, so
their snapshot (and its API call count) stays as it is; `audit check` reads both. Each part
is read on its own: a part that cannot be read is named in `unreadable` with the error, never
left empty as if there were nothing to find.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

from openstack import exceptions as sdk_exceptions
from openstack.connection import Connection

from cloud.inventory import READ_ERRORS, Record, api_calls, connect

PART_IMAGES: Final = "images"
PART_VOLUME_TYPES: Final = "volume_types"
PART_KEYSTONE: Final = "keystone_password_rule"
# Keystone answers its [security_compliance] settings for the default domain only (any other
# domain is refused with InvalidDomainConfig), and of them only password_regex and
# password_regex_description: lockout and expiry settings are refused by name.
COMPLIANCE_DOMAIN: Final = "default"
COMPLIANCE_PATH: Final = f"/domains/{COMPLIANCE_DOMAIN}/config/security_compliance"
SOURCES: Final = {
    PART_IMAGES: "GET image/v2/images",
    PART_VOLUME_TYPES: "GET volumev3/types?is_public=None, GET volumev3/types/{id}/encryption",
    PART_KEYSTONE: f"GET identity/v3{COMPLIANCE_PATH}",
}


class Image(Record):
    """A Glance image as one region sees it, with the hashes Glance recorded at upload."""

    id: str
    region: str
    name: str
    status: str
    visibility: str | None
    owner: str | None
    checksum: str | None  # MD5, kept by Glance for old clients
    hash_algo: str | None  # os_hash_algo: the multihash's algorithm (sha512 by default)
    hash_value: str | None  # os_hash_value


class Encryption(Record):
    """A volume type's encryption spec (`GET /types/{id}/encryption`)."""

    provider: str
    cipher: str | None
    key_size: int | None
    control_location: str | None


class VolumeType(Record):
    """A Cinder volume type in one region, with its encryption (None: not encrypted)."""

    id: str
    region: str
    name: str
    is_public: bool
    encryption: Encryption | None


class PasswordRule(Record):
    """What Keystone answers of its [security_compliance] group: the password regex."""

    domain_id: str
    regex: str | None
    description: str | None


class Controls(Record):
    """The settings read at one moment; `unreadable` names each part that could not be."""

    cloud: str
    regions: tuple[str, ...]
    taken_at: float
    api_calls: int
    images: tuple[Image, ...]
    volume_types: tuple[VolumeType, ...]
    password_rule: PasswordRule | None
    unreadable: dict[str, str]


def read(
    cloud: str,
    regions: Iterable[str],
    *,
    config_file: str | None = None,
    image_ids: Mapping[str, Iterable[str]] | None = None,
) -> Controls:
    """Read the images, volume types and password rule of `regions`.

    `image_ids` are, per region, images the caller needs (the servers' images): any the
    listing does not show is fetched by ID, so an image hidden from the listing is still
    judged; one that no longer exists is simply absent."""
    region_names = tuple(regions)
    wanted = image_ids or {}
    unreadable: dict[str, str] = {}
    images: list[Image] = []
    volume_types: list[VolumeType] = []
    identity = connect(cloud, config_file=config_file)
    connections = [identity]
    password_rule = _part(unreadable, PART_KEYSTONE, "", lambda: _password_rule(identity))
    for region in region_names:
        conn = connect(cloud, region, config_file)
        connections.append(conn)
        images += (
            _part(unreadable, PART_IMAGES, region, lambda c=conn, r=region: _images(c, r, wanted))
            or []
        )
        volume_types += (
            _part(
                unreadable, PART_VOLUME_TYPES, region, lambda c=conn, r=region: _volume_types(c, r)
            )
            or []
        )
    return Controls(
        cloud=cloud,
        regions=region_names,
        taken_at=time.time(),
        api_calls=api_calls(connections),
        images=tuple(sorted(images, key=lambda i: (i.region, i.name, i.id))),
        volume_types=tuple(sorted(volume_types, key=lambda t: (t.region, t.name, t.id))),
        password_rule=password_rule,
        unreadable=unreadable,
    )


def _part(unreadable: dict[str, str], part: str, region: str, reader: Any) -> Any:
    """One part's reading; an error is recorded under the part (with its region), not raised."""
    try:
        return reader()
    except READ_ERRORS as error:
        where = f" in {region}" if region else ""
        reason = f"{SOURCES[part]}{where}: {error}"
        unreadable[part] = f"{unreadable[part]}; {reason}" if part in unreadable else reason
        return None


def _get_json(proxy: Any, path: str) -> Any:
    response = proxy.get(path)
    sdk_exceptions.raise_from_response(response)
    return response.json() if response.content else {}


def _password_rule(conn: Connection) -> PasswordRule:
    body = _get_json(conn.identity, COMPLIANCE_PATH)
    values = body.get("config", body)
    values = values.get("security_compliance", values)
    return PasswordRule(
        domain_id=COMPLIANCE_DOMAIN,
        regex=values.get("password_regex") or None,
        description=values.get("password_regex_description") or None,
    )


def _image(image: Any, region: str) -> Image:
    return Image(
        id=image.id,
        region=region,
        name=image.name or "",
        status=image.status or "",
        visibility=image.visibility,
        owner=image.owner,
        checksum=image.checksum,
        hash_algo=image.hash_algo,
        hash_value=image.hash_value,
    )


def _images(conn: Connection, region: str, wanted: Mapping[str, Iterable[str]]) -> list[Image]:
    found = {i.id: _image(i, region) for i in conn.image.images()}
    for image_id in sorted(set(wanted.get(region, ())) - found.keys()):
        try:
            found[image_id] = _image(conn.image.get_image(image_id), region)
        except sdk_exceptions.NotFoundException:
            continue  # deleted since the server was built: the check reports it missing
    return list(found.values())


def _volume_types(conn: Connection, region: str) -> list[VolumeType]:
    # Cinder lists public types only unless an admin asks for all with the string "None".
    listed = _get_json(conn.block_storage, "/types?is_public=None").get("volume_types", [])
    types = []
    for item in listed:
        spec = _get_json(conn.block_storage, f"/types/{item['id']}/encryption")
        spec = spec.get("encryption", spec)  # Cinder answers the spec bare, {} when none
        types.append(
            VolumeType(
                id=item["id"],
                region=region,
                name=item["name"],
                is_public=bool(item.get("os-volume-type-access:is_public", True)),
                encryption=Encryption(
                    provider=spec["provider"],
                    cipher=spec.get("cipher"),
                    key_size=spec.get("key_size"),
                    control_location=spec.get("control_location"),
                )
                if spec.get("provider")
                else None,
            )
        )
    return types
