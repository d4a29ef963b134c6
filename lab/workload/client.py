"""A client that numbers its writes, so an outage and lost writes are measured, not assumed.

    python -m lab.workload.client URL --rate 200 --seconds 30 [--start N] [--stop-file F] --out F

Write number N is due at start + N / rate; enough threads keep that pace (`threads_for`),
each retrying its write (a new connection, so the service name is resolved again) until it is
acknowledged.
When the time is up or the stop file appears, no new number is issued and the ones in flight
are retried until acknowledged (or `--drain` seconds pass). The result (JSON) says how many
were issued and acknowledged, the longest time without any acknowledgement (the outage a
user saw) and when, every gap of OUTAGE_FLOOR_S or more, failed attempts and latency. Every
acknowledged number must then be in the database: `lost` is what the target lacks of them
(see `missing_writes`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

REQUEST_TIMEOUT_S: Final = 2.0
RETRY_PAUSE_S: Final = 0.02
THREADS: Final = 8
# Each thread keeps one write in flight, so the pace holds while a write takes up to this long
# (a synchronous system's write waits for its DR standby: about 45 ms in the lab).
WRITE_BUDGET_S: Final = 0.1
DRAIN_S: Final = 60.0
ACKNOWLEDGED: Final = (200, 201)
# Gaps between acknowledgements this long are listed (at 200 writes/s they are 5 ms).
OUTAGE_FLOOR_S: Final = 0.5


@dataclass
class Tally:
    """What the client saw, shared by its threads under one lock."""

    acks: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, seq)
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    unacked: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Writer:
    """One thread's keep-alive connection, made again after any failure."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 80
        self.connection: http.client.HTTPConnection | None = None

    def post(self, seq: int) -> int:
        """POST one write; the HTTP status, or 0 when the request did not complete."""
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=REQUEST_TIMEOUT_S
                )
            body = json.dumps({"seq": seq})
            self.connection.request("POST", "/records", body, {"Content-Type": "application/json"})
            response = self.connection.getresponse()
            response.read()
            if response.status not in ACKNOWLEDGED:
                self.close()
            return response.status
        except (OSError, http.client.HTTPException):
            self.close()
            return 0

    def close(self) -> None:
        """Drop the connection: the next write resolves the name and connects again."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class Load:
    """Numbered writes at a steady rate from a few threads, until told to stop."""

    def __init__(
        self,
        url: str,
        *,
        rate: float,
        seconds: float,
        start: int,
        stop_file: Path | None,
        drain: float,
    ) -> None:
        self.url = url
        self.rate = rate
        self.start = start
        self.stop_file = stop_file
        self.drain = drain
        self.tally = Tally()
        self.issued = start
        self.issue_lock = threading.Lock()
        self.stop = threading.Event()
        self.began = time.monotonic()
        self.deadline = self.began + seconds

    def next_seq(self) -> int | None:
        """The next number, once it is due; None once the load stops."""
        with self.issue_lock:
            if self.stop.is_set():
                return None
            seq = self.issued
            self.issued += 1
        pause = self.began + (seq - self.start) / self.rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        return seq

    def write(self, writer: Writer, seq: int) -> None:
        """Retry one write until it is acknowledged, or the drain after a stop runs out."""
        give_up: float | None = None
        while True:
            sent = time.monotonic()
            status = writer.post(seq)
            now = time.monotonic()
            with self.tally.lock:
                if status in ACKNOWLEDGED:
                    self.tally.acks.append((now, seq))
                    self.tally.latencies.append(now - sent)
                    return
                self.tally.failures += 1
            if self.stop.is_set():
                give_up = give_up or now + self.drain
                if now > give_up:
                    with self.tally.lock:
                        self.tally.unacked.append(seq)
                    return
            time.sleep(RETRY_PAUSE_S)

    def work(self) -> None:
        """One thread: take numbers and write them."""
        writer = Writer(self.url)
        while (seq := self.next_seq()) is not None:
            self.write(writer, seq)
        writer.close()

    def watch(self) -> None:
        """Stop issuing when the time is up or the stop file appears."""
        while not self.stop.is_set():
            expired = time.monotonic() >= self.deadline
            if expired or (self.stop_file is not None and self.stop_file.exists()):
                self.stop.set()
            time.sleep(0.05)


def threads_for(rate: float) -> int:
    """How many threads keep `rate` writes a second while each write takes WRITE_BUDGET_S:
    at least THREADS, so a slow rate still rides out a stalled connection or two."""
    return max(THREADS, math.ceil(round(rate * WRITE_BUDGET_S, 6)))


def run(
    url: str,
    *,
    rate: float,
    seconds: float,
    start: int = 1,
    stop_file: Path | None = None,
    drain: float = DRAIN_S,
    threads: int | None = None,
) -> dict[str, Any]:
    """Put the load on `url` and return the tally (see the module docstring); `threads`
    defaults to `threads_for(rate)`."""
    threads = threads or threads_for(rate)
    load = Load(url, rate=rate, seconds=seconds, start=start, stop_file=stop_file, drain=drain)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: load.stop.set())
    workers = [threading.Thread(target=load.work) for _ in range(threads)]
    threading.Thread(target=load.watch, daemon=True).start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    load.stop.set()
    return summary(load.tally, start=start, issued=load.issued - start, began=load.began, rate=rate)


def summary(tally: Tally, *, start: int, issued: int, began: float, rate: float) -> dict[str, Any]:
    """The tally as JSON: counts, the longest gap between acknowledgements, latency."""
    acks = sorted(tally.acks)
    gap, gap_at = 0.0, 0.0
    outages = []
    previous = began
    for at, _ in acks:
        if at - previous > gap:
            gap, gap_at = at - previous, previous - began
        if at - previous >= OUTAGE_FLOOR_S:
            outages.append(
                {"began_s": round(previous - began, 3), "seconds": round(at - previous, 3)}
            )
        previous = at
    latencies = sorted(tally.latencies)

    def percentile(p: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    return {
        "rate": rate,
        "first_seq": start,
        "last_seq": start + issued - 1,
        "issued": issued,
        "acknowledged": len(acks),
        "unacknowledged": sorted(tally.unacked),
        "failed_attempts": tally.failures,
        "outage_s": round(gap, 3),
        "outage_began_s": round(gap_at, 3),
        "outages": outages,
        "seconds": round((acks[-1][0] if acks else time.monotonic()) - began, 3),
        "latency_ms": {"p50": percentile(0.5), "p99": percentile(0.99), "max": percentile(1.0)},
    }


def emit(document: dict[str, Any], out: Path | None) -> None:
    """Print the document as JSON and, when `out` is given, replace that file with it whole
    (a reader never sees half a tally)."""
    text = json.dumps(document, indent=1)
    if out is not None:
        temporary = out.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.replace(out)
    print(text)


def main() -> None:
    """Entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m lab.workload.client")
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--start", type=int, default=1)
    parser.add_argument("--stop-file", type=Path)
    parser.add_argument("--drain", type=float, default=DRAIN_S)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds < 0 or args.start < 0:
        parser.error("--rate must be positive, --seconds and --start not negative")
    result = run(
        args.url,
        rate=args.rate,
        seconds=args.seconds,
        start=args.start,
        stop_file=args.stop_file,
        drain=args.drain,
    )
    emit(result, args.out)


if __name__ == "__main__":
    main()
