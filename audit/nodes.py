"""Reading the extranet's routers and hosts over SSH, through testinfra, for the audit.

The nodes are those of an inventory rendered by govcloud (a lab's, `govcloud lab up`; or a real
site's, `govcloud lab inventory --example`): each has its `netstate_node` and the role
variables (`netstate_*`) the playbooks render with. testinfra's Ansible backend turns each
host's connection variables into an SSH command; the audit adds its own options to it:
host keys are always checked (`StrictHostKeyChecking yes`, no prompt), and no shared
connection is reused (each run opens, and counts, its own session per node). An inventory
that turns host-key checking off is refused (exit 2).

Each node is read once: the testinfra collector (`playbooks/testinfra/collect.py`) gathers
addresses, routes, listening sockets, the recorded phase and, for routers, the running
configurations in one round trip. A node that cannot be read is kept with the reason: the
audit lists it as unchecked, never as compliant.

A lab's management network lives in a network namespace: with `--lab NAME` each reading
thread enters it (setns is per thread, and the ssh it starts inherits it), so the rest of the
run (the cloud on this machine's loopback) stays where it is.
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import copy
import datetime as dt
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from govcloud.errors import BadInputError, UnreachableError
from lab.netlab.configs import REPO, render_role_template
from network.phases import DAEMON_FRR, ROLE_HOST, ROLE_ROUTER, Phase, router_state

COLLECTOR: Final = REPO / "playbooks" / "testinfra" / "collect.py"
# Options the audit adds to every SSH command: check host keys, never prompt, no shared
# connection (a master left by another run would hide a node that stopped answering).
CONNECT_TIMEOUT_S: Final = 10
SSH_OPTIONS: Final = (
    "-o StrictHostKeyChecking=yes -o BatchMode=yes -o ControlMaster=no -o ControlPath=none "
    f"-o ConnectTimeout={CONNECT_TIMEOUT_S}"
)
# What turns host-key checking off, in any spelling ssh accepts.
UNCHECKED_KEYS: Final = re.compile(
    r"StrictHostKeyChecking\s*=?\s*(no|off|accept-new)|UserKnownHostsFile\s*=?\s*/dev/null",
    re.IGNORECASE,
)
SSH_CONNECTIONS: Final = frozenset({"ssh", "smart", "paramiko_ssh"})
WORKERS: Final = 8
AUDITED_ROLES: Final = (ROLE_ROUTER, ROLE_HOST)
# `netstate_*` paths the collector reads on a node, with the role's defaults.
BIRD_CONFIG_VAR: Final = "netstate_bird_config"
PINHOLES_VAR: Final = "netstate_nftables_dir"


@dataclass(frozen=True)
class Target:
    """Where the nodes are: an inventory, and the lab's management namespace if any."""

    inventory: Path
    namespace: str | None = None
    label: str = ""

    def describe(self) -> str:
        """What the evidence names as the place the nodes were read from."""
        return self.label or str(self.inventory)


@dataclass
class NodeReading:
    """One node as read: its inventory data, and the collector's facts or why there are none."""

    name: str
    node: dict[str, Any]
    variables: dict[str, Any]
    facts: dict[str, Any] | None = None
    error: str | None = None
    read_at: str = ""
    seconds: float = 0.0

    @property
    def role(self) -> str:
        """The node's role in the extranet (department_router, lan_host, ...)."""
        return str(self.node.get("role", ""))


@dataclass
class Readings:
    """Every audited node's reading, what was left out and why, and the SSH sessions used."""

    target: Target
    nodes: dict[str, NodeReading] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    sessions: int = 0
    seconds: float = 0.0


def _ansible_inventory(path: Path) -> dict[str, Any]:
    """The inventory as Ansible reads it (group variables merged into each host's)."""
    if not path.exists():
        raise BadInputError(
            f"inventory {path} does not exist: give a govcloud-rendered inventory "
            "(`govcloud lab inventory --out DIR [--example]`), or --lab NAME for a running lab"
        )
    program = Path(sys.executable).parent / "ansible-inventory"
    command = str(program) if program.exists() else shutil.which("ansible-inventory")
    if command is None:
        raise BadInputError(
            "ansible-inventory is not installed: the audit reads inventories with it"
        )
    result = subprocess.run(  # noqa: S603  (a fixed argument list)
        [command, "--list", "-i", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={"ANSIBLE_VERBOSITY": "0", "PATH": f"{program.parent}:/usr/bin:/bin"},
    )
    try:
        inventory: dict[str, Any] = json.loads(result.stdout)
    except ValueError:
        inventory = {}
    if result.returncode != 0 or "_meta" not in inventory:
        raise BadInputError(
            f"inventory {path}: Ansible could not read it ({result.stderr.strip()[-500:]}); "
            "give a govcloud-rendered inventory's hosts.yml"
        )
    inventory["_meta"].setdefault("hostvars", {})
    return inventory


def _hardened(inventory: dict[str, Any], path: Path) -> dict[str, Any]:
    """The inventory with the audit's SSH options on every host; refuse unchecked host keys."""
    hardened = copy.deepcopy(inventory)
    for name, hostvars in hardened["_meta"]["hostvars"].items():
        for variable in ("ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_args"):
            if UNCHECKED_KEYS.search(str(hostvars.get(variable, ""))):
                raise BadInputError(
                    f"inventory {path}: host {name}'s {variable} turns host-key checking off "
                    f"({hostvars[variable]}); the audit reads nodes only with their host keys "
                    "checked: remove it and list the keys in known_hosts"
                )
        extra = str(hostvars.get("ansible_ssh_extra_args", ""))
        hostvars["ansible_ssh_extra_args"] = f"{SSH_OPTIONS} {extra}".strip()
    return hardened


def _request(reading: NodeReading) -> dict[str, Any]:
    """What the collector reads on this node: the phase's desired nftables for every phase
    (the node's recorded phase picks one), FRR's or BIRD's configuration."""
    variables = reading.variables
    audit: dict[str, Any] = {"node": reading.name}
    if reading.role == ROLE_ROUTER:
        if reading.node["daemon"] == DAEMON_FRR:
            audit["frr"] = True
        else:
            audit["bird_config"] = variables.get(BIRD_CONFIG_VAR, "/etc/bird/bird.conf")
        audit["nft_desired"] = {
            phase.value: render_role_template(
                "nftables.nft.j2", router_state(reading.node, phase), variables
            )
            for phase in Phase
        }
        audit["nft_pinholes"] = variables.get(PINHOLES_VAR, "/etc/govcloud/nftables.d")
    return {"ping": [], "route_get": [], "audit": audit}


def role_variables(hostvars: Mapping[str, Any]) -> dict[str, Any]:
    """The variables the netstate role's templates read (`netstate_*`, `reachability_*`)."""
    return {
        k: v
        for k, v in hostvars.items()
        if k.startswith(("netstate_", "reachability_")) and k != "netstate_node"
    }


@contextlib.contextmanager
def _entered(namespace: str | None) -> Iterator[None]:
    if namespace is None:
        yield
        return
    from lab.netlab.services import inside  # noqa: PLC0415  (needs root; only for a lab)

    with inside(namespace):
        yield


def _ssh_error(error: Exception) -> str:
    result = error.args[0] if error.args else None
    stderr = getattr(result, "stderr", None)
    text = stderr if isinstance(stderr, str) and stderr.strip() else str(error)
    return f"SSH failed: {text.strip()[-400:]}"


def _audited(
    inventory: Mapping[str, Any], only: Callable[[str, dict[str, Any]], bool] | None
) -> Readings:
    """The inventory's department routers and LAN hosts, each an unread reading; the rest
    with why they are not audited."""
    readings = Readings(Target(Path()))
    for name, hostvars in sorted(inventory["_meta"]["hostvars"].items()):
        node = hostvars.get("netstate_node")
        if not isinstance(node, dict):
            readings.skipped[name] = "no netstate_node: not a node govcloud renders"
            continue
        if node.get("role") not in AUDITED_ROLES:
            readings.skipped[name] = (
                f"role {node.get('role')}: the plan renders no phase state for it "
                "(the extranet core and the cloud are not changed by the playbooks)"
            )
            continue
        if only is not None and not only(name, node):
            continue
        connection = str(hostvars.get("ansible_connection", "ssh"))
        reading = NodeReading(name, node, role_variables(hostvars))
        if connection not in SSH_CONNECTIONS:
            reading.error = f"ansible_connection {connection}: the audit reads nodes over SSH only"
        readings.nodes[name] = reading
    return readings


def _read_one(
    reading: NodeReading, inventory: dict[str, Any], collector: str, namespace: str | None
) -> None:
    """One SSH session: the collector's facts into the reading, or why there are none."""
    from testinfra.utils.ansible_runner import get_ansible_host  # noqa: PLC0415

    began = time.monotonic()
    reading.read_at = dt.datetime.now(dt.UTC).isoformat()
    # An empty configuration: nothing of ansible.cfg's SSH settings (shared connections).
    config = configparser.ConfigParser()
    try:
        with _entered(namespace):
            host = get_ansible_host(config, inventory, reading.name)
            if host is None:
                reading.error = "testinfra found no way to reach it in the inventory"
                return
            argument = shlex.quote(json.dumps(_request(reading)))
            result = host.run(f"echo {collector} | base64 -d | python3 - {argument}")
    except RuntimeError as error:  # testinfra: ssh itself failed (exit 255)
        reading.error = _ssh_error(error)
        return
    except (OSError, UnreachableError) as error:
        reading.error = f"could not start SSH: {error}"
        return
    finally:
        reading.seconds = round(time.monotonic() - began, 3)
    if result.rc != 0:
        reading.error = f"the collector failed (exit {result.rc}): {result.stderr[-400:]}"
        return
    try:
        reading.facts = json.loads(result.stdout)
    except ValueError:
        reading.error = f"the collector's output is not JSON: {result.stdout[:200]!r}"


def read(target: Target, *, only: Callable[[str, dict[str, Any]], bool] | None = None) -> Readings:
    """Read every department router and LAN host of the inventory (or those `only` keeps),
    one SSH session each, in parallel."""
    start = time.monotonic()
    inventory = _hardened(_ansible_inventory(target.inventory), target.inventory)
    readings = _audited(inventory, only)
    readings.target = target
    if not readings.nodes and only is None:
        raise BadInputError(
            f"inventory {target.inventory} names no department router or LAN host (no "
            "netstate_node of those roles): give an inventory govcloud rendered"
        )
    collector = base64.b64encode(COLLECTOR.read_bytes()).decode()
    to_read = [r for r in readings.nodes.values() if not r.error]
    readings.sessions = len(to_read)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(lambda r: _read_one(r, inventory, collector, target.namespace), to_read))
    readings.seconds = round(time.monotonic() - start, 3)
    return readings


def lab_target(lab_root: Path, name: str) -> Target:
    """A running lab's nodes: its inventory, read from its management namespace (root)."""
    import os  # noqa: PLC0415

    from lab.netlab.manager import NetLab  # noqa: PLC0415
    from lab.netlab.topology import MANAGEMENT_NODE  # noqa: PLC0415

    lab = NetLab(lab_root, name)
    lab.state()  # BadInputError when the lab is not up
    if os.geteuid() != 0:
        raise BadInputError(
            f"--lab {name} reads the lab through its management namespace, which needs root: "
            "run as root, or inside the lab with `govcloud lab run -- govcloud audit drift "
            "--network --hosts --inventory $ANSIBLE_INVENTORY`"
        )
    return Target(
        lab.inventory_dir / "hosts.yml", lab.namespace(MANAGEMENT_NODE), label=f"lab {name}"
    )
