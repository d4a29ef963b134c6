"""The files a node starts with, rendered from the same templates the playbooks use.

`govcloud lab up` puts every department in the legacy phase by writing exactly what the
`netstate` role would write for it, so the first playbook run starts from a state it knows
(and converging to legacy again changes nothing). The core's configuration has its own
template: the playbooks never change the core.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Final

import jinja2
import yaml

from lab.netlab.addressing import CLOUD_SEGMENT_IPV4, DR_SEGMENT_IPV4
from lab.netlab.topology import Topology
from network.phases import DAEMON_FRR, Node, Phase, host_state, router_state

REPO: Final = Path(__file__).resolve().parents[2]
ROLE_TEMPLATES: Final = REPO / "playbooks" / "roles" / "netstate" / "templates"
LAB_TEMPLATES: Final = Path(__file__).resolve().parent / "templates"


def _environment(path: Path) -> jinja2.Environment:
    # The options of Ansible's template module (trim_blocks on, lstrip_blocks off), so both
    # renderers produce the same bytes.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(path),
        autoescape=False,  # noqa: S701  (configuration files, not HTML)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
    )


@functools.cache
def _role_defaults() -> dict[str, Any]:
    """The netstate role's plain defaults (Ansible's lowest precedence), not its expressions."""
    defaults = yaml.safe_load((ROLE_TEMPLATES.parent / "defaults" / "main.yml").read_text())
    return {k: v for k, v in defaults.items() if not (isinstance(v, str) and "{{" in v)}


def render_role_template(name: str, netstate: dict[str, Any], variables: dict[str, Any]) -> str:
    """One of the netstate role's templates, as Ansible renders it."""
    context = {**_role_defaults(), **variables}
    text = _environment(ROLE_TEMPLATES).get_template(name).render(netstate=netstate, **context)
    return text.rstrip("\n") + "\n"


def router_files(node: Node, phase: Phase, variables: dict[str, Any]) -> dict[str, str]:
    """Path under the node's /etc → content, for a department router in a phase."""
    state = router_state(node, phase)
    files = {
        "govcloud/network-phase": f"{phase.value}\n",
        "govcloud/nftables.nft": render_role_template("nftables.nft.j2", state, variables),
    }
    if node["daemon"] == DAEMON_FRR:
        files["frr/frr.conf"] = render_role_template("frr.conf.j2", state, variables)
    else:
        files["bird/bird.conf"] = render_role_template("bird.conf.j2", state, variables)
    return files


def host_files(node: Node, phase: Phase, variables: dict[str, Any]) -> dict[str, str]:
    """Path under the node's /etc → content, for a LAN host in a phase."""
    state = host_state(node, phase)
    return {
        "govcloud/network-phase": f"{phase.value}\n",
        f"network/interfaces.d/{node['interface']}": render_role_template(
            "interfaces.j2", state, variables
        ),
    }


def core_config(topology: Topology, variables: dict[str, Any]) -> str:
    """The extranet core's frr.conf."""
    core = topology.nodes["core-rtr"]
    pools = [t for t in topology.address_map.translations if t.kind == "pool"]
    county6 = next(t for t in topology.address_map.translations if t.kind == "ipv6")
    text = (
        _environment(LAB_TEMPLATES)
        .get_template("core-frr.conf.j2")
        .render(
            node=core,
            pools4=[str(t.target) for t in pools]
            + [str(CLOUD_SEGMENT_IPV4)]
            + ([str(DR_SEGMENT_IPV4)] if "dr_interface" in core else []),
            county_ipv6=str(county6.target),
            bgp_links=[link for link in core["downlinks"] if link["protocol"] == "bgp"],
            **variables,
        )
    )
    return text.rstrip("\n") + "\n"
