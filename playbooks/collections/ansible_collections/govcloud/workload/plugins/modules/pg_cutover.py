#!/usr/bin/python
# Copyright govcloud contributors
# Apache License 2.0 (see the repository's pyproject.toml)

DOCUMENTATION = r"""
---
module: pg_cutover
short_description: Cut a PostgreSQL standby over from its primary, with writes stopped for seconds
description:
  - Runs on the standby (the system's cloud server). Stops writes at the primary (the source)
    over the network (new transactions read-only, the application's sessions ended), waits until
    the standby has replayed the primary's last WAL; compares the two with I(compare_query);
    promotes the standby; lets it take writes; waits until the application answers as primary.
  - Every step is timed; the writes-stopped and promoted times are returned.
  - When the standby is already promoted (a resumed cutover), nothing is done and C(changed) is
    false; the source is still checked to be read-only.
  - Check mode reports whether a cutover would happen and changes nothing.
options:
  app_health_url:
    description: The application's health URL on this server (answers JSON with role and read_only).
    type: str
    required: true
  app_host_header:
    description: The Host header the application serves the system under (its service name).
    type: str
    required: true
  app_role:
    description: The application's database role; its sessions at the source are ended.
    type: str
    required: true
  cluster:
    description: The standby's cluster name (Debian layout).
    type: str
    required: true
  compare_database:
    description: The database I(compare_query) runs in, on both servers.
    type: str
    required: true
  compare_query:
    description: A query returning one row; it must be equal on both servers before promotion.
    type: str
    required: true
  compare_role:
    description: The role that runs I(compare_query) at the source (it may read every table).
    type: str
    required: true
  password:
    description: The password of I(source_role) and I(compare_role) at the source.
    type: str
    required: true
    no_log: true
  port:
    description: The port of both clusters.
    type: int
    default: 5432
  source_address:
    description: The source's address, as this server reaches it.
    type: str
    required: true
  source_role:
    description: >-
      The role that stops writes at the source: it needs ALTER SYSTEM on
      default_transaction_read_only, EXECUTE on pg_reload_conf and pg_signal_backend.
    type: str
    required: true
  timeout:
    description: Seconds to wait for the standby to replay and for the application.
    type: float
    default: 60
  version:
    description: The PostgreSQL major version of the standby's cluster.
    type: str
    required: true
author: govcloud
"""

EXAMPLES = r"""
- name: Cut over
  govcloud.workload.pg_cutover:
    source_address: 198.18.172.2
    source_role: replicator
    compare_role: migrator
    password: "{{ migrate_secret }}"
    app_role: records_app
    compare_database: records
    compare_query: SELECT count(*) FROM records
    version: "15"
    cluster: records
    app_health_url: http://127.0.0.1:443/health
    app_host_header: zhifa.cgj.svc.extranet.example
"""

RETURN = r"""
writes_stopped_at:
  description: When the source stopped taking writes (UNIX time), or null when it already had.
  returned: always
  type: float
promoted_at:
  description: When this server took writes (UNIX time).
  returned: always
  type: float
source_stats:
  description: The source's row of I(compare_query).
  returned: when compared
  type: str
target_stats:
  description: This server's row of I(compare_query) before promotion.
  returned: when compared
  type: str
steps:
  description: Seconds per step.
  returned: always
  type: dict
"""

import json
import os
import re
import time
import urllib.request

from ansible.module_utils.basic import AnsibleModule

POLL_S = 0.01
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Cutover:
    """The steps, each a psql call (local ones as postgres, remote ones with the password)."""

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.steps = {}

    def local(self, sql, database="postgres"):
        argv = ["runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1",
                "-p", str(self.p["port"]), "-d", database]  # fmt: skip
        return self._psql(argv, sql, {})

    def remote(self, sql, role, database="postgres", options=""):
        conninfo = (
            f"host={self.p['source_address']} port={self.p['port']} dbname={database} "
            f"user={role} connect_timeout=5"
        )
        argv = ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", conninfo]
        # The password goes in the environment of psql alone, never on its command line.
        return self._psql(argv, sql, {"PGPASSWORD": self.p["password"], "PGOPTIONS": options})

    def _psql(self, argv, sql, extra):
        # On standard input, each statement runs on its own (ALTER SYSTEM refuses a
        # transaction block, which is what -c makes of several statements).
        env = dict(os.environ, **extra)
        rc, out, err = self.module.run_command(argv, data=sql, environ_update=env)
        if rc != 0:
            self.module.fail_json(msg=f"{argv[argv.index('psql')]}: {err.strip() or out.strip()}",
                                  steps=self.steps)  # fmt: skip
        return out.strip().splitlines()

    def timed(self, name, action):
        started = time.monotonic()
        result = action()
        self.steps[name] = round(time.monotonic() - started, 3)
        return result

    def in_recovery(self):
        return self.local("SELECT pg_is_in_recovery()")[-1] == "t"

    def freeze_source(self):
        # The application's role travels as a setting of the session, not inside the SQL.
        sql = (
            "ALTER SYSTEM SET default_transaction_read_only = on; SELECT pg_reload_conf(); "
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE usename = current_setting('govcloud.app_role'); SELECT pg_current_wal_lsn()"
        )
        lines = self.remote(
            sql, self.p["source_role"], options=f"-c govcloud.app_role={self.p['app_role']}"
        )
        return lines[-1]

    def wait_for_replay(self, lsn):
        deadline = time.monotonic() + self.p["timeout"]
        query = f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"
        while self.local(query)[-1] != "t":
            if time.monotonic() > deadline:
                self.module.fail_json(
                    msg=f"the standby did not replay the source's last write ({lsn}) within "
                    f"{self.p['timeout']} s; the source is read-only: roll back",
                    steps=self.steps,
                )
            time.sleep(POLL_S)

    def promote(self):
        self.local("SELECT pg_promote(wait => true, wait_seconds => 60)")
        self.local(
            "ALTER SYSTEM RESET default_transaction_read_only; "
            "ALTER SYSTEM RESET primary_conninfo; SELECT pg_reload_conf()"
        )

    def wait_for_app(self):
        deadline = time.monotonic() + self.p["timeout"]
        request = urllib.request.Request(  # noqa: S310  (main() allows http and https only)
            self.p["app_health_url"], headers={"Host": self.p["app_host_header"]}
        )
        last = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310  (http, checked)
                    last = json.loads(response.read())
                if last.get("role") == "primary" and not last.get("read_only"):
                    return
            except (OSError, ValueError) as error:
                last = str(error)
            time.sleep(POLL_S * 5)
        self.module.fail_json(
            msg=f"the application did not take writes as primary: {last}", steps=self.steps
        )


def main():
    argument_spec = dict(
        app_health_url=dict(type="str", required=True),
        app_host_header=dict(type="str", required=True),
        app_role=dict(type="str", required=True),
        cluster=dict(type="str", required=True),
        compare_database=dict(type="str", required=True),
        compare_query=dict(type="str", required=True),
        compare_role=dict(type="str", required=True),
        password=dict(type="str", required=True, no_log=True),
        port=dict(type="int", default=5432),
        source_address=dict(type="str", required=True),
        source_role=dict(type="str", required=True),
        timeout=dict(type="float", default=60),
        version=dict(type="str", required=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    for name in ("app_role", "source_role", "compare_role"):
        if not ROLE_NAME.match(p[name]):
            module.fail_json(msg=f"{name} {p[name]!r}: a role name is lowercase letters, digits, _")
    if not p["app_health_url"].startswith(("http://", "https://")):
        module.fail_json(msg="app_health_url must be an http:// or https:// URL")
    cutover = Cutover(module)
    if not cutover.in_recovery():
        # Promoted already (a resumed run): make sure the source still refuses writes.
        cutover.timed("freeze", cutover.freeze_source)
        module.exit_json(changed=False, writes_stopped_at=None, promoted_at=time.time(),
                         steps=cutover.steps)  # fmt: skip
    if module.check_mode:
        module.exit_json(changed=True, writes_stopped_at=None, promoted_at=None, steps={})
    stopped_at = time.time()
    lsn = cutover.timed("freeze", cutover.freeze_source)
    cutover.timed("replay", lambda: cutover.wait_for_replay(lsn))
    source = cutover.timed(
        "compare_source",
        lambda: cutover.remote(p["compare_query"], p["compare_role"], p["compare_database"]),
    )[-1]
    target = cutover.timed(
        "compare_target", lambda: cutover.local(p["compare_query"], p["compare_database"])
    )[-1]
    if source != target:
        module.fail_json(
            msg=f"the copy differs from its source before promotion: source {source}, copy "
            f"{target}; the source is read-only: roll back",
            source_stats=source, target_stats=target, steps=cutover.steps,
        )  # fmt: skip
    cutover.timed("promote", cutover.promote)
    cutover.timed("application", cutover.wait_for_app)
    module.exit_json(
        changed=True, writes_stopped_at=stopped_at, promoted_at=time.time(),
        source_stats=source, target_stats=target, steps=cutover.steps,
    )  # fmt: skip


if __name__ == "__main__":
    main()
