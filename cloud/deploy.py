"""Make a cloud match a stack's desired state: the plan's own changes, carried out through
openstacksdk.

This stands in for `pulumi up` where the Pulumi engine cannot run (it cannot be installed on
these machines, docs/stacks.md): `govcloud localcloud deploy` uses it on the local cloud only.
It works from exactly what `govcloud plan` shows, the desired items of the stack under mocks
against the live items of one snapshot, so a deploy and the plan after it cannot disagree.

    deployer = Deployer(connect, snapshot, desired, live, report, progress=print)
    result = deployer.run(workers=4)

Order: county-wide resources are created and updated first; then each department in
parallel creates and updates in dependency order (`items.KINDS`) and deletes in the reverse
order; county-wide deletions come last. Only what the plan lists is touched, and the plan only
lists what carries the county's tags or names (`live_items`), so nothing of anybody else is
ever deleted. A run that stops half way (a lost link, a killed process) leaves resources the
next plan sees: the next run creates what is missing and carries on.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Final

from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import generic
from openstack import exceptions as sdk_exceptions
from openstack.config import cloud_region
from openstack.connection import Connection

from cloud.inventory import Snapshot, api_calls, connect
from cloud.plan.diff import Action, PlanReport
from cloud.plan.items import ANY, KEY_FIELDS, KINDS, Item
from cloud.plan.live_items import live_items
from cloud.plan.run import DesiredSide, StackPlan, plan_against
from govcloud.conventions import DEFAULT_IMAGE, ROLE_OPERATOR, TAG_COUNTY
from govcloud.errors import BadInputError

DEFAULT_DOMAIN: Final = "default"
SERVER_WAIT_S: Final = 900  # the fake driver builds one server at a time per region
VOLUME_WAIT_S: Final = 300
ROUTER_INTERFACE_OWNER: Final = "network:router_interface"
COMPUTE_KINDS: Final = frozenset({"server", "volume"})  # built in a department's own project
BATCH_SIZE: Final = 200  # resources per bulk request (rules, limits)
# Attributes Neutron, Nova and Cinder cannot change in place: the resource is replaced.
REPLACED_ON: Final = {
    "address_scope": frozenset({"ip_version"}),
    "subnet_pool": frozenset({"ip_version", "address_scope"}),
    "network": frozenset({"provider_network_type", "provider_physical_network"}),
    "subnet": frozenset(
        {"network", "ip_version", "cidr", "ipv6_ra_mode", "ipv6_address_mode", "subnet_pool"}
    ),
    "server": frozenset({"flavor", "networks"}),
}

Connect = Callable[[str | None], Connection]  # a connection, scoped to a project ID if given
Progress = Callable[[str], None]


@dataclass
class DeployResult:
    """What one run did, per kind and action, and how long it took."""

    done: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    departments: int = 0
    seconds: float = 0.0
    api_calls: int = 0

    def totals(self) -> Counter[str]:
        """Resources per action over every kind."""
        total: Counter[str] = Counter()
        for counts in self.done.values():
            total.update(counts)
        return total

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {
            "done": {kind: dict(counts) for kind, counts in sorted(self.done.items())},
            "totals": {
                a.value: self.totals()[a.value] for a in Action if a is not Action.UNCHANGED
            },
            "departments": self.departments,
            "seconds": round(self.seconds, 2),
            "api_calls": self.api_calls,
        }


@dataclass(frozen=True)
class Step:
    """One resource to change: its action, the desired item (create, update), the live item
    (update, delete) and the attributes that differ (update)."""

    action: Action
    kind: str
    key: tuple[str, ...]
    want: Item | None
    have: Item | None
    changed: frozenset[str] = frozenset()


def steps_of(report: PlanReport, desired: Iterable[Item], live: Iterable[Item]) -> list[Step]:
    """The plan's changes as one step per resource (an update lists every differing attribute;
    an update of an attribute that cannot change in place becomes a delete and a create)."""
    want = {(i.kind, i.key): i for i in desired}
    have = {(i.kind, i.key): i for i in live}
    changed: dict[tuple[str, tuple[str, ...]], set[str]] = defaultdict(set)
    steps: list[Step] = []
    for change in report.changes:
        ident = (change.kind, change.key)
        if change.action is Action.UPDATE:
            changed[ident].add(str(change.attribute))
        elif change.action is Action.CREATE:
            steps.append(Step(Action.CREATE, change.kind, change.key, want[ident], None))
        else:
            steps.append(Step(Action.DELETE, change.kind, change.key, None, have[ident]))
    replaced: set[tuple[str, ...]] = set()
    for (kind, key), names in changed.items():
        wanted, found = want[(kind, key)], have[(kind, key)]
        if names & REPLACED_ON.get(kind, frozenset()):
            steps += [
                Step(Action.DELETE, kind, key, None, found),
                Step(Action.CREATE, kind, key, wanted, None),
            ]
            if kind == "server":
                replaced.add(key)
        else:
            steps.append(Step(Action.UPDATE, kind, key, wanted, found, frozenset(names)))
    return _reattach(steps, replaced, want, have)


def _reattach(
    steps: list[Step],
    servers: set[tuple[str, ...]],
    want: Mapping[tuple[str, tuple[str, ...]], Item],
    have: Mapping[tuple[str, tuple[str, ...]], Item],
) -> list[Step]:
    """A replaced server loses its volumes with it: attach them to the new one in the same run
    (the plan saw them attached to a server of that name, so it listed no change for them)."""
    if not servers:
        return steps
    gone: dict[tuple[str, ...], set[str]] = {key[:2]: set() for key in servers}
    for key in servers:
        gone[key[:2]].add(key[2])
    updates = {(s.kind, s.key): i for i, s in enumerate(steps) if s.action is Action.UPDATE}
    for (kind, key), wanted in want.items():
        lost = gone.get(key[:2], set()) & set(wanted.attrs.get("attached_to", ()))
        found = have.get((kind, key))
        if kind != "volume" or not lost or found is None:
            continue
        kept = [s for s in found.attrs["attached_to"] if s not in lost]
        detached = replace(found, attrs={**found.attrs, "attached_to": kept})
        if (kind, key) in updates:
            index = updates[(kind, key)]
            step = steps[index]
            steps[index] = replace(step, have=detached, changed=step.changed | {"attached_to"})
        else:
            steps.append(
                Step(Action.UPDATE, kind, key, wanted, detached, frozenset({"attached_to"}))
            )
    return steps


def project_of(kind: str, key: tuple[str, ...], group_projects: Mapping[str, str]) -> str:
    """The department project a resource belongs to ("" for county-wide resources)."""
    if kind == "project":
        return key[0]
    if kind == "group":
        return group_projects.get(key[0], "")
    fields = KEY_FIELDS[kind]
    return key[fields.index("project")] if "project" in fields else ""


def _name(kind: str, key: tuple[str, ...]) -> str:
    """A resource's own name: the last part of its key (a rule has none)."""
    return "" if kind in {"role_assignment", "limit", "security_group_rule"} else key[-1]


class _Ids:
    """Names to IDs, shared by the department workers (each adds what it creates)."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def add(self, kind: str, name: str, resource_id: str) -> None:
        with self._lock:
            self._ids[(kind, name)] = resource_id

    def get(self, kind: str, name: str) -> str:
        with self._lock:
            found = self._ids.get((kind, name))
        if found is None:
            raise BadInputError(f"no {kind} named {name!r} in the cloud: run the deploy again")
        return found

    def find(self, kind: str, name: str) -> str | None:
        with self._lock:
            return self._ids.get((kind, name))


class Deployer:
    """Carries out one stack's steps in one region (see the module docstring)."""

    def __init__(
        self,
        connect: Connect,
        snapshot: Snapshot,
        *,
        county_code: str,
        steps: list[Step],
        progress: Progress | None = None,
    ) -> None:
        self.connect = connect
        self.steps = steps
        self.progress = progress or (lambda _message: None)
        self.result = DeployResult()
        self.ids = _Ids()
        tag = f"{TAG_COUNTY}{county_code}"
        for project in snapshot.projects:
            if tag in project.tags:
                self.ids.add("project", project.name, project.id)
        for group in snapshot.groups:
            self.ids.add("group", group.name, group.id)
        for kind in ("address_scopes", "subnet_pools", "networks", "subnets", "routers"):
            for record in getattr(snapshot, kind):
                self.ids.add(kind.removesuffix("s"), record.name, record.id)
        for record in snapshot.security_groups:
            self.ids.add("security_group", record.name, record.id)
        for record in snapshot.servers:
            self.ids.add("server", record.name, record.id)
        self._group_projects = {
            i.key[1]: i.key[0]
            for s in steps
            for i in (s.want, s.have)
            if i is not None and i.kind == "role_assignment"
        }
        self._lock = threading.Lock()
        self._admin_cache: dict[str, Any] = {}

    # -- orchestration ----------------------------------------------------------------------
    def run(self, workers: int = 4) -> DeployResult:
        """Every step: county-wide first, departments in parallel, county-wide deletes last."""
        started = time.monotonic()
        county: list[Step] = []
        departments: dict[str, list[Step]] = defaultdict(list)
        for step in self.steps:
            project = project_of(step.kind, step.key, self._group_projects)
            (departments[project] if project else county).append(step)
        order = {kind: n for n, kind in enumerate(KINDS)}
        admin = self.connect(None)
        self._apply(admin, [s for s in county if s.action is not Action.DELETE], order, "")
        self.result.departments = len(departments)

        def one(project: str) -> None:
            self._apply(self.connect(None), departments[project], order, project)
            done = Counter(s.action.value for s in departments[project])
            self.progress(f"{project}: {', '.join(f'{n} {a}' for a, n in sorted(done.items()))}")

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            list(pool.map(one, sorted(departments)))
        self._apply(admin, [s for s in county if s.action is Action.DELETE], order, "")
        self.result.seconds = time.monotonic() - started
        return self.result

    def _apply(
        self, c: Connection, steps: list[Step], order: Mapping[str, int], project: str
    ) -> None:
        # A server replaced (its flavor or network changed) goes before its successor is made.
        creating = {(s.kind, s.key) for s in steps if s.action is Action.CREATE}
        first = [
            s
            for s in steps
            if s.action is Action.DELETE and s.kind == "server" and (s.kind, s.key) in creating
        ]
        for step in first:
            self._one(c, step)
        forward = sorted(
            (s for s in steps if s.action is not Action.DELETE), key=lambda s: order[s.kind]
        )
        backward = sorted(
            (s for s in steps if s.action is Action.DELETE and s not in first),
            key=lambda s: -order[s.kind],
        )
        compute = [s for s in forward if s.kind in COMPUTE_KINDS]
        for kind, of_kind in itertools.groupby(
            (s for s in forward if s.kind not in COMPUTE_KINDS), key=lambda s: s.kind
        ):
            batch = getattr(self, f"_create_{kind}s", None)
            pending = list(of_kind)
            if batch is not None:
                creates = [s for s in pending if s.action is Action.CREATE]
                for start in range(0, len(creates), BATCH_SIZE):
                    chunk = creates[start : start + BATCH_SIZE]
                    batch(c, chunk)
                    self._count(kind, Action.CREATE, len(chunk))
                pending = [s for s in pending if s.action is not Action.CREATE]
            for step in pending:
                self._one(c, step)
        if compute:
            self._compute(c, project, compute)
        for step in backward:
            self._one(c, step)

    def _one(self, c: Connection, step: Step) -> None:
        handler = getattr(self, f"_{step.action.value}_{step.kind}")
        handler(c, step)
        self._count(step.kind, step.action)

    def _count(self, kind: str, action: Action, n: int = 1) -> None:
        with self._lock:
            self.result.done[kind][action.value] += n

    # -- shared lookups ---------------------------------------------------------------------
    def _cached(self, name: str, read: Callable[[], Any]) -> Any:
        with self._lock:
            if name not in self._admin_cache:
                self._admin_cache[name] = read()
            return self._admin_cache[name]

    def _roles(self, c: Connection) -> dict[str, str]:
        identity: Any = c.identity
        return dict(self._cached("roles", lambda: {r.name: r.id for r in identity.roles()}))

    def _compute_service(self, c: Connection) -> str:
        identity: Any = c.identity
        return str(
            self._cached(
                "compute",
                lambda: next(s.id for s in identity.services() if s.type == "compute"),
            )
        )

    def _flavors(self, c: Connection) -> dict[str, str]:
        compute: Any = c.compute
        return dict(self._cached("flavors", lambda: {f.name: f.id for f in compute.flavors()}))

    def _image(self, c: Connection) -> str:
        image: Any = c.image
        return str(
            self._cached("image", lambda: image.find_image(DEFAULT_IMAGE, ignore_missing=False).id)
        )

    def _project_id(self, key: tuple[str, ...], kind: str) -> str:
        project = project_of(kind, key, self._group_projects)
        return self.ids.get("project", project)

    # -- Keystone ---------------------------------------------------------------------------
    def _create_project(self, c: Connection, step: Step) -> None:
        assert step.want is not None  # noqa: S101  (steps_of gives creates their item)
        a = step.want.attrs
        identity: Any = c.identity
        project = identity.create_project(
            name=step.key[0],
            domain_id=DEFAULT_DOMAIN,
            description=a["description"],
            is_enabled=a["enabled"],
            tags=list(a["tags"]),
        )
        self.ids.add("project", step.key[0], project.id)

    def _update_project(self, c: Connection, step: Step) -> None:
        assert step.want is not None and step.have is not None  # noqa: S101
        a = step.want.attrs
        identity: Any = c.identity
        identity.update_project(
            step.have.ref, description=a["description"], is_enabled=a["enabled"], tags=a["tags"]
        )

    def _delete_project(self, c: Connection, step: Step) -> None:
        assert step.have is not None  # noqa: S101
        identity: Any = c.identity
        for limit in identity.limits(project_id=step.have.ref):
            identity.delete_limit(limit)
        with contextlib.suppress(sdk_exceptions.NotFoundException):
            c.network.delete_quota(step.have.ref)
        with contextlib.suppress(sdk_exceptions.NotFoundException):
            c.block_storage.revert_quota_set(step.have.ref)
        identity.delete_project(step.have.ref)

    def _create_group(self, c: Connection, step: Step) -> None:
        assert step.want is not None  # noqa: S101
        identity: Any = c.identity
        group = identity.create_group(
            name=step.key[0], description=step.want.attrs["description"], domain_id=DEFAULT_DOMAIN
        )
        self.ids.add("group", step.key[0], group.id)

    def _update_group(self, c: Connection, step: Step) -> None:
        assert step.want is not None and step.have is not None  # noqa: S101
        identity: Any = c.identity
        identity.update_group(step.have.ref, description=step.want.attrs["description"])

    def _delete_group(self, c: Connection, step: Step) -> None:
        assert step.have is not None  # noqa: S101
        identity: Any = c.identity
        identity.delete_group(step.have.ref)

    def _create_role_assignment(self, c: Connection, step: Step) -> None:
        project, group, role = step.key
        identity: Any = c.identity
        identity.assign_project_role_to_group(
            self.ids.get("project", project), self.ids.get("group", group), self._roles(c)[role]
        )

    def _delete_role_assignment(self, c: Connection, step: Step) -> None:
        assert step.have is not None  # noqa: S101
        project_id, group_id, role = step.have.ref.split("/", 2)
        identity: Any = c.identity
        identity.unassign_project_role_from_group(project_id, group_id, self._roles(c)[role])

    def _limit_of(self, c: Connection, key: tuple[str, ...]) -> Any:
        project, region, resource = key
        identity: Any = c.identity
        return next(
            identity.limits(
                project_id=self.ids.get("project", project),
                region_id=region,
                resource_name=resource,
            )
        )

    def _create_limits(self, c: Connection, steps: Sequence[Step]) -> None:
        """Several limits in one request (Keystone takes a list; openstacksdk posts one).
        `_apply` creates every kind with a `_create_<kind>s` in batches, never one by one."""
        identity: Any = c.identity
        service_id = self._compute_service(c)
        body = []
        for step in steps:
            assert step.want is not None  # noqa: S101
            project, region, resource = step.key
            body.append(
                {
                    "service_id": service_id,
                    "project_id": self.ids.get("project", project),
                    "region_id": region,
                    "resource_name": resource,
                    "resource_limit": step.want.attrs["resource_limit"],
                }
            )
        sdk_exceptions.raise_from_response(identity.post("/limits", json={"limits": body}))

    def _update_limit(self, c: Connection, step: Step) -> None:
        assert step.want is not None  # noqa: S101
        identity: Any = c.identity
        identity.update_limit(
            self._limit_of(c, step.key), resource_limit=step.want.attrs["resource_limit"]
        )

    def _delete_limit(self, c: Connection, step: Step) -> None:
        identity: Any = c.identity
        identity.delete_limit(self._limit_of(c, step.key))

    def _create_network_quota(self, c: Connection, step: Step) -> None:
        assert step.want is not None  # noqa: S101
        c.network.update_quota(self._project_id(step.key, "network_quota"), **step.want.attrs)

    _update_network_quota = _create_network_quota

    def _create_volume_quota(self, c: Connection, step: Step) -> None:
        assert step.want is not None  # noqa: S101
        c.block_storage.update_quota_set(
            self._project_id(step.key, "volume_quota"), **step.want.attrs
        )

    _update_volume_quota = _create_volume_quota

    # -- Neutron ----------------------------------------------------------------------------
    def _create_address_scope(self, c: Connection, step: Step) -> None:
        assert step.want is not None  # noqa: S101
        a = step.want.attrs
        scope = c.network.create_address_scope(
            name=step.key[1], ip_version=a["ip_version"], is_shared=a["shared"]
        )
        self.ids.add("address_scope", step.key[1], scope.id)

    def _update_address_scope(self, c: Connection, step: Step) -> None:
        assert step.want is not None and step.have is not None  # noqa: S101
        c.network.update_address_scope(step.have.ref, is_shared=step.want.attrs["shared"])

    def _delete_address_scope(self, c: Connection, step: Step) -> None:
        assert step.have is not None  # noqa: S101
        c.network.delete_address_scope(step.have.ref)

    def _create_subnet_pool(self, c: Connection, step: Step) -> None:
        assert step.want is not None  # noqa: S101
        a = step.want.attrs
        # Neutron derives a pool's IP version from its prefixes and refuses it in a POST.
        pool = c.network.create_subnet_pool(
            name=step.key[1],
            prefixes=a["prefixes"],
            default_prefix_length=a["default_prefixlen"],
            address_scope_id=self.ids.get("address_scope", a["address_scope"]),
            is_shared=a["shared"],
        )
        self.ids.add("subnet_pool", step.key[1], pool.id)

    def _update_subnet_pool(self, c: Connection, step: Step) -> None:
        assert step.want is not None and step.have is not None  # noqa: S101
        a = step.want.attrs
        c.network.update_subnet_pool(
            step.have.ref,
            prefixes=a["prefixes"],
            default_prefix_length=a["default_prefixlen"],
            is_shared=a["shared"],
        )

    def _delete_subnet_pool(self, c: Connection, step: Step) -> None:
        assert step.have is not None  # noqa: S101
        c.network.delete_subnet_pool(step.have.ref)

    def _create_network(self, c: Connection, step: Step) -> None:
        assert step.want is not None  # noqa: S101
        a, (_, project, name) = step.want.attrs, step.key
        options: dict[str, Any] = {"name": name}
        if project:
            options["project_id"] = self.ids.get("project", project)
        if a["external"] or a["shared"]:
            options |= {"is_router_external": a["external"], "is_shared": a["shared"]}
        if a.get("provider_network_type"):
            options |= {
                "provider_network_type": a["provider_network_type"],
                "provider_physical_network": a.get("provider_physical_network"),
            }
        network = c.network.create_network(**options)
        c.network.set_tags(network, list(a["tags"]))
        self.ids.add("network", name, network.id)

    def _update_network(self, c: Connection, step: Step) -> None:
        assert step.want is not None and step.have is not None  # noqa: S101
        a = step.want.attrs
        if step.changed & {"external", "shared"}:
            c.network.update_network(
                step.have.ref, is_router_external=a["external"], is_shared=a["shared"]
            )
        if "tags" in step.changed:
            c.network.set_tags(c.network.get_network(step.have.ref), list(a["tags"]))

    def _delete_network(self, c: Connection, step: Step) -> None:
        assert step.have is not None  # noqa: S101
        for port in c.network.ports(network_id=step.have.ref):
            if port.device_owner != ROUTER_INTERFACE_OWNER:
                c.network.delete_port(port)
        c.network.delete_network(step.have.ref)

    def _create_subnet(self, c: Connection, step: Step) -> None:
        assert step.want is not None  # noqa: S101
        a, (_, project, name) = step.want.attrs, step.key
        subnet = c.network.create_subnet(
            name=name,
            network_id=self.ids.get("network", a["network"]),
            ip_version=a["ip_version"],
            cidr=a["cidr"],
            gateway_ip=a["gateway_ip"],
            is_dhcp_enabled=a["enable_dhcp"],
            ipv6_ra_mode=a["ipv6_ra_mode"],
            ipv6_address_mode=a["ipv6_address_mode"],
            **({"project_id": self.ids.get("project", project)} if project else {}),
            **(
                {"subnet_pool_id": self.ids.get("subnet_pool", a["subnet_pool"])}
                if a["subnet_pool"]
                else {}
            ),
        )
        c.network.set_tags(subnet, list(a["tags"]))
        self.ids.add("subnet", name, subnet.id)

    def _update_subnet(self, c: Connection, step: Step) -> None:
        assert step.want is not None and step.have is not None  # noqa: S101
        a = step.want.attrs
        if step.changed & {"gateway_ip", "enable_dhcp"}:
            c.network.update_subnet(
                step.have.ref, gateway_ip=a["gateway_ip"], is_dhcp_enabled=a["enable_dhcp"]
            )
        if "tags" in step.changed:
            c.network.set_tags(c.network.get_subnet(step.have.ref), list(a["tags"]))

    def _delete_subnet(self, c: Connection, step: Step) -> None:
        assert step.have is not None  # noqa: S101
        for port in c.network.ports(fixed_ips=[f"subnet_id={step.have.ref}"]):
            if port.device_owner == ROUTER_INTERFACE_OWNER:
                c.network.remove_interface_from_router(port.device_id, subnet=step.have.ref)
        c.network.delete_subnet(step.have.ref)

    def _gateway(self, external_network: str | None) -> dict[str, Any] | None:
        if not external_network:
            return None
        return {"network_id": self.ids.get("network", external_network), "enable_snat": False}

    def _create_router(self, c: Connection, step: Step) -> None:
        assert step.want is not None  # noqa: S101
        a, (_, project, name) = step.want.attrs, step.key
        router = c.network.create_router(
            name=name,
            project_id=self.ids.get("project", project),
            external_gateway_info=self._gateway(a["external_network"]),
        )
        c.network.set_tags(router, list(a["tags"]))
        for subnet in a["interfaces"]:
            c.network.add_interface_to_router(router, subnet=self.ids.get("subnet", subnet))
        self.ids.add("router", name, router.id)

    def _update_router(self, c: Connection, step: Step) -> None:
        assert step.want is not None and step.have is not None  # noqa: S101
        a, router = step.want.attrs, step.have.ref
        if "external_network" in step.changed:
            c.network.update_router(
                router, external_gateway_info=self._gateway(a["external_network"]) or {}
            )
        if "interfaces" in step.changed:
            had, wanted = set(step.have.attrs["interfaces"]), set(a["interfaces"])
            for subnet in sorted(wanted - had):
                c.network.add_interface_to_router(router, subnet=self.ids.get("subnet", subnet))
            for subnet in sorted(had - wanted):
                found = self.ids.find("subnet", subnet)
                if found is not None:
                    c.network.remove_interface_from_router(router, subnet=found)
        if "tags" in step.changed:
            c.network.set_tags(c.network.get_router(router), list(a["tags"]))

    def _delete_router(self, c: Connection, step: Step) -> None:
        assert step.have is not None  # noqa: S101
        router = step.have.ref
        for port in c.network.ports(device_id=router, device_owner=ROUTER_INTERFACE_OWNER):
            c.network.remove_interface_from_router(router, port=port.id)
        c.network.delete_router(router)

    def _create_security_group(self, c: Connection, step: Step) -> None:
        assert step.want is not None  # noqa: S101
        a, (_, project, name) = step.want.attrs, step.key
        group = c.network.create_security_group(
            name=name, description=a["description"], project_id=self.ids.get("project", project)
        )
        # Neutron adds egress-anything rules to a new group; the stacks declare every rule.
        for rule in group.security_group_rules or ():
            c.network.delete_security_group_rule(rule["id"])
        c.network.set_tags(group, list(a["tags"]))
        self.ids.add("security_group", name, group.id)

    def _update_security_group(self, c: Connection, step: Step) -> None:
        assert step.want is not None and step.have is not None  # noqa: S101
        a = step.want.attrs
        if "description" in step.changed:
            c.network.update_security_group(step.have.ref, description=a["description"])
        if "tags" in step.changed:
            c.network.set_tags(c.network.get_security_group(step.have.ref), list(a["tags"]))

    def _delete_security_group(self, c: Connection, step: Step) -> None:
        assert step.have is not None  # noqa: S101
        c.network.delete_security_group(step.have.ref)

    def _create_security_group_rules(self, c: Connection, steps: Sequence[Step]) -> None:
        """Rules in one bulk request per group (Neutron takes one group a request, and creates
        all of its rules or none)."""
        for _, of_group in itertools.groupby(
            sorted(steps, key=lambda s: s.key), key=lambda s: s.key[:3]
        ):
            c.network.create_security_group_rules([self._rule(step.key) for step in of_group])

    def _rule(self, key: tuple[str, ...]) -> dict[str, Any]:
        _, project, group, direction, ethertype, protocol, ports, remote = key
        low, _, high = ports.partition("-")
        remote_group = remote.removeprefix("group:") if remote.startswith("group:") else None
        return {
            "security_group_id": self.ids.get("security_group", group),
            "project_id": self.ids.get("project", project),
            "direction": direction,
            "ethertype": ethertype,
            "protocol": None if protocol == ANY else protocol,
            "port_range_min": None if ports == ANY else int(low),
            "port_range_max": None if ports == ANY else int(high or low),
            "remote_ip_prefix": None if remote == ANY or remote_group else remote,
            "remote_group_id": (
                self.ids.get("security_group", remote_group) if remote_group else None
            ),
        }

    def _delete_security_group_rule(self, c: Connection, step: Step) -> None:
        assert step.have is not None  # noqa: S101
        c.network.delete_security_group_rule(step.have.ref)

    # -- Nova and Cinder --------------------------------------------------------------------
    def _tenant(self, c: Connection, project: str) -> Connection:
        """A connection scoped to the department's project (Nova and Cinder create in the
        caller's project), with the deployer's operator role there, as the stacks give it."""
        identity: Any = c.identity
        project_id = self.ids.get("project", project)
        identity.assign_project_role_to_user(
            project_id, c.current_user_id, self._roles(c)[ROLE_OPERATOR]
        )
        return self.connect(project_id)

    def _compute(self, c: Connection, project: str, steps: list[Step]) -> None:
        """Servers and volumes: every new one is asked for before any is waited for, so the
        department's builds overlap; attachments follow once both ends exist."""
        p = self._tenant(c, project)
        launched = [
            self._create_server(c, p, step)
            for step in steps
            if step.kind == "server" and step.action is Action.CREATE
        ]
        new_volumes = [
            (step, self._launch_volume(p, step))
            for step in steps
            if step.kind == "volume" and step.action is Action.CREATE
        ]
        for step in steps:
            if step.kind == "server" and step.action is not Action.CREATE:
                self._one(p, step)
        for server in launched:
            p.compute.wait_for_server(server, wait=SERVER_WAIT_S)
        self._count("server", Action.CREATE, len(launched))
        attaching = []
        for step, volume in new_volumes:
            assert step.want is not None  # noqa: S101
            p.block_storage.wait_for_status(volume, "available", wait=VOLUME_WAIT_S)
            for server in step.want.attrs["attached_to"]:
                p.compute.create_volume_attachment(
                    self.ids.get("server", server), volume_id=volume.id
                )
                attaching.append(volume)
        for volume in attaching:
            p.block_storage.wait_for_status(volume, "in-use", wait=VOLUME_WAIT_S)
        self._count("volume", Action.CREATE, len(new_volumes))
        for step in steps:
            if step.kind == "volume" and step.action is not Action.CREATE:
                self._one(p, step)

    def _create_server(self, c: Connection, p: Connection, step: Step) -> Any:
        assert step.want is not None  # noqa: S101
        a, (_, _, name) = step.want.attrs, step.key
        networks = [{"uuid": self.ids.get("network", n)} for n in a["networks"]]
        server = p.compute.create_server(
            name=name,
            flavor_id=self._flavors(c)[a["flavor"]],
            image_id=self._image(c),
            networks=networks or "none",
            security_groups=[{"name": group} for group in a["security_groups"]],
            metadata=dict(a["metadata"]),
        )
        self.ids.add("server", name, server.id)
        return server

    def _update_server(self, p: Connection, step: Step) -> None:
        assert step.want is not None and step.have is not None  # noqa: S101
        a, server = step.want.attrs, step.have.ref
        if "metadata" in step.changed:
            stale = set(step.have.attrs["metadata"]) - set(a["metadata"])
            if stale:
                p.compute.delete_server_metadata(server, sorted(stale))
            p.compute.set_server_metadata(server, **a["metadata"])
        if "security_groups" in step.changed:
            had, wanted = set(step.have.attrs["security_groups"]), set(a["security_groups"])
            for group in sorted(wanted - had):
                found = p.network.get_security_group(self.ids.get("security_group", group))
                p.compute.add_security_group_to_server(server, found)
            for group in sorted(had - wanted):
                found = p.network.get_security_group(self.ids.get("security_group", group))
                p.compute.remove_security_group_from_server(server, found)

    def _delete_server(self, c: Connection, step: Step) -> None:
        assert step.have is not None  # noqa: S101
        server = c.compute.get_server(step.have.ref)
        c.compute.delete_server(server)
        c.compute.wait_for_delete(server, wait=SERVER_WAIT_S)

    def _launch_volume(self, p: Connection, step: Step) -> Any:
        assert step.want is not None  # noqa: S101
        return p.block_storage.create_volume(name=step.key[2], size=step.want.attrs["size_gb"])

    def _update_volume(self, p: Connection, step: Step) -> None:
        assert step.want is not None and step.have is not None  # noqa: S101
        a, volume = step.want.attrs, step.have.ref
        if "size_gb" in step.changed:
            if a["size_gb"] < step.have.attrs["size_gb"]:
                raise BadInputError(
                    f"volume {step.key[2]}: Cinder cannot shrink a volume from "
                    f"{step.have.attrs['size_gb']} GB to {a['size_gb']} GB; move the data and "
                    "retire the volume instead"
                )
            p.block_storage.extend_volume(volume, a["size_gb"])
        if "attached_to" in step.changed:
            had, wanted = set(step.have.attrs["attached_to"]), set(a["attached_to"])
            for server in sorted(had - wanted):
                p.compute.delete_volume_attachment(self.ids.get("server", server), volume)
            for server in sorted(wanted - had):
                p.compute.create_volume_attachment(self.ids.get("server", server), volume_id=volume)

    def _delete_volume(self, c: Connection, step: Step) -> None:
        assert step.have is not None  # noqa: S101
        volume = c.block_storage.get_volume(step.have.ref)
        for attachment in volume.attachments or ():
            with contextlib.suppress(sdk_exceptions.NotFoundException):
                c.compute.delete_volume_attachment(attachment["server_id"], volume.id)
        # A volume in error never becomes available: it is force-deleted as it is.
        with contextlib.suppress(sdk_exceptions.ResourceTimeout, sdk_exceptions.ResourceFailure):
            c.block_storage.wait_for_status(volume, "available", wait=VOLUME_WAIT_S)
        c.block_storage.delete_volume(volume.id, force=True)
        c.block_storage.wait_for_delete(volume, wait=VOLUME_WAIT_S)


def connector(cloud: str, region: str, config_file: str | None = None) -> Connect:
    """Connections to one region of `cloud`: `connector(...)(None)` is the admin's, one
    connection the department workers share (a keystoneauth session is thread-safe);
    `connector(...)(project_id)` is scoped to a department's project by rescoping the admin's
    token, so Keystone checks the password once per run, not once per department."""
    admin = connect(cloud, region, config_file)

    def make(project_id: str | None) -> Connection:
        if project_id is None:
            return admin
        token = admin.auth_token
        if token is None:
            raise BadInputError(f"cloud {cloud!r} gave no token: check its credentials")
        auth = generic.Token(
            auth_url=admin.config.get_auth_args()["auth_url"], token=token, project_id=project_id
        )
        scoped = ksa_session.Session(auth=auth, collect_timing=True)
        return Connection(config=cloud_region.from_session(scoped, region_name=region))

    return make


def deploy_stack(
    desired: DesiredSide,
    snapshot: Snapshot,
    connect_to: Connect,
    *,
    workers: int = 4,
    progress: Progress | None = None,
) -> tuple[StackPlan, DeployResult]:
    """Plan the stack against the snapshot, then carry the plan out; the plan it carried out
    and what was done."""
    plan = plan_against(desired, snapshot)
    steps = steps_of(plan.report, desired.items, live_items(snapshot, desired.scope))
    made: dict[int, Connection] = {}
    lock = threading.Lock()

    def counted(project_id: str | None) -> Connection:
        connection = connect_to(project_id)
        with lock:
            made[id(connection)] = connection
        return connection

    deployer = Deployer(
        counted,
        snapshot,
        county_code=desired.state.county.code,
        steps=steps,
        progress=progress,
    )
    result = deployer.run(workers)
    result.api_calls = api_calls(made.values())
    return plan, result
