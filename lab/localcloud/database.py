"""The local cloud's PostgreSQL: one cluster under the state directory, reached by Unix socket.

OpenStack services on SQLite fail with "database is locked" as soon as several of them write at
once (Nova's conductor, scheduler and API do, for every server), and Neutron's migrations cannot
run on SQLite at all. One PostgreSQL cluster holds every service's database instead. It listens
on no TCP port: the socket lives in the state directory with mode 0700, so only this user (and
root) reaches it, and each connection still authenticates with a generated password.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from lab.localcloud.errors import LocalCloudError

ADMIN_ROLE = "govcloud_admin"  # superuser: creates roles and databases, nothing else
SERVICE_ROLE = "openstack"  # owns the service databases; not a superuser
SERVER_USER = "postgres"  # Debian's account: PostgreSQL refuses to run as root
START_TIMEOUT_S = 60
# Every API worker and daemon keeps a small pool (see the templates' [database] sections).
MAX_CONNECTIONS = 400


def server_bin() -> Path:
    """The newest PostgreSQL server binaries Debian installed."""

    def version(path: Path) -> int:
        return int(path.parent.name) if path.parent.name.isdigit() else 0

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    raise LocalCloudError(
        "postgresql",
        "server binaries not found under /usr/lib/postgresql: install Debian's postgresql "
        "(`scripts/install-system-deps postgresql`, as root)",
    )


class ServiceDatabases:
    """The PostgreSQL cluster that holds every OpenStack service's database."""

    def __init__(self, root: Path, passwords: Callable[[], dict[str, str]], log: Path) -> None:
        self.root = root
        self.data = root / "data"
        self._passwords = passwords
        self.log = log
        # initdb and the server refuse root: run them as Debian's postgres account then.
        self._as_server_user = ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []

    @property
    def socket_dir(self) -> Path:
        """Where the server puts its Unix socket (and nothing else)."""
        return self.root

    def initialised(self) -> bool:
        """True when the cluster exists."""
        return (self.data / "PG_VERSION").exists()

    def url(self, database: str) -> str:
        """SQLAlchemy URL a service uses (psycopg2: the driver oslo.db is tested with)."""
        password = self._passwords()["database"]
        return f"postgresql+psycopg2://{SERVICE_ROLE}:{password}@/{database}?host={self.socket_dir}"

    def _run(self, *command: str) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(  # noqa: S603  (our own commands, no shell)
            [*self._as_server_user, *command],
            capture_output=True,
            text=True,
            check=False,
            cwd="/",  # the server account may not be able to enter the caller's directory
        )
        with self.log.open("a", encoding="utf-8") as handle:
            handle.write(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}\n")
        if result.returncode != 0:
            raise LocalCloudError(
                "postgresql", f"{Path(command[0]).name} failed (exit {result.returncode})", self.log
            )

    def _own(self, *paths: Path) -> None:
        if self._as_server_user:
            for path in paths:
                shutil.chown(path, SERVER_USER, SERVER_USER)

    def initialise(self) -> None:
        """Create the cluster once: password authentication on the socket, no TCP."""
        if self.initialised():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        password_file = self.root / "admin-password"
        descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(self._passwords()["database_admin"])
        self._own(self.root, password_file)
        try:
            self._run(
                str(server_bin() / "initdb"),
                "-D",
                str(self.data),
                "-U",
                ADMIN_ROLE,
                f"--pwfile={password_file}",
                "--auth-local=scram-sha-256",
                "--auth-host=reject",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            )
        finally:
            password_file.unlink(missing_ok=True)

    def pid(self) -> int | None:
        """The postmaster's PID when it runs from this cluster."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
            working = Path(f"/proc/{pid}/cwd").readlink()
        except (ValueError, OSError):
            return None
        return pid if working == self.data else None

    def start(self) -> bool:
        """Start the server unless it runs; True when it was started now."""
        if self.pid() is not None:
            return False
        # synchronous_commit off: a crash may lose the last moments of a lab cloud, never
        # corrupt it, and every API write stops waiting for the disk.
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}' "
            f"-c unix_socket_permissions=0700 -c max_connections={MAX_CONNECTIONS} "
            "-c synchronous_commit=off"
        )
        self._run(
            str(server_bin() / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "-o",
            options,
            "start",
        )
        return True

    def stop(self) -> bool:
        """Stop the server (fast: clients are disconnected); True when it was running."""
        if self.pid() is None:
            return False
        self._run(str(server_bin() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        return True

    def create(self, databases: list[str]) -> None:
        """Create the service role and any database that does not exist yet."""
        passwords = self._passwords()
        with psycopg.connect(
            host=str(self.socket_dir),
            dbname="postgres",
            user=ADMIN_ROLE,
            password=passwords["database_admin"],
            autocommit=True,
        ) as connection:
            role = sql.Identifier(SERVICE_ROLE)
            exists = connection.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (SERVICE_ROLE,)
            ).fetchone()
            verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
            connection.execute(
                sql.SQL("{} {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                    verb, role, sql.Literal(passwords["database"])
                )
            )
            present = {
                row[0] for row in connection.execute("SELECT datname FROM pg_database").fetchall()
            }
            for database in databases:
                if database not in present:
                    connection.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(database), role
                        )
                    )
