"""Integer prefixes against netaddr, reverse zones, and the carving strategies."""

from __future__ import annotations

import netaddr
import pytest
from hypothesis import given
from hypothesis import strategies as st

from network.ipam import FreeSpace, SpaceExhaustedError, SparseSlots, bit_reversed
from network.prefixes import Prefix, PrefixError, parse, parse_many, reverse_zone


@st.composite
def prefixes(draw: st.DrawFn) -> Prefix:
    family = draw(st.sampled_from([4, 6]))
    bits = 32 if family == 4 else 128
    length = draw(st.integers(0, bits))
    value = draw(st.integers(0, (1 << bits) - 1))
    return Prefix(family, value >> (bits - length) << (bits - length), length)


@given(prefixes())
def test_text_round_trip_matches_netaddr(prefix: Prefix) -> None:
    text = str(prefix)
    reference = netaddr.IPNetwork(text)
    assert text == str(reference.cidr)
    assert parse(text) == prefix
    assert (prefix.first, prefix.last) == (reference.first, reference.last)


@given(prefixes(), prefixes())
def test_overlap_and_containment_match_netaddr(a: Prefix, b: Prefix) -> None:
    na, nb = a.to_netaddr(), b.to_netaddr()
    same_family = na.version == nb.version
    assert a.contains(b) == (same_family and nb in na)
    assert a.overlaps(b) == (same_family and (nb in na or na in nb))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("198.18.0.1/24", "has host bits set; did you mean 198.18.0.0/24?"),
        ("2001:db8::1/64", "has host bits set; did you mean 2001:db8::/64?"),
        ("198.18.0.0", "is not a prefix"),
        ("198.18.0.0/33", "/33 is longer than /32"),
        ("2001:db8::/129", "/129 is longer than /128"),
        ("198.018.0.0/16", "is not a valid IP prefix"),
        ("fish/8", "is not a valid IP prefix"),
    ],
)
def test_bad_prefixes(text: str, message: str) -> None:
    with pytest.raises(PrefixError, match=message.replace("?", r"\?")):
        parse(text)


@given(st.lists(prefixes(), max_size=30))
def test_bulk_parsing_matches_parse(batch: list[Prefix]) -> None:
    families, firsts, lengths = parse_many(str(p) for p in batch)
    assert list(zip(families, firsts, lengths, strict=True)) == [tuple(p) for p in batch]


@pytest.mark.parametrize(
    "text", ["198.18.0.1/24", "198.18.0.0", "198.18.0.0/33", "fish/8", "2001:db8::/x"]
)
def test_bulk_parsing_gives_the_same_errors(text: str) -> None:
    with pytest.raises(PrefixError) as single:
        parse(text)
    with pytest.raises(PrefixError) as bulk:
        parse_many(["198.18.0.0/24", text])
    assert str(bulk.value) == str(single.value)


@pytest.mark.parametrize(
    ("prefix", "zone"),
    [
        ("2001:db8::/32", "8.b.d.0.1.0.0.2.ip6.arpa"),
        ("2001:db8:1000::/48", "0.0.0.1.8.b.d.0.1.0.0.2.ip6.arpa"),
        ("2001:db8:1230::/44", "3.2.1.8.b.d.0.1.0.0.2.ip6.arpa"),
        ("198.18.0.0/16", "18.198.in-addr.arpa"),
    ],
)
def test_reverse_zones(prefix: str, zone: str) -> None:
    assert reverse_zone(parse(prefix)) == zone


def test_reverse_zone_needs_a_nibble_boundary() -> None:
    with pytest.raises(ValueError, match="not on a nibble boundary"):
        reverse_zone(parse("2001:db8::/30"))


def test_bit_reversed_order_spreads_children() -> None:
    assert [bit_reversed(i, 3) for i in range(8)] == [0, 4, 2, 6, 1, 5, 3, 7]


def test_first_fit_is_lowest_aligned_block() -> None:
    space = FreeSpace(parse("198.18.0.0/24"), [parse("198.18.0.0/26")])
    assert str(space.first_fit(25)) == "198.18.0.128/25"
    assert str(space.first_fit(26)) == "198.18.0.64/26"
    with pytest.raises(SpaceExhaustedError):
        space.first_fit(26)


def test_best_fit_keeps_large_runs_whole() -> None:
    # Free: 198.18.0.64/26 (small run) and 198.18.1.0/24 (large run).
    space = FreeSpace(parse("198.18.0.0/23"), [parse("198.18.0.0/26"), parse("198.18.0.128/25")])
    assert str(space.best_fit(28)) == "198.18.0.64/28"
    assert str(space.best_fit(24)) == "198.18.1.0/24"


def test_rfc_3021_slash_31_and_rfc_6164_slash_127_blocks() -> None:
    v4 = FreeSpace(parse("198.18.0.0/30"))
    assert [str(v4.first_fit(31)) for _ in range(2)] == ["198.18.0.0/31", "198.18.0.2/31"]
    v6 = FreeSpace(parse("2001:db8::/126"))
    assert [str(v6.first_fit(127)) for _ in range(2)] == ["2001:db8::/127", "2001:db8::2/127"]


def test_sparse_slots_leave_room_to_grow() -> None:
    slots = SparseSlots(FreeSpace(parse("2001:db8:1000::/36")), 48)
    taken = [str(slots.allocate()) for _ in range(4)]
    assert taken == [
        "2001:db8:1000::/48",
        "2001:db8:1800::/48",
        "2001:db8:1400::/48",
        "2001:db8:1c00::/48",
    ]


def test_sparse_slots_skip_used_space() -> None:
    space = FreeSpace(parse("2001:db8:1000::/36"), [parse("2001:db8:1800::/44")])
    slots = SparseSlots(space, 48)
    assert [str(slots.allocate()) for _ in range(2)] == ["2001:db8:1000::/48", "2001:db8:1400::/48"]


def test_take_outside_parent_is_refused() -> None:
    with pytest.raises(ValueError, match="not inside"):
        FreeSpace(parse("198.18.0.0/24")).take(parse("198.19.0.0/24"))


@given(st.lists(st.integers(24, 30), min_size=1, max_size=40))
def test_carved_blocks_never_overlap_and_stay_inside(lengths: list[int]) -> None:
    parent = parse("198.18.0.0/22")
    space = FreeSpace(parent)
    carved: list[Prefix] = []
    for length in lengths:
        try:
            carved.append(space.best_fit(length))
        except SpaceExhaustedError:
            assert all(not space.is_free(c) for c in carved)
            break
    for index, block in enumerate(carved):
        assert parent.contains(block)
        assert not any(block.overlaps(other) for other in carved[index + 1 :])
    assert space.free_addresses == parent.size - sum(block.size for block in carved)
