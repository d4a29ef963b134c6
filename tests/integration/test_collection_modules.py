"""The govcloud.network modules on their own: check mode changes nothing, a second run reports
no change, and a failed reload puts the previous file back.

ip_interface runs inside a scratch network namespace (root; the tests fail without it), on a
veth pair with documentation addresses only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULES = REPO / "playbooks/collections/ansible_collections/govcloud/network/plugins/modules"


def module(
    name: str,
    args: dict[str, Any],
    tmp_path: Path,
    *,
    netns: str | None = None,
    check: bool = False,
) -> dict[str, Any]:
    """Run a module the way Ansible does (arguments in a JSON file); return its result."""
    payload = dict(args)
    if check:
        payload["_ansible_check_mode"] = True
    arguments = tmp_path / f"{name}-{uuid.uuid4().hex}.json"
    arguments.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": payload}))
    command = [sys.executable, str(MODULES / f"{name}.py"), str(arguments)]
    if netns:
        command = ["ip", "netns", "exec", netns, *command]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    output: dict[str, Any] = json.loads(result.stdout)
    return output


@pytest.fixture
def namespace() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.fail("these tests need root (a scratch network namespace): run `make test` as root")
    name = f"govcloud-modtest-{uuid.uuid4().hex[:6]}"  # not a lab prefix (gcl-)
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(
            ["ip", "-n", name, "-batch", "-"],
            input="link add name t0 type veth peer name t1\nlink set t0 up\nlink set t1 up\n",
            text=True,
            check=True,
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def addresses(namespace: str) -> set[str]:
    output = subprocess.run(
        ["ip", "-n", namespace, "-json", "address", "show", "dev", "t0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        f"{info['local']}/{info['prefixlen']}"
        for link in json.loads(output)
        for info in link["addr_info"]
        if info["scope"] == "global"
    }


def test_ip_interface_check_mode_then_apply_then_nothing_to_do(
    namespace: str, tmp_path: Path
) -> None:
    wanted = {
        "device": "t0",
        "ipv4": ["192.0.2.10/24"],
        "gateway4": "192.0.2.1",
        "ipv6": ["2001:db8:ff::10/64"],
    }
    checked = module("ip_interface", wanted, tmp_path, netns=namespace, check=True)
    assert (
        checked["changed"] and "ip -4 route add default via 192.0.2.1 dev t0" in checked["actions"]
    )
    assert addresses(namespace) == set()
    applied = module("ip_interface", wanted, tmp_path, netns=namespace)
    assert applied["changed"], applied
    assert addresses(namespace) == {"192.0.2.10/24", "2001:db8:ff::10/64"}
    again = module("ip_interface", wanted, tmp_path, netns=namespace)
    assert again == {**again, "changed": False, "actions": []}
    # Renumbering replaces the address and moves the default route to the new gateway.
    moved = module(
        "ip_interface",
        {**wanted, "ipv4": ["198.51.100.10/24"], "gateway4": "198.51.100.1"},
        tmp_path,
        netns=namespace,
    )
    assert moved["actions"] == [
        "ip -4 address del 192.0.2.10/24 dev t0",
        "ip -4 address add 198.51.100.10/24 dev t0",
        "ip -4 route add default via 198.51.100.1 dev t0",
    ]
    withdrawn = module(
        "ip_interface", {"device": "t0", "ipv4": [], "gateway4": "none"}, tmp_path, netns=namespace
    )
    assert withdrawn["changed"]
    assert addresses(namespace) == {"2001:db8:ff::10/64"}


def test_ip_interface_refuses_the_wrong_family(namespace: str, tmp_path: Path) -> None:
    result = module(
        "ip_interface", {"device": "t0", "ipv4": ["2001:db8::1/64"]}, tmp_path, netns=namespace
    )
    assert result["failed"] and "not an IPv4 address" in result["msg"]


def test_config_apply_writes_and_loads_only_what_changed(tmp_path: Path) -> None:
    dest = tmp_path / "etc" / "daemon.conf"
    loads = tmp_path / "loads"
    args = {
        "dest": str(dest),
        "content": "answer 42",
        "mode": "0640",
        "apply": f"sh -c 'echo loaded >> {loads}'",
    }
    checked = module("config_apply", args, tmp_path, check=True)
    assert checked["changed"] and checked["diff"]["after"] == "answer 42\n"
    assert not dest.exists()
    first = module("config_apply", args, tmp_path)
    assert (first["changed"], first["applied"]) == (True, True)
    assert dest.read_text() == "answer 42\n" and oct(dest.stat().st_mode & 0o777) == "0o640"
    second = module("config_apply", args, tmp_path)
    assert (second["changed"], second["applied"]) == (False, False)
    assert loads.read_text() == "loaded\n"


def test_config_apply_restores_the_previous_file_when_loading_fails(tmp_path: Path) -> None:
    dest = tmp_path / "daemon.conf"
    dest.write_text("good\n")
    result = module(
        "config_apply",
        {"dest": str(dest), "content": "bad", "apply": "sh -c 'grep -q good {dest}'"},
        tmp_path,
    )
    assert result["failed"] and "previous file restored" in result["msg"]
    assert dest.read_text() == "good\n"
    refused = module(
        "config_apply",
        {"dest": str(dest), "content": "bad", "apply": "true", "validate": "sh -c 'exit 1'"},
        tmp_path,
    )
    assert refused["failed"] and "does not validate" in refused["msg"]
    assert dest.read_text() == "good\n"
