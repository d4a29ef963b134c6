"""Which systems a drill covers: those the DR stack replicates, in the order they recover.

A system is drillable when the DR stack's outputs (`dr_replicas`, from the DR program) list
it: its tier's policy puts something at the DR site and the system runs on the cloud. The
recovery order follows the county's dependencies: a system's dependencies recover before it
(Azure Site Recovery's ordered boot groups); systems without an order between them go by their
policy's RTO, tightest first (a core system does not wait behind a general one's restore),
then by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from govcloud.errors import BadInputError
from govcloud.model import County, DrPolicy, Replication, Tier


@dataclass(frozen=True)
class Target:
    """One system a drill covers, with the policy it is measured against."""

    system: str
    department: str
    tier: Tier
    policy: DrPolicy
    depends_on: tuple[str, ...]

    @property
    def policy_dict(self) -> dict[str, Any]:
        """The policy as `dr status --json` and the reports print it."""
        return self.policy.model_dump(mode="json")


@dataclass(frozen=True)
class Scope:
    """What a drill was asked to cover: exactly one of a system, a department, a tier."""

    system: str | None = None
    department: str | None = None
    tier: str | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.system, self.department, self.tier) if v is not None]
        if len(given) != 1:
            raise BadInputError(
                "name what to drill: exactly one of --system dept/system, --department D, "
                "--tier core|important|general"
            )
        if self.tier is not None and self.tier not in {t.value for t in Tier}:
            raise BadInputError(
                f"--tier {self.tier}: choose one of {', '.join(t.value for t in Tier)}"
            )
        if self.system is not None and self.system.count("/") != 1:
            raise BadInputError(f"--system {self.system!r}: name it as dept/system, e.g. cgj/zhifa")

    def __str__(self) -> str:
        if self.system is not None:
            return f"system:{self.system}"
        if self.department is not None:
            return f"department:{self.department}"
        return f"tier:{self.tier}"


def replicated(outputs: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The DR stack's replicas by system (its `dr_replicas` output)."""
    return {str(r["system"]): r for r in outputs.get("dr_replicas", [])}


def all_targets(county: County, replicas: Mapping[str, Mapping[str, Any]]) -> list[Target]:
    """Every system the DR stack replicates, with its county policy, in recovery order."""
    found = []
    for department in county.departments:
        for system in department.systems:
            ref = f"{department.code}/{system.code}"
            if ref in replicas:
                found.append(
                    Target(
                        ref,
                        department.code,
                        system.tier,
                        county.dr.policies[system.tier],
                        tuple(system.depends_on),
                    )
                )
    return recovery_order(found)


def select(county: County, replicas: Mapping[str, Mapping[str, Any]], scope: Scope) -> list[Target]:
    """The systems `scope` covers that the DR stack replicates; BadInputError (exit 2) naming
    why when there is none, or when the system named has no replica."""
    every = all_targets(county, replicas)
    if scope.system is not None:
        known = {f"{d.code}/{s.code}": s for d in county.departments for s in d.systems}
        if scope.system not in known:
            raise BadInputError(f"--system {scope.system}: no such system in {county.name}")
        chosen = [t for t in every if t.system == scope.system]
        if not chosen:
            policy = county.dr.policies[known[scope.system].tier]
            why = (
                "its tier's policy keeps nothing at the DR site"
                if policy.replication is Replication.NONE
                else "the DR stack has no replica of it (is it on the cloud? deploy the "
                "DR stack, `govcloud plan --stack dr`)"
            )
            raise BadInputError(f"--system {scope.system}: nothing to drill: {why}")
        return chosen
    if scope.department is not None:
        if scope.department not in {d.code for d in county.departments}:
            raise BadInputError(f"--department {scope.department}: no such department")
        chosen = [t for t in every if t.department == scope.department]
    else:
        chosen = [t for t in every if t.tier.value == scope.tier]
    if not chosen:
        raise BadInputError(f"{scope}: the DR stack replicates no system there: nothing to drill")
    return chosen


def recovery_order(targets: Sequence[Target]) -> list[Target]:
    """Dependencies first (among the targets), otherwise the tightest RTO first, then by name;
    a loop keeps that order."""
    # Iterated in this order: the most urgent system is placed first, after what it needs.
    by_name = {t.system: t for t in sorted(targets, key=lambda t: (t.policy.rto_s, t.system))}
    placed: list[Target] = []
    done: set[str] = set()

    def place(target: Target, path: frozenset[str]) -> None:
        if target.system in done or target.system in path:
            return
        for dependency in sorted(target.depends_on):
            if dependency in by_name:
                place(by_name[dependency], path | {target.system})
        if target.system not in done:
            done.add(target.system)
            placed.append(target)

    for target in by_name.values():
        place(target, frozenset())
    return placed


def uncovered(county: County, replicas: Iterable[str]) -> list[str]:
    """Systems on no drill's list: their tier is protected but the DR stack has no replica."""
    have = set(replicas)
    return sorted(
        f"{d.code}/{s.code}"
        for d in county.departments
        for s in d.systems
        if county.dr.protects(s.tier) and f"{d.code}/{s.code}" not in have and not s.classified
    )
