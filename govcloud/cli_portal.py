"""`govcloud portal ...`: serve the resource-request portal, make accounts and API tokens."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from http import HTTPStatus
from pathlib import Path
from typing import Annotated

import typer

from govcloud.clikit import CountyOption, actor, county_dir, load, out, registry_session
from govcloud.errors import BadInputError, UnreachableError
from govcloud.registry import db
from govcloud.settings import get_settings

portal_app = typer.Typer(
    help="The resource-request portal: serve it, make accounts and tokens.", no_args_is_help=True
)
user_app = typer.Typer(help="Portal accounts.", no_args_is_help=True)
portal_app.add_typer(user_app, name="user")

ROLES = "requester, dept_approver, ops_approver, auditor, admin"
DEFAULT_PORT = 8080
PID_FILE = "portal.pid"
LOG_FILE = "portal.log"
BACKGROUND_START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 20


def _portal_error(error: Exception) -> BadInputError:
    return BadInputError(str(error))


def _pid_file() -> Path:
    return get_settings().state_dir / PID_FILE


def _running() -> tuple[int, str] | None:
    """The background portal's process id and URL, if it is running."""
    try:
        pid_text, url = _pid_file().read_text().split()
        pid = int(pid_text)
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid, url


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _start_background(host: str, port: int, workers: int, county: Path) -> None:
    found = _running()
    if found is not None:
        out.print(f"the portal is already running at {found[1]} (process {found[0]})")
        return
    if not _port_free(host, port):
        raise BadInputError(f"{host}:{port} is in use: choose another --port")
    state = get_settings().state_dir
    state.mkdir(parents=True, exist_ok=True)
    log = state / LOG_FILE
    command = [
        sys.executable, "-m", "govcloud", "portal", "serve", "--host", host, "--port", str(port),
        "--workers", str(workers), "--county", str(county),
    ]  # fmt: skip
    with log.open("ab") as sink:
        # Our own interpreter and arguments; the server outlives this command.
        process = subprocess.Popen(  # noqa: S603
            command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://{host}:{port}/"
    deadline = time.monotonic() + BACKGROUND_START_TIMEOUT_S
    while not _answers(f"{url}api/v1/health"):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-1500:]
            raise UnreachableError(f"the portal did not start; the end of {log}:\n{tail}")
        time.sleep(0.5)
    _pid_file().write_text(f"{process.pid} {url}\n")
    out.print(f"portal running at {url} (log {log}); stop it with `govcloud portal stop`")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (our own URL)
            return bool(response.status == HTTPStatus.OK)
    except OSError:
        return False


@portal_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port")] = DEFAULT_PORT,
    workers: Annotated[int, typer.Option(min=1, max=64, help="worker processes")] = 1,
    background: Annotated[
        bool, typer.Option("--background", help="run detached; `govcloud portal stop` ends it")
    ] = False,
    county: CountyOption = None,
) -> None:
    """Serve the portal's pages and JSON API (/api/v1, docs at /api/docs)."""
    import uvicorn  # noqa: PLC0415  (only this command needs the server)

    import portal.app  # noqa: PLC0415, F401  (an import error shows here, not in every worker)

    load(county)  # county problems are reported here, once, not by every worker
    directory = county_dir(county).resolve()
    url = get_settings().registry_url()
    engine = db.make_engine(url)
    try:
        db.require_current(engine)
    finally:
        engine.dispose()
    if background:
        _start_background(host, port, workers, directory)
        return
    os.environ["GOVCLOUD_COUNTY"] = str(directory)
    out.print(
        f"portal on http://{host}:{port}/ (API http://{host}:{port}/api/docs), "
        f"registry {db.redact(url)}, {workers} worker{'s' if workers != 1 else ''}; Ctrl-C stops"
    )
    sys.stdout.flush()
    uvicorn.run(
        "portal.app:from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        proxy_headers=False,
    )


@user_app.command("add")
def user_add(
    *,
    name: Annotated[str, typer.Option("--name", help="the account's sign-in name")],
    role: Annotated[str, typer.Option("--role", help=ROLES)],
    department: Annotated[
        str | None, typer.Option("--department", help="department code (department roles)")
    ] = None,
    display_name: Annotated[str, typer.Option(help="name shown on the pages")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
    county: CountyOption = None,
) -> None:
    """Create an account; prints a generated password unless --password-stdin gives one."""
    from portal import accounts  # noqa: PLC0415
    from portal.errors import PortalError  # noqa: PLC0415
    from portal.lifecycle import Role  # noqa: PLC0415

    try:
        chosen = Role(role)
    except ValueError:
        raise BadInputError(f"no role {role!r}; roles are {ROLES}") from None
    generated = not password_stdin
    password = secrets.token_urlsafe(12) if generated else sys.stdin.readline().rstrip("\n")
    model = load(county)
    with registry_session() as session:
        try:
            user = accounts.create_user(
                session,
                model,
                by=actor(),
                name=name,
                role=chosen,
                department=department,
                password=password,
                display_name=display_name,
            )
        except PortalError as error:
            raise _portal_error(error) from None
        session.commit()
    where = f" in {user.department}" if user.department else ""
    out.print(f"account {user.name}: {user.role}{where}")
    if generated:
        typer.echo(f"password: {password}")


@portal_app.command("token")
def token(
    name: Annotated[str, typer.Option("--name", help="the account's name")],
) -> None:
    """Issue a new API token for the account (replacing its old one) and print it."""
    from portal import accounts  # noqa: PLC0415
    from portal.errors import PortalError  # noqa: PLC0415

    with registry_session() as session:
        try:
            user = accounts.find_user(session, name)
        except PortalError as error:
            raise _portal_error(error) from None
        issued = accounts.issue_token(session, by=actor(), user=user)
        session.commit()
    typer.echo(issued)


@portal_app.command("stop")
def stop() -> None:
    """Stop the portal that `govcloud portal serve --background` started."""
    found = _running()
    if found is None:
        _pid_file().unlink(missing_ok=True)
        out.print("the portal is not running in the background")
        return
    pid, url = found
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _running() is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    if _running() is not None:
        os.killpg(pid, signal.SIGKILL)
    _pid_file().unlink(missing_ok=True)
    out.print(f"stopped the portal at {url}")


@portal_app.command("demo")
def demo(county: CountyOption = None) -> None:
    """Demo accounts (printed, with new passwords each run) and sample requests."""
    from portal import demo as portal_demo  # noqa: PLC0415

    model = load(county)
    with registry_session() as session:
        made = portal_demo.ensure_accounts(session, model, by=actor())
        samples = portal_demo.sample_requests(session, model)
        session.commit()
    out.print("portal demo accounts (new passwords on every run):")
    for account in made:
        where = f" in {account.department}" if account.department else ""
        out.print(
            f"  {account.name:<12} password {account.password}   "
            f"{account.display_name}, {account.role.value}{where}",
            markup=False,
            soft_wrap=True,
        )
    for sample in samples:
        out.print(f"  request #{sample.id} {sample.title}: {sample.state}")
