"""A workload's servers in the lab: the system's PostgreSQL and app at its source.

`lab up` gives every node its own /var/lib/postgresql (a directory of the node, mounted by
the node's anchor) and lists every workload's service name in every host's /etc/hosts. On a
system's source server it then creates the system's cluster, loads its data and starts its
app; the system's cloud server starts bare, as a new cloud server does: the migration and DR
playbooks put the data and the app there. A system already on the cloud starts with its data
on its cloud server instead, and its DR node starts bare.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import jinja2

from govcloud.errors import UnreachableError
from lab.netlab import netns
from lab.workload import schema
from network.phases import ROLE_HOST, Phase, address_of, host_state

REPO: Final = Path(__file__).resolve().parents[2]
POSTGRES_USER: Final = "postgres"
CLUSTER: Final = "records"  # not "main": the machine's own /etc may hold one
APP_CONFIG: Final = "/etc/govcloud/workload.json"
APP_PIDFILE: Final = "/run/govcloud-workload.pid"
# The migration role's cluster settings: a lab source is created the way the role wants it.
CLUSTER_SETTINGS: Final = (
    REPO / "playbooks" / "roles" / "migrate" / "templates" / "postgresql.conf.j2"
)
NAMES_BEGIN: Final = "# BEGIN govcloud system names"
NAMES_END: Final = "# END govcloud system names"
# The app's database role is mapped from the OS user it runs as (peer authentication).
IDENT_MAP: Final = "app"
SERVICE_PORTS: Final = (443, 8080)  # network.reachability's service and internal ports


def postgres_version() -> str:
    """The PostgreSQL major version installed (Debian installs one per release)."""
    versions = sorted(
        (p.name for p in Path("/usr/lib/postgresql").iterdir() if p.name.isdigit()), key=int
    )
    if not versions:
        raise UnreachableError("lab workloads need PostgreSQL: run `make system-deps`")
    return versions[-1]


def cluster_paths(version: str) -> dict[str, str]:
    """Where Debian keeps a cluster's configuration and data (inside the node)."""
    return {
        "config": f"/etc/postgresql/{version}/{CLUSTER}",
        "data": f"/var/lib/postgresql/{version}/{CLUSTER}",
    }


def prepare_node(base: Path) -> None:
    """The node's own PostgreSQL directories, owned by postgres (before its anchor mounts)."""
    entry = pwd.getpwnam(POSTGRES_USER)
    for sub, mode in (("pg", 0o755), ("run/postgresql", 0o2775), ("log/postgresql", 0o755)):
        path = base / sub
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(mode)


def starts_with_data(node: Mapping[str, Any]) -> bool:
    """Whether the lab starts a workload's cluster, data and app on this node: a legacy
    system's source, or the cloud server of a system already on the cloud."""
    return "data_mb" in node.get("workload", {})


def names(nodes: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(address, name) of every workload as the lab starts: served by the server that starts
    with its data."""
    found = []
    for node in nodes.values():
        if not starts_with_data(node):
            continue
        if node["role"] == ROLE_HOST:
            address = address_of(host_state(node, Phase.LEGACY)["ipv4"][0])
        else:
            address = address_of(node["ipv4"])
        found.append((address, node["workload"]["name"]))
    return found


def hosts_file(entries: Iterable[tuple[str, str]], base: str) -> str:
    """`base` (the machine's /etc/hosts) with the block of system names the playbooks edit."""
    lines = [NAMES_BEGIN, *(f"{address} {name}" for address, name in entries), NAMES_END]
    return base.rstrip("\n") + "\n" + "\n".join(lines) + "\n"


def resolved(hosts: Path, name: str) -> list[str]:
    """The addresses a node's /etc/hosts gives a system's name (the playbooks move it)."""
    if not hosts.is_file():
        return []
    found = []
    for line in hosts.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and name in fields[1:]:
            found.append(fields[0])
    return found


def app_config(workload: Mapping[str, Any], version: str) -> dict[str, Any]:
    """The app's configuration on a server of this workload."""
    dsn = (
        f"host=/run/postgresql port={workload['db_port']} dbname={schema.DATABASE} "
        f"user={schema.APP_ROLE} application_name=records-app"
    )
    return {
        "ports": list(SERVICE_PORTS),
        "user": POSTGRES_USER,
        "pidfile": APP_PIDFILE,
        "postgres_version": version,
        "systems": {workload["system"]: {"name": workload["name"], "dsn": dsn}},
    }


def _inside(anchor: int, command: list[str], stdin: str | None = None) -> str:
    return netns.run(netns.nsenter(anchor, command), stdin=stdin)


def _psql(anchor: int, sql: str, database: str = "postgres") -> str:
    return _inside(
        anchor,
        [
            "runuser",
            "-u",
            POSTGRES_USER,
            "--",
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            database,
        ],
        stdin=sql,
    )


def _write(anchor: int, path: str, content: str, owner: str = POSTGRES_USER) -> None:
    _inside(anchor, ["install", "-D", "-m", "0640", "-o", owner, "/dev/stdin", path], content)


def start_source(anchor: int, workload: Mapping[str, Any], log: Path) -> int:
    """Create the system's cluster with its data, start it and the app; the app's PID."""
    version = postgres_version()
    paths = cluster_paths(version)
    port = str(workload["db_port"])
    _inside(
        anchor,
        [
            "pg_createcluster",
            "--start-conf",
            "manual",
            "--port",
            port,
            "--locale",
            "C.UTF-8",
            version,
            CLUSTER,
            "--",
            "--auth-local",
            "peer",
            "--auth-host",
            "scram-sha-256",
        ],
    )
    # Replicas and copies connect over the network: listen everywhere in the node; who may
    # connect is pg_hba's business (the playbooks open it per target, never to all).
    settings = jinja2.Template(CLUSTER_SETTINGS.read_text(), keep_trailing_newline=True)
    _write(
        anchor,
        f"{paths['config']}/conf.d/govcloud.conf",
        settings.render(migrate_system=workload["system"]),
    )
    hba = _inside(anchor, ["cat", f"{paths['config']}/pg_hba.conf"])
    _write(
        anchor,
        f"{paths['config']}/pg_hba.conf",
        f"local {schema.DATABASE} {schema.APP_ROLE} peer map={IDENT_MAP}\n" + hba,
    )
    _write(
        anchor,
        f"{paths['config']}/pg_ident.conf",
        f"{IDENT_MAP} {POSTGRES_USER} {schema.APP_ROLE}\n",
    )
    _inside(anchor, ["pg_ctlcluster", version, CLUSTER, "start"])
    _psql(anchor, f"CREATE DATABASE {schema.DATABASE};")
    seed = schema.SEED_BULK % schema.seed_parameters(int(workload["data_mb"]))
    _psql(anchor, schema.CREATE + seed + ";", schema.DATABASE)
    _write(anchor, APP_CONFIG, json.dumps(app_config(workload, version), indent=1), "root")
    return start_app(anchor, log)


def start_app(anchor: int, log: Path) -> int:
    """Start the node's app from its configuration; its PID once it listens."""
    process = subprocess.Popen(  # noqa: S603
        netns.nsenter(anchor, [sys.executable, "-m", "lab.workload.app", APP_CONFIG]),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log.open("a"),
        start_new_session=True,
        cwd=REPO,
    )
    line = process.stdout.readline() if process.stdout else b""
    if line.strip() != b"ready":
        raise UnreachableError(f"lab: a workload's app did not start: {log.read_text()[-2000:]}")
    return process.pid
