"""The plan's diff engine on constructed snapshots of the small county's stacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from simulated_cloud import snapshot_from_items
from small_county import write_county
from snapshot_kit import group, group_role, project

from cloud import inventory as inv
from cloud.plan.diff import Action, Change, diff
from cloud.plan.items import Item
from cloud.plan.live_items import live_items
from cloud.plan.run import DesiredSide, collect_desired, load_stacks, plan_against
from cloud.plan.stack_items import USER_ROLE_ASSIGNMENT
from govcloud.loader import load_county

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def county_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_county(tmp_path_factory.mktemp("county"))


@pytest.fixture(scope="module")
def primary(county_dir: Path) -> DesiredSide:
    return collect_desired(
        "primary", stacks=load_stacks(REPO, "primary"), county=load_county(county_dir)
    )


@pytest.fixture(scope="module")
def dr(county_dir: Path) -> DesiredSide:
    return collect_desired("dr", stacks=load_stacks(REPO, "dr"), county=load_county(county_dir))


def _changes(side: DesiredSide, snapshot: inv.Snapshot) -> list[Change]:
    return plan_against(side, snapshot).report.changes


def _without(items: list[Item], kind: str) -> list[Item]:
    return [i for i in items if i.kind != kind]


def _replace(snapshot: inv.Snapshot, **fields: object) -> inv.Snapshot:
    return snapshot.model_copy(update=fields)


# -- whole-plan properties -----------------------------------------------------------------------
def test_an_empty_cloud_means_everything_is_created(primary: DesiredSide) -> None:
    empty = snapshot_from_items([])
    report = plan_against(primary, empty).report
    # A new project's quotas are set as it is created: they count as creates too.
    assert [c.action for c in report.changes] == [Action.CREATE] * len(primary.items)
    assert not report.in_sync


def test_a_faithful_deployment_is_in_sync(primary: DesiredSide, dr: DesiredSide) -> None:
    # The DR stack's tenants are the primary's projects: they exist once the primary is up.
    deployed = snapshot_from_items(primary.items + dr.items)
    for side in (primary, dr):
        report = plan_against(side, deployed).report
        assert report.in_sync, report.changes[:3]
        assert report.totals()[Action.UNCHANGED] == len(side.items)


def test_only_the_deployers_own_role_is_listed_as_not_compared(primary: DesiredSide) -> None:
    # Its user ID is the deployer's, known only when the stack runs for real.
    assert primary.not_compared == {USER_ROLE_ASSIGNMENT: 1}


# -- Keystone groups and their role assignments --------------------------------------------------
GROUPS = {
    ("519901-alpha-requesters",),
    ("519901-alpha-approvers",),
    ("519901-beta-requesters",),
    ("519901-beta-approvers",),
}
GROUP_ROLES = {
    ("519901-alpha", "519901-alpha-requesters", "member"),
    ("519901-alpha", "519901-alpha-approvers", "reader"),
    ("519901-beta", "519901-beta-requesters", "member"),
    ("519901-beta", "519901-beta-approvers", "reader"),
}


def _project_id(snapshot: inv.Snapshot, name: str) -> str:
    return next(p.id for p in snapshot.projects if p.name == name)


def _group_id(snapshot: inv.Snapshot, name: str) -> str:
    return next(g.id for g in snapshot.groups if g.name == name)


def test_an_empty_cloud_means_every_group_and_group_role_is_created(primary: DesiredSide) -> None:
    changes = _changes(primary, snapshot_from_items([]))
    assert {c.key for c in changes if c.kind == "group"} == GROUPS
    assert {c.key for c in changes if c.kind == "role_assignment"} == GROUP_ROLES
    assert {c.action for c in changes if c.kind in ("group", "role_assignment")} == {Action.CREATE}


def test_deployed_groups_and_group_roles_are_unchanged(primary: DesiredSide) -> None:
    report = plan_against(primary, snapshot_from_items(primary.items)).report
    assert report.in_sync, report.changes[:3]
    assert report.counts["group"][Action.UNCHANGED] == len(GROUPS)
    assert report.counts["role_assignment"][Action.UNCHANGED] == len(GROUP_ROLES)


def test_a_managed_group_no_longer_desired_is_a_delete_with_its_role(
    primary: DesiredSide,
) -> None:
    snapshot = snapshot_from_items(primary.items)
    retired = group("g-auditors", "519901-alpha-auditors", "甲局 auditors")
    its_role = group_role(_project_id(snapshot, "519901-alpha"), "g-auditors", "reader")
    changed = _replace(
        snapshot,
        groups=(*snapshot.groups, retired),
        role_assignments=(*snapshot.role_assignments, its_role),
    )
    assert {(c.action, c.kind, c.key, c.ref) for c in _changes(primary, changed)} == {
        (Action.DELETE, "group", ("519901-alpha-auditors",), "g-auditors"),
        (
            Action.DELETE,
            "role_assignment",
            ("519901-alpha", "519901-alpha-auditors", "reader"),
            f"{its_role.project_id}/g-auditors/reader",
        ),
    }


def test_an_extra_role_of_a_managed_group_is_a_delete(primary: DesiredSide) -> None:
    snapshot = snapshot_from_items(primary.items)
    escalated = group_role(
        _project_id(snapshot, "519901-beta"),
        _group_id(snapshot, "519901-beta-requesters"),
        "admin",
    )
    changed = _replace(snapshot, role_assignments=(*snapshot.role_assignments, escalated))
    (change,) = _changes(primary, changed)
    assert (change.action, change.kind, change.key) == (
        Action.DELETE,
        "role_assignment",
        ("519901-beta", "519901-beta-requesters", "admin"),
    )


def test_groups_and_roles_that_are_not_ours_are_ignored(primary: DesiredSide) -> None:
    snapshot = snapshot_from_items(primary.items)
    alpha = _project_id(snapshot, "519901-alpha")
    requesters = _group_id(snapshot, "519901-alpha-requesters")
    others = project("p-other", "admin")
    changed = _replace(
        snapshot,
        projects=(*snapshot.projects, others),
        groups=(
            *snapshot.groups,
            group("g-admins", "admins"),  # the cloud's own: no county prefix
            group("g-next", "519902-alpha-requesters"),  # the next county's
        ),
        role_assignments=(
            *snapshot.role_assignments,
            group_role(alpha, "g-admins", "admin"),  # someone else's group on our project
            group_role(alpha, "g-next", "member"),
            group_role("p-other", requesters, "member"),  # our group on someone else's project
            inv.RoleAssignment(project_id=alpha, role="member", user_id="u-1", group_id=None),
        ),
    )
    assert _changes(primary, changed) == []


def test_a_missing_group_role_is_one_create(primary: DesiredSide) -> None:
    snapshot = snapshot_from_items(primary.items)
    approvers = _group_id(snapshot, "519901-alpha-approvers")
    kept = tuple(a for a in snapshot.role_assignments if a.group_id != approvers)
    (change,) = _changes(primary, _replace(snapshot, role_assignments=kept))
    assert (change.action, change.kind, change.key) == (
        Action.CREATE,
        "role_assignment",
        ("519901-alpha", "519901-alpha-approvers", "reader"),
    )
    assert change.ref.endswith("alpha-approvers-reader")


def test_a_changed_group_description_is_one_update(primary: DesiredSide) -> None:
    snapshot = snapshot_from_items(primary.items)
    groups = tuple(
        g.model_copy(update={"description": "renamed by hand"})
        if g.name == "519901-beta-approvers"
        else g
        for g in snapshot.groups
    )
    (change,) = _changes(primary, _replace(snapshot, groups=groups))
    assert (change.action, change.kind, change.attribute, change.live) == (
        Action.UPDATE,
        "group",
        "description",
        "renamed by hand",
    )
    assert change.desired.endswith(" approvers")


# -- the three hand changes of the issue -----------------------------------------------------------
def test_a_changed_quota_is_one_update_naming_attribute_live_and_desired(
    primary: DesiredSide,
) -> None:
    snapshot = snapshot_from_items(primary.items)
    quotas = tuple(
        q.model_copy(update={"values": {**q.values, "networks": 99}})
        if q.service == "network" and q.project_id.endswith("519901-alpha")
        else q
        for q in snapshot.quotas
    )
    (change,) = _changes(primary, _replace(snapshot, quotas=quotas))
    assert (change.action, change.kind, change.attribute) == (
        Action.UPDATE,
        "network_quota",
        "networks",
    )
    assert (change.live, change.desired) == (99, 2)
    assert change.label == "519901-alpha/RegionOne"


def test_a_hand_added_open_ssh_rule_is_one_delete(primary: DesiredSide) -> None:
    snapshot = snapshot_from_items(primary.items)
    open_ssh = inv.SecurityGroupRule(
        id="by-hand",
        direction="ingress",
        ethertype="IPv4",
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
        remote_ip_prefix="0.0.0.0/0",
        remote_group_id=None,
    )
    groups = tuple(
        g.model_copy(update={"rules": (*g.rules, open_ssh)}) if g.name == "alpha-baseline" else g
        for g in snapshot.security_groups
    )
    (change,) = _changes(primary, _replace(snapshot, security_groups=groups))
    assert (change.action, change.kind, change.ref) == (
        Action.DELETE,
        "security_group_rule",
        "by-hand",
    )
    assert change.key[2:] == ("alpha-baseline", "ingress", "IPv4", "tcp", "22", "any")


def test_a_deleted_subnet_is_one_create(primary: DesiredSide) -> None:
    items = _without(primary.items, "router")  # Neutron refuses to delete a routed subnet
    snapshot = snapshot_from_items(items)
    subnets = tuple(s for s in snapshot.subnets if s.name != "alpha-office-v6")
    before = {(c.action, c.kind, c.key) for c in _changes(primary, snapshot)}
    after = {
        (c.action, c.kind, c.key) for c in _changes(primary, _replace(snapshot, subnets=subnets))
    }
    assert after - before == {
        (Action.CREATE, "subnet", ("RegionOne", "519901-alpha", "alpha-office-v6"))
    }
    assert before - after == set()


def test_a_changed_ipv6_mode_and_cidr_are_two_updates(primary: DesiredSide) -> None:
    snapshot = snapshot_from_items(primary.items)
    subnets = tuple(
        s.model_copy(update={"ipv6_address_mode": "dhcpv6-stateful", "cidr": "2001:db8:ffff::/64"})
        if s.name == "beta-office-v6"
        else s
        for s in snapshot.subnets
    )
    changes = _changes(primary, _replace(snapshot, subnets=subnets))
    assert sorted((c.attribute, c.live, c.desired) for c in changes) == [
        (
            "cidr",
            "2001:db8:ffff::/64",
            next(i.attrs["cidr"] for i in primary.items if i.key[-1] == "beta-office-v6"),
        ),
        ("ipv6_address_mode", "dhcpv6-stateful", "slaac"),
    ]


def test_a_detached_volume_is_one_update_of_its_attachments(primary: DesiredSide) -> None:
    snapshot = snapshot_from_items(primary.items)
    volumes = tuple(v.model_copy(update={"attached_to": ()}) for v in snapshot.volumes)
    (change,) = _changes(primary, _replace(snapshot, volumes=volumes))
    assert (change.kind, change.attribute, change.live, change.desired) == (
        "volume",
        "attached_to",
        [],
        ["alpha-web"],
    )


# -- scope: only what we manage ----------------------------------------------------------------
def test_resources_of_other_projects_and_counties_are_never_reported(
    primary: DesiredSide,
) -> None:
    snapshot = snapshot_from_items(primary.items)
    stranger = inv.Project(
        id="other",
        name="519902-alpha",
        domain_id="default",
        description="",
        enabled=True,
        tags=("govcloud", "county:519902"),
    )
    foreign_net = inv.Network(
        id="n-other",
        region="RegionOne",
        project_id="other",
        name="alpha-office",
        external=False,
        shared=False,
        provider_network_type=None,
        provider_physical_network=None,
        provider_segmentation_id=None,
        tags=(),
    )
    default_group = inv.SecurityGroup(
        id="sg-default",
        region="RegionOne",
        project_id=next(p.id for p in snapshot.projects if p.name == "519901-alpha"),
        name="default",
        description="Default security group",
        rules=(),
        tags=(),
    )
    changed = _replace(
        snapshot,
        projects=(*snapshot.projects, stranger),
        networks=(*snapshot.networks, foreign_net),
        security_groups=(*snapshot.security_groups, default_group),
    )
    assert _changes(primary, changed) == []


def test_a_managed_network_no_longer_desired_is_a_delete(primary: DesiredSide) -> None:
    snapshot = snapshot_from_items(primary.items)
    alpha = next(p.id for p in snapshot.projects if p.name == "519901-alpha")
    leftover = inv.Network(
        id="n-left",
        region="RegionOne",
        project_id=alpha,
        name="alpha-retired",
        external=False,
        shared=False,
        provider_network_type=None,
        provider_physical_network=None,
        provider_segmentation_id=None,
        tags=(),
    )
    (change,) = _changes(primary, _replace(snapshot, networks=(*snapshot.networks, leftover)))
    assert (change.action, change.label, change.ref) == (
        Action.DELETE,
        "RegionOne/519901-alpha/alpha-retired",
        "n-left",
    )


def test_the_dr_plan_neither_creates_nor_deletes_projects(
    primary: DesiredSide, dr: DesiredSide
) -> None:
    snapshot = snapshot_from_items(primary.items + dr.items)
    report = plan_against(dr, snapshot).report
    assert report.in_sync
    assert "project" not in report.counts


def test_the_primary_plan_ignores_the_dr_region(primary: DesiredSide, dr: DesiredSide) -> None:
    report = plan_against(primary, snapshot_from_items(primary.items + dr.items)).report
    assert report.in_sync


def test_an_open_rule_written_as_no_prefix_equals_one_written_as_0_0_0_0(
    primary: DesiredSide,
) -> None:
    snapshot = snapshot_from_items(primary.items)
    groups = tuple(
        g.model_copy(
            update={
                "rules": tuple(
                    r.model_copy(update={"remote_ip_prefix": "0.0.0.0/0"})
                    if r.direction == "egress" and r.ethertype == "IPv4"
                    else r
                    for r in g.rules
                )
            }
        )
        for g in snapshot.security_groups
    )
    assert _changes(primary, _replace(snapshot, security_groups=groups)) == []


def test_quotas_are_updated_never_created_or_deleted() -> None:
    quota = Item("network_quota", ("p", "RegionOne"), {"networks": 2})
    assert diff([], [quota]).changes == []
    assert diff([quota], [quota]).in_sync


def test_attributes_the_reader_lacks_are_not_compared() -> None:
    desired = Item("volume_quota", ("p", "R"), {"volumes": 4, "groups": 0})
    live = Item("volume_quota", ("p", "R"), {"volumes": 4})
    assert diff([desired], [live]).in_sync


def test_list_and_mapping_attributes_compare_without_order() -> None:
    desired = Item(
        "server", ("R", "p", "s"), {"security_groups": ["b", "a"], "metadata": {"k": "1"}}
    )
    live = Item("server", ("R", "p", "s"), {"security_groups": ("a", "b"), "metadata": {"k": "1"}})
    assert diff([desired], [live]).in_sync


def test_live_items_of_a_snapshot_read_back_what_simulate_wrote(primary: DesiredSide) -> None:
    live = live_items(snapshot_from_items(primary.items), primary.scope)
    assert sorted((i.kind, i.key) for i in live) == sorted((i.kind, i.key) for i in primary.items)
