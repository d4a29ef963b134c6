#!/usr/bin/python
# Copyright govcloud contributors
# Apache License 2.0 (see the repository's pyproject.toml)

DOCUMENTATION = r"""
---
module: continuous_ping
short_description: Ping targets continuously in the background during a change, then count losses
description:
  - With I(state=started), starts one detached C(ping) per target (replacing a probe of the same
    name that is still running); each stops by itself after I(max_seconds).
  - With I(state=stopped), interrupts them (C(ping) then prints its summary) and returns what
    each sent and received.
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

import os
import re
import signal
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")
STOP_WAIT_S = 5.0


def paths(directory, name):
    base = os.path.join(directory, name)
    return base + ".pid", base + ".log"


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


def interrupt(pid):
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)


def start(module, target):
    params = module.params
    pid_file, log = paths(params["directory"], target["name"])
    old = running(pid_file)
    if old:
        interrupt(old)
    command = [
        "ping",
        f"-{params['family']}",
        "-n",
        "-q",
        "-i",
        str(params["interval"]),
        "-W",
        "1",
        "-w",
        str(params["max_seconds"]),
        target["address"],
    ]
    with open(log, "w", encoding="utf-8") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    with open(pid_file, "w", encoding="utf-8") as handle:
        handle.write(str(process.pid))
    return {"name": target["name"], "address": target["address"], "pid": process.pid}


def stop(module, target):
    pid_file, log = paths(module.params["directory"], target["name"])
    pid = running(pid_file)
    if pid:
        interrupt(pid)
    text = ""
    if os.path.exists(log):
        with open(log, encoding="utf-8") as handle:
            text = handle.read()
    found = SUMMARY.search(text)
    transmitted, received = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    for path in (pid_file, log):
        if os.path.exists(path):
            os.unlink(path)
    return {
        "name": target["name"],
        "address": target["address"],
        "transmitted": transmitted,
        "received": received,
        # A probe that left no summary lost everything we know of.
        "lost": transmitted - received if found else 1,
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
