"""Where the lab puts the plan's prefixes: everything live lives in 198.18.0.0/15 and 2001:db8::/32.

The lab sends packets only between its own namespaces and only to the benchmark range
198.18.0.0/15 (RFC 2544), the documentation prefix 2001:db8::/32 (RFC 3849) and, for the
management network, a unique local prefix (RFC 4193). The plan's prefixes are mapped there:

- Extranet pools that already lie in 198.18.0.0/15 (as the sample county's do) keep their
  addresses; other pools are moved, whole and aligned, into free space of the range, and every
  address in them keeps its offset.
- Legacy department LANs are planning data, often RFC 1918. The union of the chosen
  departments' legacy prefixes is cut into its largest aligned blocks, and each block is placed
  in free space of the range, largest first, keeping offsets. Prefixes that overlap in the data
  overlap in the lab (two departments on 192.168.0.0/24 share one lab /24), so the merge
  meets the same collisions it meets in the county.
- The county's IPv6 prefix keeps its place when it lies in 2001:db8::/32; otherwise its first
  address moves to 2001:db8:: and every address keeps its offset.
- 198.19.252.0/22 is the lab's own: 198.19.252.0/24 the DR site's segment, 198.19.253.0/24 the
  cloud segment, 198.19.254.0/23 the management network (with a /64 per lab
  from fd00:ff::/48).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import netaddr

from govcloud.errors import BadInputError
from govcloud.model import County
from network.ipam import FreeSpace, SpaceExhaustedError
from network.prefixes import Prefix, format_address, parse

LAB_IPV4: Final = parse("198.18.0.0/15")  # RFC 2544 benchmark range
LAB_IPV6: Final = parse("2001:db8::/32")  # RFC 3849 documentation prefix
LAB_INFRASTRUCTURE: Final = parse("198.19.252.0/22")
DR_SEGMENT_IPV4: Final = parse("198.19.252.0/24")  # the DR region's gateway and the core
CLOUD_SEGMENT_IPV4: Final = parse("198.19.253.0/24")
MANAGEMENT_IPV4: Final = parse("198.19.254.0/23")
MANAGEMENT_IPV6: Final = parse("fd00:ff::/48")  # RFC 4193 unique local; a /64 per lab


@dataclass(frozen=True, slots=True)
class Translation:
    """`source` (plan or data) appears in the lab as `target`, same length, same offsets."""

    source: Prefix
    target: Prefix
    kind: str  # "pool", "legacy" or "ipv6"

    def address(self, value: int) -> int:
        """Translate one address inside `source`."""
        return self.target.first + (value - self.source.first)


@dataclass(frozen=True)
class AddressMap:
    """How plan and legacy prefixes map into the lab's ranges."""

    translations: tuple[Translation, ...]

    def _find(self, kinds: tuple[str, ...], prefix: Prefix) -> Translation:
        for translation in self.translations:
            if translation.kind in kinds and translation.source.contains(prefix):
                return translation
        raise KeyError(f"{prefix} is outside every mapped {'/'.join(kinds)} block")

    def _map(self, kinds: tuple[str, ...], text: str) -> str:
        """Map a prefix or an interface address ('198.18.4.1/25') of these kinds."""
        address, _, length = text.partition("/")
        family = 6 if ":" in address else 4
        bits = 128 if family == 6 else 32
        point = parse(f"{address}/{bits}")
        translation = self._find(kinds, point)
        mapped = format_address(family, translation.address(point.first))
        return f"{mapped}/{length}" if length else mapped

    def extranet(self, text: str) -> str:
        """A plan address or prefix (IPv4 pools or the county's IPv6 prefix) in the lab."""
        return self._map(("pool", "ipv6"), text)

    def legacy(self, text: str) -> str:
        """A legacy LAN address or prefix in the lab."""
        return self._map(("legacy",), text)

    def as_rows(self) -> list[dict[str, str]]:
        """The translations, for state files and docs."""
        return [
            {"kind": t.kind, "source": str(t.source), "target": str(t.target)}
            for t in self.translations
        ]


def legacy_blocks(prefixes: list[str]) -> list[Prefix]:
    """The largest aligned blocks that cover the union of the legacy prefixes."""
    union = netaddr.IPSet(prefixes)
    return sorted((parse(str(cidr)) for cidr in union.iter_cidrs()), key=lambda p: (p.length, p))


def build_address_map(county: County, legacy_prefixes: list[str]) -> AddressMap:
    """Map the county's pools, IPv6 prefix and the given legacy prefixes into the lab."""
    free = FreeSpace(LAB_IPV4)
    free.take(LAB_INFRASTRUCTURE)
    translations: list[Translation] = []
    pools = [parse(p) for p in county.extranet.ipv4_pools]
    moved: list[Prefix] = []
    for pool in pools:
        if LAB_IPV4.contains(pool) and free.is_free(pool):
            free.take(pool)
            translations.append(Translation(pool, pool, "pool"))
        else:
            moved.append(pool)
    for pool in sorted(moved, key=lambda p: (p.length, p)):
        translations.append(Translation(pool, _place(free, pool, "extranet pool"), "pool"))
    for block in legacy_blocks(legacy_prefixes):
        translations.append(Translation(block, _place(free, block, "legacy block"), "legacy"))
    county6 = parse(county.extranet.ipv6_prefix)
    if LAB_IPV6.contains(county6):
        translations.append(Translation(county6, county6, "ipv6"))
    elif county6.length >= LAB_IPV6.length:
        translations.append(Translation(county6, Prefix(6, LAB_IPV6.first, county6.length), "ipv6"))
    else:
        raise BadInputError(
            f"the county's IPv6 prefix {county6} is shorter than the lab's {LAB_IPV6}: "
            "the lab cannot hold it; give the county a /32 or longer"
        )
    return AddressMap(tuple(translations))


def _place(free: FreeSpace, block: Prefix, what: str) -> Prefix:
    try:
        return free.first_fit(block.length)
    except SpaceExhaustedError:
        raise BadInputError(
            f"the lab range {LAB_IPV4} has no free /{block.length} left for the {what} "
            f"{block}: choose fewer departments (--departments) or ones with smaller legacy "
            "networks"
        ) from None


def identity_map(county: County, legacy_prefixes: list[str]) -> AddressMap:
    """No mapping: the plan's and the data's own addresses (inventories for real sites)."""
    translations = [Translation(parse(p), parse(p), "pool") for p in county.extranet.ipv4_pools]
    translations += [Translation(b, b, "legacy") for b in legacy_blocks(legacy_prefixes)]
    county6 = parse(county.extranet.ipv6_prefix)
    translations.append(Translation(county6, county6, "ipv6"))
    return AddressMap(tuple(translations))
