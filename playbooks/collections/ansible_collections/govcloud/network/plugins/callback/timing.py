# Copyright govcloud contributors
# Apache License 2.0 (see the repository's pyproject.toml)
"""Print how long each task and the whole run took (the slowest tasks first)."""

DOCUMENTATION = r"""
---
name: timing
type: aggregate
short_description: Task and run durations
description:
  - At the end of a run, prints the slowest tasks (wall-clock, all hosts together) and the
    run's total, like ansible.posix.profile_tasks, which ansible-core does not ship.
options:
  top:
    description: How many tasks to list.
    type: int
    default: 10
    env:
      - name: GOVCLOUD_TIMING_TOP
author: govcloud
"""

import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    """Wall-clock time per task name and for the whole run."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "govcloud.network.timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.started = time.monotonic()
        self.current = None
        self.totals = {}

    def _close(self):
        if self.current is not None:
            name, began = self.current
            self.totals[name] = self.totals.get(name, 0.0) + time.monotonic() - began
            self.current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close()
        self.current = (task.get_name(), time.monotonic())

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_stats(self, stats):
        self._close()
        top = int(self.get_option("top"))
        self._display.display("TASK TIMES " + "*" * 60)
        for name, seconds in sorted(self.totals.items(), key=lambda item: -item[1])[:top]:
            self._display.display(f"{seconds:8.2f} s  {name}")
        self._display.display(f"{time.monotonic() - self.started:8.2f} s  the whole run")
