"""Install, configure, start, check and stop the local cloud.

`up` is idempotent: what is installed stays installed (a marker records the constraints it was
installed from), databases are synced once, configuration is rendered every time, and services
already running are left alone. `down` stops only processes whose PID files `up` wrote, after
checking that each PID still belongs to this cloud.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import jinja2

from govcloud.errors import BadInputError
from lab.localcloud import bootstrap, layout
from lab.localcloud.database import ServiceDatabases
from lab.localcloud.errors import LocalCloudError
from lab.localcloud.layout import (
    BINDALL,
    CONSTRAINTS,
    GLANCE,
    HOST,
    KEYSTONE,
    PACKAGES,
    REGIONS,
    SERVICES,
    Paths,
    Region,
    Service,
    ServiceKind,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
READY_HTTP = {200, 300, 401}  # an API that answers its root URL is up
API_READY_TIMEOUT_S = 180
DAEMON_READY_TIMEOUT_S = 180
STOP_GRACE_S = 30
SECRET_NAMES = ("admin", "service", "rabbit", "database", "database_admin")
RABBIT_NODE = "rabbit@localhost"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ServiceStatus:
    """What `status` knows about one process."""

    name: str
    region: str | None
    kind: str
    pid: int | None
    running: bool
    url: str | None
    healthy: bool
    detail: str


def _quiet(_: str) -> None:
    return None


class LocalCloud:
    """The local cloud rooted at one state directory."""

    def __init__(self, root: Path) -> None:
        self.paths = Paths(root.resolve())
        self.databases = ServiceDatabases(
            self.paths.postgres, self.secrets, self.paths.logs / "postgresql-setup.log"
        )
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,  # noqa: S701  (INI files and Python, not HTML)
        )

    # -- installation ------------------------------------------------------------------------
    def _constraints_digest(self) -> str:
        digest = hashlib.sha256(CONSTRAINTS.read_bytes())
        for file in sorted(BINDALL.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(file.read_bytes())
        return digest.hexdigest()

    def _marker(self) -> Path:
        return self.paths.venv / ".govcloud-installed"

    def installed(self) -> bool:
        """True when the venv holds exactly the pinned packages."""
        marker = self._marker()
        return marker.exists() and marker.read_text().strip() == self._constraints_digest()

    def install(self, progress: Progress = _quiet) -> None:
        """Create the cloud's venv and install the pinned packages (and RabbitMQ) if missing."""
        self._ensure_debian_packages(progress)
        if self.installed():
            return
        python = self.paths.venv / "bin" / "python"
        if not python.exists():
            progress("creating the cloud's virtual environment")
            self._run([sys.executable, "-m", "venv", str(self.paths.venv)], "venv")
        progress("installing pinned OpenStack packages (about a minute)")
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        self._run([*pip, "-c", str(CONSTRAINTS), "pip", "setuptools", "wheel"], "pip")
        self._run([*pip, "-c", str(CONSTRAINTS), *PACKAGES], "pip")
        with tempfile.TemporaryDirectory() as scratch:
            # Build from a copy: pip's setuptools build writes into the source directory.
            source = Path(scratch) / "bindall"
            shutil.copytree(
                BINDALL, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
            )
            self._run([*pip, "--no-deps", "--no-build-isolation", str(source)], "pip")
        self._marker().write_text(self._constraints_digest() + "\n")

    def _ensure_debian_packages(self, progress: Progress) -> None:
        missing = [
            package
            for package, present in (
                ("rabbitmq-server", shutil.which("rabbitmq-server") is not None),
                ("postgresql", any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))),
            )
            if not present
        ]
        if not missing:
            return
        if os.geteuid() != 0:
            raise BadInputError(
                f"the local cloud needs Debian's {' and '.join(missing)}: run as root, or install "
                f"first with `apt-get install -y --no-install-recommends {' '.join(missing)}`"
            )
        progress(f"installing {', '.join(missing)} from Debian")
        subprocess.run(  # noqa: S603
            [
                str(Path(__file__).resolve().parents[2] / "scripts" / "install-system-deps"),
                *missing,
            ],
            check=True,
        )

    def _run(
        self,
        command: list[str],
        service: str,
        *,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
    ) -> str:
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        log = self.paths.logs / f"{service}-setup.log"
        result = subprocess.run(  # noqa: S603  (our own commands, no shell)
            command,
            capture_output=True,
            text=True,
            check=False,
            input=stdin,
            env={**os.environ, **(env or {})},
        )
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}\n")
        if result.returncode != 0:
            raise LocalCloudError(
                service, f"{Path(command[0]).name} failed (exit {result.returncode})", log
            )
        return result.stdout

    # -- secrets and configuration -----------------------------------------------------------
    def secrets(self) -> dict[str, str]:
        """Generated passwords, created once and kept with mode 0600."""
        path = self.paths.secrets
        values: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        missing = [name for name in SECRET_NAMES if name not in values]
        if missing:
            values |= {name: layout.generate_password() for name in missing}
            self._write(path, json.dumps(values))
        return values

    def _write(self, path: Path, text: str, mode: int = 0o600) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        temporary.replace(path)

    def _context(self, **extra: Any) -> dict[str, Any]:
        return {
            "paths": self.paths,
            "host": HOST,
            "keystone_port": layout.KEYSTONE_PORT,
            "glance_port": layout.GLANCE_PORT,
            "rabbit_port": layout.RABBIT_PORT,
            "secrets": self.secrets(),
            "database_url": self.databases.url,
            "regions": REGIONS,
            "cloud_name": layout.CLOUD_NAME,
            "password_regex": layout.COMPLEXITY_REGEX,
            "password_regex_description": layout.COMPLEXITY_DESCRIPTION,
            "lockout_failure_attempts": layout.LOCKOUT_FAILURE_ATTEMPTS,
            "lockout_duration": layout.LOCKOUT_DURATION_S,
            "system_cloud_name": layout.SYSTEM_CLOUD_NAME,
            **extra,
        }

    def _render(self, template: str, target: Path, **extra: Any) -> None:
        text = self._env.get_template(template).render(**self._context(**extra))
        self._write(target, text)

    def render(self, nova_endpoints: dict[str, str] | None = None) -> None:
        """Write every configuration file, WSGI shim and clouds.yaml."""
        etc, venv_etc = self.paths.etc, self.paths.venv / "etc"
        self._render("keystone.conf.j2", etc / "keystone" / "keystone.conf")
        self._render("glance-api.conf.j2", etc / "glance" / "glance-api.conf")
        shutil.copy(venv_etc / "glance" / "glance-api-paste.ini", etc / "glance")
        for region in REGIONS:
            slug = region.slug
            self._render(
                "placement.conf.j2", etc / f"placement-{slug}" / "placement.conf", region=region
            )
            self._render("neutron.conf.j2", etc / f"neutron-{slug}" / "neutron.conf", region=region)
            self._render("ml2_conf.ini.j2", etc / f"neutron-{slug}" / "ml2_conf.ini", region=region)
            shutil.copy(venv_etc / "neutron" / "api-paste.ini", etc / f"neutron-{slug}")
            self._render(
                "nova.conf.j2",
                etc / f"nova-{slug}" / "nova.conf",
                region=region,
                nova_endpoint_id=(nova_endpoints or {}).get(region.name),
            )
            shutil.copy(venv_etc / "nova" / "api-paste.ini", etc / f"nova-{slug}")
            self._render("cinder.conf.j2", etc / f"cinder-{slug}" / "cinder.conf", region=region)
            for name in ("api-paste.ini", "resource_filters.json"):
                shutil.copy(venv_etc / "cinder" / name, etc / f"cinder-{slug}")
        for service in SERVICES:
            if service.kind is ServiceKind.API:
                self._render_wsgi(service)
        self._render("clouds.yaml.j2", self.paths.clouds_yaml)
        for folder in ("neutron", "nova", "cinder"):
            for region in REGIONS:
                (self.paths.data / f"{folder}-{region.slug}" / "lock").mkdir(
                    parents=True, exist_ok=True
                )
        for folder in ("images", "staging", "tasks", "lock"):
            (self.paths.data / "glance" / folder).mkdir(parents=True, exist_ok=True)

    def _render_wsgi(self, service: Service) -> None:
        etc = self.paths.etc
        region = service.region
        slug = region.slug if region else ""
        argv: list[str] = ["gunicorn"]
        environ: dict[str, str] = {}
        warm_policy = ""
        if service is KEYSTONE:
            module, environ = "keystone.wsgi.api", {"OS_KEYSTONE_CONFIG_DIR": f"{etc}/keystone"}
        elif service is GLANCE:
            module, environ = "glance.wsgi.api", {"OS_GLANCE_CONFIG_DIR": f"{etc}/glance"}
        elif service.name.startswith("placement"):
            module = "placement.wsgi.api"
            environ = {"OS_PLACEMENT_CONFIG_DIR": f"{etc}/placement-{slug}"}
        elif service.name.startswith("neutron"):
            module = "neutron.wsgi.api"
            environ = {
                "OS_NEUTRON_CONFIG_DIR": f"{etc}/neutron-{slug}",
                "OS_NEUTRON_CONFIG_FILES": "neutron.conf;ml2_conf.ini",
            }
            # neutron.policy.init() publishes its enforcer before loading the rules: a thread
            # that arrives meanwhile finds no rule and answers 403 (seen on delete_quota right
            # after a start). Loading them before the first request closes that window.
            warm_policy = "neutron.policy"
        elif service.name.startswith("nova"):
            module = "nova.wsgi.osapi_compute"
            environ = {"OS_NOVA_CONFIG_DIR": f"{etc}/nova-{slug}"}
        else:
            module = "cinder.wsgi.api"
            argv = ["gunicorn", "--config-file", f"{etc}/cinder-{slug}/cinder.conf"]
        self._render(
            "wsgi_app.py.j2",
            self.paths.wsgi / f"{service.module}.py",
            service=service.name,
            module=module,
            argv=json.dumps(argv),
            environ=environ,
            warm_policy=warm_policy,
        )

    # -- databases ---------------------------------------------------------------------------
    def bin_path(self, name: str) -> str:
        """A program in the cloud's venv."""
        return str(self.paths.venv / "bin" / name)

    def _synced(self, name: str) -> Path:
        return self.paths.data / f".synced-{name}"

    def start_databases(self, progress: Progress = _quiet) -> None:
        """Create the PostgreSQL cluster and the service databases if missing; start it."""
        if any(self.paths.data.glob("*.db")) and not self.databases.initialised():
            raise BadInputError(
                f"{self.paths.root} holds a local cloud from an older govcloud that kept its "
                "databases in SQLite: remove it with `govcloud localcloud down --purge`, then "
                "run `govcloud localcloud up` again"
            )
        if not self.databases.initialised():
            progress("creating the PostgreSQL cluster for the services' databases")
            self.databases.initialise()
        if self.databases.start():
            progress("started PostgreSQL")
        self.databases.create(layout.databases())

    def sync_databases(self, progress: Progress = _quiet) -> None:
        """Create every service's schema once (in parallel: they are independent)."""
        jobs: list[tuple[str, Callable[[], None]]] = [
            ("keystone", self._sync_keystone),
            ("glance", self._sync_glance),
        ]
        for region in REGIONS:
            jobs += [
                (f"placement-{region.slug}", partial(self._sync_placement, region)),
                (f"neutron-{region.slug}", partial(self._sync_neutron, region)),
                (f"nova-{region.slug}", partial(self._sync_nova, region)),
                (f"cinder-{region.slug}", partial(self._sync_cinder, region)),
            ]
        pending = [(name, job) for name, job in jobs if not self._synced(name).exists()]
        if not pending:
            return
        progress(f"creating {len(pending)} service databases")

        def run(item: tuple[str, Callable[[], None]]) -> None:
            name, job = item
            job()
            self._synced(name).write_text("ok\n")

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(run, pending))

    def _sync_keystone(self) -> None:
        conf = ["--config-file", str(self.paths.etc / "keystone" / "keystone.conf")]
        owner = "root" if os.geteuid() == 0 else os.environ.get("USER", "root")
        manage = self.bin_path("keystone-manage")
        self._run([manage, *conf, "db_sync"], "keystone")
        for step in ("fernet_setup", "credential_setup"):
            self._run(
                [manage, *conf, step, "--keystone-user", owner, "--keystone-group", owner],
                "keystone",
            )

    def _sync_glance(self) -> None:
        conf = str(self.paths.etc / "glance" / "glance-api.conf")
        self._run([self.bin_path("glance-manage"), "--config-file", conf, "db_sync"], "glance")

    def _sync_placement(self, region: Region) -> None:
        conf = str(self.paths.etc / f"placement-{region.slug}" / "placement.conf")
        self._run(
            [self.bin_path("placement-manage"), "--config-file", conf, "db", "sync"],
            f"placement-{region.slug}",
        )

    def _sync_neutron(self, region: Region) -> None:
        # Neutron 2026.1's migrations include MySQL-only DDL ("ALTER TABLE tags CONVERT TO
        # CHARACTER SET utf8mb4") that PostgreSQL rejects: create the schema from the models
        # and stamp it at head, as Neutron's own functional tests do.
        database = self.databases.url(f"neutron_{region.slug}")
        script = (
            "import sys, sqlalchemy as sa\n"
            "from neutron.db.migration.models import head\n"
            "head.get_metadata().create_all(sa.create_engine(sys.argv[1]))\n"
        )
        self._run([self.bin_path("python"), "-c", script, database], f"neutron-{region.slug}")
        etc = self.paths.etc / f"neutron-{region.slug}"
        self._run(
            [
                self.bin_path("neutron-db-manage"),
                "--config-file",
                str(etc / "neutron.conf"),
                "--config-file",
                str(etc / "ml2_conf.ini"),
                "stamp",
                "heads",
            ],
            f"neutron-{region.slug}",
        )

    def _sync_nova(self, region: Region) -> None:
        name = f"nova-{region.slug}"
        manage = [
            self.bin_path("nova-manage"),
            "--config-file",
            str(self.paths.etc / name / "nova.conf"),
        ]
        self._run([*manage, "api_db", "sync"], name)
        cell0 = self.databases.url(f"nova_cell0_{region.slug}")
        self._run([*manage, "cell_v2", "map_cell0", "--database_connection", cell0], name)
        self._run([*manage, "cell_v2", "create_cell", "--name=cell1"], name)
        self._run([*manage, "db", "sync"], name)

    def _sync_cinder(self, region: Region) -> None:
        conf = str(self.paths.etc / f"cinder-{region.slug}" / "cinder.conf")
        self._run(
            [self.bin_path("cinder-manage"), "--config-file", conf, "db", "sync"],
            f"cinder-{region.slug}",
        )

    # -- processes ---------------------------------------------------------------------------
    def pid_of(self, name: str) -> int | None:
        """The PID `up` recorded for a process, if that process is still this cloud's."""
        path = self.paths.pid(name)
        if not path.exists():
            return None
        try:
            pid = int(path.read_text().strip())
            if name == "rabbitmq":
                return pid if b"rabbit" in Path(f"/proc/{pid}/cmdline").read_bytes() else None
            working = Path(f"/proc/{pid}/cwd").readlink()
        except (ValueError, OSError):
            return None
        # A recycled PID would belong to some other program: ours work inside our state
        # directory (gunicorn rewrites its command line, so that cannot tell).
        return pid if working.is_relative_to(self.paths.root) else None

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        self.paths.run.mkdir(parents=True, exist_ok=True)
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        with self.paths.log(name).open("ab") as log:
            process = subprocess.Popen(  # noqa: S603  (our own commands, no shell)
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.paths.root,
                env={**os.environ, **(env or {})},
            )
        self.paths.pid(name).write_text(f"{process.pid}\n")

    def start(self, service: Service) -> bool:
        """Start a service unless it runs already; True when it was started now."""
        if self.pid_of(service.name) is not None:
            return False
        if service.kind is ServiceKind.API:
            command = [
                self.bin_path("gunicorn"),
                "--no-control-socket",
                "--chdir",
                str(self.paths.wsgi),
                "-b",
                f"{HOST}:{service.port}",
                "-w",
                "1",
                "--threads",
                "4",
                "--timeout",
                "120",
                "--keep-alive",
                "75",
                # Nova asks Neutron for the ports of every listed server in one query string
                # (7 kB for 250 servers): gunicorn's 4 kB default answers 400, Nova then 500.
                "--limit-request-line",
                "0",
                f"{service.module}:application",
            ]
        else:
            command = [
                self.bin_path(service.module),
                "--config-file",
                str(self.paths.etc / service.config),
            ]
        self._spawn(service.name, command)
        return True

    def http_status(self, url: str) -> int | None:
        """HTTP status of an API root, or None when nothing answers."""
        try:
            with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310  (loopback)
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except (urllib.error.URLError, OSError):
            return None

    def wait_api(self, service: Service, timeout: float = API_READY_TIMEOUT_S) -> float:
        """Wait until an API answers; return the seconds it took."""
        assert service.url is not None  # noqa: S101  (APIs always have a URL)
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.http_status(service.url) in READY_HTTP:
                return time.monotonic() - start
            if self.pid_of(service.name) is None:
                raise LocalCloudError(
                    service.name, "the process exited while starting", self.paths.log(service.name)
                )
            time.sleep(0.25)
        raise LocalCloudError(
            service.name,
            f"no answer at {service.url} after {timeout:.0f} s",
            self.paths.log(service.name),
        )

    def stop(self, name: str) -> bool:
        """Stop one process that `up` started; True when it was running."""
        pid = self.pid_of(name)
        self.paths.pid(name).unlink(missing_ok=True)
        if pid is None:
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline:
            if _exited(pid):
                return True
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)
        return True

    # -- RabbitMQ ----------------------------------------------------------------------------
    def _rabbitmqctl(
        self, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            ["rabbitmqctl", "-q", "-n", RABBIT_NODE, *args],  # noqa: S607  (Debian's)
            capture_output=True,
            text=True,
            check=False,
            input=stdin,
        )

    def rabbit_running(self) -> bool:
        """True when the broker answers."""
        return self._rabbitmqctl("status").returncode == 0

    def start_rabbit(self, progress: Progress = _quiet) -> None:
        """Start RabbitMQ on loopback (if no broker runs) and set up our user and vhosts."""
        if not self.rabbit_running():
            progress("starting RabbitMQ")
            env = {
                "RABBITMQ_NODENAME": RABBIT_NODE,
                "RABBITMQ_NODE_IP_ADDRESS": HOST,
                "RABBITMQ_NODE_PORT": str(layout.RABBIT_PORT),
                "ERL_EPMD_ADDRESS": HOST,
                # Erlang distribution on loopback too, not on every interface.
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface "
                "{127,0,0,1}",
            }
            self._spawn("rabbitmq", ["rabbitmq-server"], env)
            deadline = time.monotonic() + 90
            while not self.rabbit_running():
                if time.monotonic() > deadline:
                    raise LocalCloudError(
                        "rabbitmq", "the broker did not start in 90 s", self.paths.log("rabbitmq")
                    )
                time.sleep(1)
        password = self.secrets()["rabbit"]
        users = self._rabbitmqctl("list_users").stdout
        exists = any(line.split()[:1] == ["govcloud"] for line in users.splitlines())
        # The broker keeps users in its own data: set the password this state directory holds.
        command = "change_password" if exists else "add_user"
        result = self._rabbitmqctl(command, "govcloud", stdin=password + "\n")
        if result.returncode != 0:
            raise LocalCloudError(
                "rabbitmq", f"{command} failed: {result.stderr.strip()}", self.paths.log("rabbitmq")
            )
        for region in REGIONS:
            self._rabbitmqctl("add_vhost", region.name)
            self._rabbitmqctl("set_permissions", "-p", region.name, "govcloud", ".*", ".*", ".*")

    def _wait_for_queue_consumer(self, region: Region, queue: str, timeout: float = 90) -> None:
        # nova-compute pings the conductor when it starts; a ping sent before the conductor
        # consumes its queue is lost and compute stalls for a minute.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listing = self._rabbitmqctl("list_queues", "-p", region.name, "name", "consumers")
            for line in listing.stdout.splitlines():
                parts = line.split()
                if (
                    len(parts) == 2
                    and parts[0] == queue
                    and parts[1].isdigit()
                    and int(parts[1]) > 0
                ):
                    return
            time.sleep(0.5)
        raise LocalCloudError(
            f"nova-conductor-{region.slug}",
            "never consumed its queue",
            self.paths.log(f"nova-conductor-{region.slug}"),
        )

    # -- the whole cloud ---------------------------------------------------------------------
    def up(self, progress: Progress = _quiet) -> dict[str, float]:
        """Install if needed, configure, start everything, and seed platform content."""
        timings: dict[str, float] = {}
        begin = time.monotonic()
        self.install(progress)
        timings["install"] = time.monotonic() - begin
        self.render(self._known_endpoints())
        self.start_databases(progress)
        self.sync_databases(progress)
        timings["databases"] = time.monotonic() - begin - timings["install"]
        started = time.monotonic()
        self.start_rabbit(progress)
        self.start(KEYSTONE)
        self.wait_api(KEYSTONE)
        progress("keystone is up: registering regions, services and endpoints")
        self._bootstrap_keystone()
        endpoints = bootstrap.register(self)
        self.render(endpoints)
        apis = [s for s in SERVICES if s.kind is ServiceKind.API and s is not KEYSTONE]
        fresh = [s for s in apis if self.start(s)]
        progress(f"starting {len(fresh)} APIs")
        with ThreadPoolExecutor(max_workers=len(apis)) as pool:
            list(pool.map(self.wait_api, apis))
        self._start_daemons(progress)
        bootstrap.wait_for_agents(self, progress)
        timings["services"] = time.monotonic() - started
        bootstrap.platform_content(self, progress)
        timings["total"] = time.monotonic() - begin
        # One line per `up`, for comparing start-ups over time (docs/benchmarks.md).
        with (self.paths.logs / "up-timings.jsonl").open("a", encoding="utf-8") as history:
            history.write(json.dumps({"at": time.time(), **timings}) + "\n")
        return timings

    def _known_endpoints(self) -> dict[str, str]:
        path = self.paths.data / "nova-endpoints.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _bootstrap_keystone(self) -> None:
        marker = self.paths.data / ".bootstrapped-keystone"
        if marker.exists():
            return
        self.bootstrap_keystone(
            self.paths.etc / "keystone" / "keystone.conf", self.secrets()["admin"]
        )
        marker.write_text("ok\n")

    def bootstrap_keystone(self, config: Path, password: str) -> None:
        """`keystone-manage bootstrap`: the admin user, project, role, region and endpoints.

        The password goes in the environment (OS_BOOTSTRAP_PASSWORD), never on the command
        line: every local user can read the process list, the setup log records the command,
        and a password beginning with "-" would be taken for an option."""
        url = f"http://{HOST}:{layout.KEYSTONE_PORT}/v3/"
        self._run(
            [
                self.bin_path("keystone-manage"),
                "--config-file",
                str(config),
                "bootstrap",
                "--bootstrap-admin-url",
                url,
                "--bootstrap-internal-url",
                url,
                "--bootstrap-public-url",
                url,
                "--bootstrap-region-id",
                REGIONS[0].name,
            ],
            "keystone",
            env={"OS_BOOTSTRAP_PASSWORD": password},
        )

    def _start_daemons(self, progress: Progress) -> None:
        daemons = [s for s in SERVICES if s.kind is ServiceKind.DAEMON]
        fresh = 0
        for service in daemons:
            if "compute" in service.name:
                continue
            fresh += self.start(service)
        for region in REGIONS:
            compute = next(s for s in daemons if s.name == f"nova-compute-{region.slug}")
            if self.pid_of(compute.name) is None:
                self._wait_for_queue_consumer(region, "conductor")
                fresh += self.start(compute)
        if fresh:
            progress(f"started {fresh} daemons")

    def down(self, *, purge: bool = False) -> list[str]:
        """Stop what `up` started (daemons, APIs, the broker, the database); purge deletes state."""
        stopped = [s.name for s in reversed(SERVICES) if self.stop(s.name)]
        if self.pid_of("rabbitmq") is not None:
            self._rabbitmqctl("stop")
            self.stop("rabbitmq")
            stopped.append("rabbitmq")
        if self.databases.stop():
            stopped.append("postgresql")
        if purge:
            for folder in (
                self.paths.postgres,
                self.paths.etc,
                self.paths.data,
                self.paths.logs,
                self.paths.run,
                self.paths.wsgi,
            ):
                shutil.rmtree(folder, ignore_errors=True)
            for file in (self.paths.clouds_yaml, self.paths.secrets):
                file.unlink(missing_ok=True)
        return stopped

    def status(self) -> list[ServiceStatus]:
        """Every process: PID, whether it runs, and for APIs whether they answer."""
        rows = []
        rabbit_pid = self.pid_of("rabbitmq")
        rabbit = self.rabbit_running()
        rows.append(
            ServiceStatus(
                "rabbitmq",
                None,
                "broker",
                rabbit_pid,
                rabbit,
                f"amqp://{HOST}:{layout.RABBIT_PORT}",
                rabbit,
                "answers" if rabbit else "not running",
            )
        )
        database_pid = self.databases.pid()
        rows.append(
            ServiceStatus(
                "postgresql",
                None,
                "database",
                database_pid,
                database_pid is not None,
                f"unix:{self.databases.socket_dir}",
                database_pid is not None,
                "running" if database_pid else "not running",
            )
        )
        for service in SERVICES:
            pid = self.pid_of(service.name)
            code = self.http_status(service.url) if service.url else None
            if service.kind is ServiceKind.API:
                healthy = code in READY_HTTP
                detail = f"HTTP {code}" if code else "no answer"
            else:
                healthy = pid is not None
                detail = "running" if pid else "not running"
            rows.append(
                ServiceStatus(
                    service.name,
                    service.region.name if service.region else None,
                    service.kind.value,
                    pid,
                    pid is not None,
                    service.url,
                    healthy,
                    detail,
                )
            )
        return rows

    def env(self) -> dict[str, str]:
        """Variables that point openstacksdk, the openstack CLI, Pulumi and Ansible here."""
        return {
            layout.CONFIG_FILE_ENV: str(self.paths.clouds_yaml),
            layout.OS_CLOUD_ENV: layout.CLOUD_NAME,
        }


def _exited(pid: int) -> bool:
    """True once a process is gone; reaps it when it is our own child (else it stays a zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"


def running_services(cloud: LocalCloud) -> Iterable[str]:
    """Names of the services whose processes run."""
    return (row.name for row in cloud.status() if row.running)
