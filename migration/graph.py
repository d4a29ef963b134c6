"""The dependency graph of the systems that move, condensed into units that share a wave.

A unit is what the planner places: one system, or every system of a move group, or systems that
dependencies tie into a loop through a move group (A and C in group G, A depends on B, B on C:
B must move with them). Units form a DAG; each has a depth (longest chain of units below it,
dependencies first) and a phase (the tier order: a unit moves no earlier than the phase of any
unit it depends on).

The county model refuses cycles among systems, so only move groups can close a loop: Kahn's
algorithm orders the units first, and Tarjan's components run only on what it could not order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from govcloud.checks import strongly_connected
from govcloud.model import Tier
from migration.inventory import InventorySystem


@dataclass(frozen=True, slots=True)
class Unit:
    """Systems that move in one wave, and what ties them."""

    members: tuple[str, ...]  # "department/system", dependencies first, then by name
    departments: tuple[str, ...]
    data_gb: float
    depends_on: tuple[int, ...]  # unit numbers
    via: tuple[str, ...]  # for each unit depended on, a member some member depends on
    phase: int  # its tier's place in the order, or a later one it waits for
    own_phase: int  # its own tier's place
    depth: int
    groups: tuple[str, ...]  # the move groups among its members
    tied: tuple[str, ...]  # members a dependency loop through a group pulled in


@dataclass(frozen=True)
class Graph:
    """Units in placing order (by phase, then depth, then name): every unit after its
    dependencies."""

    units: tuple[Unit, ...]
    unit_of: Mapping[str, int]  # system → its unit's number in `units`


class _Sets:
    """Union-find over system numbers (path halving, union by size)."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))
        self.size = [1] * size

    def find(self, item: int) -> int:
        parent = self.parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, first: int, second: int) -> None:
        a, b = self.find(first), self.find(second)
        if a == b:
            return
        if self.size[a] < self.size[b]:
            a, b = b, a
        self.parent[b] = a
        self.size[a] += self.size[b]


def _edges(systems: Sequence[InventorySystem], number: Mapping[str, int]) -> list[list[int]]:
    """Each system's dependencies among the systems that move, by number."""
    return [[number[d] for d in s.depends_on if d in number] for s in systems]


def _order(
    roots: list[int], edges: list[list[int]], find: _Sets
) -> tuple[list[int], dict[int, dict[int, int]]]:
    """Kahn's algorithm over the units: the units in dependency order (those left out sit on a
    loop) and each unit's dependencies, with the first system depended on in each."""
    depends: dict[int, dict[int, int]] = {root: {} for root in roots}
    for system, targets in enumerate(edges):
        unit = find.find(system)
        for target in targets:
            other = find.find(target)
            if other != unit:
                depends[unit].setdefault(other, target)
    waiting = {unit: len(deps) for unit, deps in depends.items()}
    dependents: dict[int, list[int]] = {unit: [] for unit in depends}
    for unit, deps in depends.items():
        for dep in deps:
            dependents[dep].append(unit)
    ready = [unit for unit, count in waiting.items() if count == 0]
    ordered: list[int] = []
    while ready:
        unit = ready.pop()
        ordered.append(unit)
        for dependent in dependents[unit]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                ready.append(dependent)
    return ordered, depends


def build_graph(
    systems: Sequence[InventorySystem], tier_order: Sequence[Tier], *, by_tier: bool = True
) -> Graph:
    """Units of the systems that move, in placing order; dependencies on systems not in
    `systems` (on the cloud, classified) are no constraint."""
    number = {s.ref: i for i, s in enumerate(systems)}
    sets = _Sets(len(systems))
    first_of_group: dict[str, int] = {}
    for i, system in enumerate(systems):
        if system.move_group is not None:
            sets.union(first_of_group.setdefault(system.move_group, i), i)
    edges = _edges(systems, number)
    roots = sorted({sets.find(i) for i in range(len(systems))})
    ordered, depends = _order(roots, edges, sets)
    tied_by_loop: set[int] = set()
    if len(ordered) < len(roots):
        # Only move groups close loops: merge each loop's units into one and order again.
        placed = set(ordered)
        loop = {str(u): [str(d) for d in depends[u] if d not in placed] for u in roots}
        loop = {u: deps for u, deps in loop.items() if int(u) not in placed}
        for component in strongly_connected(loop):
            looped = [int(u) for u in component]
            for other in looped[1:]:
                sets.union(looped[0], other)
            if len(looped) > 1:
                tied_by_loop.update(looped)
        roots = sorted({sets.find(i) for i in range(len(systems))})
        ordered, depends = _order(roots, edges, sets)

    rank = {tier: position for position, tier in enumerate(tier_order)}
    members: dict[int, list[int]] = {root: [] for root in roots}
    for i in range(len(systems)):
        members[sets.find(i)].append(i)
    phase: dict[int, int] = {}
    own: dict[int, int] = {}
    depth: dict[int, int] = {}
    for unit in ordered:
        deps_of = depends[unit]
        own[unit] = max(rank[systems[i].tier] for i in members[unit]) if by_tier else 0
        phase[unit] = max([own[unit], *(phase[d] for d in deps_of)])
        depth[unit] = 1 + max((depth[d] for d in deps_of), default=0)
    loops = {sets.find(u) for u in tied_by_loop}

    def name(unit: int) -> str:
        return min(systems[i].ref for i in members[unit])

    placing = sorted(ordered, key=lambda u: (phase[u], depth[u], name(u)))  # deps first
    position = {unit: p for p, unit in enumerate(placing)}
    units: list[Unit] = []
    unit_of: dict[str, int] = {}
    for unit in placing:
        inside = [systems[i] for i in members[unit]]
        deps = sorted(depends[unit], key=position.__getitem__)
        groups = sorted({s.move_group for s in inside if s.move_group is not None})
        tied = tuple(sorted(s.ref for s in inside if s.move_group is None)) if unit in loops else ()
        units.append(
            Unit(
                members=_dependencies_first(inside),
                departments=tuple(sorted({s.department for s in inside})),
                data_gb=sum(s.data_gb for s in inside),
                depends_on=tuple(position[d] for d in deps),
                via=tuple(systems[depends[unit][d]].ref for d in deps),
                phase=phase[unit],
                own_phase=own[unit],
                depth=depth[unit],
                groups=tuple(groups),
                tied=tied,
            )
        )
        for s in inside:
            unit_of[s.ref] = position[unit]
    return Graph(tuple(units), unit_of)


def _dependencies_first(inside: Sequence[InventorySystem]) -> tuple[str, ...]:
    """A unit's members so that each comes after the members it depends on (ties by name)."""
    if len(inside) == 1:
        return (inside[0].ref,)
    left = {s.ref: {d for d in s.depends_on if d != s.ref} for s in inside}
    for deps in left.values():
        deps.intersection_update(left)
    ordered: list[str] = []
    while left:
        # The county refuses dependency cycles, so something is always ready; the name order
        # is only a guard against looping forever.
        ready = sorted(ref for ref, deps in left.items() if not deps) or [min(left)]
        ordered.extend(ready)
        for ref in ready:
            del left[ref]
        for deps in left.values():
            deps.difference_update(ready)
    return tuple(ordered)
