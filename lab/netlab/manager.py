"""Bring the network lab up, check it, and tear down exactly what was made.

State lives under `<state dir>/lab/<name>/`: `state.json` (what was made: namespaces, anchor
and service PIDs, the topology), one directory per node (`upper/` is the node's own layer of
/etc, `run/` and `log/` its /run and /var/log), `ssh/` (this lab's keys, known_hosts and
ssh_config) and `inventory/` (what the playbooks use). SSH control sockets live under
/run/govcloud-lab/<hash of the state dir>/: a socket path must fit in 108 bytes, which a
deep state directory (a test's tmp_path) would not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from govcloud.errors import BadInputError, UnreachableError
from lab.netlab import configs, netns, ssh
from lab.netlab.ansible_inventory import render_inventory, template_vars, write_inventory
from lab.netlab.services import inside
from lab.netlab.topology import (
    CORE,
    CORE_SITE_INTERFACES,
    MANAGEMENT_NODE,
    Topology,
    check_lab_name,
    controller_addresses,
    namespace_prefix,
)
from lab.workload import servers as workload_servers
from network.phases import (
    DAEMON_BIRD,
    DAEMON_FRR,
    ROLE_CLOUD,
    ROLE_CLOUD_SERVER,
    ROLE_CORE,
    ROLE_HOST,
    ROLE_ROUTER,
    Phase,
    address_of,
    host_state,
    phase_of,
)
from network.reachability import INTERNAL_PORT, SERVICE_PORT, Check, expected_checks

REPO: Final = Path(__file__).resolve().parents[2]
PROBE_SCRIPT: Final = Path(__file__).resolve().parent / "probe.py"
ANSIBLE_CONFIG: Final = REPO / "ansible.cfg"
STATE_FILE: Final = "state.json"
CONTROL_SOCKETS: Final = Path("/run/govcloud-lab")  # short: a socket path must fit 108 bytes
READY_TIMEOUT_S: Final = 60.0
WORKERS: Final = 8
SSH_PORT: Final = 22
FRR_DAEMONS: Final = ("ospfd", "ospf6d", "bgpd")
FAULT_TABLE: Final = "govcloud_lab_fault"
FAULTS: Final = {
    # Drops OSPFv3 (IP protocol 89) and BGP over IPv6 at the router: it never learns or
    # announces an IPv6 route, while IPv4 keeps working.
    "refuse-ipv6-routes": (
        f"table inet {FAULT_TABLE} {{\n"
        "  chain input {\n"
        "    type filter hook input priority -10; policy accept;\n"
        "    meta nfproto ipv6 meta l4proto 89 drop\n"
        "    meta nfproto ipv6 tcp dport 179 drop\n"
        "    meta nfproto ipv6 tcp sport 179 drop\n"
        "  }\n"
        "  chain output {\n"
        "    type filter hook output priority -10; policy accept;\n"
        "    meta nfproto ipv6 meta l4proto 89 drop\n"
        "    meta nfproto ipv6 tcp dport 179 drop\n"
        "    meta nfproto ipv6 tcp sport 179 drop\n"
        "  }\n"
        "}\n"
    ),
}
# Faults a DR drill injects, each with what it names: the primary (or DR) site cut from the
# extranet (the core's link to the site's gateway goes down: its routes are withdrawn), and
# a system's database killed on its primary-site server (the postmaster, SIGKILL).
FAULT_CUT_SITE: Final = "cut-from-extranet"
FAULT_KILL_DATABASE: Final = "kill-database"
FAULT_TARGETS: Final = {
    **dict.fromkeys(FAULTS, "a department code"),
    FAULT_CUT_SITE: f"a site ({' or '.join(CORE_SITE_INTERFACES)})",
    FAULT_KILL_DATABASE: "a system the lab runs (dept/system)",
}
ANCHOR_SCRIPT: Final = """set -e
node=$1; dir=$2
hostname "$node"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$dir/upper,workdir=$dir/work" /etc
mount --bind "$dir/run" /run
mount --bind "$dir/log" /var/log
if [ -d "$dir/pg" ]; then mount --bind "$dir/pg" /var/lib/postgresql; fi
if [ -d "$dir/srv" ]; then mount --bind "$dir/srv" /srv; fi
: > "$dir/ready"
exec sleep infinity
"""
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def require_root(action: str) -> None:
    """Network namespaces need root; say so plainly."""
    if os.geteuid() != 0:
        raise BadInputError(
            f"`govcloud lab {action}` needs root: it creates network namespaces, veth links "
            "and per-node daemons. Run it as root (e.g. sudo -E .venv/bin/govcloud lab "
            f"{action})."
        )


@dataclass
class NodeStatus:
    """What `status` knows about one node."""

    name: str
    role: str
    namespace: str
    present: bool
    daemons: dict[str, bool] = field(default_factory=dict)
    phase: str | None = None


@dataclass
class CheckResult:
    """A check and what the live lab answered."""

    check: Check
    ok: bool
    detail: str

    @property
    def matches(self) -> bool:
        """True when the answer is what the plan and the phase expect."""
        return self.ok is self.check.expect


class NetLab:
    """One lab, named `name`, with its state under `root`."""

    def __init__(self, root: Path, name: str = "lab") -> None:
        self.name = check_lab_name(name)
        self.root = (root / name).resolve()
        self.prefix = namespace_prefix(name)

    # -- paths -------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        """The record of what `up` made."""
        return self.root / STATE_FILE

    @property
    def ssh_dir(self) -> Path:
        """Keys, known_hosts and ssh_config."""
        return self.root / "ssh"

    @property
    def inventory_dir(self) -> Path:
        """The inventory the playbooks use for this lab."""
        return self.root / "inventory"

    @property
    def control_dir(self) -> Path:
        """SSH control sockets, on a short path of their own (see the module docstring)."""
        digest = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:16]
        return CONTROL_SOCKETS / digest

    def node_dir(self, node: str) -> Path:
        """A node's own files (upper layer of /etc, /run, /var/log)."""
        return self.root / "nodes" / node

    def state(self) -> dict[str, Any]:
        """The recorded state; BadInputError when the lab is not up."""
        if not self.state_path.exists():
            raise BadInputError(
                f"lab {self.name!r} is not up (no {self.state_path}); run `govcloud lab up`"
            )
        result: dict[str, Any] = json.loads(self.state_path.read_text())
        return result

    def _save(self, state: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=1, ensure_ascii=False))
        temporary.replace(self.state_path)

    def namespace(self, node: str) -> str:
        """A node's namespace name."""
        return f"{self.prefix}{node}"

    def ours(self) -> list[str]:
        """Namespaces on this machine that belong to this lab."""
        return [n for n in netns.namespaces() if n.startswith(self.prefix)]

    # -- up ----------------------------------------------------------------------------------
    def up(self, topology: Topology, progress: Progress = _quiet) -> dict[str, float]:
        """Build the lab; every department starts in the legacy phase. Returns timings."""
        require_root("up")
        if topology.lab != self.name:
            raise ValueError("the topology was built for another lab name")
        if self.ours():
            raise BadInputError(
                f"lab {self.name!r} is already up ({len(self.ours())} namespaces); "
                "run `govcloud lab down` first, or choose another --name"
            )
        if self.root.exists():
            shutil.rmtree(self.root)
        timings: dict[str, float] = {}
        start = time.monotonic()
        state: dict[str, Any] = {
            "lab": self.name,
            "county": topology.county_code,
            "county_name": topology.county_name,
            "departments": list(topology.departments),
            "bird": list(topology.bird),
            "namespaces": topology.namespaces,
            "anchors": {},
            "services_pid": None,
            "status": "building",
            "address_map": topology.address_map.as_rows(),
            "nodes": topology.nodes,
            "created": time.time(),
        }
        # Record first: a build that fails half way is still torn down by `down`.
        self._save(state)
        variables = template_vars("lab")

        def lap(name: str) -> None:
            timings[name] = round(time.monotonic() - start, 3)
            progress(f"{name}: {timings[name]:.1f} s")

        self._make_namespaces(topology)
        lap("namespaces")
        self._wire(topology)
        lap("links and addresses")
        self._node_files(topology, variables)
        state["anchors"] = self._anchors(topology)
        self._save(state)
        lap("node file systems")
        host_keys = ssh.make_keys(self.ssh_dir, list(topology.nodes))
        sshd_config = self.root / "sshd_config"
        ssh.write_sshd_config(sshd_config, self.ssh_dir / "authorized_keys")
        config = ssh.write_client_files(
            self.ssh_dir, topology.nodes, host_keys, control_dir=self.control_dir
        )
        self._start_daemons(topology, state["anchors"], sshd_config)
        lap("sshd, FRR and BIRD")
        state["services_pid"] = self._start_services(topology)
        self._save(state)
        lap("services")
        state["workload_pids"] = self._start_workloads(topology, state["anchors"])
        self._save(state)
        if state["workload_pids"]:
            lap("workloads")
        write_inventory(
            self.inventory_dir,
            render_inventory(
                topology,
                flavour="lab",
                ssh_config=str(config),
                control_path_dir=str(self.control_dir),
            ),
        )
        self.control_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._wait_for_ssh(topology)
        lap("management network ready")
        state["status"] = "up"
        state["timings"] = timings
        self._save(state)
        return timings

    def _make_namespaces(self, topology: Topology) -> None:
        netns.batch(f"netns add {ns}" for ns in topology.namespaces)
        routers = {
            topology.namespace(n)
            for n, v in topology.nodes.items()
            if v["role"] in (ROLE_CORE, ROLE_ROUTER) or v.get("tenants")
        }
        for namespace in topology.namespaces:
            settings = {"net/ipv6/conf/default/accept_dad": "1"}
            if namespace in routers:
                settings |= {"net/ipv4/ip_forward": "1", "net/ipv6/conf/all/forwarding": "1"}
            _sysctls(namespace, settings)

    def _wire(self, topology: Topology) -> None:
        netns.batch(
            f"link add name {v.a_if} netns {topology.namespace(v.a)} type veth "
            f"peer name {v.b_if} netns {topology.namespace(v.b)}"
            for v in topology.veths
        )
        lines: dict[str, list[str]] = {ns: ["link set lo up"] for ns in topology.namespaces}
        for owner, bridge in topology.bridges:
            # No multicast snooping: without an MLD querier it can swallow router
            # advertisements and neighbour solicitations.
            lines[topology.namespace(owner)] += [
                f"link add name {bridge} type bridge mcast_snooping 0",
                f"link set {bridge} up",
            ]
        for veth in topology.veths:
            a, b = topology.namespace(veth.a), topology.namespace(veth.b)
            if veth.bridge:
                lines[a].append(f"link set {veth.a_if} master {veth.bridge}")
            lines[a].append(f"link set {veth.a_if} up")
            lines[b].append(f"link set {veth.b_if} up")
        mgmt = topology.namespace(MANAGEMENT_NODE)
        controller = controller_addresses(topology.lab)
        lines[mgmt] += [
            f"addr add {controller['ipv4']} dev br-mgmt",
            f"addr add {controller['ipv6']} dev br-mgmt nodad",
        ]
        for name, node in topology.nodes.items():
            ns = topology.namespace(name)
            management = node["management"]
            lines[ns] += [
                f"addr add {management['ipv4']} dev mgmt0",
                f"addr add {management['ipv6']} dev mgmt0 nodad",
            ]
            lines[ns] += _data_plane(node)
        for ns, commands in lines.items():
            netns.batch(commands, ns)
        for name, node in topology.nodes.items():
            settings = {"net/ipv6/conf/mgmt0/accept_ra": "0"}
            if node["role"] == ROLE_CORE:
                # A site cut takes the core's link to it down; its addresses (FRR's) stay, so
                # clearing the fault is bringing the link up again.
                settings |= {
                    f"net/ipv6/conf/{link}/keep_addr_on_down": "1"
                    for link in CORE_SITE_INTERFACES.values()
                    if link in {v.a_if for v in topology.veths if v.a == CORE}
                }
            if node["role"] in (ROLE_CORE, ROLE_ROUTER):
                # Management stays out of the data plane: nothing is forwarded from it.
                settings |= {
                    "net/ipv4/conf/mgmt0/forwarding": "0",
                    "net/ipv6/conf/mgmt0/forwarding": "0",
                }
            _sysctls(topology.namespace(name), settings)

    def _node_files(self, topology: Topology, variables: dict[str, Any]) -> None:
        frr = _user("frr")
        bird = _user("bird")
        system_names = workload_servers.names(topology.nodes)
        hosts = (
            workload_servers.hosts_file(system_names, Path("/etc/hosts").read_text())
            if system_names
            else None
        )
        for name, node in topology.nodes.items():
            base = self.node_dir(name)
            # srv: the node's own /srv (a DR backup volume is mounted there), not the machine's.
            for sub in ("upper", "work", "run/sshd", "run/lock", "log", "srv"):
                (base / sub).mkdir(parents=True, exist_ok=True)
            files: dict[str, str] = {}
            role = node["role"]
            if "workload" in node:
                workload_servers.prepare_node(base)
            if hosts and role in (ROLE_HOST, ROLE_CLOUD_SERVER):
                # Clients reach systems by name; the playbooks move the names.
                (base / "upper" / "hosts").write_text(hosts)
            if role == ROLE_ROUTER:
                files = configs.router_files(node, Phase.LEGACY, variables)
            elif role == ROLE_HOST:
                files = configs.host_files(node, Phase.LEGACY, variables)
            elif role == ROLE_CORE:
                files = {"frr/frr.conf": configs.core_config(topology, variables)}
            uses_frr = role == ROLE_CORE or (role == ROLE_ROUTER and node["daemon"] == DAEMON_FRR)
            if uses_frr:
                files["frr/daemons"] = _frr_daemons()
                files["frr/vtysh.conf"] = "service integrated-vtysh-config\n"
            for relative, content in files.items():
                path = base / "upper" / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
            if uses_frr:
                for sub in ("run/frr", "log/frr"):
                    (base / sub).mkdir(parents=True, exist_ok=True)
                _chown_tree(base / "upper" / "frr", frr, 0o640, 0o750)
                _chown_tree(base / "run" / "frr", frr, 0o640, 0o755)
                _chown_tree(base / "log" / "frr", frr, 0o640, 0o755)
            if role == ROLE_ROUTER and node["daemon"] == DAEMON_BIRD:
                (base / "run" / "bird").mkdir(parents=True, exist_ok=True)
                (base / "log" / "bird.log").touch()
                _chown_tree(base / "upper" / "bird", bird, 0o640, 0o750)
                _chown_tree(base / "run" / "bird", bird, 0o640, 0o755)
                os.chown(base / "log" / "bird.log", *bird)

    def _anchors(self, topology: Topology) -> dict[str, int]:
        anchors: dict[str, int] = {}
        for name in topology.nodes:
            base = self.node_dir(name)
            process = subprocess.Popen(  # noqa: S603
                [  # noqa: S607  (iproute2 from PATH, like every lab command)
                    "ip",
                    "netns",
                    "exec",
                    topology.namespace(name),
                    "unshare",
                    "--uts",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    ANCHOR_SCRIPT,
                    "anchor",
                    name,
                    str(base),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=(base / "anchor.log").open("w"),
                start_new_session=True,
            )
            anchors[name] = process.pid
        deadline = time.monotonic() + READY_TIMEOUT_S
        waiting = set(anchors)
        while waiting:
            waiting = {n for n in waiting if not (self.node_dir(n) / "ready").exists()}
            failed = [n for n in waiting if not netns.alive(anchors[n])]
            if failed:
                log = self.node_dir(failed[0]) / "anchor.log"
                raise UnreachableError(
                    f"lab: node {failed[0]} could not set up its file system: "
                    f"{log.read_text().strip()}"
                )
            if time.monotonic() > deadline:
                raise UnreachableError(
                    f"lab: nodes not ready after {READY_TIMEOUT_S:.0f} s: {sorted(waiting)}"
                )
            if waiting:
                time.sleep(0.02)
        return anchors

    def _start_daemons(
        self, topology: Topology, anchors: dict[str, int], sshd_config: Path
    ) -> None:
        def start(name: str) -> None:
            node = topology.nodes[name]
            anchor = anchors[name]
            netns.run(
                netns.nsenter(
                    anchor, ssh.sshd_command(sshd_config, self.ssh_dir / "hostkeys" / name, node)
                )
            )
            role = node["role"]
            if role == ROLE_CORE or (role == ROLE_ROUTER and node["daemon"] == DAEMON_FRR):
                netns.run(netns.nsenter(anchor, ["/usr/lib/frr/frrinit.sh", "start"]))
            elif role == ROLE_ROUTER and node["daemon"] == DAEMON_BIRD:
                netns.run(
                    netns.nsenter(
                        anchor,
                        [
                            "bird",
                            "-c",
                            "/etc/bird/bird.conf",
                            "-s",
                            "/run/bird/bird.ctl",
                            "-u",
                            "bird",
                            "-g",
                            "bird",
                            "-P",
                            "/run/bird/bird.pid",
                        ],
                    )
                )

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            list(pool.map(start, topology.nodes))

    def _start_services(self, topology: Topology) -> int:
        # A workload's server runs the system's own app on those ports instead.
        targets = [
            topology.namespace(n)
            for n, v in topology.nodes.items()
            if v["role"] in (ROLE_HOST, ROLE_CLOUD) and not _is_source(v)
        ]
        log_file = (self.root / "services.log").open("w")
        process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "lab.netlab.services",
                f"{SERVICE_PORT},{INTERNAL_PORT}",
                *targets,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_file,
            start_new_session=True,
            cwd=REPO,
        )
        line = process.stdout.readline() if process.stdout else b""
        if line.strip() != b"ready":
            log = (self.root / "services.log").read_text()
            raise UnreachableError(f"lab: the service listeners did not start: {log}")
        return process.pid

    def _start_workloads(self, topology: Topology, anchors: dict[str, int]) -> dict[str, int]:
        """Each workload's cluster, data and app where it starts (its source, or the cloud
        server of a system on the cloud); their PIDs."""
        sources = [n for n, v in topology.nodes.items() if workload_servers.starts_with_data(v)]

        def start(name: str) -> int:
            log = self.node_dir(name) / "workload.log"
            return workload_servers.start_source(
                anchors[name], topology.nodes[name]["workload"], log
            )

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            return dict(zip(sources, pool.map(start, sources), strict=True))

    def _wait_for_ssh(self, topology: Topology) -> None:
        targets = {n: address_of(v["management"]["ipv6"]) for n, v in topology.nodes.items()}
        deadline = time.monotonic() + READY_TIMEOUT_S
        with inside(topology.namespace(MANAGEMENT_NODE)):
            while targets:
                for name, address in list(targets.items()):
                    with (
                        contextlib.suppress(OSError),
                        socket.create_connection((address, SSH_PORT), timeout=0.5),
                    ):
                        del targets[name]
                if targets and time.monotonic() > deadline:
                    raise UnreachableError(f"lab: sshd not answering on {sorted(targets)}")
                if targets:
                    time.sleep(0.05)
        self.run(["ssh", "-F", str(self.ssh_dir / "config"), CORE, "true"], capture=True)

    # -- down --------------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop every process of the lab and delete its namespaces; returns what was removed."""
        require_root("down")
        recorded: dict[str, Any] = {}
        if self.state_path.exists():
            with contextlib.suppress(ValueError):
                recorded = json.loads(self.state_path.read_text())
        present = set(netns.namespaces())
        mine = sorted(
            {n for n in recorded.get("namespaces", []) if n in present} | set(self.ours())
        )
        services = recorded.get("services_pid")
        if services and _is_services(services):
            netns.stop([services])
        victims = _processes_in(mine)
        netns.stop(victims)
        netns.batch(f"netns del {ns}" for ns in mine)
        if self.root.exists():
            shutil.rmtree(self.root)
        shutil.rmtree(self.control_dir, ignore_errors=True)
        return mine

    # -- status ------------------------------------------------------------------------------
    def status(self) -> tuple[dict[str, Any], list[NodeStatus]]:
        """The recorded state and each node's namespace, daemons and phase."""
        state = self.state()
        present = set(netns.namespaces())
        rows = []
        for name, node in state["nodes"].items():
            base = self.node_dir(name)
            daemons = {"sshd": _pid_alive(base / "run" / "sshd.pid")}
            role = node["role"]
            if role == ROLE_CORE or (role == ROLE_ROUTER and node["daemon"] == DAEMON_FRR):
                daemons["zebra"] = _pid_alive(base / "run" / "frr" / "zebra.pid")
                daemons["ospfd"] = _pid_alive(base / "run" / "frr" / "ospfd.pid")
            if role == ROLE_ROUTER and node["daemon"] == DAEMON_BIRD:
                daemons["bird"] = _pid_alive(base / "run" / "bird" / "bird.pid")
            phase = self.phase(name) if role in (ROLE_ROUTER, ROLE_HOST) else None
            rows.append(
                NodeStatus(
                    name,
                    role,
                    self.namespace(name),
                    self.namespace(name) in present,
                    daemons,
                    phase.value if phase else None,
                )
            )
        return state, rows

    def phase(self, router: str) -> Phase:
        """A department router's recorded phase (what the last playbook run left)."""
        marker = self.node_dir(router) / "upper" / "govcloud" / "network-phase"
        return phase_of(marker.read_text().strip() if marker.exists() else None)

    def phases(self) -> dict[str, Phase]:
        """Department → phase, from each router's marker."""
        state = self.state()
        return {
            node["department"]: self.phase(name)
            for name, node in state["nodes"].items()
            if node["role"] == ROLE_ROUTER
        }

    # -- verify ------------------------------------------------------------------------------
    def verify(
        self, *, wait: float = 0.0, timeout: float = 1.0, department: str | None = None
    ) -> tuple[dict[str, Phase], list[CheckResult]]:
        """Probe every check of the expected matrix; retry mismatches for up to `wait` s."""
        require_root("verify")
        state = self.state()
        phases = self.phases()
        checks = expected_checks(state["nodes"], phases, department=department)
        results: dict[tuple[Any, ...], CheckResult] = {}
        pending = checks
        deadline = time.monotonic() + wait
        while True:
            for result in self._probe(state, pending, timeout):
                results[result.check.key] = result
            pending = [c for c in checks if not results[c.key].matches]
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        return phases, [results[c.key] for c in checks]

    def _probe(
        self, state: dict[str, Any], checks: list[Check], timeout: float
    ) -> list[CheckResult]:
        by_source: dict[str, list[Check]] = {}
        for check in checks:
            by_source.setdefault(check.source, []).append(check)
        anchors = state["anchors"]

        def run_source(source: str) -> list[CheckResult]:
            items = by_source[source]
            request = {
                "timeout": timeout,
                "checks": [
                    {
                        "key": i,
                        "probe": c.probe,
                        "family": c.family,
                        "address": c.address,
                        "port": c.port,
                    }
                    for i, c in enumerate(items)
                ],
            }
            output = netns.run(
                netns.nsenter(anchors[source], ["python3", str(PROBE_SCRIPT)]),
                stdin=json.dumps(request),
            )
            answers = {a["key"]: a for a in json.loads(output)}
            return [
                CheckResult(c, bool(answers[i]["ok"]), str(answers[i]["detail"]))
                for i, c in enumerate(items)
            ]

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            return [r for rows in pool.map(run_source, sorted(by_source)) for r in rows]

    # -- faults ------------------------------------------------------------------------------
    def fault(self, target: str, kind: str, *, clear: bool = False) -> str:
        """Inject (or clear) a fault outside what playbooks manage; what it did, in words.

        `refuse-ipv6-routes` on a department's router; `cut-from-extranet` on a site (the
        core's link to its gateway down, its routes withdrawn); `kill-database` on a system's
        primary-site server (cleared by starting the cluster again).
        """
        require_root("fault")
        state = self.state()
        if kind not in FAULT_TARGETS:
            raise BadInputError(
                f"unknown fault {kind!r}; choose from "
                + ", ".join(f"{k} (on {v})" for k, v in FAULT_TARGETS.items())
            )
        if kind == FAULT_CUT_SITE:
            done = self._cut_site(state, target, clear=clear)
        elif kind == FAULT_KILL_DATABASE:
            done = self._kill_database(state, target, clear=clear)
        else:
            done = self._router_fault(state, target, kind, clear=clear)
        faults = state.setdefault("faults", {})
        key = f"{kind}:{target}"
        if clear:
            faults.pop(key, None)
        else:
            faults[key] = time.time()
        self._save(state)
        return done

    def _router_fault(
        self, state: dict[str, Any], department: str, kind: str, *, clear: bool
    ) -> str:
        router = f"{department}-rtr"
        if router not in state["nodes"]:
            raise BadInputError(
                f"{department!r}: fault {kind} names a department in lab {self.name!r} "
                f"(it has: {', '.join(state['departments'])})"
            )
        namespace = self.namespace(router)
        netns.run(
            ["ip", "netns", "exec", namespace, "nft", "-f", "-"],
            stdin=f"table inet {FAULT_TABLE}\ndelete table inet {FAULT_TABLE}\n",
        )
        if not clear:
            netns.run(["ip", "netns", "exec", namespace, "nft", "-f", "-"], stdin=FAULTS[kind])
        return f"{router}: {kind} {'cleared' if clear else 'injected'}"

    def _cut_site(self, state: dict[str, Any], site: str, *, clear: bool) -> str:
        """The core's link to a site's gateway down (its routes withdrawn), or up again."""
        link = CORE_SITE_INTERFACES.get(site)
        core = state["nodes"][CORE]
        present = {core["cloud_interface"]["interface"]}
        if "dr_interface" in core:
            present.add(core["dr_interface"]["interface"])
        if link is None or link not in present:
            sites = [s for s, i in CORE_SITE_INTERFACES.items() if i in present]
            raise BadInputError(
                f"{site!r}: fault {FAULT_CUT_SITE} names a site of lab {self.name!r}: "
                f"{' or '.join(sites)}"
            )
        netns.run(
            ["ip", "netns", "exec", self.namespace(CORE), "ip", "link", "set", link,
             "up" if clear else "down"]
        )  # fmt: skip
        return f"{CORE}: link {link} to the {site} site {'up' if clear else 'down'}"

    def _kill_database(self, state: dict[str, Any], system: str, *, clear: bool) -> str:
        """SIGKILL the postmaster of a system's cluster on its primary-site server, or start
        the cluster again."""
        servers = self.app(system)["servers"]
        node = (servers.get("cloud") or servers["source"])["node"]
        version = workload_servers.postgres_version()
        pid_file = (
            self.node_dir(node) / "pg" / version / workload_servers.CLUSTER / "postmaster.pid"
        )
        if clear:
            # Already running (exit 2) is as good as started; anything else shows below.
            output = netns.run(
                netns.nsenter(
                    state["anchors"][node],
                    ["pg_ctlcluster", version, workload_servers.CLUSTER, "start"],
                ),
                check=False,
            )
            if _postmaster(pid_file, self.namespace(node)) is None:
                raise UnreachableError(f"{node}: {system}'s database did not start: {output}")
            return f"{node}: {system}'s database started again"
        pid = _postmaster(pid_file, self.namespace(node))
        if pid is None:
            raise BadInputError(
                f"{system}: its database is not running on {node}; nothing to kill "
                f"(clear the fault with --clear to start it)"
            )
        os.kill(pid, signal.SIGKILL)
        return f"{node}: {system}'s database killed (postmaster {pid})"

    # -- running commands as the management controller ---------------------------------------
    # -- workloads ---------------------------------------------------------------------------
    def exec(self, node: str, command: list[str]) -> int:
        """Run a command inside a node (its network, mounts and name), as a client there would;
        its exit code. The project's Python comes first on PATH, and this checkout's code on
        PYTHONPATH (entering the node's mounts leaves the working directory at its root, so
        `python -m` would otherwise import whatever checkout the environment installed)."""
        require_root("exec")
        state = self.state()
        if node not in state["nodes"]:
            known = ", ".join(sorted(state["nodes"]))
            raise BadInputError(f"lab {self.name!r} has no node {node!r}; nodes: {known}")
        if not command:
            raise BadInputError("name the command to run: govcloud lab exec NODE -- CMD...")
        anchor = state["anchors"][node]
        if not netns.alive(anchor):
            raise UnreachableError(f"lab: node {node} is gone (its anchor {anchor} ended)")
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(REPO),
        }
        return subprocess.run(  # noqa: S603
            netns.nsenter(anchor, command), env=env, cwd=REPO, check=False
        ).returncode

    def app(self, system: str) -> dict[str, Any]:
        """Where a workload runs: its service name and port, its servers' addresses now (the
        source's follow its department's phase; `cloud`, and `dr` at the DR site, are where
        Neutron put them), and which one the name resolves to."""
        state = self.state()
        nodes = state["nodes"]
        home = next(
            (
                n
                for n, v in nodes.items()
                if workload_servers.starts_with_data(v) and v["workload"]["system"] == system
            ),
            None,
        )
        if home is None:
            running = sorted(
                v["workload"]["system"]
                for v in nodes.values()
                if workload_servers.starts_with_data(v)
            )
            raise BadInputError(
                f"lab {self.name!r} runs no workload {system!r} "
                f"(it runs: {', '.join(running) or 'none'}); see `govcloud lab up --workloads`"
            )
        node = nodes[home]
        workload = node["workload"]
        servers: dict[str, dict[str, Any]] = {}
        if node["role"] == ROLE_HOST:
            router = next(
                n
                for n, v in nodes.items()
                if v["role"] == ROLE_ROUTER and v["department"] == node["department"]
            )
            now = host_state(node, self.phase(router))
            servers["source"] = {
                "node": home,
                "ipv4": address_of(now["ipv4"][0]) if now["ipv4"] else None,
                "ipv6": address_of(now["ipv6"][0]) if now["ipv6"] else None,
            }
            clients = home
        else:
            # A system on the cloud: the name as the lab's clients (its LAN hosts) see it.
            clients = next(
                (n for n, v in nodes.items() if v["role"] == ROLE_HOST and "workload" not in v),
                home,
            )
        for role, server in (
            (
                "cloud",
                workload.get("cloud_server") or (home if node["role"] != ROLE_HOST else None),
            ),
            ("dr", workload.get("dr_server")),
        ):
            if server:
                servers[role] = {
                    "node": server,
                    "ipv4": address_of(nodes[server]["ipv4"]),
                    "ipv6": address_of(nodes[server]["ipv6"]) if nodes[server]["ipv6"] else None,
                }
        info: dict[str, Any] = {
            "system": system,
            "name": workload["name"],
            "port": SERVICE_PORT,
            "database_port": workload["db_port"],
            "servers": servers,
            "resolves_to": workload_servers.resolved(
                self.node_dir(clients) / "upper" / "hosts", workload["name"]
            ),
        }
        if "dr_server" in workload:
            dr = nodes[workload["dr_server"]]["workload"]
            info["dr"] = {
                key: dr[key]
                for key in ("tier", "replication", "standby", "backup_volume", "backup_dir")
                if key in dr
            }
        return info

    def environment(self) -> dict[str, str]:
        """Environment for Ansible and testinfra run against this lab."""
        env = dict(os.environ)
        env.update(
            {
                "ANSIBLE_CONFIG": str(ANSIBLE_CONFIG),
                "ANSIBLE_INVENTORY": str(self.inventory_dir / "hosts.yml"),
                "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.control_dir),
                "GOVCLOUD_LAB_SSH_CONFIG": str(self.ssh_dir / "config"),
                "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
            }
        )
        return env

    def run(
        self, command: list[str], *, capture: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the management namespace (where Ansible and testinfra run)."""
        require_root("run")
        full = ["ip", "netns", "exec", self.namespace(MANAGEMENT_NODE), *command]
        result = subprocess.run(  # noqa: S603
            full,
            env={**self.environment(), **(env or {})},
            cwd=REPO,
            capture_output=capture,
            text=True,
            check=False,
        )
        if capture and result.returncode != 0 and command[0] == "ssh":
            raise UnreachableError(f"lab: ssh into the lab failed: {result.stderr.strip()}")
        return result


def _data_plane(node: dict[str, Any]) -> list[str]:
    """`ip` commands for the addresses not managed by FRR: hosts, cloud, BIRD routers."""
    role = node["role"]
    if role == ROLE_HOST:
        state = host_state(node, Phase.LEGACY)
        lines = [f"addr add {a} dev {state['interface']}" for a in state["ipv4"]]
        if state["gateway4"]:
            lines.append(f"route add default via {state['gateway4']}")
        return lines
    if role in (ROLE_CLOUD, ROLE_CLOUD_SERVER):
        lines = [
            f"addr add {node['ipv4']} dev {node['interface']}",
            f"route add default via {node['gateway4']}",
        ]
        if node["ipv6"]:
            lines += [
                f"addr add {node['ipv6']} dev {node['interface']} nodad",
                f"route add default via {node['gateway6']}",
            ]
        # The tenant subnets of deployed servers: the gateway is their Neutron router.
        for tenant in node.get("tenants", []):
            lines.append(f"addr add {tenant['ipv4']} dev {tenant['bridge']}")
            if tenant["ipv6"]:
                lines.append(f"addr add {tenant['ipv6']} dev {tenant['bridge']} nodad")
        lines += [f"route add unreachable {prefix}" for prefix in node.get("unreachable", [])]
        return lines
    if role == ROLE_ROUTER and node["daemon"] == DAEMON_BIRD:
        return [f"addr add {lan['legacy']} dev {lan['interface']}" for lan in node["lans"]]
    return []


def _postmaster(pid_file: Path, namespace: str) -> int | None:
    """The PID in a cluster's postmaster.pid when it is that postmaster, running in the
    node's network namespace (never a PID reused by something else)."""
    try:
        pid = int(pid_file.read_text().split()[0])
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        mine = (netns.NETNS_DIR / namespace).stat()
        theirs = Path(f"/proc/{pid}/ns/net").stat()
    except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
        return None
    if b"postgres" not in command or (mine.st_dev, mine.st_ino) != (theirs.st_dev, theirs.st_ino):
        return None
    return pid


def _is_source(node: dict[str, Any]) -> bool:
    """A workload's server in its department (the one that starts with the data)."""
    return node["role"] == ROLE_HOST and "workload" in node


def _sysctls(namespace: str, settings: dict[str, str]) -> None:
    with inside(namespace):
        for key, value in settings.items():
            Path("/proc/sys", key).write_text(value)


def _frr_daemons() -> str:
    text = Path("/etc/frr/daemons").read_text()
    for daemon in FRR_DAEMONS:
        text = text.replace(f"{daemon}=no", f"{daemon}=yes")
    return text


def _user(name: str) -> tuple[int, int]:
    import pwd  # noqa: PLC0415

    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def _chown_tree(path: Path, owner: tuple[int, int], file_mode: int, dir_mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for item in [path, *path.rglob("*")]:
        os.chown(item, *owner)
        item.chmod(dir_mode if item.is_dir() else file_mode)


def _pid_alive(pid_file: Path) -> bool:
    try:
        return netns.alive(int(pid_file.read_text().split()[0]))
    except (FileNotFoundError, ValueError, IndexError):
        return False


def _is_services(pid: int) -> bool:
    """True when the PID still runs this lab's service listeners (not a reused PID)."""
    try:
        return b"lab.netlab.services" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False


def _processes_in(namespaces: list[str]) -> list[int]:
    """Every process whose network namespace is one of these (one pass over /proc)."""
    wanted = set()
    for name in namespaces:
        with contextlib.suppress(FileNotFoundError):
            info = (netns.NETNS_DIR / name).stat()
            wanted.add((info.st_dev, info.st_ino))
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(FileNotFoundError, PermissionError, ProcessLookupError):
            info = (entry / "ns" / "net").stat()
            if (info.st_dev, info.st_ino) in wanted:
                found.append(int(entry.name))
    return found


__all__ = ["NetLab", "require_root"]
