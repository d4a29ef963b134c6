"""The numbering client keeps its rate when each write is slow, as a synchronous system's is."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lab.workload import client

WRITE_S = 0.05  # a write waiting for its DR standby: about 45 ms in the lab


class SlowWrites(BaseHTTPRequestHandler):
    """Acknowledges every POST after WRITE_S."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(WRITE_S)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        """Quiet: the test reads the client's tally, not the server's log."""


@pytest.fixture
def slow_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowWrites)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_client_keeps_200_writes_a_second_when_each_write_takes_50_ms(slow_server: str) -> None:
    tally = client.run(slow_server, rate=200, seconds=3)
    assert tally["failed_attempts"] == 0, tally
    assert tally["acknowledged"] == tally["issued"], tally
    # Eight threads alone manage 8 / 0.05 = 160 writes a second: 480 in 3 s.
    assert tally["acknowledged"] >= 0.95 * 200 * 3, tally
    assert tally["latency_ms"]["p50"] >= WRITE_S * 1000, tally


def test_threads_follow_the_rate_above_a_floor() -> None:
    assert client.threads_for(10) == client.THREADS
    assert client.threads_for(200) == 20  # one write in flight each, 100 ms apiece
