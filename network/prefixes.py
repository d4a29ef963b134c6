"""Prefixes as integers: the planner's hot paths work on (family, first address, length).

netaddr parses and formats at about 5-10 µs a prefix; a province plan has more than half a
million of them. These helpers use the C implementations in `socket` (inet_pton, inet_ntop)
and plain integer arithmetic, and are checked against netaddr in the tests.
"""

from __future__ import annotations

import gc
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import netaddr

BITS = {4: 32, 6: 128}
_FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}
_BYTES = {4: 4, 6: 16}


class PrefixError(ValueError):
    """A prefix string that is not a valid CIDR prefix."""


class Prefix(NamedTuple):
    """A CIDR prefix held as integers; orders by family, first address, then length.

    A NamedTuple rather than a dataclass: a province plan creates millions of these, and tuple
    construction, hashing and ordering run in C.
    """

    family: int
    first: int
    length: int

    @property
    def bits(self) -> int:
        """Address width of the family (32 or 128)."""
        return BITS[self.family]

    @property
    def size(self) -> int:
        """Number of addresses."""
        return 1 << (self.bits - self.length)

    @property
    def last(self) -> int:
        """Last address, as an integer."""
        return self.first + self.size - 1

    def __str__(self) -> str:
        return f"{format_address(self.family, self.first)}/{self.length}"

    def contains(self, other: Prefix) -> bool:
        """True when `other` lies inside this prefix (or is it)."""
        return (
            self.family == other.family
            and self.length <= other.length
            and self.first <= other.first <= self.last
        )

    def overlaps(self, other: Prefix) -> bool:
        """True when the two prefixes share any address."""
        return self.family == other.family and self.first <= other.last and other.first <= self.last

    def subnet(self, length: int, index: int) -> Prefix:
        """The `index`-th child of the given length (0-based)."""
        if not self.length <= length <= self.bits:
            raise ValueError(f"/{length} is not a subnet length of {self}")
        count = 1 << (length - self.length)
        if not 0 <= index < count:
            raise ValueError(f"{self} has {count} /{length} subnets, no index {index}")
        return Prefix(self.family, self.first + index * (1 << (self.bits - length)), length)

    def index_in(self, parent: Prefix) -> int:
        """This prefix's index among the parent's children of its own length."""
        return (self.first - parent.first) >> (self.bits - self.length)

    def to_netaddr(self) -> netaddr.IPNetwork:
        """The same prefix as a netaddr object."""
        return netaddr.IPNetwork(str(self))


def parse(text: str) -> Prefix:
    """Parse a CIDR prefix with host bits clear; raise PrefixError with the reason."""
    # Fast path for the common, well-formed case; anything unusual gets the careful path.
    address, slash, length_text = text.partition("/")
    if slash and length_text.isdigit():
        family = 6 if ":" in address else 4
        length = int(length_text)
        try:
            first = int.from_bytes(socket.inet_pton(_FAMILY[family], address), "big")
        except OSError:
            pass
        else:
            bits = BITS[family]
            if length <= bits and not first & ((1 << (bits - length)) - 1):
                return Prefix(family, first, length)
    return _parse_carefully(text)


def parse_many(texts: Iterable[str]) -> tuple[list[int], list[int], list[int]]:
    """Parse many prefixes into columns (families, first addresses, lengths).

    The loop is the fast path of `parse` without building a tuple per row; a bad prefix is
    handed to `parse`, which raises PrefixError with the precise reason.
    """
    families: list[int] = []
    firsts: list[int] = []
    lengths: list[int] = []
    add_family, add_first, add_length = families.append, firsts.append, lengths.append
    pton, from_bytes = socket.inet_pton, int.from_bytes
    inet, inet6 = socket.AF_INET, socket.AF_INET6
    for text in texts:
        address, _, length_text = text.partition("/")
        family, kind, bits = (6, inet6, 128) if ":" in address else (4, inet, 32)
        try:
            first = from_bytes(pton(kind, address), "big")
        except OSError:
            first = -1
        if first < 0 or not length_text.isdigit() or int(length_text) > bits:
            raise _refusal(text)
        length = int(length_text)
        if first & ((1 << (bits - length)) - 1):
            raise _refusal(text)
        add_family(family)
        add_first(first)
        add_length(length)
    return families, firsts, lengths


def _refusal(text: str) -> PrefixError:
    """The precise error `parse` gives for a text the fast loop refused."""
    try:
        parse(text)
    except PrefixError as error:
        return error
    return PrefixError(f"{text!r} is not a valid IP prefix")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during bulk work that creates no cycles.

    Building millions of small tuples otherwise triggers repeated full collections that cost
    more than the work itself (measured: 4.9 s instead of 2.5 s for a million prefixes).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse_carefully(text: str) -> Prefix:
    address, slash, length_text = text.strip().partition("/")
    family = 6 if ":" in address else 4
    if not slash or not length_text.isdigit():
        raise PrefixError(f"{text!r} is not a prefix: write it in CIDR form, e.g. 198.18.0.0/24")
    length = int(length_text)
    try:
        packed = socket.inet_pton(_FAMILY[family], address)
    except OSError:
        raise PrefixError(f"{text!r} is not a valid IP prefix") from None
    bits = BITS[family]
    if length > bits:
        raise PrefixError(f"{text!r} is not a valid IP prefix: /{length} is longer than /{bits}")
    first = int.from_bytes(packed, "big")
    host_mask = (1 << (bits - length)) - 1
    if first & host_mask:
        fixed = Prefix(family, first & ~host_mask, length)
        raise PrefixError(f"{text!r} has host bits set; did you mean {fixed}?")
    return Prefix(family, first, length)


def format_address(family: int, value: int) -> str:
    """An address in its canonical text form (RFC 5952 for IPv6)."""
    return socket.inet_ntop(_FAMILY[family], value.to_bytes(_BYTES[family], "big"))


def reverse_zone(prefix: Prefix) -> str:
    """The reverse-DNS zone of a nibble-aligned IPv6 or octet-aligned IPv4 prefix."""
    if prefix.family == 6:
        if prefix.length % 4:
            raise ValueError(f"{prefix} is not on a nibble boundary: no ip6.arpa zone")
        nibbles = f"{prefix.first:032x}"[: prefix.length // 4]
        return ".".join(reversed(nibbles)) + ".ip6.arpa"
    if prefix.length % 8:
        raise ValueError(f"{prefix} is not on an octet boundary: no in-addr.arpa zone")
    octets = format_address(4, prefix.first).split(".")[: prefix.length // 8]
    return ".".join(reversed(octets)) + ".in-addr.arpa"
