#!/usr/bin/python
# Copyright govcloud contributors
# Apache License 2.0 (see the repository's pyproject.toml)

DOCUMENTATION = r"""
---
module: continuous_ping
short_description: Ping targets continuously in the background during a change, then count losses
description:
  - With I(state=started), starts one detached probe per target (replacing a probe of the same
    name that is still running) that sends one echo request at a time and counts the replies;
    each stops by itself after I(max_seconds).
  - With I(state=stopped), asks them to stop after the request in flight and returns what
    each sent and received, so a stop never counts an unanswered request as lost.
  - Check mode reports what would start or stop and starts or stops nothing.
options:
  directory:
    description: Where the probes keep their PID and output files (per host, e.g. under /run).
    type: path
    default: /run/govcloud-probe
  family:
    description: The address family to ping over.
    type: int
    choices: [4, 6]
    default: 4
  interval:
    description: Seconds between echo requests.
    type: float
    default: 0.2
  max_seconds:
    description: A probe left running stops by itself after this long.
    type: int
    default: 3600
  state:
    description: Start or stop the probes.
    type: str
    choices: [started, stopped]
    required: true
  targets:
    description: The probes, each with C(name) (unique on this host) and C(address).
    type: list
    elements: dict
    required: true
author: govcloud
"""

EXAMPLES = r"""
- name: Watch IPv4 toward the cloud while IPv6 is added
  govcloud.network.continuous_ping:
    state: started
    targets:
      - {name: cloud-gw, address: 198.19.253.10}
"""

RETURN = r"""
probes:
  description:
    - Per target, C(name), C(address) and, when stopped, C(transmitted), C(received), C(lost).
  returned: always
  type: list
  elements: dict
"""

import json
import os
import signal
import subprocess
import sys
import time

from ansible.module_utils.basic import AnsibleModule

STOP_WAIT_S = 5.0
# The probe itself: one echo request at a time (each waits up to a second for its reply), so
# every request is answered or counted lost; a stop file ends it after the request in flight.
PROBE = """
import json, subprocess, sys, time
family, address, interval, max_seconds, stop, result = sys.argv[1:7]
interval, deadline = float(interval), time.monotonic() + int(max_seconds)
sent = received = 0
from pathlib import Path
while time.monotonic() < deadline and not Path(stop).exists():
    began = time.monotonic()
    sent += 1
    answer = subprocess.run(["ping", "-" + family, "-n", "-q", "-c", "1", "-W", "1", address],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    received += answer.returncode == 0
    time.sleep(max(0.0, interval - (time.monotonic() - began)))
Path(result).write_text(json.dumps({"transmitted": sent, "received": received}))
"""


def paths(directory, name):
    base = os.path.join(directory, name)
    return {key: f"{base}.{key}" for key in ("pid", "stop", "result")}


def alive(pid):
    """True while the process runs (a zombie waiting for its new parent has finished)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def running(pid_file):
    try:
        with open(pid_file, encoding="utf-8") as handle:
            pid = int(handle.read().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


def remove(*files):
    for path in files:
        if os.path.exists(path):
            os.unlink(path)


def start(module, target):
    params = module.params
    files = paths(params["directory"], target["name"])
    old = running(files["pid"])
    if old:
        os.kill(old, signal.SIGTERM)
    remove(files["stop"], files["result"])
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PROBE,
            str(params["family"]),
            target["address"],
            str(params["interval"]),
            str(params["max_seconds"]),
            files["stop"],
            files["result"],
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    with open(files["pid"], "w", encoding="utf-8") as handle:
        handle.write(str(process.pid))
    return {"name": target["name"], "address": target["address"], "pid": process.pid}


def stop(module, target):
    files = paths(module.params["directory"], target["name"])
    pid = running(files["pid"])
    with open(files["stop"], "w", encoding="utf-8"):
        pass
    deadline = time.monotonic() + STOP_WAIT_S
    while pid and alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    counts = {"transmitted": 0, "received": 0}
    found = os.path.exists(files["result"])
    if found:
        with open(files["result"], encoding="utf-8") as handle:
            counts = json.load(handle)
    remove(*files.values())
    return {
        "name": target["name"],
        "address": target["address"],
        **counts,
        # A probe that left no result lost everything we know of.
        "lost": counts["transmitted"] - counts["received"] if found else 1,
    }


def main():
    argument_spec = dict(
        directory=dict(type="path", default="/run/govcloud-probe"),
        family=dict(type="int", choices=[4, 6], default=4),
        interval=dict(type="float", default=0.2),
        max_seconds=dict(type="int", default=3600),
        state=dict(type="str", choices=["started", "stopped"], required=True),
        targets=dict(type="list", elements="dict", required=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    targets = module.params["targets"]
    for target in targets:
        if not target.get("name") or not target.get("address") or "/" in target["name"]:
            module.fail_json(msg=f"each target needs a plain name and an address: {target}")
    # Check mode is answered here, before anything starts or stops.
    if module.check_mode:
        module.exit_json(changed=bool(targets), probes=[dict(t) for t in targets])
    os.makedirs(module.params["directory"], exist_ok=True)
    action = start if module.params["state"] == "started" else stop
    module.exit_json(changed=bool(targets), probes=[action(module, t) for t in targets])


if __name__ == "__main__":
    main()
