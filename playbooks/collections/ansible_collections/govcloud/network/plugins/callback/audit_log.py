# Copyright govcloud contributors
# Apache License 2.0 (see the repository's pyproject.toml)
"""Record every playbook run in govcloud's audit log (全程留痕): who, what, which hosts, result."""

DOCUMENTATION = r"""
---
name: audit_log
type: aggregate
short_description: Every playbook run in govcloud's audit log
description:
  - Appends two entries to govcloud's SM3-chained audit log (the registry named by
    GOVCLOUD_DATABASE_URL, else the one under GOVCLOUD_STATE_DIR), in the registry's own
    transaction, one when a playbook starts (so a killed run still leaves a trace) and one
    when it ends, with each host's counts (ok, changed, failed, unreachable, skipped) and
    the run's result.
  - The actor is GOVCLOUD_ACTOR, else C(cli:<login>), as for every govcloud command.
  - Variable values are never recorded (they may hold secrets); only the names of extra-vars
    files and the limit and tags given.
  - When the registry cannot be written the run goes on and a warning says it was not recorded.
requirements:
  - govcloud installed in the Python that runs Ansible (the project's venv)
author: govcloud
"""

import datetime
import getpass
import os

from ansible import context as ansible_context
from ansible.plugins.callback import CallbackBase

ACTION_START = "ansible.start"
ACTION_RUN = "ansible.playbook"


class CallbackModule(CallbackBase):
    """Writes a playbook run's start and outcome to the audit log."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "govcloud.network.audit_log"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.playbook = None
        self.started = None
        self.check_mode = False
        self.options = {}

    def _actor(self):
        return os.environ.get("GOVCLOUD_ACTOR") or f"cli:{getpass.getuser()}"

    def _record(self, action, after):
        """One audit entry in its own transaction; a failure warns and never stops the run."""
        try:
            from govcloud.registry import audit_log, db  # noqa: PLC0415
            from govcloud.settings import get_settings  # noqa: PLC0415
        except ImportError as error:
            self._display.warning(f"govcloud audit log: govcloud is not importable ({error})")
            return
        try:
            engine = db.make_engine(get_settings().registry_url())
            try:
                db.require_current(engine)
                with db.session_factory(engine)() as session:
                    audit_log.record(
                        session,
                        actor=self._actor(),
                        action=action,
                        object=f"playbook/{self.playbook}",
                        after=after,
                    )
                    session.commit()
            finally:
                engine.dispose()
        except Exception as error:  # the run must go on; the warning says what is missing
            self._display.warning(f"govcloud audit log: this run was not recorded: {error}")

    def v2_playbook_on_start(self, playbook):
        path = os.path.abspath(playbook._file_name)
        inside = os.path.relpath(path)
        self.playbook = path if inside.startswith("..") else inside
        self.started = datetime.datetime.now(datetime.UTC)
        self._record(ACTION_START, {"started": self.started.isoformat(), **self._given()})

    def _given(self):
        """What the command line asked for: never the values of variables."""
        context = dict(ansible_context.CLIARGS)
        extra = [v.lstrip("@") for v in context.get("extra_vars", ()) if v.startswith("@")]
        return {
            "limit": context.get("subset"),
            "tags": sorted(context.get("tags", ()) or ()),
            "check": bool(context.get("check")),
            "extra_vars_files": extra,
            "inventory": list(context.get("inventory", ()) or ()),
        }

    def v2_playbook_on_stats(self, stats):
        hosts = {}
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            hosts[host] = {
                key: summary.get(key, 0)
                for key in ("ok", "changed", "failures", "unreachable", "skipped", "rescued")
            }
        failed = sorted(h for h, s in hosts.items() if s["failures"] or s["unreachable"])
        ended = datetime.datetime.now(datetime.UTC)
        self._record(
            ACTION_RUN,
            {
                "result": "failed" if failed else "ok",
                "failed_hosts": failed,
                "hosts": hosts,
                "started": self.started.isoformat() if self.started else None,
                "ended": ended.isoformat(),
                "seconds": round((ended - self.started).total_seconds(), 3)
                if self.started
                else None,
                **self._given(),
            },
        )
