"""Whole-county checks: the rules no single field can check on its own.

Every check returns findings instead of raising, so that `govcloud validate` can report every
problem at once. A finding's path addresses the county as one document:
`("extranet", "ipv4_pools", 1)` or `("departments", 3, "systems", 0, "depends_on", 2)`, where
the number after "departments" is the department's index in `County.departments`. The loader
turns paths into file, line and column.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import combinations

import netaddr

from govcloud import constants
from govcloud.model import County, Department, Location, SiteRole

Path = tuple[str | int, ...]


class Severity(StrEnum):
    """An error stops the command; a warning is shown with its place and the command goes on."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem in the county data, addressed by its path in the county document."""

    path: Path
    message: str
    severity: Severity = Severity.ERROR


# A check beyond the county's own rules (a command's, e.g. migration planning): the loader runs
# it with the others and places its findings in their files.
Check = Callable[[County], Iterable[Finding]]


def system_ref(department: str, system: str) -> str:
    """A system's county-wide name, as `depends_on` writes it: "department/system"."""
    return f"{department}/{system}"


def move_group_key(department: str, group: str) -> str:
    """A move group's county-wide name: "department/group" (a bare name is the department's)."""
    return group if "/" in group else f"{department}/{group}"


def check_county(
    county: County, *, unresolved_departments: frozenset[str] = frozenset()
) -> list[Finding]:
    """Run every whole-county check and return all findings, in document order.

    `unresolved_departments` names departments whose own file failed to load: dependencies on
    their systems are not reported as unknown, since the file's own error already is.
    """
    findings: list[Finding] = []
    findings += _check_sites(county)
    findings += _check_extranet(county)
    findings += _check_departments(county)
    findings += _check_dependencies(county, unresolved_departments)
    findings += _check_move_groups(county, unresolved_departments)
    return findings


def _duplicates(values: Iterable[str]) -> set[str]:
    return {value for value, count in Counter(values).items() if count > 1}


def _check_sites(county: County) -> Iterator[Finding]:
    for field in ("name", "region"):
        repeated = _duplicates(getattr(site, field) for site in county.sites)
        for index, site in enumerate(county.sites):
            if getattr(site, field) in repeated:
                yield Finding(
                    ("sites", index, field),
                    f"site {field} {getattr(site, field)!r} is used by more than one site; "
                    f"each site needs its own {field}",
                )
    primaries = [i for i, site in enumerate(county.sites) if site.role is SiteRole.PRIMARY]
    if len(primaries) != 1:
        yield Finding(
            ("sites",),
            f"the county needs exactly one site with role 'primary', found {len(primaries)}",
        )


def _check_extranet(county: County) -> Iterator[Finding]:
    pools = [netaddr.IPNetwork(pool) for pool in county.extranet.ipv4_pools]
    for (i, first), (j, second) in combinations(enumerate(pools), 2):
        if (
            first in second
            or second in first
            or (first.first <= second.last and second.first <= first.last)
        ):
            yield Finding(
                ("extranet", "ipv4_pools", j),
                f"pool {second.cidr} overlaps pool {first.cidr} (entry {i + 1}); "
                "extranet pools must be disjoint",
            )

    prefix = netaddr.IPNetwork(county.extranet.ipv6_prefix)
    if prefix.prefixlen % constants.NIBBLE_BITS:
        yield Finding(
            ("extranet", "ipv6_prefix"),
            f"IPv6 prefix {prefix.cidr} is not on a nibble boundary; use a length divisible "
            f"by 4, e.g. /{prefix.prefixlen - prefix.prefixlen % constants.NIBBLE_BITS}",
        )
    plan = county.extranet.ipv6_plan
    levels = {
        "block": plan.block,
        "department": plan.department,
        "township": plan.township,
        "subnet": plan.subnet,
    }
    for level, length in levels.items():
        if length % constants.NIBBLE_BITS:
            yield Finding(
                ("extranet", "ipv6_plan", level),
                f"ipv6_plan.{level} /{length} is not on a nibble boundary; use a length "
                "divisible by 4 so that each level is its own ip6.arpa zone",
            )
    if plan.subnet != constants.IPV6_SUBNET_PREFIXLEN:
        yield Finding(
            ("extranet", "ipv6_plan", "subnet"),
            f"ipv6_plan.subnet must be /{constants.IPV6_SUBNET_PREFIXLEN} (SLAAC needs a /64, "
            f"RFC 4291), not /{plan.subnet}",
        )
    if plan.block <= prefix.prefixlen:
        yield Finding(
            ("extranet", "ipv6_plan", "block"),
            f"ipv6_plan.block /{plan.block} must be longer than the county prefix "
            f"/{prefix.prefixlen}",
        )
    for level in ("department", "township"):
        length = levels[level]
        if not plan.block < length <= plan.subnet:
            yield Finding(
                ("extranet", "ipv6_plan", level),
                f"ipv6_plan.{level} /{length} must lie between the block /{plan.block} "
                f"(exclusive) and the subnet /{plan.subnet}",
            )


def usable_hosts(prefix: netaddr.IPNetwork) -> int:
    """Host addresses in an IPv4 prefix (RFC 3021: a /31 has two, a /32 one)."""
    if prefix.prefixlen >= constants.IPV4_P2P_PREFIXLEN:
        return int(prefix.size)
    return int(prefix.size) - 2


def _check_departments(county: County) -> Iterator[Finding]:
    repeated_codes = _duplicates(d.code for d in county.departments)
    for index, department in enumerate(county.departments):
        base: Path = ("departments", index)
        if department.code in repeated_codes:
            yield Finding(
                (*base, "code"),
                f"department code {department.code!r} is used by more than one department",
            )
        yield from _check_department(base, department)


def _check_department(base: Path, department: Department) -> Iterator[Finding]:
    repeated_networks = _duplicates(n.name for n in department.legacy_networks)
    for index, network in enumerate(department.legacy_networks):
        where: Path = (*base, "legacy_networks", index)
        if network.name in repeated_networks:
            yield Finding(
                (*where, "name"),
                f"legacy network name {network.name!r} is used twice in {department.code}",
            )
        room = usable_hosts(netaddr.IPNetwork(network.prefix))
        if network.hosts > room:
            yield Finding(
                (*where, "hosts"),
                f"{network.hosts} hosts do not fit in {network.prefix} ({room} usable "
                "addresses); fix the host count or the prefix",
            )
    # Each legacy network becomes a network in the department's cloud tenant (the stacks), so
    # a smaller network quota stops every deployment of that tenant.
    if len(department.legacy_networks) > department.quota.networks:
        yield Finding(
            (*base, "quota", "networks"),
            f"{department.code} has {len(department.legacy_networks)} legacy networks, each a "
            f"network in its cloud tenant, but quota.networks is {department.quota.networks}: "
            f"raise it to {len(department.legacy_networks)} or more",
        )
    repeated_systems = _duplicates(s.code for s in department.systems)
    for index, system in enumerate(department.systems):
        where = (*base, "systems", index)
        if system.code in repeated_systems:
            yield Finding(
                (*where, "code"),
                f"system code {system.code!r} is used twice in {department.code}",
            )
        if system.classified and system.location is Location.CLOUD:
            yield Finding(
                (*where, "location"),
                f"classified (涉密) system {department.code}/{system.code} cannot have "
                "location 'cloud'; classified systems stay on their own networks",
            )


def _check_dependencies(county: County, unresolved: frozenset[str]) -> Iterator[Finding]:
    known: set[str] = set()
    for department in county.departments:
        known.update(f"{department.code}/{system.code}" for system in department.systems)

    # Edges keep the path of the depends_on entry so that a cycle is reported where it closes.
    edges: dict[str, list[tuple[str, Path]]] = {ref: [] for ref in known}
    for d_index, department in enumerate(county.departments):
        for s_index, system in enumerate(department.systems):
            ref = f"{department.code}/{system.code}"
            for k, target in enumerate(system.depends_on):
                where: Path = ("departments", d_index, "systems", s_index, "depends_on", k)
                if target not in known:
                    if target.split("/", 1)[0] in unresolved:
                        continue
                    yield Finding(
                        where,
                        f"{ref} depends on {target}, which no department declares; "
                        "check the department and system codes",
                    )
                elif target == ref:
                    yield Finding(where, f"{ref} depends on itself")
                else:
                    edges[ref].append((target, where))
    yield from _cycle_findings(edges)


def _cycle_findings(edges: dict[str, list[tuple[str, Path]]]) -> Iterator[Finding]:
    """Report one finding per dependency cycle, at the depends_on entry that closes it."""
    successors = {node: [target for target, _ in targets] for node, targets in edges.items()}
    for component in strongly_connected(successors):
        if len(component) < 2:  # self-dependencies are reported on their own
            continue
        members = set(component)
        cycle = _walk_cycle(min(members), members, edges)
        closing = next(where for target, where in edges[cycle[-2]] if target == cycle[-1])
        yield Finding(closing, "dependency cycle: " + " → ".join(cycle))


def strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iterative so deep chains cannot overflow."""
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index_of[node] = low[node] = len(index_of)
        stack.append(node)
        on_stack.add(node)

    for root in sorted(graph):
        if root in index_of:
            continue
        visit(root)
        work: list[tuple[str, Iterator[str]]] = [(root, iter(graph[root]))]
        while work:
            node, pending = work[-1]
            target = next((t for t in pending if t not in index_of or t in on_stack), None)
            if target is not None:
                if target in index_of:
                    low[node] = min(low[node], index_of[target])
                else:
                    visit(target)
                    work.append((target, iter(graph[target])))
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index_of[node]:
                components.append(_pop_component(stack, on_stack, node))
    return components


def _pop_component(stack: list[str], on_stack: set[str], root: str) -> list[str]:
    component: list[str] = []
    while True:
        member = stack.pop()
        on_stack.discard(member)
        component.append(member)
        if member == root:
            return component


def _walk_cycle(
    start: str, members: set[str], edges: dict[str, list[tuple[str, Path]]]
) -> list[str]:
    """Return one concrete cycle start → ... → start inside a strongly connected component."""
    path = [start]
    seen = {start}
    node = start
    while True:
        targets = [t for t, _ in edges[node] if t in members]
        if start in targets and len(path) > 1:
            return [*path, start]
        unseen = [t for t in targets if t not in seen]
        if not unseen:
            # Every successor was seen: close the loop at the first repeated node.
            repeat = targets[0]
            return [*path[path.index(repeat) :], repeat]
        node = unseen[0]
        path.append(node)
        seen.add(node)


def _check_move_groups(county: County, unresolved: frozenset[str]) -> Iterator[Finding]:
    """Move groups name known departments and hold no classified system (it never moves)."""
    codes = {department.code for department in county.departments} | unresolved
    members: dict[str, list[tuple[Path, str, bool]]] = defaultdict(list)
    for d_index, department in enumerate(county.departments):
        for s_index, system in enumerate(department.systems):
            if system.move_group is None:
                continue
            where: Path = ("departments", d_index, "systems", s_index, "move_group")
            key = move_group_key(department.code, system.move_group)
            owner = key.split("/", 1)[0]
            if owner not in codes:
                yield Finding(
                    where,
                    f"move group {key} names department {owner!r}, which the county does not "
                    "have; check the department code",
                )
                continue
            ref = system_ref(department.code, system.code)
            members[key].append((where, ref, system.classified))
    for key, group in members.items():
        others = [ref for _, ref, classified in group if not classified]
        for where, ref, classified in group:
            if classified and others:
                yield Finding(
                    where,
                    f"move group {key} holds classified (涉密) system {ref}, which never moves "
                    f"to the cloud, so {', '.join(others)} could never move with it: remove "
                    f"move_group from {ref}",
                )
