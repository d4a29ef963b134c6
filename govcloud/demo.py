"""`make demo`: the main job on embedded defaults, as a list of steps.

Each step runs one `govcloud` command in a subprocess, exactly as an operator would type it.
Later parts of the project add their steps to STEPS.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

from rich.console import Console
from rich.rule import Rule

console = Console(highlight=False)


@dataclass(frozen=True)
class Step:
    """One demo step: a title and the govcloud arguments that perform it."""

    title: str
    args: tuple[str, ...]
    ok_codes: tuple[int, ...] = (0,)  # e.g. plan exits 1 when there is something to deploy


STEPS: tuple[Step, ...] = (
    Step("Validate the county model (county/)", ("validate",)),
    Step("Migrate the registry (SQLite under .govcloud/)", ("db", "upgrade")),
    Step("Status of every department and the on-cloud rate (上云率)", ("status",)),
    Step("Overlapping legacy networks, within and across VRFs", ("net", "overlaps")),
    Step("Plan the extranet: IPv4 merge and IPv6 (kept stable in the registry)", ("net", "plan")),
    Step("Address usage: IPv4 in addresses, IPv6 in /64s", ("net", "usage")),
    Step(
        "Start the local cloud: a real OpenStack, RegionOne (primary) and RegionTwo (DR)",
        ("localcloud", "up"),
    ),
    Step("Read the live cloud: every resource the stacks manage", ("cloud", "inventory")),
    Step(
        "Resource-request portal: demo accounts and sample requests",
        ("portal", "demo"),
    ),
    Step(
        "Start the portal on http://127.0.0.1:8080/ (stop: govcloud portal stop)",
        ("portal", "serve", "--background"),
    ),
    Step(
        "Plan the primary stack against the live cloud (exit 1 = changes to deploy)",
        ("plan", "--stack", "primary"),
        ok_codes=(0, 1),
    ),
    Step(
        "Plan the DR stack (RegionTwo) against the live cloud",
        ("plan", "--stack", "dr"),
        ok_codes=(0, 1),
    ),
    Step("Verify the audit log's SM3 chain", ("audit", "verify-log")),
)


def run(steps: tuple[Step, ...] = STEPS) -> int:
    """Run the steps in order; stop at the first that fails and return its exit code."""
    for number, step in enumerate(steps, start=1):
        console.print(Rule(f"[bold]{number}/{len(steps)}  {step.title}", align="left"))
        console.print(f"$ govcloud {' '.join(step.args)}", style="dim")
        # The arguments are this module's own constants, never user input.
        command = [sys.executable, "-m", "govcloud", *step.args]
        result = subprocess.run(command, check=False)  # noqa: S603
        if result.returncode not in step.ok_codes:
            console.print(f"[red]step {number} failed with exit code {result.returncode}[/]")
            return result.returncode
    console.print(Rule("[green]demo complete"))
    return 0


if __name__ == "__main__":
    sys.exit(run())
