"""Run reachability probes from inside one node: ping, TCP connect, connect by name.

Standard library only: `govcloud lab verify` runs this file with the node's own python3
inside the node (`nsenter`), feeding the checks as JSON on stdin and reading results as JSON
on stdout. The Ansible module `reach_check` does the same on real hosts.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

PING_WAIT_S = 1
WORKERS = 16


def ping(address: str, family: int, timeout: float) -> tuple[bool, str]:
    """One echo request; True when a reply came back."""
    command = [
        "ping",
        f"-{family}",
        "-n",
        "-q",
        "-c",
        "1",
        "-W",
        str(max(int(timeout), 1)),
        address,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    lines = (result.stdout + result.stderr).strip().splitlines()
    return result.returncode == 0, lines[-1] if lines else f"exit {result.returncode}"


def tcp(address: str, port: int, family: int, timeout: float) -> tuple[bool, str]:
    """A TCP handshake: True when it completed."""
    kind = socket.AF_INET6 if family == 6 else socket.AF_INET
    with socket.socket(kind, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
        except OSError as error:
            return False, error.strerror or type(error).__name__
    return True, "connected"


def by_name(name: str, port: int, family: int, timeout: float) -> tuple[bool, str]:
    """Connect to a name the way applications do (first address that answers)."""
    try:
        candidates = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        return False, f"no address: {error.strerror}"
    for kind, socktype, proto, _, address in candidates:
        with socket.socket(kind, socktype, proto) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(address)
            except OSError:
                continue
        used = 6 if kind == socket.AF_INET6 else 4
        return used == family, f"connected over IPv{used} to {address[0]}"
    return False, "no address answered"


def run_check(check: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One check → {key, ok, detail}."""
    probe, family, address, port = check["probe"], check["family"], check["address"], check["port"]
    if probe == "ping":
        ok, detail = ping(address, family, timeout)
    elif probe == "tcp":
        ok, detail = tcp(address, int(port), family, timeout)
    else:
        ok, detail = by_name(address, int(port), family, timeout)
    return {"key": check["key"], "ok": ok, "detail": detail}


def run_checks(checks: list[dict[str, Any]], timeout: float = 1.0) -> list[dict[str, Any]]:
    """Every check, in parallel."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(lambda c: run_check(c, timeout), checks))


def main() -> None:
    """Read {"checks": [...], "timeout": s} on stdin, print the results as JSON."""
    request = json.load(sys.stdin)
    json.dump(run_checks(request["checks"], float(request.get("timeout", 1.0))), sys.stdout)


if __name__ == "__main__":
    main()
