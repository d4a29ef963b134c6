# Copyright govcloud contributors
# Apache License 2.0 (see the repository's pyproject.toml)
"""Filters: thin maps onto govcloud's importable, unit-tested Python.

The phase logic lives in `network.phases` and the expected reachability matrix in
`network.reachability`; these filters only adapt their arguments (Ansible passes plain dicts
and strings). The controller's Python must have govcloud installed (the project's venv).
"""

from network.phases import Phase, host_state, phase_of, router_state, system_names
from network.reachability import Ports, expected_checks


def _plain(value):
    """Ansible's lazy containers as plain dicts and lists."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def govcloud_router_state(node, phase):
    """A department router's desired state in a phase."""
    return router_state(_plain(node), phase_of(phase))


def govcloud_host_state(node, phase):
    """A LAN host's desired state in a phase."""
    return host_state(_plain(node), phase_of(phase))


def govcloud_system_names(nodes, phase):
    """The department's system names and the addresses its servers have in a phase."""
    return system_names([_plain(node) for node in nodes if node], phase_of(phase))


def govcloud_checks(nodes, phases, department=None, service_port=443, internal_port=8080):
    """The expected matrix (or one department's part of it) as a list of dicts."""
    nodes = {name: node for name, node in _plain(nodes).items() if node}
    ports = Ports(service=int(service_port), internal=int(internal_port))
    rows = []
    for check in expected_checks(
        nodes,
        {code: phase_of(p) for code, p in _plain(phases).items()},
        ports=ports,
        department=department,
    ):
        row = check.as_dict()
        row["label"] = check.label()
        rows.append(row)
    return rows


def govcloud_checks_from(checks, source):
    """The checks one host runs."""
    return [c for c in checks if c["source"] == source]


def govcloud_sources(checks):
    """The hosts that run checks, sorted."""
    return sorted({c["source"] for c in checks})


def govcloud_mismatches(results):
    """Every mismatch reported by a list of reach_check (or async_status) results."""
    found = []
    for result in results or []:
        found.extend(result.get("mismatches") or [])
        if result.get("failed") and not result.get("mismatches") and result.get("msg"):
            found.append(f"{result.get('item', {}).get('item', 'probe')}: {result['msg']}")
    return found


def govcloud_pytest_failures(run, nodes=None):
    """The failed tests of a pytest run (a registered command result), one line each.

    With `nodes`, only failures of tests run against those nodes (testinfra names the host
    in the test id: test_x[ansible://gaj-rtr]); failures that name no node count for all.
    """
    if not run or run.get("skipped") or run.get("rc", 0) == 0:
        return []
    lines = (run.get("stdout") or "").splitlines()
    failed = [line for line in lines if line.startswith(("FAILED ", "ERROR "))]
    if failed:
        if nodes is not None:
            wanted = {f"[ansible://{n}]" for n in nodes}
            failed = [
                line
                for line in failed
                if any(w in line for w in wanted) or "[ansible://" not in line
            ]
        return [f"testinfra {line}" for line in failed]
    tail = " ".join((run.get("stderr") or run.get("stdout") or "").splitlines()[-3:])
    return [f"testinfra exited {run.get('rc')}: {tail}"]


def govcloud_probe_targets(checks, source):
    """Continuous-probe targets for one source: {name, address} per check from it."""
    return [
        {"name": f"{c['target']}-v{c['family']}", "address": c["address"]}
        for c in checks
        if c["source"] == source
    ]


def govcloud_probe_summary(results):
    """One line per continuous probe: 'src → dst (address): received/transmitted, lost n'."""
    lines = []
    for result in results or []:
        source = result.get("item", "?")
        for probe in result.get("probes", []):
            lines.append(
                f"{source} → {probe['name']} ({probe['address']}): "
                f"{probe.get('received', 0)}/{probe.get('transmitted', 0)} echo replies, "
                f"lost {probe.get('lost', 0)}"
            )
        if result.get("failed"):
            lines.append(f"{source}: the probes could not be read, lost 1 ({result.get('msg')})")
    return lines


def govcloud_department_phases(hosts):
    """{department: phase} from hosts' variables (netstate_node and reachability_phase)."""
    phases = {}
    for variables in hosts:
        node = variables.get("netstate_node") or {}
        department = node.get("department")
        phase = variables.get("reachability_phase")
        if department and phase:
            phases[str(department)] = str(phase)
    return phases


def govcloud_previous_phase(phase):
    """The phase a rollback returns to."""
    return phase_of(phase).previous.value


def govcloud_phase_at_least(phase, other):
    """True when `phase` is `other` or later."""
    return phase_of(phase).at_least(Phase(other))


class FilterModule:
    """govcloud.network filters."""

    def filters(self):
        return {
            "router_state": govcloud_router_state,
            "host_state": govcloud_host_state,
            "system_names": govcloud_system_names,
            "checks": govcloud_checks,
            "checks_from": govcloud_checks_from,
            "sources": govcloud_sources,
            "mismatches": govcloud_mismatches,
            "pytest_failures": govcloud_pytest_failures,
            "probe_targets": govcloud_probe_targets,
            "probe_summary": govcloud_probe_summary,
            "previous_phase": govcloud_previous_phase,
            "department_phases": govcloud_department_phases,
            "phase_at_least": govcloud_phase_at_least,
        }
