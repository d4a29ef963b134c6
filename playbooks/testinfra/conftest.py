"""testinfra for the extranet's routers and hosts: what each node should look like in its phase.

Run against any inventory rendered by govcloud (the lab's, or a real site's):

    pytest playbooks/testinfra --hosts='ansible://dept_gaj' --ansible-inventory=INVENTORY

Each node's expectations come from its `netstate_node` inventory variable and its phase: the
one recorded on the node (/etc/govcloud/network-phase), or `--govcloud-phase` (what the
playbooks' verify phase asks for). Tests marked `roles(...)` run only on nodes with those
roles; the others are deselected, never skipped.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from network.phases import Phase, phase_of

PHASE_FILE = "/etc/govcloud/network-phase"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--govcloud-phase",
        default=None,
        help="the phase every node under test should be in (default: the one it records)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "roles(*names): run only on nodes with these roles")


_NODES: dict[str, dict[str, Any]] = {}


def node_of(host: Any) -> dict[str, Any]:
    """The node's inventory data (read once per host)."""
    name = host.backend.get_hostname()
    if name not in _NODES:
        _NODES[name] = _read_node(host)
    return _NODES[name]


def _read_node(host: Any) -> dict[str, Any]:
    variables = host.ansible.get_variables()
    if "netstate_node" not in variables:
        raise pytest.UsageError(
            f"{variables.get('inventory_hostname')}: no netstate_node in the inventory; use an "
            "inventory rendered by govcloud (govcloud lab up, or govcloud net inventory)"
        )
    node: dict[str, Any] = variables["netstate_node"]
    return node


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("roles")
        host = getattr(item, "callspec", None) and item.callspec.params.get("_testinfra_host")
        if marker is None or host is None or node_of(host)["role"] in marker.args:
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def node(host: Any) -> dict[str, Any]:
    """The node under test's inventory data."""
    return node_of(host)


@pytest.fixture
def phase(host: Any, request: pytest.FixtureRequest) -> Phase:
    """The phase the node should be in."""
    given = request.config.getoption("--govcloud-phase")
    if given:
        return phase_of(given)
    marker = host.file(PHASE_FILE)
    return phase_of(marker.content_string.strip() if marker.exists else None)


_LINKS: dict[str, dict[str, Any]] = {}


def addresses(host: Any, device: str, *, dynamic: bool = False) -> set[str]:
    """Global addresses on a device (static ones, or SLAAC ones with dynamic=True).

    One `ip -json address` per node and test run: the tests only read.
    """
    name = host.backend.get_hostname()
    if name not in _LINKS:
        result = host.run("ip -json address show")
        assert result.rc == 0, f"{name}: {result.stderr}"
        _LINKS[name] = {link["ifname"]: link for link in json.loads(result.stdout)}
    link = _LINKS[name].get(device)
    assert link is not None, f"{name}: no device {device}"
    found = set()
    for info in link.get("addr_info", []):
        if info.get("scope") == "global" and bool(info.get("dynamic")) is dynamic:
            found.add(f"{info['local']}/{info['prefixlen']}")
    return found
