"""Overlap detection over many prefixes, within each VRF and across VRFs.

CIDR prefixes are laminar: two prefixes are either disjoint or one contains the other (a
"partial overlap" of two CIDR blocks cannot happen; equal prefixes are duplicates). Sorted by
(first address, length), a prefix overlaps an earlier one exactly when its first address is not
past the running maximum of the earlier last addresses, so one vectorised sweep (numpy) finds
every group of mutually overlapping prefixes.

IPv6 is swept on the upper 64 bits, where two prefixes of length 64 or less overlap exactly when
their upper halves do; groups holding longer prefixes (/65-/128) are then refined with an exact
sweep on the full 128 bits.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from govcloud.model import County
from network.prefixes import Prefix, PrefixError, format_address, gc_paused, parse, parse_many

DEFAULT_VRF = "global"
_LOW64 = (1 << 64) - 1


class Relation(StrEnum):
    """How prefixes in a group overlap."""

    DUPLICATE = "duplicate"
    CONTAINMENT = "containment"


class Scope(StrEnum):
    """Whether a group lies inside one VRF or spans several."""

    VRF = "vrf"
    ACROSS = "across"


class Member(NamedTuple):
    """One prefix in an overlap group and who owns it."""

    owner: str
    vrf: str
    prefix: str
    network: str = ""


class OverlapGroup:
    """Prefixes that overlap one another, within a VRF or across VRFs.

    A group holds row numbers into its table; members are formatted only when asked for, so
    detection over a million prefixes does not pay for text it may never print.
    """

    __slots__ = ("family", "relations", "rows", "scope", "table", "vrf")

    def __init__(self, table: PrefixTable, rows: list[int], scope: Scope) -> None:
        self.table = table
        self.rows = rows
        self.scope = scope
        self.vrf = table.vrfs[rows[0]] if scope is Scope.VRF else None
        self.family = table.families[rows[0]]
        self.relations = _relations(table, rows)

    @property
    def members(self) -> tuple[Member, ...]:
        """Every member, in address order (equal prefixes in input order)."""
        return tuple(self.table.member(r) for r in self.rows)

    @property
    def prefixes(self) -> list[str]:
        """The distinct prefixes in the group, in address order."""
        return sorted({m.prefix for m in self.members}, key=parse)

    @property
    def owners(self) -> list[str]:
        """The distinct owners in the group."""
        return sorted({m.owner for m in self.members})

    @property
    def sort_key(self) -> tuple[bool, int, str, int, int]:
        """Groups within a VRF first, then by family, VRF and address."""
        first = self.rows[0]
        return (
            self.scope is not Scope.VRF,
            self.family,
            self.vrf or "",
            self.table.firsts[first],
            self.table.lengths[first],
        )


@dataclass
class PrefixTable:
    """Prefixes in columns (lists of plain values), so a million rows stay cheap."""

    owners: list[str] = field(default_factory=list)
    vrfs: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    families: list[int] = field(default_factory=list)
    firsts: list[int] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    _members: dict[int, Member] = field(default_factory=dict, repr=False)

    @classmethod
    def from_texts(cls, rows: Iterable[tuple[str, str | None, str]]) -> PrefixTable:
        """A table from (owner, vrf, prefix text) rows, parsed in bulk; PrefixError if bad."""
        with gc_paused():
            rows = list(rows)
            families, firsts, lengths = parse_many(row[2] for row in rows)
            return cls(
                owners=[row[0] for row in rows],
                vrfs=[row[1] or DEFAULT_VRF for row in rows],
                networks=[""] * len(rows),
                families=families,
                firsts=firsts,
                lengths=lengths,
            )

    def add(self, owner: str, vrf: str | None, prefix: Prefix, network: str = "") -> None:
        """Append one prefix."""
        self.owners.append(owner)
        self.vrfs.append(vrf or DEFAULT_VRF)
        self.networks.append(network)
        self.families.append(prefix.family)
        self.firsts.append(prefix.first)
        self.lengths.append(prefix.length)

    def __len__(self) -> int:
        return len(self.firsts)

    def prefix(self, index: int) -> Prefix:
        """The prefix at `index`."""
        return Prefix(self.families[index], self.firsts[index], self.lengths[index])

    def member(self, index: int) -> Member:
        """The row at `index` as a Member (made once, then cached: rows recur across scopes)."""
        member = self._members.get(index)
        if member is None:
            text = f"{format_address(self.families[index], self.firsts[index])}/"
            member = Member(
                self.owners[index],
                self.vrfs[index],
                text + str(self.lengths[index]),
                self.networks[index],
            )
            self._members[index] = member
        return member


@dataclass(frozen=True)
class CsvProblem:
    """A row of a prefix CSV that could not be read."""

    line: int
    column: int
    message: str


def read_csv(path: Path) -> tuple[PrefixTable, list[CsvProblem]]:
    """Read `owner,vrf,prefix` rows (a header row is optional); collect every bad row."""
    table = PrefixTable()
    problems: list[CsvProblem] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if line == 1 and [c.strip().lower() for c in row[:3]] == ["owner", "vrf", "prefix"]:
                continue
            if len(row) != 3:
                problems.append(
                    CsvProblem(line, 1, f"expected 3 fields owner,vrf,prefix, got {len(row)}")
                )
                continue
            owner, vrf, text = row
            try:
                prefix = parse(text)
            except PrefixError as error:
                problems.append(CsvProblem(line, len(owner) + len(vrf) + 3, f"prefix: {error}"))
                continue
            table.add(owner.strip(), vrf.strip() or None, prefix)
    return table, problems


def _columns(table: PrefixTable) -> dict[str, npt.NDArray[np.uint64]]:
    """Sort keys: family, upper-64-bit first and last addresses, and length."""
    family = np.array(table.families, dtype=np.uint64)
    length = np.array(table.lengths, dtype=np.int64)
    first = np.array(
        [f if a == 4 else f >> 64 for a, f in zip(table.families, table.firsts, strict=True)],
        dtype=np.uint64,
    )
    # Host bits below the first address, within the swept 32 (IPv4) or upper 64 (IPv6) bits.
    span = np.where(family == 4, 32 - length, np.maximum(64 - length, 0)).astype(np.uint64)
    full = span == 64  # ::/0: numpy cannot shift a uint64 by its full width
    shift = np.where(full, np.uint64(0), span).astype(np.uint64)
    host = np.left_shift(np.uint64(1), shift).astype(np.uint64)
    last = first + (host - np.uint64(1))
    last[full] = np.iinfo(np.uint64).max
    return {"family": family, "first": first, "last": last, "length": length.astype(np.uint64)}


def _sweep(
    columns: dict[str, npt.NDArray[np.uint64]], segment: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Rows in overlap groups (two or more members) within each segment, and group starts.

    Returns the row indices in sweep order (segment, first address, length; lexsort is stable,
    so equal prefixes keep input order) and the offsets where each group begins.
    """
    order = np.lexsort((columns["length"], columns["first"], segment))
    first = columns["first"][order]
    last = columns["last"][order]
    seg = segment[order]
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    ends = np.r_[starts[1:], len(order)]
    running = np.empty_like(last)
    for start, end in zip(starts, ends, strict=True):
        np.maximum.accumulate(last[start:end], out=running[start:end])
    boundary = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        boundary[1:] = first[1:] > running[:-1]
    boundary[starts] = True
    group_of = np.cumsum(boundary) - 1
    overlapping = np.bincount(group_of)[group_of] > 1
    rows = order[overlapping]
    ids = group_of[overlapping]
    cuts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(rows) else ids
    return rows, cuts


def _exact_groups(table: PrefixTable, rows: Iterable[int]) -> Iterator[list[int]]:
    """Exact sweep on full-width integers, for IPv6 groups with prefixes longer than /64."""
    ordered = sorted(rows, key=lambda r: (table.firsts[r], table.lengths[r]))
    group: list[int] = []
    reach = -1
    for row in ordered:
        prefix = table.prefix(row)
        if group and prefix.first > reach:
            if len(group) > 1:
                yield group
            group = []
        if not group:
            reach = prefix.last
        reach = max(reach, prefix.last)
        group.append(row)
    if len(group) > 1:
        yield group


def _relations(table: PrefixTable, rows: list[int]) -> tuple[Relation, ...]:
    # Rows are in address order, so equal prefixes sit next to each other.
    firsts, lengths = table.firsts, table.lengths
    keys = [(firsts[r], lengths[r]) for r in rows]
    distinct = 1 + sum(1 for a, b in itertools.pairwise(keys) if a != b)
    if distinct == 1:
        return (Relation.DUPLICATE,)
    if distinct < len(rows):
        return (Relation.DUPLICATE, Relation.CONTAINMENT)
    return (Relation.CONTAINMENT,)


def _groups(
    table: PrefixTable,
    columns: dict[str, npt.NDArray[np.uint64]],
    segment: npt.NDArray[np.int64],
    long_ipv6: npt.NDArray[np.bool_],
) -> Iterator[list[int]]:
    rows, cuts = _sweep(columns, segment)
    if not len(rows):
        return
    exact = np.logical_or.reduceat(long_ipv6[rows], cuts)
    bounds = np.r_[cuts, len(rows)].tolist()
    flat = rows.tolist()
    for number, needs_exact in enumerate(exact.tolist()):
        members = flat[bounds[number] : bounds[number + 1]]
        if needs_exact:
            yield from _exact_groups(table, members)
        else:
            yield members


def find_overlaps(table: PrefixTable) -> list[OverlapGroup]:
    """Every group of overlapping prefixes: per VRF, then groups that span several VRFs."""
    if not len(table):
        return []
    with gc_paused():
        return _find_overlaps(table)


def _find_overlaps(table: PrefixTable) -> list[OverlapGroup]:
    columns = _columns(table)
    vrf_ids = {name: number for number, name in enumerate(sorted(set(table.vrfs)))}
    vrf_column = np.fromiter((vrf_ids[v] for v in table.vrfs), dtype=np.int64, count=len(table))
    family = columns["family"].astype(np.int64)
    long_ipv6 = (columns["family"] == 6) & (columns["length"] > 64)

    found: list[OverlapGroup] = []
    for rows in _groups(table, columns, family * len(vrf_ids) + vrf_column, long_ipv6):
        found.append(OverlapGroup(table, rows, Scope.VRF))
    vrfs = table.vrfs
    for rows in _groups(table, columns, family, long_ipv6):
        first_vrf = vrfs[rows[0]]
        if any(vrfs[r] != first_vrf for r in rows):
            found.append(OverlapGroup(table, rows, Scope.ACROSS))
    found.sort(key=lambda group: group.sort_key)
    return found


def pool_collisions(table: PrefixTable, pools: Iterable[Prefix]) -> list[tuple[Member, str]]:
    """Rows that overlap any extranet pool, with the pool they hit."""
    pool_list = sorted(pools)
    hits = []
    for index in range(len(table)):
        prefix = table.prefix(index)
        for pool in pool_list:
            if prefix.overlaps(pool):
                hits.append((table.member(index), str(pool)))
    return hits


def county_table(county: County) -> PrefixTable:
    """Every legacy network of the county as a prefix table."""
    table = PrefixTable()
    for department in county.departments:
        for network in department.legacy_networks:
            table.add(department.code, network.vrf, parse(network.prefix), network.name)
    return table
