"""`govcloud portal ...`: serve the resource-request portal, make accounts and API tokens."""

from __future__ import annotations

import os
import secrets
import sys
from typing import Annotated

import typer

from govcloud.clikit import CountyOption, actor, county_dir, load, out, registry_session
from govcloud.errors import BadInputError
from govcloud.registry import db
from govcloud.settings import get_settings

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
    county: CountyOption = None,
) -> None:
    """Serve the portal's pages and JSON API (/api/v1, docs at /api/docs)."""
    import uvicorn  # noqa: PLC0415  (only this command needs the server)

    import portal.app  # noqa: PLC0415, F401  (an import error shows here, not in every worker)

    load(county)  # county problems are reported here, once, not by every worker
    os.environ["GOVCLOUD_COUNTY"] = str(county_dir(county).resolve())
    url = get_settings().registry_url()
    engine = db.make_engine(url)
    try:
        db.require_current(engine)
    finally:
        engine.dispose()
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
