"""The network lab as a migration site: placements from the lab's nodes, Ansible in the lab.

The lab's workload servers (`govcloud lab up --workloads`) are the source, and the system's
cloud server, realised in the lab at its Neutron port's addresses, the target. The playbooks
run as the lab's management controller, the secret in their environment.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from govcloud.errors import BadInputError
from lab.netlab.manager import NetLab
from lab.workload import schema, servers
from migration.runner import Placement

SECRET_ENV = "GOVCLOUD_MIGRATE_SECRET"  # noqa: S105  (the variable's name, not a secret)


def placement(lab: NetLab, system: str) -> Placement:
    """Where `system` runs in the lab and where it goes; BadInputError naming the fix."""
    info = lab.app(system)
    cloud = info["servers"].get("cloud")
    if cloud is None:
        raise BadInputError(
            f"{system}: the lab has no cloud server for it; plan its migration "
            "(`govcloud migrate plan --save`), deploy the primary stack, then "
            f"`govcloud lab up --workloads {system}`"
        )
    source = info["servers"]["source"]
    if source["ipv4"] is None:
        raise BadInputError(f"{system}: its server has no IPv4 address in its department's phase")
    nodes = lab.state()["nodes"]
    department = system.partition("/")[0]
    router = next(
        (n for n, v in nodes.items() if v.get("department") == department and "lans" in v), ""
    )
    variables: dict[str, Any] = {
        "migrate_system": system,
        "migrate_name": info["name"],
        "migrate_source": source["node"],
        "migrate_target": cloud["node"],
        "migrate_source_address": source["ipv4"],
        "migrate_target_address": cloud["ipv4"],
        "migrate_router": router,
        "migrate_clients": "lan_hosts:cloud_servers",
        "migrate_verify_from": f"dept_{department}:&lan_hosts:!{source['node']}",
        "migrate_pg_version": servers.postgres_version(),
        "migrate_cluster": servers.CLUSTER,
        "migrate_database": schema.DATABASE,
        "migrate_db_port": info["database_port"],
        "migrate_app_role": schema.APP_ROLE,
        "migrate_replication_role": schema.REPLICATION_ROLE,
        "migrate_verify_query": schema.RECORDS_STATS,
        "migrate_verify_data_query": schema.DATA_STATS,
        "migrate_app_start": "lab",
        "migrate_app_python": sys.executable,
        "migrate_app_config": servers.APP_CONFIG,
        "migrate_app_pidfile": servers.APP_PIDFILE,
        "migrate_app_port": info["port"],
    }
    return Placement(system, department, variables)


class LabExecutor:
    """Runs a migrate playbook as the lab's management controller."""

    def __init__(self, lab: NetLab) -> None:
        self.lab = lab

    def __call__(self, playbook: str, variables: Mapping[str, Any], secret: str, log: Path) -> int:
        """ansible-playbook playbooks/PLAYBOOK -e @vars.json; its output appended to `log`."""
        extra = log.with_suffix(".vars.json")
        descriptor = os.open(extra, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(dict(variables), handle)
        result = self.lab.run(
            ["ansible-playbook", f"playbooks/{playbook}", "-e", f"@{extra}"],
            capture=True,
            env={SECRET_ENV: secret},
        )
        with log.open("a") as handle:
            handle.write(f"### {playbook} (exit {result.returncode})\n")
            handle.write(result.stdout)
            handle.write(result.stderr)
        return result.returncode
