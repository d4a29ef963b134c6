#!/usr/bin/python
# Copyright govcloud contributors
# Apache License 2.0 (see the repository's pyproject.toml)

DOCUMENTATION = r"""
---
module: continuous_ping
short_description: Ping targets continuously in the background during a change, then count losses
description:
  - With I(state=started), starts one detached prober on this host (replacing one left running)
    that sends an ICMP echo request to every target each I(interval) seconds over a raw socket
    and counts the replies; it stops by itself after I(max_seconds).
  - With I(state=stopped), asks it to stop, waits for the replies still in flight (up to a
    second, the same timeout as every request), and returns what each target sent and received,
    so a stop never counts an unanswered request as lost.
  - Check mode reports what would start or stop and starts or stops nothing.
options:
  directory:
    description: Where the prober keeps its PID, stop and result files (per host, e.g. under /run).
    type: path
    default: /run/govcloud-probe
  family:
    description: The address family to ping over.
    type: int
    choices: [4, 6]
    default: 4
  interval:
    description: Seconds between echo requests to each target.
    type: float
    default: 0.2
  max_seconds:
    description: A prober left running stops by itself after this long.
    type: int
    default: 3600
  name:
    description: The prober's name on this host (one prober per name).
    type: str
    default: govcloud
  state:
    description: Start or stop the prober.
    type: str
    choices: [started, stopped]
    required: true
  targets:
    description: The targets, each with C(name) (unique in the list) and C(address).
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
# The prober: one process, one raw ICMP socket, no fork per echo. A request unanswered after a
# second is lost; at stop, requests in flight get that second before the counts are written.
PROBER = r"""
import json, os, select, socket, struct, sys, time
from pathlib import Path
family, interval, max_seconds = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
stop, result, targets = Path(sys.argv[4]), Path(sys.argv[5]), json.loads(sys.argv[6])
kind = socket.AF_INET if family == 4 else socket.AF_INET6
if family == 4:
    sock = socket.socket(kind, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    echo, reply = 8, 0
else:
    sock = socket.socket(kind, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    echo, reply = 128, 129
ident = os.getpid() & 0xFFFF
by_address = {socket.inet_pton(kind, a): n for n, a in targets.items()}
sent = dict.fromkeys(targets, 0)
received = dict.fromkeys(targets, 0)
waiting = {}

def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF

def packet(sequence):
    body = struct.pack("!d", time.time())
    header = struct.pack("!BBHHH", echo, 0, 0, ident, sequence)
    if family == 6:  # the kernel fills in the ICMPv6 checksum
        return header + body
    return struct.pack("!BBHHH", echo, 0, checksum(header + body), ident, sequence) + body

sequence, end = 0, time.monotonic() + max_seconds
next_send, stopping_at = time.monotonic(), None
while True:
    now = time.monotonic()
    if stopping_at is None and (stop.exists() or now > end):
        stopping_at = now + 1.0
    if stopping_at is not None and (not waiting or now > stopping_at):
        break
    if stopping_at is None and now >= next_send:
        sequence = (sequence + 1) & 0xFFFF
        for name, address in targets.items():
            try:
                sock.sendto(packet(sequence), (address, 0))
            except OSError:
                pass  # no route: counted as sent, never answered
            sent[name] += 1
            waiting[(name, sequence)] = now + 1.0
        next_send += interval
    for key, deadline in list(waiting.items()):
        if now > deadline:
            del waiting[key]
    ready, _, _ = select.select([sock], [], [], 0.02)
    if not ready:
        continue
    data, source = sock.recvfrom(2048)
    icmp = data[(data[0] & 0x0F) * 4:] if family == 4 else data
    kind_, _, _, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
    name = by_address.get(socket.inet_pton(kind, source[0]))
    if kind_ == reply and rid == ident and (name, rseq) in waiting:
        del waiting[(name, rseq)]
        received[name] += 1
counts = {n: {"transmitted": sent[n], "received": received[n]} for n in targets}
result.write_text(json.dumps(counts))
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


def start(module, files, targets):
    params = module.params
    old = running(files["pid"])
    if old:
        os.kill(old, signal.SIGTERM)
    remove(files["stop"], files["result"])
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PROBER,
            str(params["family"]),
            str(params["interval"]),
            str(params["max_seconds"]),
            files["stop"],
            files["result"],
            json.dumps({t["name"]: t["address"] for t in targets}),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    with open(files["pid"], "w", encoding="utf-8") as handle:
        handle.write(str(process.pid))
    return [dict(t, pid=process.pid) for t in targets]


def stop(files, targets):
    pid = running(files["pid"])
    with open(files["stop"], "w", encoding="utf-8"):
        pass
    deadline = time.monotonic() + STOP_WAIT_S
    while pid and alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    counts = {}
    if os.path.exists(files["result"]):
        with open(files["result"], encoding="utf-8") as handle:
            counts = json.load(handle)
    remove(*files.values())
    probes = []
    for target in targets:
        found = counts.get(target["name"])
        sent, got = (found["transmitted"], found["received"]) if found else (0, 0)
        # A target the prober has no count for lost everything we know of.
        probes.append(dict(target, transmitted=sent, received=got, lost=sent - got if found else 1))
    return probes


def main():
    argument_spec = dict(
        directory=dict(type="path", default="/run/govcloud-probe"),
        family=dict(type="int", choices=[4, 6], default=4),
        interval=dict(type="float", default=0.2),
        max_seconds=dict(type="int", default=3600),
        name=dict(type="str", default="govcloud"),
        state=dict(type="str", choices=["started", "stopped"], required=True),
        targets=dict(type="list", elements="dict", required=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    targets = [
        {"name": str(t.get("name", "")), "address": str(t.get("address", ""))}
        for t in module.params["targets"]
    ]
    names = [t["name"] for t in targets]
    if not all(names) or not all(t["address"] for t in targets) or len(set(names)) != len(names):
        module.fail_json(msg=f"each target needs a unique name and an address: {targets}")
    if "/" in module.params["name"]:
        module.fail_json(msg="name must be a plain file name")
    # Check mode is answered here, before anything starts or stops.
    if module.check_mode or not targets:
        module.exit_json(changed=bool(targets), probes=targets)
    os.makedirs(module.params["directory"], exist_ok=True)
    files = paths(module.params["directory"], module.params["name"])
    if module.params["state"] == "started":
        module.exit_json(changed=True, probes=start(module, files, targets))
    module.exit_json(changed=True, probes=stop(files, targets))


if __name__ == "__main__":
    main()
