"""Thin wrappers over iproute2, nsenter and process signals; every call is logged on failure.

Namespaces are made with `ip netns add` (a bind mount under /run/netns). Each node also gets
an anchor process: `ip netns exec NS unshare --uts --mount` with the node's own /etc (an
overlay whose upper layer is the node's directory), /run and /var/log, then `sleep infinity`.
Daemons and SSH sessions join the anchor's namespaces with `nsenter`, so every process of a
node sees the same files, and none of them changes the machine's own /etc.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from govcloud.errors import UnreachableError

NETNS_DIR = Path("/run/netns")
KILL_GRACE_S = 3.0


class LabCommandError(UnreachableError):
    """A command that builds or tears down the lab failed; the message shows it and its output."""

    def __init__(self, command: Sequence[str], output: str) -> None:
        shown = " ".join(command)
        super().__init__(f"lab: `{shown}` failed: {output.strip()[-2000:]}")


def run(command: Sequence[str], *, stdin: str | None = None, check: bool = True) -> str:
    """Run a command; return its output, raise LabCommandError when it fails."""
    result = subprocess.run(  # noqa: S603  (fixed argument lists, never a shell)
        list(command), input=stdin, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise LabCommandError(command, result.stderr or result.stdout)
    return result.stdout


def batch(lines: Iterable[str], namespace: str | None = None) -> None:
    """Many `ip` commands in one process (`ip -batch`), in a namespace or the root one."""
    text = "\n".join(lines)
    if not text:
        return
    command = ["ip", "-n", namespace, "-batch", "-"] if namespace else ["ip", "-batch", "-"]
    run(command, stdin=text + "\n")


def namespaces() -> list[str]:
    """Every named network namespace on the machine."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir())


def pids(namespace: str) -> list[int]:
    """Processes whose network namespace is this one."""
    output = run(["ip", "netns", "pids", namespace], check=False)
    return [int(line) for line in output.split() if line.isdigit()]


def signal_all(targets: Iterable[int], sig: signal.Signals) -> None:
    """Send a signal to processes that may already be gone."""
    for pid in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def alive(pid: int) -> bool:
    """True when the process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    return state != "Z"


def stop(targets: Sequence[int], grace: float = KILL_GRACE_S) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL what is left."""
    signal_all(targets, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in targets):
        time.sleep(0.05)
    signal_all([p for p in targets if alive(p)], signal.SIGKILL)


def nsenter(anchor: int, command: Sequence[str]) -> list[str]:
    """The command line that runs `command` inside a node (network, mount and UTS)."""
    return ["nsenter", "-t", str(anchor), "-n", "-m", "-u", "--", *command]
