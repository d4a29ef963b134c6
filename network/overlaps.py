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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt

from network.prefixes import Prefix, PrefixError, parse

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


@dataclass(frozen=True, slots=True)
class Member:
    """One prefix in an overlap group and who owns it."""

    owner: str
    vrf: str
    prefix: str
    network: str = ""


@dataclass(frozen=True)
class OverlapGroup:
    """Prefixes that overlap one another, within a VRF or across VRFs."""

    scope: Scope
    vrf: str | None
    family: int
    relations: tuple[Relation, ...]
    members: tuple[Member, ...]

    @property
    def prefixes(self) -> list[str]:
        """The distinct prefixes in the group, in address order."""
        return sorted({m.prefix for m in self.members}, key=parse)

    @property
    def owners(self) -> list[str]:
        """The distinct owners in the group."""
        return sorted({m.owner for m in self.members})


@dataclass
class PrefixTable:
    """Prefixes in columns: owners and VRFs as Python lists, addresses as numpy arrays."""

    owners: list[str] = field(default_factory=list)
    vrfs: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    prefixes: list[Prefix] = field(default_factory=list)

    def add(self, owner: str, vrf: str | None, prefix: Prefix, network: str = "") -> None:
        """Append one prefix."""
        self.owners.append(owner)
        self.vrfs.append(vrf or DEFAULT_VRF)
        self.networks.append(network)
        self.prefixes.append(prefix)

    def __len__(self) -> int:
        return len(self.prefixes)

    def member(self, index: int) -> Member:
        """The row at `index` as a Member."""
        return Member(
            self.owners[index], self.vrfs[index], str(self.prefixes[index]), self.networks[index]
        )


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
    count = len(table)
    family = np.empty(count, dtype=np.uint64)
    first_hi = np.empty(count, dtype=np.uint64)
    last_hi = np.empty(count, dtype=np.uint64)
    length = np.empty(count, dtype=np.uint64)
    for index, prefix in enumerate(table.prefixes):
        family[index] = prefix.family
        length[index] = prefix.length
        if prefix.family == 4:
            first_hi[index] = prefix.first
            last_hi[index] = prefix.last
        else:
            first_hi[index] = prefix.first >> 64
            last_hi[index] = prefix.last >> 64
    return {"family": family, "first": first_hi, "last": last_hi, "length": length}


def _sweep(
    columns: dict[str, npt.NDArray[np.uint64]], segment: npt.NDArray[np.int64]
) -> list[npt.NDArray[np.int64]]:
    """Groups (as index arrays, two or more members) of overlapping rows within each segment."""
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
    sizes = np.bincount(group_of)
    overlapping = sizes[group_of] > 1
    rows = order[overlapping]
    ids = group_of[overlapping]
    if not len(rows):
        return []
    cuts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    return list(np.split(rows, cuts[1:]))


def _exact_groups(table: PrefixTable, rows: Iterable[int]) -> Iterator[list[int]]:
    """Exact sweep on full-width integers, for IPv6 groups with prefixes longer than /64."""
    ordered = sorted(rows, key=lambda r: (table.prefixes[r].first, table.prefixes[r].length))
    group: list[int] = []
    reach = -1
    for row in ordered:
        prefix = table.prefixes[row]
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
    distinct = {table.prefixes[r] for r in rows}
    relations = []
    if len(distinct) < len(rows):
        relations.append(Relation.DUPLICATE)
    if len(distinct) > 1:
        relations.append(Relation.CONTAINMENT)
    return tuple(relations)


def _groups(
    table: PrefixTable,
    columns: dict[str, npt.NDArray[np.uint64]],
    segment: npt.NDArray[np.int64],
) -> Iterator[list[int]]:
    for rows in _sweep(columns, segment):
        candidates = [int(r) for r in rows]
        needs_exact = any(
            table.prefixes[r].family == 6 and table.prefixes[r].length > 64 for r in candidates
        )
        if needs_exact:
            yield from _exact_groups(table, candidates)
        else:
            yield candidates


def find_overlaps(table: PrefixTable) -> list[OverlapGroup]:
    """Every group of overlapping prefixes: per VRF, then groups that span several VRFs."""
    if not len(table):
        return []
    columns = _columns(table)
    vrf_ids = {name: number for number, name in enumerate(sorted(set(table.vrfs)))}
    vrf_column = np.fromiter((vrf_ids[v] for v in table.vrfs), dtype=np.int64, count=len(table))
    family = columns["family"].astype(np.int64)

    found: list[OverlapGroup] = []
    for rows in _groups(table, columns, family * len(vrf_ids) + vrf_column):
        found.append(_group(table, rows, Scope.VRF))
    for rows in _groups(table, columns, family):
        if len({table.vrfs[r] for r in rows}) > 1:
            found.append(_group(table, rows, Scope.ACROSS))
    found.sort(
        key=lambda g: (g.scope != Scope.VRF, g.family, g.vrf or "", parse(g.members[0].prefix))
    )
    return found


def _group(table: PrefixTable, rows: list[int], scope: Scope) -> OverlapGroup:
    rows = sorted(rows, key=lambda r: (table.prefixes[r], table.owners[r], table.networks[r]))
    first = table.prefixes[rows[0]]
    return OverlapGroup(
        scope=scope,
        vrf=table.vrfs[rows[0]] if scope is Scope.VRF else None,
        family=first.family,
        relations=_relations(table, rows),
        members=tuple(table.member(r) for r in rows),
    )


def pool_collisions(table: PrefixTable, pools: Iterable[Prefix]) -> list[tuple[Member, str]]:
    """Rows that overlap any extranet pool, with the pool they hit."""
    pool_list = sorted(pools)
    hits = []
    for index, prefix in enumerate(table.prefixes):
        for pool in pool_list:
            if prefix.overlaps(pool):
                hits.append((table.member(index), str(pool)))
    return hits
