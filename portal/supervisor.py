"""Running the portal: in the foreground under uvicorn, or detached with a PID file.

    serve(host, port, workers, county, tls=Tls(cert, key))   # blocks; Ctrl-C stops
    start_background(state_dir, host, port, workers, county) -> url
    running(state_dir) -> (pid, url) | None
    stop(state_dir) -> url | None

Every worker builds the app with `portal.app:from_environment`, which reads the county from
GOVCLOUD_COUNTY, which the supervisor sets for the server it starts. A detached
server is its own process group, so `stop` ends it and its workers, and only them.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Final

from govcloud.errors import BadInputError, UnreachableError

APP: Final = "portal.app:from_environment"
PID_FILE: Final = "portal.pid"
LOG_FILE: Final = "portal.log"
START_TIMEOUT_S: Final = 120
STOP_TIMEOUT_S: Final = 20
HEALTH_PATH: Final = "api/v1/health"
SECURE_COOKIES_ENV: Final = "GOVCLOUD_PORTAL_SECURE_COOKIES"


def _pid_file(state_dir: Path) -> Path:
    return state_dir / PID_FILE


def running(state_dir: Path) -> tuple[int, str] | None:
    """The background portal's process id and URL, if it is running."""
    try:
        pid_text, url = _pid_file(state_dir).read_text().split()
        pid = int(pid_text)
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid, url


def port_free(host: str, port: int) -> bool:
    """Whether the address can be bound now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def answers(url: str) -> bool:
    """Whether the portal at `url` answers its health check (over TLS too: this checks that
    our own process is up, not who it is, so the certificate is not verified)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(  # noqa: S310  (our own http(s) URL)
            f"{url}{HEALTH_PATH}", timeout=2, context=context
        ) as response:
            return bool(response.status == HTTPStatus.OK)
    except OSError:
        return False


@dataclass(frozen=True)
class Tls:
    """The certificate chain and private key the portal serves HTTPS with (PEM files)."""

    cert: Path
    key: Path

    def check(self) -> None:
        """Refuse (BadInputError) files that are missing or do not make a key pair."""
        for what, path in (("--tls-cert", self.cert), ("--tls-key", self.key)):
            if not path.is_file():
                raise BadInputError(f"{what} {path}: no such file")
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(self.cert, self.key)
        except (ssl.SSLError, OSError) as error:
            raise BadInputError(
                f"--tls-cert {self.cert} and --tls-key {self.key} are not a PEM certificate "
                f"and its unencrypted private key ({error}): give the pair the portal serves"
            ) from None


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (the demo's)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def url_of(host: str, port: int, tls: Tls | None) -> str:
    """The portal's address."""
    return f"{'https' if tls else 'http'}://{host}:{port}/"


def _server_command(host: str, port: int, workers: int, tls: Tls | None) -> list[str]:
    command = [
        sys.executable, "-m", "uvicorn", APP, "--factory", "--host", host, "--port", str(port),
        "--workers", str(workers), "--log-level", "warning", "--no-proxy-headers",
    ]  # fmt: skip
    if tls is not None:  # paths only: the key itself never reaches a command line
        command += ["--ssl-certfile", str(tls.cert), "--ssl-keyfile", str(tls.key)]
    return command


def tls_environment(tls: Tls | None) -> dict[str, str]:
    """What the workers need to know about TLS: cookies are Secure, responses send HSTS."""
    return {SECURE_COOKIES_ENV: "true"} if tls is not None else {}


def start_background(
    state_dir: Path,
    host: str,
    port: int,
    workers: int,
    county: Path,
    *,
    environment: Mapping[str, str] | None = None,
    tls: Tls | None = None,
) -> str:
    """Start a detached server and wait until it answers; its URL. Already running: its URL.
    `environment` is added to the server's (e.g. the cloud it reads)."""
    found = running(state_dir)
    if found is not None:
        return found[1]
    if not port_free(host, port):
        raise BadInputError(f"{host}:{port} is in use: choose another --port")
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / LOG_FILE
    server_environment = {
        **os.environ,
        **(environment or {}),
        **tls_environment(tls),
        "GOVCLOUD_COUNTY": str(county),
    }
    with log.open("ab") as sink:
        # Our own interpreter and arguments; the server outlives the command that started it.
        process = subprocess.Popen(  # noqa: S603
            _server_command(host, port, workers, tls),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=server_environment,
        )
    url = url_of(host, port, tls)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            tail = log.read_text(errors="replace")[-1500:]
            raise UnreachableError(f"the portal did not start; the end of {log}:\n{tail}")
        time.sleep(0.5)
    _pid_file(state_dir).write_text(f"{process.pid} {url}\n")
    return url


def stop(state_dir: Path) -> str | None:
    """Stop the background portal; its URL, or None when none was running."""
    found = running(state_dir)
    if found is None:
        _pid_file(state_dir).unlink(missing_ok=True)
        return None
    pid, url = found
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while running(state_dir) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    if running(state_dir) is not None:
        os.killpg(pid, signal.SIGKILL)
    _pid_file(state_dir).unlink(missing_ok=True)
    return url


def serve(
    host: str,
    port: int,
    workers: int,
    county: Path,
    *,
    environment: Mapping[str, str] | None = None,
    tls: Tls | None = None,
) -> None:
    """Serve in the foreground until interrupted: this process becomes the server, and its
    workers read the county from GOVCLOUD_COUNTY (and `environment`, e.g. the cloud)."""
    import uvicorn  # noqa: PLC0415  (only serving needs the server)

    os.environ.update(environment or {})
    os.environ.update(tls_environment(tls))
    os.environ["GOVCLOUD_COUNTY"] = str(county)
    uvicorn.run(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        proxy_headers=False,
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
    )
