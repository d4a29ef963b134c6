"""Running the portal: in the foreground under uvicorn, or detached with a PID file.

    serve(host, port, workers, county)          # blocks; Ctrl-C stops
    start_background(state_dir, host, port, workers, county) -> url
    running(state_dir) -> (pid, url) | None
    stop(state_dir) -> url | None

Every worker builds the app with `portal.app:from_environment`, which reads the county from
GOVCLOUD_COUNTY, which the supervisor sets for the server it starts. A detached
server is its own process group, so `stop` ends it and its workers, and only them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
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
    """Whether the portal at `url` answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}{HEALTH_PATH}", timeout=2) as response:  # noqa: S310
            return bool(response.status == HTTPStatus.OK)
    except OSError:
        return False


def _server_command(host: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", APP, "--factory", "--host", host, "--port", str(port),
        "--workers", str(workers), "--log-level", "warning", "--no-proxy-headers",
    ]  # fmt: skip


def start_background(
    state_dir: Path,
    host: str,
    port: int,
    workers: int,
    county: Path,
    *,
    environment: Mapping[str, str] | None = None,
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
    server_environment = {**os.environ, **(environment or {}), "GOVCLOUD_COUNTY": str(county)}
    with log.open("ab") as sink:
        # Our own interpreter and arguments; the server outlives the command that started it.
        process = subprocess.Popen(  # noqa: S603
            _server_command(host, port, workers),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=server_environment,
        )
    url = f"http://{host}:{port}/"
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
) -> None:
    """Serve in the foreground until interrupted: this process becomes the server, and its
    workers read the county from GOVCLOUD_COUNTY (and `environment`, e.g. the cloud)."""
    import uvicorn  # noqa: PLC0415  (only serving needs the server)

    os.environ.update(environment or {})
    os.environ["GOVCLOUD_COUNTY"] = str(county)
    uvicorn.run(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        proxy_headers=False,
    )
