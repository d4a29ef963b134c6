"""The lab's SSH: one sshd per node on its management address, keys made for this lab only.

Every `lab up` makes a fresh client key and a fresh host key per node, writes
`authorized_keys` for the sshds and a `known_hosts` with every node's host key under the
node's name (`HostKeyAlias`), so clients keep `StrictHostKeyChecking yes`: a node that
answers with another key is refused, in the lab as on a real site.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from network.phases import address_of

SSHD = "/usr/sbin/sshd"


def keygen(path: Path, comment: str) -> str:
    """A new ed25519 key pair at `path`; returns the public key line."""
    for old in (path, path.with_suffix(".pub")):
        old.unlink(missing_ok=True)
    subprocess.run(  # noqa: S603
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],  # noqa: S607
        check=True,
        capture_output=True,
    )
    return path.with_suffix(".pub").read_text().strip()


def make_keys(directory: Path, nodes: list[str]) -> dict[str, str]:
    """Client key, authorized_keys and one host key per node; returns node → public host key."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    client = keygen(directory / "id_ed25519", "govcloud-lab")
    (directory / "authorized_keys").write_text(client + "\n")
    hostkeys = directory / "hostkeys"
    hostkeys.mkdir(exist_ok=True)
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = list(pool.map(lambda n: keygen(hostkeys / n, f"{n}-host"), nodes))
    return dict(zip(nodes, keys, strict=True))


def write_client_files(
    directory: Path,
    nodes: dict[str, dict[str, Any]],
    host_keys: dict[str, str],
    *,
    control_dir: Path,
) -> Path:
    """known_hosts and ssh_config for Ansible, testinfra and people; returns the config path."""
    known = directory / "known_hosts"
    lines = []
    for name, key in host_keys.items():
        kind, blob = key.split()[:2]
        lines.append(f"{name} {kind} {blob}")
    known.write_text("\n".join(lines) + "\n")
    config = directory / "config"
    parts = [
        "# The lab's SSH client configuration, written by `govcloud lab up`.",
        "Host *",
        "  User root",
        f"  IdentityFile {directory / 'id_ed25519'}",
        "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {known}",
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes",
        "  BatchMode yes",
        "  ConnectTimeout 5",
        "  ControlMaster auto",
        "  ControlPersist 60s",
        f"  ControlPath {control_dir / 'ssh-%C'}",
        "",
    ]
    for name, node in nodes.items():
        parts += [
            f"Host {name}",
            f"  HostName {address_of(node['management']['ipv6'])}",
            f"  HostKeyAlias {name}",
            "",
        ]
    config.write_text("\n".join(parts))
    return config


def write_sshd_config(path: Path, authorized_keys: Path) -> None:
    """One sshd_config for every node; each sshd adds its own host key and listen addresses."""
    path.write_text(
        "\n".join(
            [
                "# sshd for the nodes of a govcloud lab (each gets -h and -o ListenAddress).",
                "Port 22",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                f"AuthorizedKeysFile {authorized_keys}",
                "StrictModes no",
                "UsePAM no",
                "PrintMotd no",
                "X11Forwarding no",
                "MaxStartups 100:30:200",
                "MaxSessions 50",
                "PidFile /run/sshd.pid",
                "Subsystem sftp /usr/lib/openssh/sftp-server",
                "",
            ]
        )
    )


def sshd_command(config: Path, host_key: Path, node: dict[str, Any]) -> list[str]:
    """The sshd command line for a node: its host key, its management addresses only."""
    management = node["management"]
    return [
        SSHD,
        "-f",
        str(config),
        "-h",
        str(host_key),
        "-o",
        f"ListenAddress={address_of(management['ipv4'])}",
        "-o",
        f"ListenAddress=[{address_of(management['ipv6'])}]",
        "-E",
        "/var/log/sshd.log",
    ]
