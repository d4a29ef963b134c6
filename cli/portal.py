"""`govcloud portal ...`: serve the resource-request portal, make accounts and API tokens."""

from __future__ import annotations

import secrets
import sys
from typing import Annotated

import typer

from cli.kit import CountyOption, actor, county_dir, load, out, registry_session
from govcloud.errors import BadInputError
from govcloud.registry import db
from govcloud.settings import get_settings
from portal import supervisor

portal_app = typer.Typer(
    help="The resource-request portal: serve it, make accounts and tokens.", no_args_is_help=True
)
user_app = typer.Typer(help="Portal accounts.", no_args_is_help=True)
portal_app.add_typer(user_app, name="user")

ROLES = "requester, dept_approver, ops_approver, auditor, admin"
DEFAULT_PORT = 8080


def _portal_error(error: Exception) -> BadInputError:
    return BadInputError(str(error))


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
        state_dir = get_settings().state_dir
        already = supervisor.running(state_dir)
        started = supervisor.start_background(state_dir, host, port, workers, directory)
        if already is not None:
            out.print(f"the portal is already running at {started} (process {already[0]})")
        else:
            log = state_dir / supervisor.LOG_FILE
            out.print(
                f"portal running at {started} (log {log}); stop it with `govcloud portal stop`"
            )
        return
    out.print(
        f"portal on http://{host}:{port}/ (API http://{host}:{port}/api/docs), "
        f"registry {db.redact(url)}, {workers} worker{'s' if workers != 1 else ''}; Ctrl-C stops"
    )
    sys.stdout.flush()
    supervisor.serve(host, port, workers, directory)


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
    url = supervisor.stop(get_settings().state_dir)
    if url is None:
        out.print("the portal is not running in the background")
    else:
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
