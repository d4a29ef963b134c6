"""`make demo`: the main job on embedded defaults, as a list of steps.

Each step runs one `govcloud` command in a subprocess, exactly as an operator would type it.
Later parts of the project add their steps to STEPS. As root, the demo then rehearses the
network change in a small lab (LAB_STEPS) and always tears the lab down.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

from rich.console import Console
from rich.rule import Rule

from portal.demo import OPS_ACCOUNT

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
    Step(
        "Resource-request portal: demo accounts and sample requests (two approved by ops)",
        ("portal", "demo"),
    ),
    Step(
        "Deploy the primary stack: tenants, networks, security baselines, workloads and the "
        "approved requests (stands in for `pulumi up`)",
        ("localcloud", "deploy", "--stack", "primary"),
    ),
    Step(
        "Deploy the DR stack (RegionTwo): replicas and standbys by tier",
        ("localcloud", "deploy", "--stack", "dr"),
    ),
    Step("Plan the primary stack again: nothing left to do", ("plan", "--stack", "primary")),
    Step("Plan the DR stack again: nothing left to do", ("plan", "--stack", "dr")),
    Step(
        "Mark deployed the approved requests the cloud is seen to hold",
        ("portal", "mark-deployed", "--as", OPS_ACCOUNT),
    ),
    Step(
        "Start the portal on http://127.0.0.1:8080/ (stop: govcloud portal stop)",
        ("portal", "serve", "--background"),
    ),
    Step("Verify the audit log's SM3 chain", ("audit", "verify-log")),
)

WHERE_TO_LOOK = f"""Where to look:
  portal         http://127.0.0.1:8080/  (accounts and passwords: printed by `portal demo` above)
  ops overview   http://127.0.0.1:8080/ops  (sign in as {OPS_ACCOUNT}: quotas, live usage,
                 capacity, pending approvals)
  the cloud      govcloud cloud inventory   (every resource the stacks manage, read live)
  drift          govcloud plan --stack primary   (0 changes: the cloud matches the county)
  stop           govcloud portal stop; govcloud localcloud down"""

LAB = ("--name", "demo")
LAB_STEPS: tuple[Step, ...] = (
    Step(
        "Build a small network lab: three departments on overlapping LANs, one behind NAT on "
        "BIRD, one ready for IPv6 only",
        ("lab", "up", *LAB, "--departments", "cl,sfj,zwfw", "--bird", "sfj"),
    ),
    Step("The reachability matrix before the change (legacy networks)", ("lab", "verify", *LAB)),
    Step(
        "网络割接: merge the departments into the extranet (precheck, apply, verify)",
        ("lab", "run", *LAB, "--", "ansible-playbook", "playbooks/network-merge.yml"),
    ),
    Step(
        "IPv6改造: dual-stack, with a continuous IPv4 probe between departments",
        ("lab", "run", *LAB, "--", "ansible-playbook", "playbooks/ipv6-dualstack.yml"),
    ),
    Step(
        "IPv6改造: cutover (IPv6 preferred; IPv4 withdrawn where a department is ready)",
        ("lab", "run", *LAB, "--", "ansible-playbook", "playbooks/ipv6-cutover.yml"),
    ),
    Step("The reachability matrix after the change", ("lab", "verify", *LAB)),
)
LAB_DOWN = Step("Tear the lab down", ("lab", "down", *LAB))


def run(steps: tuple[Step, ...] = STEPS, lab_steps: tuple[Step, ...] = ()) -> int:
    """Run the steps, then the lab steps (the lab always torn down after them); stop at the
    first step that fails and return its exit code."""
    total = len(steps) + (len(lab_steps) + 1 if lab_steps else 0)
    code = _steps(steps, 1, total)
    if code == 0 and lab_steps:
        try:
            code = _steps(lab_steps, len(steps) + 1, total)
        finally:
            down = _steps((LAB_DOWN,), total, total)
        code = code or down
    if code == 0:
        console.print(Rule("[green]demo complete"))
        console.print(WHERE_TO_LOOK, markup=False, soft_wrap=True)
    return code


def main() -> int:
    """`make demo`: every step, and the lab rehearsal when run as root (namespaces need it)."""
    if os.geteuid() == 0:
        return run(STEPS, LAB_STEPS)
    code = run(STEPS)
    console.print("(the network lab needs root: run `make demo` as root to rehearse the change)")
    return code


def _steps(steps: tuple[Step, ...], first: int, total: int) -> int:
    """Run steps in order; stop at the first that fails and return its exit code."""
    for number, step in enumerate(steps, start=first):
        console.print(Rule(f"[bold]{number}/{total}  {step.title}", align="left"))
        console.print(f"$ govcloud {' '.join(step.args)}", style="dim")
        # The arguments are this module's own constants, never user input.
        command = [sys.executable, "-m", "cli", *step.args]
        result = subprocess.run(command, check=False)  # noqa: S603
        if result.returncode not in step.ok_codes:
            console.print(f"[red]step {number} failed with exit code {result.returncode}[/]")
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
