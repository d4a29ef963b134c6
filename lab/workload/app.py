"""A lab system's application: numbered writes into its PostgreSQL, and their statistics.

    POST /records          {"seq": N}  201 once the row is committed (200 if it already was)
    GET  /records/stats    ?from=A&to=B  {"count": ..., "max_seq": ...} of seq in [A, B]
    GET  /health           {"system": ..., "role": "primary" | "standby", "read_only": ...}

One process serves every system of its node, told apart by the Host header (the system's
service name). A write the database refuses (a standby, a source set read-only for cutover,
a database that is down) is answered 503, never acknowledged: the client's count of 201s and
200s is exactly what the database holds. Run as `python -m lab.workload.app CONFIG` (JSON:
ports, user, pidfile, systems: {ref: {name, dsn}}); it binds its ports, writes its PID, then
drops to the configured user, the one PostgreSQL maps to the app's role.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import psycopg

MAX_BODY_BYTES: Final = 1024
MAX_SEQ: Final = 2**63 - 1  # bigint
CONNECT_TIMEOUT_S: Final = 2


class AppConfig:
    """What the app serves: its ports, the OS user it runs as, and each system's database."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.ports: list[int] = [int(p) for p in raw["ports"]]
        self.user: str | None = raw.get("user")
        self.pidfile: str | None = raw.get("pidfile")
        self.systems: dict[str, dict[str, str]] = dict(raw["systems"])
        self.by_name = {v["name"]: ref for ref, v in self.systems.items()}

    def system_for(self, host_header: str | None) -> str | None:
        """The system a request is for: by service name, or the only one served."""
        if host_header:
            name = host_header.rsplit(":", 1)[0] if "]" not in host_header else host_header
            name = name.strip("[]").lower()
            if name in self.by_name:
                return self.by_name[name]
        if len(self.systems) == 1:
            return next(iter(self.systems))
        return None


class _Connections(threading.local):
    """One database connection per serving thread and system, made when first needed."""

    def __init__(self) -> None:
        self.open: dict[str, psycopg.Connection[Any]] = {}


class Handler(BaseHTTPRequestHandler):
    """The three routes; every answer is JSON with a Content-Length (keep-alive)."""

    protocol_version = "HTTP/1.1"
    server: AppServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a load of 200 writes a second would drown the log."""

    def _answer(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _system(self) -> str | None:
        system = self.server.config.system_for(self.headers.get("Host"))
        if system is None:
            self._answer(HTTPStatus.NOT_FOUND, {"error": "no such system on this host"})
        return system

    def _connection(self, system: str) -> psycopg.Connection[Any]:
        pool = self.server.connections.open
        connection = pool.get(system)
        if connection is None or connection.closed:
            connection = psycopg.connect(
                self.server.config.systems[system]["dsn"], connect_timeout=CONNECT_TIMEOUT_S
            )
            pool[system] = connection
        return connection

    def _drop(self, system: str) -> None:
        connection = self.server.connections.open.pop(system, None)
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                connection.close()

    def do_POST(self) -> None:
        """Commit one numbered write."""
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
            return
        body = self.rfile.read(length)
        if path != "/records":
            self._answer(HTTPStatus.NOT_FOUND, {"error": "no such route"})
            return
        system = self._system()
        if system is None:
            return
        try:
            seq = json.loads(body)["seq"]
        except (ValueError, KeyError, TypeError):
            self._answer(HTTPStatus.BAD_REQUEST, {"error": 'send {"seq": N}'})
            return
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
            self._answer(HTTPStatus.BAD_REQUEST, {"error": "seq must be an integer >= 0"})
            return
        try:
            connection = self._connection(system)
            with connection.transaction():
                inserted = connection.execute(
                    "INSERT INTO records (seq) VALUES (%s) ON CONFLICT (seq) DO NOTHING",
                    (seq,),
                ).rowcount
        except psycopg.Error as error:
            self._drop(system)
            self._answer(HTTPStatus.SERVICE_UNAVAILABLE, {"error": _first_line(error)})
            return
        status = HTTPStatus.CREATED if inserted else HTTPStatus.OK
        self._answer(status, {"seq": seq, "system": system})

    def do_GET(self) -> None:
        """Statistics of the writes, or the database's role."""
        url = urlsplit(self.path)
        if url.path not in {"/records/stats", "/health"}:
            self._answer(HTTPStatus.NOT_FOUND, {"error": "no such route"})
            return
        system = self._system()
        if system is None:
            return
        try:
            low, high = _range(parse_qs(url.query))
        except ValueError as error:
            self._answer(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            return
        try:
            connection = self._connection(system)
            with connection.transaction():
                if url.path == "/health":
                    standby, read_only = connection.execute(
                        "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"
                    ).fetchone() or (None, None)
                    body = {
                        "system": system,
                        "role": "standby" if standby else "primary",
                        "read_only": read_only == "on",
                    }
                else:
                    count, max_seq = connection.execute(
                        "SELECT count(*), coalesce(max(seq), 0) FROM records "
                        "WHERE seq BETWEEN %s AND %s",
                        (low, high),
                    ).fetchone() or (0, 0)
                    body = {"count": count, "max_seq": max_seq}
        except psycopg.Error as error:
            self._drop(system)
            self._answer(HTTPStatus.SERVICE_UNAVAILABLE, {"error": _first_line(error)})
            return
        self._answer(HTTPStatus.OK, body)


def _range(query: dict[str, list[str]]) -> tuple[int, int]:
    """`from` and `to` of a stats query, both optional, both whole numbers."""
    try:
        low = int(query.get("from", ["0"])[0])
        high = int(query.get("to", [str(MAX_SEQ)])[0])
    except ValueError:
        raise ValueError("from and to must be whole numbers") from None
    if not 0 <= low <= MAX_SEQ or not 0 <= high <= MAX_SEQ:
        raise ValueError(f"from and to must lie in 0..{MAX_SEQ}")
    return low, high


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class AppServer(ThreadingHTTPServer):
    """A dual-stack HTTP server on one port, sharing the app's configuration."""

    address_family = socket.AF_INET6
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, config: AppConfig, connections: _Connections) -> None:
        self.config = config
        self.connections = connections
        super().__init__(("::", port), Handler, bind_and_activate=False)
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self.server_bind()
        self.server_activate()


def _drop_privileges(user: str | None) -> None:
    if user is None or os.getuid() != 0:
        return
    entry = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def serve(config: AppConfig) -> None:
    """Bind every port, drop privileges, serve until SIGTERM."""
    connections = _Connections()
    servers = [AppServer(port, config, connections) for port in config.ports]
    if config.pidfile:
        # Written before privileges drop (/run is root's), read by start-stop-daemon.
        Path(config.pidfile).write_text(f"{os.getpid()}\n")
    _drop_privileges(config.user)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    stop.wait()
    for server in servers:
        server.shutdown()


def main() -> None:
    """Entry point: CONFIG."""
    if len(sys.argv) != 2:
        sys.exit("usage: python -m lab.workload.app CONFIG.json")
    serve(AppConfig(json.loads(Path(sys.argv[1]).read_text())))


if __name__ == "__main__":
    main()
