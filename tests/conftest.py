"""Shared fixtures: the sample county, and registries on SQLite and on a real PostgreSQL.

PostgreSQL: set GOVCLOUD_TEST_POSTGRES_URL to an admin URL of a server you run (the tests create
and drop their own databases on it), or leave it unset and the harness starts a throw-away
cluster from Debian's `postgresql` package on 127.0.0.1 (`make test` installs the package).
A missing server fails the tests; it never skips them.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from ports import free_port
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from govcloud.registry import db
from lab.localcloud.database import server_bin
from lab.localcloud.errors import LocalCloudError

# The portal's fixtures (accounts, an API client) live with the portal's test helpers.
pytest_plugins = ["portal_kit", "ldap_kit", "oidc_kit"]

REPO = Path(__file__).resolve().parent.parent
SAMPLE_COUNTY = REPO / "county"
POSTGRES_URL_ENV = "GOVCLOUD_TEST_POSTGRES_URL"


def _postgres_bin() -> Path:
    try:
        return server_bin()
    except LocalCloudError as error:
        pytest.fail(f"{error} (or set {POSTGRES_URL_ENV} to a server's admin URL)")


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory, on 127.0.0.1, for one test session."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.base = Path(tempfile.mkdtemp(prefix="govcloud-pg-"))
        self.data = self.base / "data"
        self.password = secrets.token_urlsafe(18)
        self.port = free_port()
        # initdb refuses to run as root: run the server as Debian's postgres user then.
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self.as_user, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self.base / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            pytest.fail(f"{args[0]} failed: {result.stderr or result.stdout}\n{tail}")

    def start(self) -> str:
        password_file = self.base / "password"
        password_file.write_text(self.password)
        password_file.chmod(0o600)
        if self.as_user:
            shutil.chown(self.base, "postgres", "postgres")
            shutil.chown(password_file, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "govcloud",
            f"--pwfile={password_file}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        password_file.unlink()
        # A throw-away cluster: durability settings off for speed, listening on loopback only.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.base / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        return f"postgresql+psycopg://govcloud:{self.password}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """Admin URL of a real PostgreSQL server (given, or started for this session)."""
    given = os.environ.get(POSTGRES_URL_ENV)
    if given:
        yield given
        return
    server = ThrowawayPostgres()
    try:
        yield server.start()
    finally:
        server.stop()


def _libpq(url: str) -> str:
    """The libpq form of a SQLAlchemy URL (psycopg.connect does not take the driver part)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def postgres_url(postgres_admin_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database on the real server, dropped after the test."""
    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40]
    name = f"{name}_{secrets.token_hex(3)}"
    with psycopg.connect(_libpq(postgres_admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(postgres_admin_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty registry database: a SQLite file, then a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def registry(registry_url: str) -> Iterator[Engine]:
    """A migrated registry engine on each backend."""
    engine = db.make_engine(registry_url)
    db.upgrade(engine, actor="test:setup")
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def local_cloud() -> Iterator[Any]:
    """The local cloud, brought up once per session (and stopped if this session started it).

    Its state lives under GOVCLOUD_LOCALCLOUD_DIR (default .govcloud/localcloud in the
    repository). The first start needs root: it installs Debian's rabbitmq-server.
    """
    from lab.localcloud.manager import LocalCloud  # noqa: PLC0415

    root = Path(os.environ.get("GOVCLOUD_LOCALCLOUD_DIR", REPO / ".govcloud" / "localcloud"))
    cloud = LocalCloud(root)
    was_running = all(row.healthy for row in cloud.status())
    if not was_running and os.geteuid() != 0 and shutil.which("rabbitmq-server") is None:
        pytest.fail(
            "the local cloud needs root the first time (Debian's rabbitmq-server); "
            "run `make test` as root, or set OS_CLOUD to an existing cloud"
        )
    cloud.up()
    try:
        yield cloud
    finally:
        if not was_running:
            cloud.down()


@pytest.fixture(scope="session")
def cloud_name(request: pytest.FixtureRequest) -> str:
    """The cloud the integration tests use: $OS_CLOUD if set, else the local cloud.

    Any OpenStack with admin credentials works: set OS_CLOUD to its clouds.yaml entry (and
    OS_CLIENT_CONFIG_FILE to the file if it is not in a standard place). Its region names must
    match the local cloud's (RegionOne, RegionTwo).
    """
    given = os.environ.get("OS_CLOUD")
    if given:
        return given
    from lab.localcloud.layout import CLOUD_NAME  # noqa: PLC0415

    cloud = request.getfixturevalue("local_cloud")
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(cloud.paths.clouds_yaml)
    return CLOUD_NAME


@pytest.fixture
def sample_county_dir() -> Path:
    """The shipped sample county (示例县)."""
    return SAMPLE_COUNTY
