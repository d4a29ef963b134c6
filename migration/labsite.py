"""The network lab as a migration site: placements from the lab's nodes, Ansible in the lab.

The lab's workload servers (`govcloud lab up --workloads`) are the source, and the system's
cloud server, realised in the lab at its Neutron port's addresses, the target. The playbooks
run as the lab's management controller, the secret in their environment.
"""

from __future__ import annotations

import sys
from typing import Any

from govcloud.errors import BadInputError
from govcloud.sites import Placement
from lab.netlab.manager import NetLab
from lab.workload import schema, servers
from lab.workload.site import LabExecutor

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
    source = info["servers"].get("source")
    if source is None:
        raise BadInputError(f"{system}: it runs on the cloud already; there is nothing to move")
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


def executor(lab: NetLab) -> LabExecutor:
    """The lab's executor for the migrate playbooks (their secret in SECRET_ENV)."""
    return LabExecutor(lab, SECRET_ENV)
