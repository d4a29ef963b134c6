"""A real directory for the tests: Debian's slapd on free ports, in a temporary directory.

It serves ldap:// (StartTLS) and ldaps:// with a certificate from a CA made for the run,
holds dc=county,dc=test with people, groups and the portal's service account, and is stopped
by its PID. A test that needs it fails, never skips, when slapd is missing.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SLAPD = Path("/usr/sbin/slapd")
SCHEMA = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")
SUFFIX = "dc=county,dc=test"
ROOT_DN = f"cn=root,{SUFFIX}"
SERVICE_DN = f"cn=portal,{SUFFIX}"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
STARTUP_TIMEOUT_S = 30


@dataclass
class Slapd:
    """A running slapd: where it listens, its CA, and how to change what it holds."""

    ldap_url: str
    ldaps_url: str
    ca_file: Path
    service_password_file: Path
    root_password_file: Path
    passwords: dict[str, str]

    def modify(self, tool: str, ldif: str = "", *args: str) -> None:
        """Run ldapadd, ldapdelete or ldapmodify as the root DN over StartTLS."""
        subprocess.run(
            [tool, "-x", "-ZZ", "-H", self.ldap_url, "-D", ROOT_DN,
             "-y", str(self.root_password_file), *args],
            input=ldif, text=True, check=True, capture_output=True,
            env={**os.environ, "LDAPTLS_CACERT": str(self.ca_file)},
        )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    ca_key, ca, key, request, cert = (
        directory / name for name in ("ca.key", "ca.crt", "slapd.key", "slapd.csr", "slapd.crt")
    )
    extensions = directory / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for command in (
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=govcloud test CA", "-keyout", str(ca_key), "-out", str(ca)],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(request)],
        ["openssl", "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "1", "-extfile", str(extensions), "-out", str(cert)],
    ):  # fmt: skip
        subprocess.run(command, check=True, capture_output=True)
    return ca, cert, key


def _person(uid: str, password: str) -> str:
    return (
        f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\n"
        f"sn: {uid}\nuserPassword: {password}\n\n"
    )


def _group(name: str, members: list[str]) -> str:
    lines = "".join(f"member: uid={m},{PEOPLE}\n" for m in members)
    return f"dn: cn={name},{GROUPS}\nobjectClass: groupOfNames\ncn: {name}\n{lines}\n"


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[Slapd]:
    """A fresh directory: zhang (alpha-staff), li (alpha-heads), wang (cloud-ops), chen (no
    mapped group), and the portal's service account."""
    if not SLAPD.exists() or shutil.which("ldapadd") is None:
        pytest.fail("slapd or ldap-utils is missing: run scripts/install-system-deps as root")
    base = tmp_path / "slapd"
    (base / "data").mkdir(parents=True)
    ca, cert, key = _certificates(base)
    root_password = secrets.token_urlsafe(18)
    root_file = base / "root.pw"
    root_file.write_text(root_password)  # ldap tools read it with -y: no newline
    root_file.chmod(0o600)
    config = base / "slapd.conf"
    config.write_text(
        "\n".join(
            [
                *(f"include {SCHEMA / s}.schema" for s in ("core", "cosine", "inetorgperson")),
                f"modulepath {MODULES}",
                "moduleload back_mdb",
                f"pidfile {base / 'slapd.pid'}",
                f"TLSCACertificateFile {ca}",
                f"TLSCertificateFile {cert}",
                f"TLSCertificateKeyFile {key}",
                "database mdb",
                f"suffix {SUFFIX}",
                f"rootdn {ROOT_DN}",
                f"rootpw {root_password}",
                f"directory {base / 'data'}",
                "access to attrs=userPassword by self write by anonymous auth by * none",
                "access to * by * read",
                "",
            ]
        )
    )
    config.chmod(0o600)
    ldap_port, ldaps_port = _free_port(), _free_port()
    urls = f"ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/"
    # -d 0: stay in the foreground, so that the PID is ours to stop.
    process = subprocess.Popen(
        [str(SLAPD), "-f", str(config), "-h", urls, "-d", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", ldap_port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                errors = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"slapd did not start: {errors[-2000:]}")
            time.sleep(0.1)
        passwords = {
            uid: f"Dir-{secrets.token_urlsafe(9)}-9" for uid in ("zhang", "li", "wang", "chen")
        }
        service_password = secrets.token_urlsafe(18)
        service_file = base / "service.pw"
        service_file.write_text(service_password + "\n")
        service_file.chmod(0o600)
        directory = Slapd(
            f"ldap://127.0.0.1:{ldap_port}",
            f"ldaps://127.0.0.1:{ldaps_port}",
            ca,
            service_file,
            root_file,
            passwords,
        )
        ldif = (
            f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: county\n"
            f"o: county\n\n"
            f"dn: {SERVICE_DN}\nobjectClass: simpleSecurityObject\nobjectClass: "
            f"organizationalRole\ncn: portal\nuserPassword: {service_password}\n\n"
            f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n"
            f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n\n"
            + "".join(_person(uid, password) for uid, password in passwords.items())
            + _group("alpha-staff", ["zhang"])
            + _group("alpha-heads", ["li"])
            + _group("cloud-ops", ["wang"])
            + _group("canteen", ["chen"])
        )
        directory.modify("ldapadd", ldif)
        yield directory
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
