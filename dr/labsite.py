"""The network lab as a DR site: placements from the lab's nodes, Ansible in the lab.

A protected system runs at its cloud server (the primary site, RegionOne) and is protected by
its DR node (`<dept>-<system>-dr`, RegionTwo): a hot standby at its Neutron port's addresses,
or, for a `backup` policy, the backup agent holding its DR backup volume. The `dr-*.yml`
playbooks run as the lab's management controller with the replication password in
GOVCLOUD_DR_SECRET; this module only says where things are (mirrors migration/labsite.py,
which DR must not import).
"""

from __future__ import annotations

import sys
from typing import Any, Final

from govcloud.errors import BadInputError
from govcloud.sites import Placement
from lab.netlab.manager import NetLab
from lab.workload import schema, servers
from lab.workload.site import LabExecutor

SECRET_ENV: Final = "GOVCLOUD_DR_SECRET"  # noqa: S105  (the variable's name, not a secret)
DUMP_ROLE: Final = "migrator"  # pg_read_all_data: what a backup reads (the migrate role's)
# Who the playbooks move the name on, and who checks it from outside: every LAN host (a
# workload's own source server is a client too, not a checker).
CLIENTS: Final = "lan_hosts:cloud_servers"
CHECKERS: Final = "lan_hosts:!workload_sources"


def placement(lab: NetLab, system: str) -> Placement:
    """Where `system` runs in the lab and what protects it; BadInputError naming the fix."""
    info = lab.app(system)
    primary = info["servers"].get("cloud")
    standby = info["servers"].get("dr")
    if primary is None:
        raise BadInputError(
            f"{system}: the lab has no cloud server for it; deploy the primary stack "
            f"(`govcloud localcloud deploy --stack primary`), then `govcloud lab up "
            f"--workloads {system}`"
        )
    if standby is None:
        raise BadInputError(
            f"{system}: the lab has nothing of it at the DR site; its tier's DR policy must "
            "protect it, and the DR stack be deployed (`govcloud localcloud deploy --stack "
            f"dr`), then `govcloud lab up --workloads {system}`"
        )
    policy = info["dr"]
    variables: dict[str, Any] = {
        "dr_system": system,
        "dr_tier": policy["tier"],
        "dr_replication": policy["replication"],
        "dr_name": info["name"],
        "dr_app_port": info["port"],
        "dr_db_port": info["database_port"],
        "dr_primary": primary["node"],
        "dr_primary_address": primary["ipv4"],
        "dr_primary_address6": primary["ipv6"],
        "dr_standby": standby["node"],
        "dr_standby_address": standby["ipv4"],
        "dr_standby_address6": standby["ipv6"],
        "dr_backup_dir": policy.get("backup_dir", ""),
        "dr_clients": CLIENTS,
        "dr_verify_from": CHECKERS,
        "dr_pg_version": servers.postgres_version(),
        "dr_cluster": servers.CLUSTER,
        "dr_database": schema.DATABASE,
        "dr_app_role": schema.APP_ROLE,
        "dr_replication_role": schema.REPLICATION_ROLE,
        "dr_dump_role": DUMP_ROLE,
        "dr_verify_query": schema.RECORDS_STATS,
        "dr_verify_data_query": schema.DATA_STATS,
        "dr_app_start": "lab",
        "dr_app_python": sys.executable,
        "dr_app_config": servers.APP_CONFIG,
        "dr_app_pidfile": servers.APP_PIDFILE,
    }
    return Placement(system, system.partition("/")[0], variables)


def executor(lab: NetLab) -> LabExecutor:
    """The lab's executor for the dr playbooks (their secret in SECRET_ENV)."""
    return LabExecutor(lab, SECRET_ENV)
