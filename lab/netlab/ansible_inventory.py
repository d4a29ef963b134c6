"""Ansible inventories rendered from the topology: hosts, groups, host_vars and group_vars.

Groups: `core_routers`, `department_routers` (children `frr_routers`, `bird_routers`),
`lan_hosts`, `cloud_gateways` (the primary's and the DR site's), and one `dept_<code>` per
department (its router and hosts); with workloads, `workload_sources`, `cloud_servers` and
`dr_servers` (the cloud servers at the DR site).
Every node's data is `netstate_node` in its host_vars; group_vars hold one file per role with
variables named after the role (kolla-ansible's layout): `netstate_*`, `reachability_*`,
`extranet_merge_*`, `ipv6_dualstack_*`, `ipv6_cutover_*`.

Two flavours: `lab` (what `govcloud lab up` writes for a live lab: SSH through the lab's own
ssh_config, fast OSPF timers) and `example` (a real site: management addresses to be filled
in, production timers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

from desired.network_plan import county_plan
from govcloud.model import County, SiteRole
from lab.netlab.addressing import identity_map
from lab.netlab.topology import Topology, build_topology, choose_departments
from network.phases import (
    DAEMON_BIRD,
    ROLE_CLOUD,
    ROLE_CLOUD_SERVER,
    ROLE_CORE,
    ROLE_HOST,
    ROLE_ROUTER,
    address_of,
)

HEADER: Final = (
    "---\n# Rendered by govcloud from the county model and the network plan; do not edit.\n"
)

# The lab's tuning: OSPF hello 1 s / dead 4 s and no SPF/LSA throttling converge in about 5 s
# (the defaults, 10/40, take 40 s); router advertisements every 3-4 s; BGP hold 9 s.
LAB_VARS: Final[dict[str, dict[str, Any]]] = {
    "netstate": {
        "netstate_ospf_hello_interval": 1,
        "netstate_ospf_dead_interval": 4,
        "netstate_ospf_fast_convergence": True,
        "netstate_ra_interval": 3,
        "netstate_bgp_hold_time": 9,
        "netstate_bird_log": "/var/log/bird.log",
        "netstate_service_port": 443,
    },
    "reachability": {
        "reachability_service_port": 443,
        "reachability_internal_port": 8080,
        "reachability_probe_timeout": 1,
        "reachability_wait": 20,
    },
}
EXAMPLE_VARS: Final[dict[str, dict[str, Any]]] = {
    "netstate": {
        "netstate_ospf_hello_interval": 10,
        "netstate_ospf_dead_interval": 40,
        "netstate_ospf_fast_convergence": False,
        "netstate_ra_interval": 30,
        "netstate_bgp_hold_time": 90,
        "netstate_bird_log": "/var/log/bird.log",
        "netstate_service_port": 443,
    },
    "reachability": {
        "reachability_service_port": 443,
        "reachability_internal_port": 8080,
        "reachability_probe_timeout": 2,
        "reachability_wait": 120,
    },
}


def template_vars(flavour: str = "lab") -> dict[str, Any]:
    """The group variables templates are rendered with (netstate_* and reachability_*)."""
    chosen = LAB_VARS if flavour == "lab" else EXAMPLE_VARS
    merged: dict[str, Any] = {}
    for values in chosen.values():
        merged.update(values)
    return merged


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """Indents lists under their key, as yamllint's default style wants."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _dump(value: Any) -> str:
    text: str = yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return HEADER + text


def groups(topology: Topology) -> dict[str, Any]:
    """The hosts.yml structure."""
    nodes = topology.nodes

    def hosts(names: list[str]) -> dict[str, Any]:
        return {"hosts": dict.fromkeys(names)}

    routers = topology.by_role(ROLE_ROUTER)
    bird = [n for n in routers if nodes[n]["daemon"] == DAEMON_BIRD]
    frr = [n for n in routers if n not in bird]
    children: dict[str, Any] = {
        "core_routers": hosts(topology.by_role(ROLE_CORE)),
        "department_routers": {
            "children": {"frr_routers": hosts(frr), "bird_routers": hosts(bird)}
        },
        "lan_hosts": hosts(topology.by_role(ROLE_HOST)),
        "cloud_gateways": hosts(topology.by_role(ROLE_CLOUD)),
    }
    sources = [n for n in topology.by_role(ROLE_HOST) if "workload" in nodes[n]]
    if sources:
        children["workload_sources"] = hosts(sources)
    if topology.by_role(ROLE_CLOUD_SERVER):
        children["cloud_servers"] = hosts(topology.by_role(ROLE_CLOUD_SERVER))
    at_dr_site = [
        n for n in topology.by_role(ROLE_CLOUD_SERVER) if nodes[n].get("site") == SiteRole.DR.value
    ]
    if at_dr_site:
        # Also cloud servers (the name moves on them too); the DR playbooks' own hosts.
        children["dr_servers"] = hosts(at_dr_site)
    for code in topology.departments:
        members = [n for n, v in nodes.items() if v.get("department") == code]
        children[f"dept_{code}"] = hosts(members)
    return {"all": {"children": children}}


def render_inventory(
    topology: Topology,
    *,
    flavour: str = "lab",
    ssh_config: str | None = None,
    control_path_dir: str | None = None,
) -> dict[str, str]:
    """Relative path → file content for a whole inventory directory."""
    files: dict[str, str] = {"hosts.yml": _dump(groups(topology))}
    connection: dict[str, Any] = {
        "ansible_user": "root",
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    if ssh_config:
        # The lab's own ssh_config: its key, its known_hosts (host keys checked), one
        # HostName per node on the management network.
        connection["ansible_ssh_common_args"] = f"-F {ssh_config}"
    if control_path_dir:
        # Per lab: two labs on one machine use the same management addresses.
        connection["ansible_control_path_dir"] = control_path_dir
    files["group_vars/all/connection.yml"] = _dump(connection)
    chosen = LAB_VARS if flavour == "lab" else EXAMPLE_VARS
    for role, values in chosen.items():
        files[f"group_vars/all/{role}.yml"] = _dump(values)
    for name, node in topology.nodes.items():
        host_vars: dict[str, Any] = {}
        if flavour != "lab":
            host_vars["ansible_host"] = address_of(node["management"]["ipv4"])
        host_vars["netstate_node"] = node
        files[f"host_vars/{name}.yml"] = _dump(host_vars)
    return files


def write_inventory(directory: Path, files: dict[str, str]) -> None:
    """Write the files, replacing host_vars that are no longer part of the inventory."""
    stale = directory / "host_vars"
    if stale.is_dir():
        for old in stale.glob("*.yml"):
            if f"host_vars/{old.name}" not in files:
                old.unlink()
    for relative, content in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def inventory_files(
    county: County,
    departments: str | None,
    *,
    lab: str,
    bird: tuple[str, ...] | None,
    example: bool,
    lab_root: Path,
) -> dict[str, str]:
    """The inventory for `departments` (a count or codes, as `lab up` takes them) from the
    model's plan: a lab's (its addresses, SSH config and control sockets under `lab_root`), or
    with `example` a real site's (the plan's own addresses, management addresses to fill in)."""
    plan = county_plan(county)
    chosen = choose_departments(county, departments)
    if not example:
        topology = build_topology(county, plan, chosen, lab=lab, bird=bird)
        root = lab_root / lab
        return render_inventory(
            topology,
            flavour="lab",
            ssh_config=str(root / "ssh" / "config"),
            control_path_dir=str(root / "cp"),
        )
    legacy = [n.prefix for c in chosen for n in county.department(c).legacy_networks]
    topology = build_topology(
        county, plan, chosen, lab=lab, bird=bird, address_map=identity_map(county, legacy)
    )
    # A real site's management addresses are its own: documentation addresses to replace.
    for number, node in enumerate(topology.nodes.values(), start=10):
        node["management"] = {
            "interface": "mgmt0",
            "ipv4": f"192.0.2.{number}/24",
            "ipv6": f"2001:db8:ffff::{number:x}/64",
        }
    return render_inventory(topology, flavour="example")
