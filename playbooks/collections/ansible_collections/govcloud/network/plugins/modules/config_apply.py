#!/usr/bin/python
# Copyright govcloud contributors
# Apache License 2.0 (see the repository's pyproject.toml)

DOCUMENTATION = r"""
---
module: config_apply
short_description: Write a daemon's configuration file and load it, only when it changed
description:
  - Compares I(content) with the file at I(dest). When they differ, checks the new content
    with I(validate), writes it atomically and runs I(apply) to load it into the running
    daemon (C(frr-reload.py --reload), C(birdc configure), C(nft -f)).
  - When I(apply) fails, the previous file is put back and applied again, so a rerun sees the
    difference and retries; the task fails with the daemon's message.
  - Owner, group and mode are corrected without reloading.
  - Check mode reports the difference (with C(--diff), the lines) and changes nothing.
options:
  apply:
    description:
      - Command that loads the file into the running daemon; C({dest}) is replaced.
      - Omitted for files that are read when needed (no daemon to reload).
    type: str
  content:
    description: The whole file. A final newline is added when missing.
    type: str
    required: true
  dest:
    description: The configuration file.
    type: path
    required: true
  group:
    description: Group of the file.
    type: str
  mode:
    description: Permissions of the file.
    type: raw
    default: "0644"
  owner:
    description: Owner of the file.
    type: str
  validate:
    description: Command that checks a candidate file before it replaces I(dest); C(%s) is its path.
    type: str
author: govcloud
"""

EXAMPLES = r"""
- name: Load the router's FRR configuration
  govcloud.network.config_apply:
    dest: /etc/frr/frr.conf
    content: "{{ lookup('ansible.builtin.template', 'frr.conf.j2') }}"
    owner: frr
    group: frr
    mode: "0640"
    apply: /usr/lib/frr/frr-reload.py --reload --stdout {dest}
"""

RETURN = r"""
applied:
  description: Whether the apply command ran.
  returned: always
  type: bool
stdout:
  description: What the apply command printed.
  returned: when it ran
  type: str
"""

import os
import shlex
import tempfile

from ansible.module_utils.basic import AnsibleModule


def read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write(module, dest, content):
    """Write through a temporary file in the same directory, then rename over `dest`."""
    directory = os.path.dirname(dest) or "."
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".govcloud-")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(content)
    module.atomic_move(temporary, dest)


def run(module, command, dest):
    return module.run_command(shlex.split(command.replace("{dest}", shlex.quote(dest))))


def main():
    argument_spec = dict(
        apply=dict(type="str"),
        content=dict(type="str", required=True),
        dest=dict(type="path", required=True),
        group=dict(type="str"),
        mode=dict(type="raw", default="0644"),
        owner=dict(type="str"),
        validate=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    dest = module.params["dest"]
    content = module.params["content"].rstrip("\n") + "\n"
    before = read(dest)
    content_changed = before != content
    file_args = module.load_file_common_arguments(module.params)
    result = dict(
        changed=content_changed,
        applied=False,
        diff=dict(before=before or "", after=content, before_header=dest, after_header=dest),
    )
    # Check mode is answered here, before anything changes (in check mode the attribute
    # helper only reports whether owner, group or mode differ).
    if module.check_mode:
        attributes_changed = before is not None and module.set_fs_attributes_if_different(
            file_args, False
        )
        result["changed"] = content_changed or attributes_changed
        module.exit_json(**result)

    if content_changed:
        if module.params["validate"]:
            handle, candidate = tempfile.mkstemp(prefix=".govcloud-check-")
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(content)
            rc, out, err = module.run_command(
                shlex.split(module.params["validate"].replace("%s", shlex.quote(candidate)))
            )
            os.unlink(candidate)
            if rc != 0:
                module.fail_json(
                    msg=f"{dest}: the new configuration does not validate: {(err or out).strip()}"
                )
        write(module, dest, content)
        module.set_fs_attributes_if_different(file_args, False)
        rc, out, err = (
            run(module, module.params["apply"], dest) if module.params["apply"] else (0, "", "")
        )
        if rc != 0:
            # Put the previous file back and load it, so the daemon and the file agree again.
            if before is None:
                os.unlink(dest)
            else:
                write(module, dest, before)
                module.set_fs_attributes_if_different(file_args, False)
                run(module, module.params["apply"], dest)
            module.fail_json(
                msg=f"{dest}: applying it failed (previous file restored): {(err or out).strip()}"
            )
        result.update(applied=bool(module.params["apply"]), stdout=out)
    attributes_changed = module.set_fs_attributes_if_different(file_args, False)
    result["changed"] = content_changed or attributes_changed
    module.exit_json(**result)


if __name__ == "__main__":
    main()
