"""The drill's probe: the numbering client on the drill's clock, and the writes a server lacks.

    python -m dr.probe load URL --rate 200 --seconds 600 --stop-file F [--drain S] --out F
    python -m dr.probe missing URL --tally F

`load` runs `lab.workload.client` in this process and adds `started_at`, the wall-clock time
its outages are counted from, so they can be set against the playbooks' events (unix times).
`missing` asks the service's `GET /records/stats` which acknowledged writes the serving
database lacks, halving ranges whose count falls short: a few dozen requests find a loss of
thousands, and any client of the app's HTTP interface could do the same.

Both run wherever the service name resolves: on a department's host in the lab
(`dr.labdrill`), on loopback in the tests, on an operator's machine at a real site.
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from lab.workload import client

# The client's numbers start at the wall clock in these units: a client issuing fewer numbers
# a second than that never reaches the clock, so no two drills (and no drill and a test's own
# client numbered from 1) share a number, and a restored backup never holds one of this
# drill's numbers before the drill wrote it.
NUMBERS_PER_S: Final = 1000
STATS_ATTEMPTS: Final = 20  # the new primary may still be starting: retry a 503 for a while
STATS_PAUSE_S: Final = 0.5
Counter = Callable[[int, int], int]


def first_number(now: float, rate: float) -> int:
    """The first number a client started at `now` issues: the wall clock in NUMBERS_PER_S, so
    numbers never repeat across drills (ValueError for a rate that could catch up with it)."""
    if not 0 < rate <= NUMBERS_PER_S:
        raise ValueError(
            f"rate {rate:g}: the probe writes at most {NUMBERS_PER_S} numbers a second"
        )
    return int(now * NUMBERS_PER_S)


def load(
    url: str,
    *,
    rate: float,
    seconds: float,
    stop_file: Path | None,
    drain: float = client.DRAIN_S,
) -> dict[str, Any]:
    """The client's tally with the wall-clock time its relative times count from; its numbers
    start at `first_number`."""
    started_at = time.time()
    tally = client.run(
        url,
        rate=rate,
        seconds=seconds,
        start=first_number(started_at, rate),
        stop_file=stop_file,
        drain=drain,
    )
    return {"started_at": round(started_at, 3), "url": url, **tally}


def find_missing(count: Counter, first: int, last: int, unacknowledged: Iterable[int]) -> list[int]:
    """The acknowledged numbers in [first, last] the server lacks, given `count(a, b)`, how
    many numbers in [a, b] it holds. A range is settled when it holds all of its numbers or
    none; an unacknowledged number may or may not have been committed, so ranges around one
    are split down to single numbers."""
    pending = set(unacknowledged)
    missing: list[int] = []
    ranges = [(first, last)] if first <= last else []
    while ranges:
        low, high = ranges.pop()
        held = count(low, high)
        if held == high - low + 1:
            continue
        if held == 0:
            missing.extend(n for n in range(low, high + 1) if n not in pending)
            continue
        middle = (low + high) // 2
        ranges += [(low, middle), (middle + 1, high)]
    return sorted(missing)


class StatsCounter:
    """`count(a, b)` through the app's `GET /records/stats`, a connection per request."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 80
        self.requests = 0

    def __call__(self, low: int, high: int) -> int:
        """How many of the numbers low..high the serving database holds."""
        last_error = ""
        for _ in range(STATS_ATTEMPTS):
            self.requests += 1
            connection = http.client.HTTPConnection(
                self.host, self.port, timeout=client.REQUEST_TIMEOUT_S
            )
            try:
                connection.request("GET", f"/records/stats?from={low}&to={high}")
                response = connection.getresponse()
                body = response.read()
                if response.status == http.client.OK:
                    return int(json.loads(body)["count"])
                last_error = f"HTTP {response.status}: {body[:200]!r}"
            except (OSError, http.client.HTTPException, ValueError, KeyError) as error:
                last_error = str(error)
            finally:
                connection.close()
            time.sleep(STATS_PAUSE_S)
        raise RuntimeError(f"{self.host}: GET /records/stats failed: {last_error}")


def missing(url: str, tally: dict[str, Any]) -> dict[str, Any]:
    """The acknowledged writes the service's database lacks, and how many requests it took."""
    counter = StatsCounter(url)
    lost = find_missing(
        counter, int(tally["first_seq"]), int(tally["last_seq"]), tally.get("unacknowledged", [])
    )
    return {"url": url, "missing": lost, "requests": counter.requests}


def main() -> None:
    """Entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m dr.probe")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("load")
    run.add_argument("url")
    run.add_argument("--rate", type=float, default=200.0)
    run.add_argument("--seconds", type=float, default=600.0)
    run.add_argument("--stop-file", type=Path)
    run.add_argument("--drain", type=float, default=client.DRAIN_S)
    run.add_argument("--out", type=Path)
    lack = commands.add_parser("missing")
    lack.add_argument("url")
    lack.add_argument("--tally", type=Path, required=True)
    lack.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.command == "load":
        if not 0 < args.rate <= NUMBERS_PER_S or args.seconds <= 0:
            parser.error(f"--rate must be in (0, {NUMBERS_PER_S}], --seconds positive")
        tally = load(
            args.url,
            rate=args.rate,
            seconds=args.seconds,
            stop_file=args.stop_file,
            drain=args.drain,
        )
        client.emit(tally, args.out)
    else:
        client.emit(missing(args.url, json.loads(args.tally.read_text())), args.out)


if __name__ == "__main__":
    main()
