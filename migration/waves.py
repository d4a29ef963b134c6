"""The wave planner (迁移波次): which systems move together, in which order, and why.

    plan_waves(inventory, previous) -> WavePlan

Pure: it reads the inventory (the county's systems, blackouts and migration settings) and the
registry's previous assignments, and returns frozen data. The rules, each with its reason in the
plan:

- A system moves in the same wave as, or after, every system it depends on. Systems already on
  the cloud (`location: cloud`, or cut over per the registry) are dependencies, not work;
  classified (涉密) systems never move and are listed as unplanned.
- A move group's systems share a wave (`migration.graph` makes them one unit).
- A wave carries at most `max_systems_per_wave` systems and at most the data the link moves in
  its transfer window (`bandwidth_mbps` x `window_hours`).
- Waves are dated (`start`, every `wave_every_days`); a department's systems skip the waves that
  fall on its blackout days.
- Tiers move in `tier_order` (pilot waves of general systems first, core last): a tier's first
  wave comes after the previous tier's last one. A unit waits for the tier of anything it
  depends on.

Stability, as in the IPv6 plan: a system the registry holds as planned keeps its wave unless a
constraint forces it out (a dependency that moved later, a blackout, a wave over its window or
cap, a move group that changed), and the placement says which. Its first reason is kept. New
systems fill the room the kept ones leave, first fit from the earliest wave their tier and
dependencies allow. Rows past "planned" belong to the lifecycle: those systems stay where they
are, and those on the cloud are dependencies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from graphlib import TopologicalSorter
from types import MappingProxyType

from govcloud.model import County, MigrationSettings
from govcloud.registry.migration_state import MigrationState
from migration.graph import Graph, Unit, build_graph
from migration.inventory import Assignment, BlackoutWindow, Inventory, InventorySystem

# Data sizes are decimal GB with fractions; sums within this much of a window still fit it.
DATA_TOLERANCE_GB = 1e-6


class PlacementStatus(StrEnum):
    """How a system got its wave in this plan."""

    NEW = "new"  # placed for the first time
    KEPT = "kept"  # the registry's wave, unchanged
    MOVED = "moved"  # a constraint forced it out of the registry's wave
    UNDERWAY = "underway"  # the lifecycle holds it: it stays where it is


@dataclass(frozen=True, slots=True)
class Placement:
    """A system's wave and the reason for it."""

    system: str
    department: str
    wave: int
    why: str
    status: PlacementStatus
    previous_wave: int | None = None


@dataclass(frozen=True, slots=True)
class Wave:
    """One wave: its date, systems in dependency order, data, and why it holds them."""

    number: int
    date: dt.date | None
    systems: tuple[str, ...]
    data_gb: float
    why: str


@dataclass(frozen=True, slots=True)
class Unplanned:
    """A system in no wave, and why."""

    system: str
    why: str


@dataclass(frozen=True)
class WaveContents:
    """What a wave holds, for its reason: systems in order, data, tiers' phases, move groups."""

    systems: tuple[str, ...]
    data_gb: float
    phases: frozenset[int]
    groups: frozenset[str]


@dataclass(frozen=True)
class _Basis:
    """What a plan was made from and the waves' room, for `replan` to continue from."""

    inventory: Inventory
    waves: _Waves
    contents: Mapping[int, WaveContents]


@dataclass(frozen=True)
class WavePlan:
    """The waves, the systems in none, and every placement with its reason."""

    waves: tuple[Wave, ...]
    unplanned: tuple[Unplanned, ...]
    placements: Mapping[str, Placement]
    window_gb: float
    max_systems: int
    basis: _Basis | None = field(default=None, repr=False, compare=False)

    def assignments(self) -> dict[str, Assignment]:
        """The plan as the registry will hold it: every placed system planned in its wave."""
        return {
            ref: Assignment(ref, p.department, p.wave, p.why, MigrationState.PLANNED)
            for ref, p in self.placements.items()
        }

    @property
    def moved(self) -> tuple[Placement, ...]:
        """The placements a constraint forced out of their previous wave."""
        return tuple(p for p in self.placements.values() if p.status is PlacementStatus.MOVED)


def _phase_words(settings: MigrationSettings, phase: int) -> str:
    if not settings.phase_by_tier:
        return "tiers mixed (phase_by_tier: false)"
    order = settings.tier_order
    tier = order[phase].value
    if phase == 0:
        return f"pilot: {tier} systems move first"
    if phase == len(order) - 1:
        return f"{tier} systems move last"
    return f"{tier} systems after the {order[phase - 1].value} ones"


class _Waves:
    """The waves as they fill: load per wave, skips past full waves, the tiers' first waves."""

    def __init__(self, inventory: Inventory, phases: int) -> None:
        self.settings = inventory.settings
        self.window_gb = inventory.window_gb
        self.cap = inventory.settings.max_systems_per_wave
        self.count: list[int] = [0]  # index 0 unused: waves count from 1
        self.data: list[float] = [0.0]
        self.skip: list[int] = [0]  # union-find: the next wave at or after w that is not full
        self.lowest: list[int | None] = [None] * phases  # first wave of any unit of phase >= p
        self.begun: list[int | None] = [None] * phases  # where a phase began in this run
        self.top = 0
        self.blackouts = {
            code: d.blackouts for code, d in inventory.departments.items() if d.blackouts
        }

    def copy(self) -> _Waves:
        """An independent copy to continue filling."""
        twin = object.__new__(_Waves)
        twin.__dict__.update(self.__dict__)
        for name in ("count", "data", "skip", "lowest", "begun"):
            setattr(twin, name, list(getattr(self, name)))
        return twin

    def _grow(self, wave: int) -> None:
        while len(self.count) <= wave:
            self.skip.append(len(self.count))
            self.count.append(0)
            self.data.append(0.0)

    def open_from(self, wave: int) -> int:
        """The first wave at or after `wave` that still takes a system."""
        self._grow(wave)
        skip = self.skip
        root = wave
        while skip[root] != root:
            root = skip[root]
            self._grow(root)
        while skip[wave] != root:  # compress the path for the next search
            skip[wave], wave = root, skip[wave]
        return root

    def fits(self, wave: int, unit: Unit) -> bool:
        """Whether the unit's systems and data fit the wave's room."""
        self._grow(wave)
        return (
            self.count[wave] + len(unit.members) <= self.cap
            and self.data[wave] + unit.data_gb <= self.window_gb + DATA_TOLERANCE_GB
        )

    def blackout(self, wave: int, departments: Iterable[str]) -> tuple[str, BlackoutWindow] | None:
        """The first blackout of these departments that the wave falls on, if any."""
        if not self.blackouts:
            return None
        days = self.settings.wave_days(wave)
        if days is None:
            return None
        for code in departments:
            for window in self.blackouts.get(code, ()):
                if window.overlaps(*days):
                    return code, window
        return None

    def add(self, wave: int, unit: Unit) -> None:
        """Take the unit's room in the wave."""
        self._grow(wave + 1)
        self.count[wave] += len(unit.members)
        self.data[wave] += unit.data_gb
        if self.count[wave] >= self.cap:
            self.skip[wave] = wave + 1
        # A tier's waves begin at the first wave of a system of that tier or a later one (a
        # system that only waits for a later tier does not open it).
        for phase in range(unit.own_phase + 1):
            low = self.lowest[phase]
            if low is None or wave < low:
                self.lowest[phase] = wave
        self.top = max(self.top, wave)

    def remove(self, wave: int, unit: Unit) -> None:
        """Give the unit's room back (a full wave's skip stays: the room goes unused)."""
        self.count[wave] -= len(unit.members)
        self.data[wave] -= unit.data_gb

    def phase_start(self, phase: int) -> int:
        """The earliest wave for a unit of this phase: its tier's first wave, else a new one."""
        begun = self.begun[phase]
        if begun is None:
            low = self.lowest[phase]
            begun = self.begun[phase] = low if low is not None else self.top + 1
        low = self.lowest[phase]
        return begun if low is None else min(begun, low)

    def first_fit(self, unit: Unit, earliest: int) -> tuple[int, list[str]]:
        """The first wave from `earliest` with room and no blackout, and the waves skipped."""
        skipped: list[str] = []
        wave = self.open_from(earliest)
        no_room = (earliest, wave - 1) if wave > earliest else None
        while True:
            block = self.blackout(wave, unit.departments)
            if block is not None:
                code, window = block
                why = f": {window.reason}" if window.reason else ""
                skipped.append(
                    f"wave {wave} skipped: {code} blackout {window.start}..{window.end}{why}"
                )
            elif self.fits(wave, unit):
                break
            else:
                no_room = (no_room[0] if no_room else wave, wave)
            wave = self.open_from(wave + 1)
        if no_room is not None:
            first, last = no_room
            span = f"wave {first}" if first == last else f"waves {first}-{last}"
            skipped.insert(0, f"no room in {span}")
        return wave, skipped

    def too_big(self, unit: Unit) -> str | None:
        """Why the unit fits no wave at all, if it does not."""
        if len(unit.members) > self.cap:
            return (
                f"its {len(unit.members)} systems must share a wave and a wave takes at most "
                f"{self.cap} (max_systems_per_wave)"
            )
        if unit.data_gb > self.window_gb + DATA_TOLERANCE_GB:
            return (
                f"{unit.data_gb:,.0f} GB must cross in one wave, and the transfer window "
                f"carries {self.window_gb:,.0f} GB"
            )
        return None


def _together(unit: Unit) -> str:
    parts = []
    if unit.groups:
        parts.append(f"move group {', '.join(unit.groups)}")
    if unit.tied:
        parts.append(f"tied to it by dependencies: {', '.join(unit.tied)}")
    return "; ".join(parts)


@dataclass
class _Previous:
    """What the registry says of one unit's members."""

    wave: int | None  # the wave to keep, if any
    pinned: bool  # a member is underway: the unit cannot move
    waves: dict[str, int]  # member → its recorded wave
    whys: dict[str, str]


def _previous(unit: Unit, previous: Mapping[str, Assignment]) -> _Previous:
    waves: dict[str, int] = {}
    whys: dict[str, str] = {}
    pinned_waves = []
    for ref in unit.members:
        found = previous.get(ref)
        if found is None or found.wave is None:
            continue
        waves[ref] = found.wave
        whys[ref] = found.why or ""
        if found.underway:
            pinned_waves.append(found.wave)
    if pinned_waves:
        return _Previous(max(pinned_waves), True, waves, whys)
    return _Previous(max(waves.values()) if waves else None, False, waves, whys)


class _Planner:
    """One planning run over a graph: reserves the previous waves, then places in order."""

    def __init__(
        self,
        inventory: Inventory,
        graph: Graph,
        previous: Mapping[str, Assignment],
        *,
        waves: _Waves | None = None,
        outside: Mapping[str, Placement] | None = None,
        systems: Mapping[str, InventorySystem] | None = None,
    ):
        self.inventory = inventory
        self.settings = inventory.settings
        self.graph = graph
        self.previous = previous
        phases = len(self.settings.tier_order) if self.settings.phase_by_tier else 1
        self.waves = waves if waves is not None else _Waves(inventory, phases)
        # Planning more systems into a finished plan: what they depend on among its placements.
        self.outside = outside or {}
        self.systems = systems or {}
        self.final: list[int | None] = [None] * len(graph.units)
        self.placements: dict[str, Placement] = {}
        self.unplanned: list[Unplanned] = []
        self.evicted: dict[int, str] = {}  # unit → why it lost its previous wave

    def run(self) -> None:
        units = self.graph.units
        history = [_previous(unit, self.previous) for unit in units]
        reserved = self._reserve(units, history)
        for number, unit in enumerate(units):
            before = history[number]
            forced = self.evicted.get(number, "")
            if number in reserved:
                wave = reserved[number]
                forced = "" if before.pinned else self._late_dependency(unit, wave)
                if not forced:
                    self._settle(number, unit, wave, before, None)
                    continue
                self.waves.remove(wave, unit)
            self._place(number, unit, before, forced)

    # -- previous waves ---------------------------------------------------------------------
    def _reserve(self, units: Sequence[Unit], history: Sequence[_Previous]) -> dict[int, int]:
        """Claim each kept unit's previous wave; evict what a blackout or the room forbids."""
        reserved: dict[int, int] = {}
        for number, unit in enumerate(units):
            before = history[number]
            if before.wave is None:
                continue
            block = None if before.pinned else self.waves.blackout(before.wave, unit.departments)
            if block is not None:
                code, window = block
                why = f" ({window.reason})" if window.reason else ""
                self.evicted[number] = (
                    f"wave {before.wave} falls on {code}'s blackout {window.start}..{window.end}"
                    f"{why}"
                )
                continue
            reserved[number] = before.wave
            self.waves.add(before.wave, unit)
        # A wave over its room gives back its latest units first (dependents before what
        # they depend on), so the dependencies stay.
        for number in sorted(reserved, reverse=True):
            wave = reserved[number]
            count, data = self.waves.count[wave], self.waves.data[wave]
            over_cap = count > self.waves.cap
            over_window = data > self.waves.window_gb + DATA_TOLERANCE_GB
            if history[number].pinned or not (over_cap or over_window):
                continue
            self.waves.remove(wave, units[number])
            del reserved[number]
            self.evicted[number] = (
                f"wave {wave} was over its cap of {self.waves.cap} systems"
                if over_cap
                else f"wave {wave} was over its window ({data:,.0f} of "
                f"{self.waves.window_gb:,.0f} GB)"
            )
        return reserved

    def _late_dependency(self, unit: Unit, wave: int) -> str:
        for dep, dependency in zip(unit.depends_on, unit.via, strict=True):
            at = self.final[dep]
            if at is not None and at > wave:
                return f"its dependency {dependency} now moves in wave {at}"
        return ""

    # -- placing ----------------------------------------------------------------------------
    def _place(self, number: int, unit: Unit, before: _Previous, forced: str) -> None:
        big = self.waves.too_big(unit)
        if big is not None:
            for ref in unit.members:
                self.unplanned.append(Unplanned(ref, f"fits no wave: {big}"))
            return
        reasons = [_phase_words(self.settings, unit.phase)]
        earliest = self.waves.phase_start(unit.phase)
        after = None
        for dep, dependency in zip(unit.depends_on, unit.via, strict=True):
            at = self.final[dep]
            if at is not None and at >= earliest:
                earliest, after = at, f"after its dependency {dependency} (wave {at})"
        for ref in unit.members if self.outside else ():
            for dependency in self.systems[ref].depends_on:
                placed = self.outside.get(dependency)
                if placed is not None and placed.wave >= earliest:
                    earliest = placed.wave
                    after = f"after its dependency {dependency} (wave {placed.wave})"
        if after:
            reasons.append(after)
        if unit.phase > unit.own_phase:
            reasons.append(f"waits for the {self.settings.tier_order[unit.phase].value} phase")
        wave, skipped = self.waves.first_fit(unit, earliest)
        self.waves.add(wave, unit)
        together = _together(unit)
        why = "; ".join([*reasons, *skipped, *([together] if together else [])])
        if forced:
            why = f"{forced}; {why}"
        self._settle(number, unit, wave, before, why)

    def _settle(
        self, number: int, unit: Unit, wave: int, before: _Previous, why: str | None
    ) -> None:
        """Record the unit's wave and each member's placement and reason."""
        self.final[number] = wave
        together = _together(unit)
        for ref in unit.members:
            department = ref.split("/", 1)[0]
            old = before.waves.get(ref)
            found = self.previous.get(ref)
            if found is not None and found.underway:
                status, text = (
                    PlacementStatus.UNDERWAY,
                    (f"underway ({found.state.value}): stays in wave {wave}"),
                )
            elif old == wave:
                status, text = PlacementStatus.KEPT, before.whys.get(ref) or (why or "")
            elif old is not None:
                cause = why or f"{together} now in wave {wave}"
                status, text = PlacementStatus.MOVED, f"moved from wave {old}: {cause}"
            else:
                status = PlacementStatus.NEW
                text = why if why is not None else f"{together} in wave {wave}"
            self.placements[ref] = Placement(ref, department, wave, text, status, old)


def plan_waves(inventory: Inventory, previous: Mapping[str, Assignment] | None = None) -> WavePlan:
    """Plan every system of the inventory into waves (the module docstring has the rules)."""
    previous = previous or {}
    settings = inventory.settings
    movable: list[InventorySystem] = []
    unplanned: list[Unplanned] = []
    for system in inventory.systems():
        found = previous.get(system.ref)
        if found is not None and found.on_cloud and not system.classified:
            unplanned.append(
                Unplanned(system.ref, f"on the cloud since its cutover ({found.state.value})")
            )
            continue
        if found is not None and found.underway and found.wave is None:
            unplanned.append(
                Unplanned(system.ref, f"underway ({found.state.value}) outside any wave")
            )
            continue
        # A system the lifecycle holds is its own, whatever the YAML says; a planned one the
        # county now declares on the cloud needs no wave.
        underway = found is not None and found.underway
        not_work = _not_work(system) if not underway or system.classified else None
        if not_work is None:
            movable.append(system)
        else:
            unplanned.append(not_work)
    graph = build_graph(movable, settings.tier_order, by_tier=settings.phase_by_tier)
    planner = _Planner(inventory, graph, previous)
    planner.run()
    return _result(inventory, graph, planner, unplanned, None)


def _not_work(system: InventorySystem) -> Unplanned | None:
    if system.classified:
        return Unplanned(system.ref, "classified (涉密): never moves to the cloud")
    if system.on_cloud:
        return Unplanned(system.ref, "already on the cloud (location: cloud)")
    return None


def replan(base: WavePlan, inventory: Inventory) -> WavePlan:
    """Plan again after departments were added, in time proportional to what was added.

    The result follows the same rules as `plan_waves(inventory, base.assignments())` and moves
    nothing `base` placed. Any other change (a department changed or removed, other settings,
    a new system joining an existing move group) takes that full path instead.
    """
    basis = base.basis
    if basis is None or basis.inventory.settings != inventory.settings:
        return plan_waves(inventory, base.assignments())
    before = basis.inventory.departments
    if any(inventory.departments.get(code) != found for code, found in before.items()):
        return plan_waves(inventory, base.assignments())
    movable: list[InventorySystem] = []
    unplanned = list(base.unplanned)
    groups = {g for contents in basis.contents.values() for g in contents.groups}
    for code, department in inventory.departments.items():
        if code in before:
            continue
        for system in department.systems:
            if system.move_group in groups:
                return plan_waves(inventory, base.assignments())
            not_work = _not_work(system)
            if not_work is None:
                movable.append(system)
            else:
                unplanned.append(not_work)
    settings = inventory.settings
    graph = build_graph(movable, settings.tier_order, by_tier=settings.phase_by_tier)
    planner = _Planner(
        inventory,
        graph,
        {},
        waves=basis.waves.copy(),
        outside=base.placements,
        systems={s.ref: s for s in movable},
    )
    planner.run()
    return _result(inventory, graph, planner, unplanned, base)


def _wave_why(settings: MigrationSettings, contents: WaveContents, cap: int, window: float) -> str:
    phases = sorted(contents.phases)
    words = (
        _phase_words(settings, phases[-1])
        if len(phases) == 1
        else (
            "tiers "
            + ", ".join(settings.tier_order[p].value for p in phases)
            + " together (room left in an earlier tier's wave)"
        )
    )
    why = (
        f"{words}; {len(contents.systems)} of {cap} systems, "
        f"{contents.data_gb:,.0f} of {window:,.0f} GB"
    )
    if contents.groups:
        why += f"; move groups {', '.join(sorted(contents.groups))} together"
    return why


def _result(
    inventory: Inventory,
    graph: Graph,
    planner: _Planner,
    unplanned: list[Unplanned],
    base: WavePlan | None,
) -> WavePlan:
    settings = inventory.settings
    contents: dict[int, WaveContents] = {}
    waves: dict[int, Wave] = {}
    if base is not None and base.basis is not None:
        contents.update(base.basis.contents)
        waves.update((w.number, w) for w in base.waves)
    by_wave: dict[int, list[Unit]] = {}
    for number, wave in enumerate(planner.final):
        if wave is not None:
            by_wave.setdefault(wave, []).append(graph.units[number])
    cap, window = planner.waves.cap, planner.waves.window_gb
    for wave, units in by_wave.items():  # units in placing order: dependencies first
        found = contents.get(wave, WaveContents((), 0.0, frozenset(), frozenset()))
        held = contents[wave] = WaveContents(
            systems=(*found.systems, *(ref for unit in units for ref in unit.members)),
            data_gb=found.data_gb + sum(unit.data_gb for unit in units),
            phases=found.phases | {unit.phase for unit in units},
            groups=found.groups | {g for unit in units for g in unit.groups},
        )
        days = settings.wave_days(wave)
        why = _wave_why(settings, held, cap, window)
        waves[wave] = Wave(wave, days[0] if days else None, held.systems, held.data_gb, why)
    placements: Mapping[str, Placement] = planner.placements
    if base is not None:
        placements = {**base.placements, **planner.placements}
    return WavePlan(
        waves=tuple(waves[w] for w in sorted(waves)),
        unplanned=tuple(sorted([*unplanned, *planner.unplanned], key=lambda u: u.system)),
        placements=MappingProxyType(dict(placements)),
        window_gb=window,
        max_systems=cap,
        basis=_Basis(inventory, planner.waves, MappingProxyType(contents)),
    )


def run_order(county: County, systems: Iterable[str]) -> list[str]:
    """A wave's systems in the order they move: each after the ones of the wave it depends on,
    then by name (the county model refuses cycles among systems)."""
    wanted = set(systems)
    depends = {
        f"{d.code}/{s.code}": [ref for ref in s.depends_on if ref in wanted]
        for d in county.departments
        for s in d.systems
        if f"{d.code}/{s.code}" in wanted
    }
    sorter = TopologicalSorter({ref: depends.get(ref, []) for ref in sorted(wanted)})
    sorter.prepare()
    ordered: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        ordered.extend(ready)
        sorter.done(*ready)
    return ordered
