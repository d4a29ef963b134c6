#!/usr/bin/env python3
"""A continuous ping in the background: `start` it before a change, `stop` it after.

start: runs `ping -4` toward TARGET every INTERVAL seconds, detached, for at most MAX-SECONDS
       (so a run that dies never leaves it behind), its output in DIR/NAME.log.
stop:  interrupts it (SIGINT makes ping print its summary) and prints
       {"name", "target", "transmitted", "received", "lost", "summary"} as JSON.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")


def start(args):
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / f"{args.name}.log"
    pid_file = directory / f"{args.name}.pid"
    if pid_file.exists():
        stop_process(int(pid_file.read_text()))
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                "ping",
                "-4",
                "-n",
                "-q",
                "-i",
                str(args.interval),
                "-W",
                "1",
                "-w",
                str(args.max_seconds),
                args.target,
            ],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file.write_text(str(process.pid))
    (directory / f"{args.name}.target").write_text(args.target)
    print(json.dumps({"name": args.name, "pid": process.pid, "target": args.target}))


def stop_process(pid):
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def stop(args):
    directory = Path(args.dir)
    pid_file = directory / f"{args.name}.pid"
    log = directory / f"{args.name}.log"
    target_file = directory / f"{args.name}.target"
    target = target_file.read_text() if target_file.exists() else "?"
    if pid_file.exists():
        stop_process(int(pid_file.read_text()))
    text = log.read_text() if log.exists() else ""
    found = SUMMARY.search(text)
    transmitted, received = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    lost = transmitted - received if found else 1
    summary = (
        f"{os.uname().nodename} → {args.name} ({target}): {received}/{transmitted} echo replies"
        if found
        else f"{os.uname().nodename} → {args.name}: no probe summary"
    )
    for path in (pid_file, log, target_file):
        path.unlink(missing_ok=True)
    print(
        json.dumps(
            {
                "name": args.name,
                "target": target,
                "transmitted": transmitted,
                "received": received,
                "lost": lost,
                "summary": summary,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--target")
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--max-seconds", type=int, default=3600)
    args = parser.parse_args()
    start(args) if args.action == "start" else stop(args)


if __name__ == "__main__":
    main()
