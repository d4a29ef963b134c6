"""Address usage per level: IPv4 in addresses, IPv6 in /64s (the unit that matters for IPv6).

Free space is reported as the largest aligned blocks it decomposes into, counted by size, so a
planner sees at a glance whether a /48 for a new department, or a /20 for a new pool user, fits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from govcloud.model import County
from network.ipam import FreeSpace
from network.plan import Allocation, AllocationKind
from network.prefixes import Prefix, parse
from network.render import environment

SUBNET_BITS = 64
NIBBLE = 4
IPV4_REPORT_LENGTHS = (16, 18, 20, 22, 24, 26, 28, 30)


@dataclass(frozen=True)
class LevelUsage:
    """Usage of one prefix (a pool, a block, a department's /48)."""

    level: str
    name: str
    prefix: str
    family: int
    total: int  # IPv4: addresses; IPv6: /64s
    used: int
    free_blocks: dict[int, int]  # prefix length → how many aligned blocks of it are free

    @property
    def free(self) -> int:
        """Free units (addresses or /64s)."""
        return self.total - self.used

    @property
    def utilisation(self) -> float:
        """Used share of the total."""
        return self.used / self.total if self.total else 0.0


def report_lengths(parent: Prefix) -> list[int]:
    """The block sizes worth counting below a parent: nibbles for IPv6, common sizes for IPv4."""
    if parent.family == 6:
        first = parent.length + NIBBLE - parent.length % NIBBLE
        return list(range(first, SUBNET_BITS + 1, NIBBLE))
    return [length for length in IPV4_REPORT_LENGTHS if length > parent.length]


def free_blocks(space: FreeSpace, lengths: Iterable[int]) -> dict[int, int]:
    """For each length, how many aligned blocks of that length are entirely free."""
    counts: dict[int, int] = {}
    base = space.parent.first
    for length in lengths:
        size = 1 << (space.parent.bits - length)
        total = 0
        for start, end in space.runs():
            aligned = base + -(-(start - base) // size) * size
            total += max(0, (end + 1 - aligned) // size)
        counts[length] = total
    return counts


def _units(prefix: Prefix) -> int:
    if prefix.family == 4:
        return prefix.size
    return 1 << max(SUBNET_BITS - prefix.length, 0)


def _usage(level: str, name: str, parent: Prefix, children: list[Prefix]) -> LevelUsage:
    space = FreeSpace(parent, children)
    used = sum(_units(child) for child in children)
    return LevelUsage(
        level,
        name,
        str(parent),
        parent.family,
        _units(parent),
        used,
        free_blocks(space, report_lengths(parent)),
    )


def usage(county: County, allocations: Iterable[Allocation]) -> list[LevelUsage]:
    """Usage of every pool, every IPv6 block and every department prefix."""
    by_parent: dict[str, list[Allocation]] = {}
    for allocation in allocations:
        by_parent.setdefault(allocation.parent, []).append(allocation)

    def children(parent: str) -> list[Prefix]:
        return [parse(a.prefix) for a in by_parent.get(parent, [])]

    def leaves(block: Allocation) -> list[Prefix]:
        # /64 units in use below a block: its subnets and links, or its departments' subnets.
        found: list[Prefix] = []
        for child in by_parent.get(block.prefix, []):
            grand = by_parent.get(child.prefix)
            if grand:
                found += [_as_subnet(parse(g.prefix)) for g in grand]
            else:
                found.append(_as_subnet(parse(child.prefix)))
        return sorted(set(found))  # loopbacks share one /64

    rows = [
        _usage("pool", "extranet IPv4 pool", parse(pool), children(pool))
        for pool in county.extranet.ipv4_pools
    ]
    county_prefix = county.extranet.ipv6_prefix
    blocks = [a for a in by_parent.get(county_prefix, []) if a.kind is AllocationKind.BLOCK]
    rows.append(
        _usage("county", county.name, parse(county_prefix), [p for b in blocks for p in leaves(b)])
    )
    for block in sorted(blocks, key=lambda b: parse(b.prefix)):
        rows.append(_usage("block", block.network, parse(block.prefix), leaves(block)))
    departments = list(by_parent.get(_block_prefix(blocks, "departments"), []))
    departments += list(by_parent.get(_block_prefix(blocks, "townships"), []))
    for block in sorted(departments, key=lambda b: b.department):
        rows.append(
            _usage("department", block.department, parse(block.prefix), children(block.prefix))
        )
    return rows


def _as_subnet(prefix: Prefix) -> Prefix:
    """The /64 an allocation occupies in /64 units (a /127 link reserves its /64)."""
    if prefix.family == 6 and prefix.length > SUBNET_BITS:
        return Prefix(6, prefix.first >> (128 - SUBNET_BITS) << (128 - SUBNET_BITS), SUBNET_BITS)
    return prefix


def _block_prefix(blocks: list[Allocation], name: str) -> str:
    return next((b.prefix for b in blocks if b.network == name), "")


def usage_chart(county: County, rows: list[LevelUsage]) -> str:
    """The usage rows as a standalone HTML chart (network/templates/usage.html.j2)."""
    sections = [
        ("IPv4 pools (addresses)", [r for r in rows if r.family == 4], "addresses"),
        (
            "IPv6 county and blocks (/64s)",
            [r for r in rows if r.level in ("county", "block")],
            "/64s",
        ),
        ("IPv6 department prefixes (/64s)", [r for r in rows if r.level == "department"], "/64s"),
    ]
    template = environment(autoescape=True).get_template("usage.html.j2")
    return template.render(county=county, sections=sections)
