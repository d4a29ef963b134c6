"""Network and host drift: each router's running configuration and each host's addresses,
routes and services against what the plan renders for the phase the node records.

Desired is what the `netstate` role would write for the node's recorded phase
(/etc/govcloud/network-phase): its own templates (playbooks/roles/netstate/templates) rendered
with `network.phases.router_state` / `host_state` and the inventory's `netstate_*` variables,
exactly as the playbooks render them. Live is what the node answers over SSH (`audit.nodes`).
Both sides are normalised (`audit.netconfig`) before they are compared, so what FRR, BIRD or
nft print differently but mean alike is never a finding.

Each difference is one finding, in the cloud drift's shape: resource `router <name>` or
`host <name>`, attribute `<source> › <block> › <statement>`, desired and live values, and
the command output it rests on as evidence. A node that could not be read is unchecked and
the run exits 3: nothing is reported clean by omission.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from audit import netconfig
from audit.findings import DriftReport, Finding, FindingKind, Severity, finding_id
from audit.netconfig import Difference, NftRuleset, Statement
from audit.nodes import NodeReading, Readings
from govcloud.registry.audit_log import sm3_hex
from lab.netlab.configs import render_role_template
from network.phases import (
    DAEMON_FRR,
    ROLE_ROUTER,
    Phase,
    address_of,
    host_state,
    network_of,
    phase_of,
    router_state,
)
from network.reachability import INTERNAL_PORT, SERVICE_PORT

PART_NETWORK: Final = "network"
PART_HOSTS: Final = "hosts"
ID_PREFIX: Final = {PART_NETWORK: "net", PART_HOSTS: "host"}
SSH_PORT: Final = 22
TEMPLATES: Final = "playbooks/roles/netstate/templates"
# Where each kind of reading comes from: the evidence names the command.
SOURCE: Final = {
    "frr": "vtysh -c 'show running-config'",
    "bird": "cat {path}",
    "bird protocols": "birdc show protocols",
    "nftables": "nft -j list ruleset",
    "address": "ip -json address show",
    "route": "ip -json route show default",
    "service": "ss -Hltn",
    "phase": "cat /etc/govcloud/network-phase",
}
# The GB/T 22239-2019 control each kind of drift touches (our mapping, docs/audit.md).
CONTROL: Final = {
    "frr": "8.1.2.1",
    "bird": "8.1.2.1",
    "bird protocols": "8.1.2.1",
    "nftables": "8.1.3.2",
    "address": "8.1.2.1",
    "route": "8.1.2.1",
    "service": "8.1.4.4",
    "phase": "8.1.2.1",
}
# Each daemon's template in the netstate role and how its configuration is read.
CONFIG_FILES: Final = {
    "frr": ("frr.conf.j2", netconfig.frr_statements),
    "bird": ("bird.conf.j2", netconfig.bird_statements),
}
HIGH: Final = frozenset({"frr", "bird", "bird protocols", "nftables"})
WILDCARDS: Final = frozenset({"0.0.0.0", "*", "[::]", "::"})  # noqa: S104  (read, not bound)
ANY: Final = "any address"
UNREAD: Final = "not read"  # a boundary whose router could not be read


@dataclass
class _Node:
    """One node's comparison: its reading, phase, the findings and coverage it gives."""

    reading: NodeReading
    part: str
    phase: Phase
    where: str
    findings: list[Finding] = field(default_factory=list)
    coverage: dict[str, list[int]] = field(default_factory=dict)

    @property
    def resource(self) -> str:
        noun = "router" if self.reading.role == ROLE_ROUTER else "host"
        return f"{noun} {self.reading.name}"

    def count(self, kind: str, live: Iterable[Any], desired: Iterable[Any]) -> None:
        """Coverage: live items the plan declares / all live items (driftctl's IaC coverage)."""
        wanted = set(desired)
        items = list(live)
        row = self.coverage.setdefault(kind, [0, 0])
        row[0] += sum(1 for item in items if item in wanted)
        row[1] += len(items)

    def add(
        self,
        source: str,
        differences: Iterable[Difference],
        *,
        output: str,
        excerpt: Any = None,
        command: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        for difference in differences:
            evidence = {
                "source": command or SOURCE[source],
                "node": self.reading.name,
                "read_from": self.where,
                "read_at": self.reading.read_at,
                "phase": self.phase.value,
                "rendered_from": f"{TEMPLATES} (phase {self.phase.value})",
                "output": excerpt(difference) if callable(excerpt) else excerpt,
                "output_sm3": sm3_hex(output),
                **(extra or {}),
            }
            self.findings.append(
                Finding(
                    id=finding_id(
                        ID_PREFIX[self.part], difference.kind, self.resource, difference.attribute
                    ),
                    severity=Severity.HIGH if source in HIGH else Severity.MEDIUM,
                    kind=FindingKind(difference.kind),
                    resource=self.resource,
                    attribute=difference.attribute,
                    desired=difference.desired,
                    live=difference.live,
                    evidence=evidence,
                    control=CONTROL[source],
                )
            )


class UnreadPartError(Exception):
    """A reading the collector could not take (a daemon not answering, nft failing)."""


def _output(facts: Mapping[str, Any], key: str) -> str:
    result = facts.get("audit", {}).get(key)
    if not result or result.get("rc") != 0:
        detail = (result or {}).get("err", "not collected")
        raise UnreadPartError(f"{key}: {str(detail).strip()[-300:] or 'failed'}")
    return str(result["out"])


# --- addresses, routes, services (routers and hosts) -----------------------------------------


def static_addresses(facts: Mapping[str, Any], device: str, *, dynamic: bool = False) -> list[str]:
    """Global addresses on a device, canonical (SLAAC ones only with dynamic=True)."""
    for link in facts.get("addresses", []):
        if link.get("ifname") == device:
            return sorted(
                str(ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}"))
                for a in link.get("addr_info", [])
                if a.get("scope") == "global" and bool(a.get("dynamic")) is dynamic
            )
    return []


def _canonical(values: Iterable[str]) -> list[str]:
    return sorted(str(ipaddress.ip_interface(v)) for v in values)


def compare_addresses(node: _Node, wanted: Mapping[str, Sequence[str]]) -> None:
    """Each interface's static global addresses, per address."""
    facts = node.reading.facts or {}
    for device, given in sorted(wanted.items()):
        live = static_addresses(facts, device)
        desired = _canonical(given)
        node.count("address", live, desired)
        statements = [(device, a) for a in desired]
        found = [(device, a) for a in live]
        node.add(
            "address",
            _set_differences(statements, found, "address"),
            output=json.dumps(facts.get("addresses", []), sort_keys=True),
            excerpt={"device": device, "addresses": live},
        )


def _set_differences(
    desired: Sequence[Statement], live: Sequence[Statement], label: str
) -> list[Difference]:
    """Members of a set that are on one side only (an address is never `changed`)."""
    wanted, found = set(desired), set(live)
    result = [
        Difference("missing", " › ".join((label, *s)), s[-1], None, s[:-1])
        for s in sorted(wanted - found)
    ]
    result += [
        Difference("unmanaged", " › ".join((label, *s)), None, s[-1], s[:-1])
        for s in sorted(found - wanted)
    ]
    return result


def listeners(listening: str) -> set[tuple[int, str]]:
    """(port, address) of every listening TCP socket in `ss -Hltn`; wildcards are ANY."""
    found = set()
    for line in listening.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        address, _, port = parts[3].rpartition(":")
        address = address.split("%")[0]
        if not port.isdigit():
            continue
        shown = ANY if address in WILDCARDS else netconfig.canonical_word(address.strip("[]"))
        found.add((int(port), shown))
    return found


def compare_services(node: _Node, expected: Iterable[tuple[int, str]]) -> None:
    """Each expected listener is there (on its address, or on any); sshd nowhere else."""
    facts = node.reading.facts or {}
    live = listeners(str(facts.get("listening", "")))
    differences = []
    expected = sorted(set(expected))
    for port, address in expected:
        if (port, address) in live or (port, ANY) in live:
            continue
        differences.append(
            Difference(
                "missing",
                f"service › tcp/{port} on {address}",
                f"listening on {address}",
                sorted(a for p, a in live if p == port) or None,
                ("service",),
            )
        )
    allowed_ssh = {a for p, a in expected if p == SSH_PORT}
    for port, address in sorted(live):
        if port == SSH_PORT and address not in allowed_ssh:
            differences.append(
                Difference(
                    "unmanaged",
                    f"service › tcp/{port} on {address}",
                    f"listening on {', '.join(sorted(allowed_ssh))} only",
                    f"listening on {address}",
                    ("service",),
                )
            )
    node.add(
        "service",
        differences,
        output=str(facts.get("listening", "")),
        excerpt=str(facts.get("listening", "")),
    )


def management_listeners(node: Mapping[str, Any]) -> list[tuple[int, str]]:
    """sshd on the node's management addresses (and nowhere else)."""
    management = node["management"]
    return [
        (SSH_PORT, netconfig.canonical_word(address_of(management[f]))) for f in ("ipv4", "ipv6")
    ]


def management_addresses(node: Mapping[str, Any]) -> dict[str, list[str]]:
    """The management interface's addresses, as the inventory gives them."""
    management = node["management"]
    return {management["interface"]: [management["ipv4"], management["ipv6"]]}


# --- routers ---------------------------------------------------------------------------------


def _excerpt(statements: Sequence[Statement]) -> Any:
    def pick(difference: Difference) -> list[str]:
        return netconfig.section_text(statements, difference.section)

    return pick


def _compare_file(
    node: _Node,
    source: str,
    output: str,
    state: dict[str, Any],
    command: str | None = None,
) -> str:
    """A daemon's configuration as read against the role's template rendered for the
    phase, statement by statement; returns the rendering."""
    template, parse = CONFIG_FILES[source]
    rendered = render_role_template(template, state, node.reading.variables)
    desired, live = parse(rendered), parse(output)
    node.count(f"{source}_statement", live, desired)
    node.add(
        source,
        netconfig.compare_statements(desired, live, source),
        output=output,
        excerpt=_excerpt(live),
        command=command,
    )
    return rendered


def compare_frr(node: _Node, state: dict[str, Any]) -> None:
    """FRR's running configuration against the rendered frr.conf."""
    _compare_file(node, "frr", _output(node.reading.facts or {}, "running_config"), state)


def compare_bird(node: _Node, state: dict[str, Any]) -> None:
    """BIRD's configuration file against the rendered bird.conf, and the protocols it runs
    against the ones that file declares (none missing or extra, none switched off)."""
    facts = node.reading.facts or {}
    path = str(node.reading.variables.get("netstate_bird_config", "/etc/bird/bird.conf"))
    text = _output(facts, "bird_config")
    rendered = _compare_file(node, "bird", text, state, SOURCE["bird"].format(path=path))
    shown = _output(facts, "bird_protocols")
    running = netconfig.bird_protocols(shown)
    declared = netconfig.bird_declared_protocols(rendered)
    differences = []
    for name, proto in sorted(declared.items()):
        found = running.get(name)
        attribute = f"bird protocols › {name}"
        if found is None:
            differences.append(Difference("missing", attribute, f"{proto} up", None, ()))
        elif found.proto != proto:
            differences.append(Difference("changed", attribute, proto, found.proto, ()))
        elif found.state == netconfig.BIRD_DOWN:
            differences.append(Difference("changed", f"{attribute} › state", "up", found.state, ()))
    for name in sorted(running.keys() - declared.keys()):
        found = running[name]
        differences.append(
            Difference(
                "unmanaged", f"bird protocols › {name}", None, f"{found.proto} {found.state}", ()
            )
        )
    node.add("bird protocols", differences, output=shown, excerpt=shown)


def compare_nftables(node: _Node) -> None:
    """The live ruleset against the rendered file, both as the node's nft prints them."""
    facts = node.reading.facts or {}
    live_text = _output(facts, "nft_ruleset")
    desired_text = _output(facts, "nft_desired")
    live = NftRuleset.parse(json.loads(live_text))
    desired = NftRuleset.parse(json.loads(desired_text))
    live_rules = [r for rules in live.rules.values() for r in rules]
    node.count("nft_rule", live_rules, [r for rules in desired.rules.values() for r in rules])

    def excerpt(difference: Difference) -> Any:
        for chain, rules in live.rules.items():
            if difference.section == (f"chain {' '.join(chain)}",):
                return [netconfig.rule_text(r) for r in rules]
        return None

    # Pinholes other changes opened (nftables.d) are part of the desired file as loaded on
    # the router (its include): each finding names them.
    pinholes = facts.get("audit", {}).get("nft_pinholes", [])
    node.add(
        "nftables",
        netconfig.compare_nft(desired, live),
        output=live_text,
        excerpt=excerpt,
        extra={"pinhole_files": pinholes},
    )


def _router(node: _Node) -> None:
    reading = node.reading
    state = router_state(reading.node, node.phase)
    addresses = {i["name"]: i["ipv4"] + i["ipv6"] for i in state["interfaces"]}
    compare_addresses(node, addresses | management_addresses(reading.node))
    compare_services(node, management_listeners(reading.node))
    if reading.node["daemon"] == DAEMON_FRR:
        compare_frr(node, state)
    else:
        compare_bird(node, state)
    compare_nftables(node)


# --- hosts -----------------------------------------------------------------------------------


def host_listeners(node: Mapping[str, Any], variables: Mapping[str, Any]) -> list[tuple[int, str]]:
    """sshd on management, the service and the internal port on any address."""
    service = int(variables.get("reachability_service_port", SERVICE_PORT))
    internal = int(variables.get("reachability_internal_port", INTERNAL_PORT))
    return [*management_listeners(node), (service, ANY), (internal, ANY)]


def _routes(facts: Mapping[str, Any]) -> list[Statement]:
    routes: list[Statement] = [
        ("IPv4", f"default via {r.get('gateway')}") for r in facts.get("routes4", [])
    ]
    for route in facts.get("routes6", []):
        via = "from ra" if route.get("protocol") == "ra" else f"via {route.get('gateway')}"
        routes.append(("IPv6", f"default {via}"))
    return sorted(set(routes))  # one default route per family, however many next hops


def _host(node: _Node, router_phase: Phase | None) -> None:
    reading = node.reading
    facts = reading.facts or {}
    state = host_state(reading.node, node.phase)
    interface = state["interface"]
    compare_addresses(
        node, {interface: state["ipv4"] + state["ipv6"]} | management_addresses(reading.node)
    )
    slaac = static_addresses(facts, interface, dynamic=True)
    lan6 = ipaddress.ip_network(network_of(reading.node["ipv6"]))
    has_slaac = any(ipaddress.ip_interface(a).ip in lan6 for a in slaac)
    if has_slaac is not state["slaac"]:
        node.add(
            "address",
            [
                Difference(
                    "missing" if state["slaac"] else "unmanaged",
                    f"address › {interface} › SLAAC in {lan6}",
                    f"a SLAAC address in {lan6}" if state["slaac"] else None,
                    slaac or None,
                    (interface,),
                )
            ],
            output=json.dumps(facts.get("addresses", []), sort_keys=True),
            excerpt={"device": interface, "dynamic": slaac},
        )
    desired_routes: list[Statement] = []
    if state["gateway4"]:
        desired_routes.append(("IPv4", f"default via {state['gateway4']}"))
    if state["gateway6"]:
        desired_routes.append(("IPv6", "default from ra"))
    live_routes = _routes(facts)
    node.add(
        "route",
        netconfig.compare_statements(desired_routes, live_routes, "route"),
        output=json.dumps([facts.get("routes4"), facts.get("routes6")], sort_keys=True),
        excerpt={"IPv4": facts.get("routes4"), "IPv6": facts.get("routes6")},
    )
    compare_services(node, host_listeners(reading.node, reading.variables))
    recorded = phase_of(facts.get("phase"))
    if router_phase is not None and recorded is not router_phase:
        node.add(
            "phase",
            [Difference("changed", "phase", router_phase.value, recorded.value, ())],
            output=str(facts.get("phase")),
            excerpt=facts.get("phase"),
        )


# --- the run ---------------------------------------------------------------------------------


def _unchecked(part: str, resource: str, reason: str) -> dict[str, str]:
    return {"part": part, "resource": resource, "reason": reason}


def network_drift(readings: Readings, *, network: bool, hosts: bool) -> DriftReport:
    """Findings for the routers (network) and the hosts (hosts) that were read; every node
    that was not, in `unchecked` (and the run unreachable)."""
    report = DriftReport()
    where = readings.target.describe()
    phases: dict[str, Phase] = {}
    totals: dict[str, list[int]] = {}
    nodes = sorted(readings.nodes.values(), key=lambda r: (r.role != ROLE_ROUTER, r.name))
    for reading in nodes:
        part = PART_NETWORK if reading.role == ROLE_ROUTER else PART_HOSTS
        wanted = network if part == PART_NETWORK else hosts
        noun = "router" if part == PART_NETWORK else "host"
        if reading.facts is None:
            if wanted or reading.role == ROLE_ROUTER:
                # A router's phase is its hosts' too: an unread router is listed either way.
                report.unchecked.append(
                    _unchecked(part, f"{noun} {reading.name}", reading.error or "not read")
                )
                report.unreachable = report.unreachable or wanted
            continue
        try:
            phase = phase_of(reading.facts.get("phase"))
        except ValueError as error:
            report.unchecked.append(_unchecked(part, f"{noun} {reading.name}", str(error)))
            report.unreachable = report.unreachable or wanted
            continue
        if reading.role == ROLE_ROUTER:
            phases[reading.node["department"]] = phase
        if not wanted:
            continue
        router_phase = phases.get(reading.node.get("department", ""))
        node = _Node(
            reading,
            part,
            router_phase if part == PART_HOSTS and router_phase else phase,
            where,
        )
        try:
            if part == PART_NETWORK:
                _router(node)
            else:
                _host(node, router_phase)
        except (UnreadPartError, ValueError, KeyError) as error:
            report.unchecked.append(_unchecked(part, node.resource, f"not read: {error}"))
            report.unreachable = True
        report.findings += node.findings
        for kind, (managed, total) in node.coverage.items():
            row = totals.setdefault(kind, [0, 0])
            row[0] += managed
            row[1] += total
    for name, reason in sorted(readings.skipped.items()):
        report.unchecked.append(_unchecked(PART_NETWORK, name, reason))
    read = sum(1 for r in readings.nodes.values() if r.facts is not None)
    report.coverage = {
        kind: {"managed": m, "all": n, "ratio": round(m / n, 4) if n else 1.0}
        for kind, (m, n) in totals.items()
    }
    report.coverage["nodes_read"] = {
        "managed": read,
        "all": len(readings.nodes),
        "ratio": round(read / len(readings.nodes), 4) if readings.nodes else 1.0,
    }
    if not readings.nodes:
        report.unreachable = True
        report.unchecked.append(
            _unchecked(PART_NETWORK, where, "the inventory names no department router or host")
        )
    report.findings.sort(key=lambda f: (f.resource, f.attribute or ""))
    report.seconds["network_read"] = readings.seconds
    return report


# --- default deny at department boundaries (the catalogue's network item) -----------------


@dataclass(frozen=True)
class Boundary:
    """A department router's edge as read: its phase, uplink, LAN prefixes and live ruleset."""

    router: str
    phase: str
    uplink: str
    prefixes: tuple[str, ...]
    ruleset: dict[str, Any] | None  # nft -j list ruleset; None: not read


def boundaries(readings: Readings) -> list[Boundary]:
    """Every department router's boundary as the network drift read it."""
    found = []
    for reading in readings.nodes.values():
        if reading.role != ROLE_ROUTER:
            continue
        facts = reading.facts or {}
        try:
            phase = phase_of(facts.get("phase"))
            ruleset = json.loads(_output(facts, "nft_ruleset"))
        except (UnreadPartError, ValueError):
            # Not read is never "not connected": the item fails for this router, saying why.
            found.append(Boundary(reading.name, UNREAD, "", (), None))
            continue
        state = router_state(reading.node, phase)
        found.append(
            Boundary(
                reading.name,
                phase.value,
                state["uplink"],
                tuple(state["protected4"] + state["protected6"]),
                ruleset,
            )
        )
    return sorted(found, key=lambda b: b.router)


def _matches(rule: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(what, value) of a rule's matches, e.g. ("ip daddr", "198.18.1.0/25")."""
    found = []
    for step in rule.get("expr", []):
        if "match" in step:
            body = step["match"]
            found.append((netconfig.operand(body["left"]), netconfig.operand(body["right"])))
    return found


def _verdict_of(rule: Mapping[str, Any]) -> tuple[str, str | None]:
    for step in rule.get("expr", []):
        for verdict in ("accept", "drop", "reject", "jump", "goto"):
            if verdict in step:
                body = step[verdict]
                return verdict, body.get("target") if isinstance(body, dict) else None
    return "", None


def denied_by_default(boundary: Boundary, prefix: str) -> tuple[bool, str]:
    """True when traffic from the uplink to `prefix` meets a catch-all drop or reject (or a
    forward policy of drop) before any rule that lets all of it through."""
    if boundary.ruleset is None:
        return False, "the ruleset was not read"
    prefix = netconfig.canonical_word(prefix)
    chains: dict[str, dict[str, Any]] = {}
    rules: dict[str, list[dict[str, Any]]] = {}
    for entry in boundary.ruleset.get("nftables", []):
        if "chain" in entry:
            chain = entry["chain"]
            chains[f"{chain['family']} {chain['table']} {chain['name']}"] = chain
        elif "rule" in entry:
            rule = entry["rule"]
            rules.setdefault(f"{rule['family']} {rule['table']} {rule['chain']}", []).append(rule)
    daddr = "ip6 daddr" if ":" in prefix else "ip daddr"
    narrowing = {"iifname", "meta iifname", daddr, "ct state"}

    def walk(chain: str, depth: int) -> str | None:
        for rule in rules.get(chain, []):
            matches = _matches(rule)
            if any(w == daddr and netconfig.canonical_word(v) != prefix for w, v in matches):
                continue
            if any(w in ("iifname", "meta iifname") and v != boundary.uplink for w, v in matches):
                continue
            verdict, target = _verdict_of(rule)
            broad = all(w in narrowing for w, _ in matches) and not any(
                w == "ct state" for w, _ in matches
            )
            if verdict in ("jump", "goto") and target and depth < 4:
                family, table, _ = chain.split(" ", 2)
                decided = walk(f"{family} {table} {target}", depth + 1)
                if decided:
                    return decided
            elif verdict in ("drop", "reject") and broad:
                return f"{verdict}: {netconfig.rule_text(json.dumps(rule['expr']))}"
            elif verdict == "accept" and broad:
                return f"open: {netconfig.rule_text(json.dumps(rule['expr']))}"
        return None

    for name, chain in sorted(chains.items()):
        if chain.get("hook") != "forward":
            continue
        decided = walk(name, 0)
        if decided and decided.startswith(("drop", "reject")):
            return True, f"{name}: {decided}"
        if decided:
            return False, f"{name}: {decided}"
        if chain.get("policy") == "drop":
            return True, f"{name}: policy drop"
        return False, f"{name}: nothing denies it (policy {chain.get('policy')})"
    return False, "no forward chain: nothing filters traffic into the LANs"
