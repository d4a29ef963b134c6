"""Overlap groups: exact answers, and agreement with a brute-force oracle on random input."""

from __future__ import annotations

from pathlib import Path

import netaddr
from hypothesis import given, settings
from hypothesis import strategies as st

from network.overlaps import PrefixTable, Relation, Scope, find_overlaps, read_csv
from network.prefixes import Prefix, parse


def table_of(rows: list[tuple[str, str | None, str]]) -> PrefixTable:
    table = PrefixTable()
    for owner, vrf, prefix in rows:
        table.add(owner, vrf, parse(prefix))
    return table


def summary(
    table: PrefixTable,
) -> list[tuple[str, str | None, tuple[str, ...], list[str], list[str]]]:
    return [
        (g.scope.value, g.vrf, tuple(r.value for r in g.relations), g.prefixes, g.owners)
        for g in find_overlaps(table)
    ]


def test_duplicates_containment_within_and_across_vrfs() -> None:
    table = table_of(
        [
            ("edu", None, "192.168.1.0/24"),
            ("tax", None, "192.168.1.0/24"),
            ("police", "police", "10.50.0.0/16"),
            ("police", "police", "10.50.16.0/20"),
            ("health", "medical", "10.50.32.0/20"),
            ("court", None, "198.51.100.0/24"),
            ("edu6", None, "2001:db8::/48"),
            ("tax6", "tax", "2001:db8::1/128"),
        ]
    )
    assert summary(table) == [
        ("vrf", "global", ("duplicate",), ["192.168.1.0/24"], ["edu", "tax"]),
        ("vrf", "police", ("containment",), ["10.50.0.0/16", "10.50.16.0/20"], ["police"]),
        (
            "across",
            None,
            ("containment",),
            ["10.50.0.0/16", "10.50.16.0/20", "10.50.32.0/20"],
            ["health", "police"],
        ),
        ("across", None, ("containment",), ["2001:db8::/48", "2001:db8::1/128"], ["edu6", "tax6"]),
    ]


def test_adjacent_and_mixed_family_prefixes_do_not_overlap() -> None:
    table = table_of(
        [
            ("a", None, "198.18.0.0/24"),
            ("b", None, "198.18.1.0/24"),
            ("c", None, "::/0"),
            ("d", None, "0.0.0.0/1"),
        ]
    )
    assert find_overlaps(table) == []


def test_long_ipv6_prefixes_are_compared_exactly() -> None:
    # Same upper 64 bits, different lower halves: only the /127 and its /128 overlap.
    table = table_of(
        [
            ("a", None, "2001:db8::/127"),
            ("b", None, "2001:db8::1/128"),
            ("c", None, "2001:db8::8/126"),
        ]
    )
    groups = find_overlaps(table)
    assert [(g.prefixes, g.relations) for g in groups] == [
        (["2001:db8::/127", "2001:db8::1/128"], (Relation.CONTAINMENT,))
    ]


def test_read_csv_reports_every_bad_row(tmp_path: Path) -> None:
    source = tmp_path / "prefixes.csv"
    source.write_text(
        "owner,vrf,prefix\nedu,,192.168.1.0/24\ntax,,192.168.1.5/24\n"
        "court,x\nhealth,med,10.0.0.0/33\n",
        encoding="utf-8",
    )
    table, problems = read_csv(source)
    assert len(table) == 1
    assert [(p.line, p.column, p.message) for p in problems] == [
        (3, 6, "prefix: '192.168.1.5/24' has host bits set; did you mean 192.168.1.0/24?"),
        (4, 1, "expected 3 fields owner,vrf,prefix, got 2"),
        (5, 12, "prefix: '10.0.0.0/33' is not a valid IP prefix: /33 is longer than /32"),
    ]


# -- the oracle -------------------------------------------------------------------------------
def oracle(rows: list[tuple[str, str, Prefix]]) -> set[tuple[str, frozenset[int]]]:
    """Connected components of the overlap graph, by brute force with netaddr."""
    networks = [netaddr.IPNetwork(str(p)) for _, _, p in rows]

    def components(members: list[int]) -> list[frozenset[int]]:
        parent = {m: m for m in members}

        def find(x: int) -> int:
            while parent[x] != x:
                x = parent[x]
            return x

        for i in members:
            for j in members:
                a, b = networks[i], networks[j]
                if i < j and a.version == b.version and (a in b or b in a):
                    parent[find(i)] = find(j)
        groups: dict[int, set[int]] = {}
        for m in members:
            groups.setdefault(find(m), set()).add(m)
        return [frozenset(g) for g in groups.values() if len(g) > 1]

    found = set()
    for vrf in {v for _, v, _ in rows}:
        found |= {("vrf", g) for g in components([i for i, r in enumerate(rows) if r[1] == vrf])}
    for group in components(list(range(len(rows)))):
        if len({rows[i][1] for i in group}) > 1:
            found.add(("across", group))
    return found


@st.composite
def random_rows(draw: st.DrawFn) -> list[tuple[str, str, Prefix]]:
    rows = []
    for index in range(draw(st.integers(0, 60))):
        family = draw(st.sampled_from([4, 6]))
        if family == 4:
            length = draw(st.integers(8, 32))
            value = 0xC612_0000 | draw(st.integers(0, 0xFFFF))  # inside 198.18.0.0/16
            bits = 32
        else:
            length = draw(st.sampled_from([32, 48, 56, 60, 63, 64, 65, 96, 120, 127, 128]))
            value = (0x2001_0DB8 << 96) | draw(st.integers(0, (1 << 72) - 1)) << 24
            bits = 128
        value = value >> (bits - length) << (bits - length)
        vrf = draw(st.sampled_from(["global", "red", "blue"]))
        rows.append((f"o{index}", vrf, Prefix(family, value, length)))
    return rows


@settings(max_examples=200, deadline=None)
@given(random_rows())
def test_groups_match_the_brute_force_oracle(rows: list[tuple[str, str, Prefix]]) -> None:
    table = PrefixTable()
    for owner, vrf, prefix in rows:
        table.add(owner, vrf, prefix)
    index = {(o, v, str(p)): i for i, (o, v, p) in enumerate(rows)}
    found = set()
    for group in find_overlaps(table):
        members = frozenset(index[(m.owner, m.vrf, m.prefix)] for m in group.members)
        found.add(("vrf" if group.scope is Scope.VRF else "across", members))
    assert found == oracle(rows)
