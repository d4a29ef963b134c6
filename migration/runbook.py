"""Runbooks per wave (迁移手册): steps, owners, checks, each step's rollback, expected downtime.

    runbooks(plan, inventory) -> dict[file name, text]

Rendered with jinja2 from `migration/templates/` in Chinese first with English beside, as
Markdown (for review in git) and HTML (to print and sign off), from the same plan the CLI
prints. Pure: the caller writes the files.

Expected downtime per system: a warm migration replicates while the source serves, so the
outage is the cutover alone (stop writes, drain the last changes, promote, move the name): a few
seconds. A cold one stops the source, copies the data and restores it, so its outage is the copy
at the migration link's bandwidth plus the fixed work around it. A system gets the cold
migration when that fits its `max_downtime_min` (simpler, nothing to keep in sync), else warm.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from govcloud.model import MigrationSettings, Tier
from govcloud.registry.migration_state import MigrationMode
from migration.inventory import Inventory, InventorySystem, transfer_hours
from migration.waves import Wave, WavePlan

# The write outage a warm cutover aims at (issue 14's goal: at most 5 s under load).
WARM_CUTOVER_S = 5
# Around a cold copy: stop the service, start it on the cloud, check rows and checksums.
COLD_FIXED_S = 15 * 60
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600


class Step(StrEnum):
    """The steps of a system's migration, in order (the lifecycle's phases)."""

    PRECHECK = "precheck"
    REPLICATE = "replicate"
    TEST = "test"
    CUTOVER = "cutover"
    VERIFY = "verify"
    FINALIZE = "finalize"


@dataclass(frozen=True)
class Downtime:
    """A system's migration mode and the outage to expect, in seconds."""

    mode: MigrationMode
    seconds: float
    cold_seconds: float  # what a cold migration would cost, for comparison
    allowed_seconds: int


def downtime(system: InventorySystem, settings: MigrationSettings) -> Downtime:
    """The mode and expected outage for one system (module docstring)."""
    cold = transfer_hours(system.data_gb, settings) * SECONDS_PER_HOUR + COLD_FIXED_S
    allowed = system.max_downtime_min * SECONDS_PER_MINUTE
    if cold <= allowed:
        return Downtime(MigrationMode.COLD, cold, cold, allowed)
    return Downtime(MigrationMode.WARM, WARM_CUTOVER_S, cold, allowed)


def duration(seconds: float) -> str:
    """A short duration: 5 s, 12 min, 3.5 h."""
    if seconds < SECONDS_PER_MINUTE:
        return f"{seconds:.0f} s"
    if seconds < SECONDS_PER_HOUR:
        return f"{seconds / SECONDS_PER_MINUTE:.0f} min"
    return f"{seconds / SECONDS_PER_HOUR:.1f} h"


@dataclass(frozen=True)
class RunbookSystem:
    """One system as its wave's runbook lists it."""

    ref: str
    name: str
    tier: Tier
    data_gb: float
    depends_on: tuple[str, ...]
    move_group: str | None
    downtime: Downtime
    why: str


@dataclass(frozen=True)
class Runbook:
    """One wave's runbook: the wave, its systems in order, and the county's link."""

    wave: Wave
    systems: tuple[RunbookSystem, ...]
    settings: MigrationSettings
    window_gb: float


def build(plan: WavePlan, inventory: Inventory) -> list[Runbook]:
    """One runbook per wave, its systems in the wave's order (dependencies first)."""
    systems = {s.ref: s for s in inventory.systems()}
    books = []
    for wave in plan.waves:
        listed = []
        for ref in wave.systems:
            system = systems[ref]
            listed.append(
                RunbookSystem(
                    ref=ref,
                    name=system.name,
                    tier=system.tier,
                    data_gb=system.data_gb,
                    depends_on=system.depends_on,
                    move_group=system.move_group,
                    downtime=downtime(system, inventory.settings),
                    why=plan.placements[ref].why,
                )
            )
        books.append(Runbook(wave, tuple(listed), inventory.settings, plan.window_gb))
    return books


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("migration", "templates"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html.j2"]),  # HTML escapes; Markdown stays as written
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["duration"] = duration
    return environment


def runbooks(plan: WavePlan, inventory: Inventory) -> dict[str, str]:
    """Every wave's runbook as Markdown and HTML, and an index: file name → text."""
    environment = _environment()
    books = build(plan, inventory)
    files: dict[str, str] = {}
    for book in books:
        stem = f"wave-{book.wave.number:03d}"
        context = {"book": book, "steps": list(Step), "cold": MigrationMode.COLD}
        files[f"{stem}.md"] = environment.get_template("runbook.md.j2").render(context)
        files[f"{stem}.html"] = environment.get_template("runbook.html.j2").render(context)
    files["index.md"] = environment.get_template("index.md.j2").render(
        books=books, unplanned=plan.unplanned
    )
    return files
