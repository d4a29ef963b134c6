"""testinfra for the extranet's routers and hosts: what each node should look like in its phase.

Run against any inventory rendered by govcloud (the lab's, or a real site's):

    pytest playbooks/testinfra --hosts='ansible://dept_gaj' --ansible-inventory=INVENTORY

Each node's expectations come from its `netstate_node` inventory variable and its phase: the
one recorded on the node (/etc/govcloud/network-phase), or `--govcloud-phase` (what the
playbooks' verify phase asks for). Tests marked `roles(...)` run only on nodes with those
roles; the others are deselected, never skipped. Each node is read once (collect.py, one
SSH round trip); the tests assert on what it gathered.
"""

from __future__ import annotations

import base64
import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from network.phases import DAEMON_FRR, ROLE_HOST, ROLE_ROUTER, Phase, address_of, phase_of

COLLECTOR = base64.b64encode((Path(__file__).parent / "collect.py").read_bytes()).decode()
_NODES: dict[str, dict[str, Any]] = {}
_FACTS: dict[str, dict[str, Any]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--govcloud-phase",
        default=None,
        help="the phase every node under test should be in (default: the one it records)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "roles(*names): run only on nodes with these roles")


def node_of(host: Any) -> dict[str, Any]:
    """The node's inventory data (read once per host)."""
    name = host.backend.get_hostname()
    if name not in _NODES:
        variables = host.ansible.get_variables()
        if "netstate_node" not in variables:
            raise pytest.UsageError(
                f"{name}: no netstate_node in the inventory; use an inventory rendered by "
                "govcloud (govcloud lab up, or govcloud lab inventory)"
            )
        _NODES[name] = variables["netstate_node"]
    return _NODES[name]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("roles")
        callspec = getattr(item, "callspec", None)
        host = callspec.params.get("_testinfra_host") if callspec else None
        if marker is None or host is None or node_of(host)["role"] in marker.args:
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _request(node: dict[str, Any]) -> dict[str, Any]:
    """What to probe from this node: its gateways and the cloud, per family."""
    request: dict[str, Any] = {"ping": [], "route_get": []}
    cloud = node.get("cloud")
    if cloud:
        request["ping"] += [address_of(cloud["ipv4"]), address_of(cloud["ipv6"])]
        request["route_get"] += [address_of(cloud["ipv4"]), address_of(cloud["ipv6"])]
    if node["role"] == ROLE_HOST:
        request["ping"] += [node["legacy_gateway"], node["ipv6_gateway"]]
        if node.get("extranet_gateway"):
            request["ping"].append(node["extranet_gateway"])
    if node["role"] == ROLE_ROUTER:
        request["frr"] = node["daemon"] == DAEMON_FRR
        request["bird"] = not request["frr"]
    if node["role"] == "core_router":
        request["frr"] = True
    return request


@pytest.fixture
def node(host: Any) -> dict[str, Any]:
    """The node under test's inventory data."""
    return node_of(host)


@pytest.fixture
def facts(host: Any, node: dict[str, Any]) -> dict[str, Any]:
    """Everything the tests look at, gathered in one SSH round trip per node."""
    name = host.backend.get_hostname()
    if name not in _FACTS:
        argument = shlex.quote(json.dumps(_request(node)))
        result = host.run(f"echo {COLLECTOR} | base64 -d | python3 - {argument}")
        assert result.rc == 0, f"{name}: collecting facts failed: {result.stderr}"
        _FACTS[name] = json.loads(result.stdout)
    return _FACTS[name]


@pytest.fixture
def phase(facts: dict[str, Any], request: pytest.FixtureRequest) -> Phase:
    """The phase the node should be in."""
    given = request.config.getoption("--govcloud-phase")
    return phase_of(given or facts["phase"])


def addresses(facts: dict[str, Any], device: str, *, dynamic: bool = False) -> set[str]:
    """Global addresses on a device (static ones, or SLAAC ones with dynamic=True)."""
    links = {link["ifname"]: link for link in facts["addresses"]}
    assert device in links, f"no device {device}"
    return {
        f"{info['local']}/{info['prefixlen']}"
        for info in links[device].get("addr_info", [])
        if info.get("scope") == "global" and bool(info.get("dynamic")) is dynamic
    }
