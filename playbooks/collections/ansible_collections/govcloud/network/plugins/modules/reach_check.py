#!/usr/bin/python
# Copyright govcloud contributors
# Apache License 2.0 (see the repository's pyproject.toml)

DOCUMENTATION = r"""
---
module: reach_check
short_description: Probe reachability checks from this host (ping, TCP, connect by name)
description:
  - Runs each check of the expected reachability matrix whose source is this host, in
    parallel, and compares the answer with what the check expects.
  - Checks that do not match yet are retried until I(wait) seconds have passed (routing
    converges, router advertisements arrive, DAD finishes).
  - Read-only; runs the same in check mode. C(changed) is always false.
options:
  deadline:
    description:
      - Retry until this time (seconds since the epoch) instead of for I(wait) seconds;
        several hosts probing one after another share one deadline this way.
    type: float
  checks:
    description:
      - Checks as made by the C(govcloud.network.checks_from) filter, each with C(probe)
        (C(ping), C(tcp) or C(name)), C(family), C(address), C(port), C(expect) and C(label).
    type: list
    elements: dict
    required: true
  fail_on_mismatch:
    description: Fail the task when a check still differs after I(wait).
    type: bool
    default: true
  timeout:
    description: Seconds one probe may take.
    type: float
    default: 1.0
  wait:
    description: Seconds to keep retrying checks that differ.
    type: float
    default: 0.0
author: govcloud
"""

EXAMPLES = r"""
- name: Probe this host's rows of the matrix
  govcloud.network.reach_check:
    checks: "{{ matrix | govcloud.network.checks_from(inventory_hostname) }}"
    wait: 20
"""

RETURN = r"""
results:
  description: Each check with C(ok) (the probe's answer), C(matches) and C(detail).
  returned: always
  type: list
  elements: dict
mismatches:
  description: Labels of the checks whose answer differs from what they expect.
  returned: always
  type: list
  elements: str
"""

import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

WORKERS = 16
RETRY_PAUSE_S = 0.5


def ping(address, family, timeout):
    command = [
        "ping",
        f"-{family}",
        "-n",
        "-q",
        "-c",
        "1",
        "-W",
        str(max(int(timeout), 1)),
        address,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = (result.stdout + result.stderr).strip().splitlines()
    return result.returncode == 0, lines[-1] if lines else f"exit {result.returncode}"


def tcp(address, port, family, timeout):
    kind = socket.AF_INET6 if family == 6 else socket.AF_INET
    with socket.socket(kind, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
        except OSError as error:
            return False, error.strerror or type(error).__name__
    return True, "connected"


def by_name(name, port, family, timeout):
    try:
        candidates = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        return False, f"no address: {error.strerror}"
    for kind, socktype, proto, _, address in candidates:
        with socket.socket(kind, socktype, proto) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(address)
            except OSError:
                continue
        used = 6 if kind == socket.AF_INET6 else 4
        return used == family, f"connected over IPv{used} to {address[0]}"
    return False, "no address answered"


def probe(check, timeout):
    kind, family, address, port = (
        check["probe"],
        int(check["family"]),
        check["address"],
        check.get("port"),
    )
    if kind == "ping":
        ok, detail = ping(address, family, timeout)
    elif kind == "tcp":
        ok, detail = tcp(address, int(port), family, timeout)
    else:
        ok, detail = by_name(address, int(port), family, timeout)
    return dict(check, ok=ok, matches=ok is bool(check["expect"]), detail=detail)


def main():
    argument_spec = dict(
        checks=dict(type="list", elements="dict", required=True),
        deadline=dict(type="float"),
        fail_on_mismatch=dict(type="bool", default=True),
        timeout=dict(type="float", default=1.0),
        wait=dict(type="float", default=0.0),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    checks = module.params["checks"]
    timeout = module.params["timeout"]
    if module.params["deadline"] is not None:
        deadline = time.monotonic() + module.params["deadline"] - time.time()
    else:
        deadline = time.monotonic() + module.params["wait"]
    results = {}
    pending = list(range(len(checks)))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        while pending:
            answers = list(pool.map(lambda i: probe(checks[i], timeout), pending))
            for index, answer in zip(pending, answers, strict=True):
                results[index] = answer
            pending = [i for i in pending if not results[i]["matches"]]
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(RETRY_PAUSE_S)
    ordered = [results[i] for i in range(len(checks))]
    mismatches = [
        f"{r['label']} ({'reachable' if r['ok'] else 'unreachable'}, expected "
        f"{'reachable' if r['expect'] else 'unreachable'}: {r['detail']})"
        for r in ordered
        if not r["matches"]
    ]
    result = dict(changed=False, results=ordered, mismatches=mismatches)
    if mismatches and module.params["fail_on_mismatch"]:
        module.fail_json(msg="; ".join(mismatches), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
