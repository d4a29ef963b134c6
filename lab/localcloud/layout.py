"""What the local cloud runs and where: regions, services, ports and paths, as data."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

HOST = "127.0.0.1"
KEYSTONE_PORT = 5000
GLANCE_PORT = 9292
RABBIT_PORT = 5672
OS_CLOUD_ENV: Final = "OS_CLOUD"  # openstacksdk's own variables
CONFIG_FILE_ENV: Final = "OS_CLIENT_CONFIG_FILE"
CLOUD_NAME = "govcloud-local"
SYSTEM_CLOUD_NAME = "govcloud-local-system"
# Keystone's [security_compliance], as a county sets it for MLPS level 3 (the catalogue's
# keystone-password-policy: at least 8 characters and three character classes; lockout after
# at most 5 failures). Keystone checks a new password with re.match against the regex.
COMPLEXITY_REGEX: Final = r"^(?=.*[a-z])(?=.*[A-Z])(?=.*\d).{8,}$"
COMPLEXITY_DESCRIPTION: Final = (
    "口令至少8位，须同时包含大写字母、小写字母和数字 / "
    "at least 8 characters with upper- and lower-case letters and digits"
)
LOCKOUT_FAILURE_ATTEMPTS: Final = 5
LOCKOUT_DURATION_S: Final = 1800
GENERATED_PASSWORD_BYTES: Final = 24

# Pinned OpenStack release (2026.1 "Gazpacho" era packages); the full tree is constraints.txt.
CONSTRAINTS = Path(__file__).resolve().parent / "constraints.txt"
BINDALL = Path(__file__).resolve().parent / "bindall"
PACKAGES = (
    "keystone",
    "openstack-placement",
    "neutron",
    "nova",
    "cinder",
    "glance",
    "gunicorn",
    "oslo.limit",
    "psycopg2-binary",
)


class ServiceKind(StrEnum):
    """How a service runs: a WSGI API under gunicorn, or a daemon."""

    API = "api"
    DAEMON = "daemon"


@dataclass(frozen=True)
class Region:
    """One region: its name, the site it serves, and its API ports."""

    name: str
    site_role: str
    slug: str
    placement_port: int
    neutron_port: int
    nova_port: int
    cinder_port: int


REGIONS = (
    Region("RegionOne", "primary", "r1", 8778, 9696, 8774, 8776),
    Region("RegionTwo", "dr", "r2", 8878, 9796, 8874, 8876),
)


@dataclass(frozen=True)
class Service:
    """One process of the local cloud."""

    name: str
    kind: ServiceKind
    region: Region | None = None
    port: int | None = None
    module: str = ""  # WSGI module (API) or console script (daemon)
    config: str = ""  # config file, relative to the etc directory

    @property
    def url(self) -> str | None:
        """Root URL of an API."""
        return f"http://{HOST}:{self.port}" if self.port else None


def _regional(region: Region) -> list[Service]:
    slug = region.slug
    return [
        Service(
            f"placement-{slug}",
            ServiceKind.API,
            region,
            region.placement_port,
            f"placement_{slug}_app",
        ),
        Service(
            f"neutron-{slug}", ServiceKind.API, region, region.neutron_port, f"neutron_{slug}_app"
        ),
        Service(f"nova-api-{slug}", ServiceKind.API, region, region.nova_port, f"nova_{slug}_app"),
        Service(
            f"cinder-api-{slug}", ServiceKind.API, region, region.cinder_port, f"cinder_{slug}_app"
        ),
        Service(
            f"nova-conductor-{slug}",
            ServiceKind.DAEMON,
            region,
            None,
            "nova-conductor",
            f"nova-{slug}/nova.conf",
        ),
        Service(
            f"nova-scheduler-{slug}",
            ServiceKind.DAEMON,
            region,
            None,
            "nova-scheduler",
            f"nova-{slug}/nova.conf",
        ),
        Service(
            f"nova-compute-{slug}",
            ServiceKind.DAEMON,
            region,
            None,
            "nova-compute",
            f"nova-{slug}/nova.conf",
        ),
        Service(
            f"cinder-scheduler-{slug}",
            ServiceKind.DAEMON,
            region,
            None,
            "cinder-scheduler",
            f"cinder-{slug}/cinder.conf",
        ),
        Service(
            f"cinder-volume-{slug}",
            ServiceKind.DAEMON,
            region,
            None,
            "cinder-volume",
            f"cinder-{slug}/cinder.conf",
        ),
    ]


def databases() -> list[str]:
    """Every service database, one set per region (Nova needs three: API, cell0, cell1)."""
    regional = ("placement", "neutron", "nova_api", "nova_cell0", "nova_cell1", "cinder")
    return ["keystone", "glance"] + [f"{name}_{r.slug}" for r in REGIONS for name in regional]


KEYSTONE = Service("keystone", ServiceKind.API, None, KEYSTONE_PORT, "keystone_app")
GLANCE = Service("glance", ServiceKind.API, None, GLANCE_PORT, "glance_app")
SERVICES: tuple[Service, ...] = (
    KEYSTONE,
    GLANCE,
    *(service for region in REGIONS for service in _regional(region)),
)


@dataclass(frozen=True)
class Paths:
    """Where the local cloud keeps its files, all below one state directory."""

    root: Path

    @property
    def venv(self) -> Path:
        """The cloud's own virtual environment (not the project's)."""
        return self.root / "venv"

    @property
    def etc(self) -> Path:
        """Rendered configuration."""
        return self.root / "etc"

    @property
    def data(self) -> Path:
        """Databases and service state."""
        return self.root / "data"

    @property
    def postgres(self) -> Path:
        """The PostgreSQL cluster that holds every service's database, and its socket."""
        return self.root / "postgres"

    @property
    def logs(self) -> Path:
        """One log per process."""
        return self.root / "logs"

    @property
    def run(self) -> Path:
        """PID files of the processes `up` started."""
        return self.root / "run"

    @property
    def wsgi(self) -> Path:
        """WSGI shim modules."""
        return self.root / "wsgi"

    @property
    def clouds_yaml(self) -> Path:
        """The clouds.yaml entry that openstacksdk, Pulumi and Ansible use."""
        return self.root / "clouds.yaml"

    @property
    def secrets(self) -> Path:
        """Generated passwords (mode 0600)."""
        return self.root / "secrets.json"

    def pid(self, name: str) -> Path:
        """PID file of a process."""
        return self.run / f"{name}.pid"

    def log(self, name: str) -> Path:
        """Log file of a process."""
        return self.logs / f"{name}.log"


def default_cloud(
    root: Path, name: str | None = None, environ: Mapping[str, str] = os.environ
) -> tuple[str, str | None]:
    """The cloud commands read: `name` if given, else $OS_CLOUD, else the local cloud; with the
    local cloud's clouds.yaml under `root` when the local cloud is chosen and
    $OS_CLIENT_CONFIG_FILE is unset (the embedded default)."""
    name = name or environ.get(OS_CLOUD_ENV) or CLOUD_NAME
    config = None
    if CONFIG_FILE_ENV not in environ and name == CLOUD_NAME:
        config = str(Paths(root).clouds_yaml)
    return name, config


def generate_password() -> str:
    """A random password Keystone's COMPLEXITY_REGEX accepts (token_urlsafe alone lacks a digit
    or a case about once in 200 draws, and Keystone would refuse the user)."""
    while True:
        password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
        if re.match(COMPLEXITY_REGEX, password):
            return password
