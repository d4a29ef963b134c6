"""The plan's changes as deploy steps: one per resource, replacements where Neutron or Nova
cannot change an attribute in place, departments kept apart."""

from __future__ import annotations

from cloud.deploy import Step, project_of, steps_of
from cloud.plan.diff import Action, diff
from cloud.plan.items import Item

R = "RegionOne"


def _net(name: str, cidr: str, tags: tuple[str, ...] = ("govcloud",), ref: str = "") -> Item:
    attrs = {"network": "alpha-office", "ip_version": 4, "cidr": cidr, "gateway_ip": None}
    return Item("subnet", (R, "c-alpha", name), {**attrs, "tags": list(tags)}, ref)


def test_each_resource_is_one_step_with_every_changed_attribute() -> None:
    desired = [_net("s1", "198.18.0.0/24", ("govcloud", "new")), _net("s2", "198.18.1.0/24")]
    live = [_net("s1", "198.18.0.0/24", ref="id-1"), _net("s3", "198.18.2.0/24", ref="id-3")]
    steps = steps_of(diff(desired, live), desired, live)
    by_name = {s.key[2]: s for s in steps}
    assert by_name["s1"] == Step(
        Action.UPDATE, "subnet", (R, "c-alpha", "s1"), desired[0], live[0], frozenset({"tags"})
    )
    assert by_name["s2"].action is Action.CREATE and by_name["s2"].want == desired[1]
    assert by_name["s3"].action is Action.DELETE and by_name["s3"].have is not None
    assert by_name["s3"].have.ref == "id-3"


def test_an_attribute_that_cannot_change_in_place_replaces_the_resource() -> None:
    desired = [_net("s1", "198.18.4.0/24")]
    live = [_net("s1", "198.18.0.0/24", ref="id-1")]
    steps = steps_of(diff(desired, live), desired, live)
    assert [(s.action, s.key[2]) for s in steps] == [(Action.DELETE, "s1"), (Action.CREATE, "s1")]


def test_resources_belong_to_their_department() -> None:
    groups = {"c-alpha-requesters": "c-alpha"}
    assert project_of("project", ("c-alpha",), groups) == "c-alpha"
    assert project_of("group", ("c-alpha-requesters",), groups) == "c-alpha"
    assert project_of("subnet", (R, "c-alpha", "s1"), groups) == "c-alpha"
    assert project_of("subnet_pool", (R, "c-extranet-v4"), groups) == ""  # county-wide
    assert project_of("network", (R, "", "c-extranet"), groups) == ""


def _server(networks: list[str], ref: str = "") -> Item:
    attrs = {"flavor": "m1.small", "networks": networks, "security_groups": [], "metadata": {}}
    return Item("server", (R, "c-alpha", "alpha-web"), attrs, ref)


def _volume(attached: list[str], ref: str = "") -> Item:
    return Item(
        "volume", (R, "c-alpha", "alpha-web-data"), {"size_gb": 10, "attached_to": attached}, ref
    )


def test_a_server_moved_to_another_network_is_replaced_and_gets_its_volume_back() -> None:
    desired = [_server(["alpha-migrated"]), _volume(["alpha-web"])]
    live = [_server(["alpha-office"], "srv-1"), _volume(["alpha-web"], "vol-1")]
    steps = steps_of(diff(desired, live), desired, live)
    assert [(s.action, s.kind) for s in steps] == [
        (Action.DELETE, "server"),
        (Action.CREATE, "server"),
        (Action.UPDATE, "volume"),  # the plan saw no change: the name was attached before
    ]
    reattach = steps[2]
    assert reattach.changed == frozenset({"attached_to"})
    assert reattach.have is not None and reattach.have.attrs["attached_to"] == []
    assert reattach.want is not None and reattach.want.attrs["attached_to"] == ["alpha-web"]
