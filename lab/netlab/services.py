"""The lab's application services: one process listening inside every host's namespace.

Each host and the cloud gateway run "their systems" on the service port and an internal port
(`network.reachability`). Rather than one process per host, a single process opens a
dual-stack listening socket inside each namespace (a socket stays in the namespace it was
made in) and accepts and closes connections: a TCP check succeeds exactly when the network
and the firewalls let the handshake through. `ss -ltn` inside a node shows the sockets.

Run as `python -m lab.netlab.services PORT[,PORT] NAMESPACE...`; `govcloud lab down` stops it
by the PID `up` recorded.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

CLONE_NEWNET = 0x40000000  # <linux/sched.h>
LISTEN_BACKLOG = 128


@contextlib.contextmanager
def inside(namespace: str) -> Iterator[None]:
    """Switch this thread into a named network namespace, and back."""
    libc = ctypes.CDLL(None, use_errno=True)
    with (
        Path("/proc/self/ns/net").open("rb") as home,
        (Path("/run/netns") / namespace).open("rb") as there,
    ):
        if libc.setns(there.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {namespace}")
        try:
            yield
        finally:
            if libc.setns(home.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back home")


def listen(namespace: str, port: int) -> socket.socket:
    """A dual-stack listening socket on [::]:port inside the namespace."""
    with inside(namespace):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    return sock


def serve(ports: list[int], namespaces: list[str]) -> None:
    """Listen everywhere, then accept and close connections until killed."""
    selector = selectors.DefaultSelector()
    for namespace in namespaces:
        for port in ports:
            selector.register(listen(namespace, port), selectors.EVENT_READ)
    # Tell the parent that every socket is listening.
    os.write(sys.stdout.fileno(), b"ready\n")
    os.close(sys.stdout.fileno())
    while True:
        for key, _ in selector.select():
            server = key.fileobj
            if not isinstance(server, socket.socket):
                continue
            with contextlib.suppress(BlockingIOError, ConnectionError):
                connection, _ = server.accept()
                connection.close()


def main() -> None:
    """Entry point: PORTS NAMESPACE..."""
    ports = [int(p) for p in sys.argv[1].split(",")]
    serve(ports, sys.argv[2:])


if __name__ == "__main__":
    main()
