"""`govcloud portal ...`: serve the resource-request portal, make accounts and API tokens."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from cli.kit import (
    CountyOption,
    JsonOption,
    actor,
    county_dir,
    load,
    out,
    print_json,
    registry_session,
)
from govcloud import constants
from govcloud.errors import BadInputError
from govcloud.registry import db
from govcloud.settings import get_settings
from lab.localcloud.layout import CONFIG_FILE_ENV, OS_CLOUD_ENV, default_cloud
from portal import supervisor
from portal.lifecycle import Role

portal_app = typer.Typer(
    help="The resource-request portal: serve it, make accounts and tokens.", no_args_is_help=True
)
user_app = typer.Typer(help="Portal accounts.", no_args_is_help=True)
portal_app.add_typer(user_app, name="user")
directory_app = typer.Typer(help="The county's directory (LDAP).", no_args_is_help=True)
portal_app.add_typer(directory_app, name="directory")
sessions_app = typer.Typer(help="Signed-in browsers: list and end them.", no_args_is_help=True)
portal_app.add_typer(sessions_app, name="sessions")

ROLES = ", ".join(Role)
DEFAULT_PORT = 8080
PORTAL_CLOUD_ENV = "GOVCLOUD_PORTAL_CLOUD"


def _portal_error(error: Exception) -> BadInputError:
    return BadInputError(str(error))


def portal_cloud(
    option: str | None, environ: Mapping[str, str] = os.environ
) -> tuple[str | None, dict[str, str]]:
    """The cloud the portal reads, and the environment its workers need to read it.

    --cloud, else $GOVCLOUD_PORTAL_CLOUD, else what every command reads (`default_cloud`:
    $OS_CLOUD, else the local cloud), each a clouds.yaml entry found where openstacksdk looks
    ($OS_CLIENT_CONFIG_FILE first). The local cloud counts only when its clouds.yaml exists,
    and is passed as $OS_CLIENT_CONFIG_FILE: credentials stay in the file, never on a command
    line. No cloud at all: (None, {}), and the portal shows no live usage and marks nothing
    deployed.
    """
    named = option or environ.get(PORTAL_CLOUD_ENV)
    name, local = default_cloud(get_settings().localcloud_root(), named, environ)
    environment = {PORTAL_CLOUD_ENV: name}
    if local is not None:
        if not Path(local).is_file():
            if named or environ.get(OS_CLOUD_ENV):
                raise BadInputError(
                    f"no local cloud: {local} does not exist; start it with "
                    "`govcloud localcloud up`, or name another cloud"
                )
            return None, {}
        environment[CONFIG_FILE_ENV] = local
    from cloud.inventory import connect  # noqa: PLC0415  (openstacksdk: slow to import)

    # An unknown entry is bad input now (exit 2), not a failing page later.
    connect(name, config_file=local or environ.get(CONFIG_FILE_ENV))
    return name, environment


@portal_app.command("serve")
def serve(  # noqa: PLR0917  (typer options)
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port")] = DEFAULT_PORT,
    workers: Annotated[int, typer.Option(min=1, max=64, help="worker processes")] = 1,
    background: Annotated[
        bool, typer.Option("--background", help="run detached; `govcloud portal stop` ends it")
    ] = False,
    cloud: Annotated[
        str | None,
        typer.Option(
            "--cloud",
            help="clouds.yaml entry to read live usage and capacity from [default: "
            "$GOVCLOUD_PORTAL_CLOUD, else $OS_CLOUD, else the local cloud if it is set up]",
            show_default=False,
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate chain: serve HTTPS")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="its PEM private key (unencrypted, 0600)")
    ] = None,
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http",
            help="serve plain HTTP on a non-loopback address (behind a TLS proxy only)",
        ),
    ] = False,
    county: CountyOption = None,
) -> None:
    """Serve the portal's pages and JSON API (/api/v1); HTTPS with --tls-cert/--tls-key.

    Plain HTTP is served on loopback only (the demo): any other address needs TLS, or
    --insecure-http when a TLS-terminating proxy stands in front."""
    import portal.app  # noqa: PLC0415, F401  (an import error shows here, not in every worker)

    tls = _tls(host, tls_cert, tls_key, insecure_http=insecure_http)
    _check_identity()  # the directory's and the provider's settings, here rather than per worker
    load(county)  # county problems are reported here, once, not by every worker
    chosen, environment = portal_cloud(cloud)
    reads = (
        f"reads cloud {chosen}"
        + (f" ({environment[CONFIG_FILE_ENV]})" if CONFIG_FILE_ENV in environment else "")
        if chosen
        else "reads no cloud (no live usage; set --cloud, OS_CLOUD or start the local cloud)"
    )
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
        started = supervisor.start_background(
            state_dir, host, port, workers, directory, environment=environment, tls=tls
        )
        if already is not None:
            out.print(f"the portal is already running at {started} (process {already[0]})")
        else:
            log = state_dir / supervisor.LOG_FILE
            out.print(
                f"portal running at {started}, {reads} (log {log}); "
                "stop it with `govcloud portal stop`"
            )
        return
    address = supervisor.url_of(host, port, tls)
    out.print(
        f"portal on {address} (API {address}api/v1, schema {address}openapi.json), "
        f"registry {db.redact(url)}, {reads}, {workers} worker{'s' if workers != 1 else ''}; "
        "Ctrl-C stops"
    )
    sys.stdout.flush()
    supervisor.serve(host, port, workers, directory, environment=environment, tls=tls)


def _check_identity() -> None:
    from portal.settings import PortalSettings  # noqa: PLC0415

    settings = PortalSettings()
    _portal_call(settings.directory)
    _portal_call(settings.oidc)


def _tls(
    host: str, cert: Path | None, key: Path | None, *, insecure_http: bool
) -> supervisor.Tls | None:
    """The TLS files to serve with, checked; None for plain HTTP where that is allowed."""
    if (cert is None) != (key is None):
        raise BadInputError("give both --tls-cert and --tls-key, or neither")
    if cert is not None and key is not None:
        tls = supervisor.Tls(cert.resolve(), key.resolve())
        tls.check()
        return tls
    if not supervisor.is_loopback(host) and not insecure_http:
        raise BadInputError(
            f"serving {host} needs TLS: give --tls-cert and --tls-key (or, behind a proxy that "
            "terminates TLS, --insecure-http)"
        )
    return None


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
    from portal.passwords import generate  # noqa: PLC0415

    try:
        chosen = Role(role)
    except ValueError:
        raise BadInputError(f"no role {role!r}; roles are {ROLES}") from None
    generated = not password_stdin
    password = generate(name) if generated else sys.stdin.readline().rstrip("\n")
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
    revoke: Annotated[bool, typer.Option("--revoke", help="revoke its token instead")] = False,
) -> None:
    """Issue a new API token for the account (replacing its old one) and print it."""
    from portal import accounts  # noqa: PLC0415
    from portal.settings import PortalSettings  # noqa: PLC0415

    with registry_session() as session:
        user = _account(session, name)
        if revoke:
            revoked = accounts.revoke_token(session, by=actor(), user=user)
            session.commit()
            out.print(f"token of {name} revoked" if revoked else f"{name} had no token")
            return
        issued = _portal_call(
            lambda: accounts.issue_token(
                session, by=actor(), user=user, days=PortalSettings().token_days
            )
        )
        session.commit()
    typer.echo(issued)


T = TypeVar("T")


def _portal_call(call: Callable[[], T]) -> T:
    """Run a portal service call; its refusal is the user's mistake (exit 2, no traceback)."""
    from portal.errors import PortalError  # noqa: PLC0415

    try:
        return call()
    except PortalError as error:
        raise _portal_error(error) from None


def _account(session: Any, name: str) -> Any:
    from portal import accounts  # noqa: PLC0415

    return _portal_call(lambda: accounts.find_user(session, name))


ReasonOption = Annotated[str, typer.Option("--reason", help="why (it goes into the audit log)")]


@user_app.command("deactivate")
def user_deactivate(
    name: Annotated[str, typer.Option("--name", help="the account's name")],
    reason: ReasonOption,
) -> None:
    """Deactivate an account: its sessions end and its API token is revoked."""
    from portal import accounts  # noqa: PLC0415

    _change_account(name, reason, accounts.deactivate, "deactivated")


@user_app.command("reactivate")
def user_reactivate(
    name: Annotated[str, typer.Option("--name", help="the account's name")],
    reason: ReasonOption,
) -> None:
    """Reactivate an account (it needs a new API token)."""
    from portal import accounts  # noqa: PLC0415

    _change_account(name, reason, accounts.reactivate, "reactivated")


def _change_account(name: str, reason: str, change: Callable[..., None], done: str) -> None:
    _require_reason(reason)
    with registry_session() as session:
        user = _account(session, name)
        _portal_call(lambda: change(session, by=actor(), user=user, reason=reason))
        session.commit()
    out.print(f"account {name} {done}")


@directory_app.callback()
def directory_group() -> None:
    """The county's directory (LDAP)."""


@directory_app.command("sync")
def directory_sync() -> None:
    """Deactivate every directory account the directory no longer has or maps (cron)."""
    from portal import directory  # noqa: PLC0415
    from portal.settings import PortalSettings  # noqa: PLC0415

    found = _portal_call(lambda: PortalSettings().directory())
    if found is None:
        raise BadInputError("no directory: set GOVCLOUD_PORTAL_LDAP_URL (docs/portal.md)")
    with registry_session() as session:
        gone = _portal_call(lambda: directory.sync(session, found))
        session.commit()
    out.print(
        f"{len(gone)} directory account(s) deactivated" + (f": {', '.join(gone)}" if gone else "")
    )


@user_app.command("password")
def user_password(
    name: Annotated[str, typer.Option("--name", help="the account's name")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """Give an account a new password (printed unless --password-stdin); its sessions end."""
    from portal import accounts, passwords  # noqa: PLC0415

    password = sys.stdin.readline().rstrip("\n") if password_stdin else passwords.generate(name)
    with registry_session() as session:
        user = _account(session, name)
        _portal_call(
            lambda: accounts.set_password(session, by=actor(), user=user, password=password)
        )
        session.commit()
    out.print(f"password of {name} set; its sessions ended")
    if not password_stdin:
        typer.echo(f"password: {password}")


@user_app.command("reset-second-factor")
def user_reset_second_factor(
    name: Annotated[str, typer.Option("--name", help="the account's name")],
) -> None:
    """Forget the account's authenticator (lost phone); it sets up a new one at sign-in."""
    from portal import second_factor  # noqa: PLC0415

    with registry_session() as session:
        user = _account(session, name)
        second_factor.reset(session, by=actor(), user=user)
        session.commit()
    out.print(f"second factor of {name} reset: it sets up a new one at its next sign-in")


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise BadInputError("give --reason: why, for the audit log")


@user_app.command("list")
def user_list(json_output: JsonOption = False) -> None:
    """Every account: role, department, active, second factor, source."""
    from sqlalchemy import select  # noqa: PLC0415

    from govcloud.registry.tables import PortalUser  # noqa: PLC0415

    with registry_session() as session:
        rows = [
            {
                "name": u.name,
                "role": u.role,
                "department": u.department,
                "active": u.active,
                "source": u.source,
                "second_factor": u.totp_confirmed_at is not None,
            }
            for u in session.execute(select(PortalUser).order_by(PortalUser.name)).scalars()
        ]
    if json_output:
        print_json(rows)
        return
    for row in rows:
        state = "active" if row["active"] else "deactivated"
        where = f" {row['department']}" if row["department"] else ""
        out.print(f"{row['name']:<20} {row['role']}{where}  {state}  {row['source']}")


@sessions_app.command("list")
def sessions_list(
    name: Annotated[str | None, typer.Option("--name", help="one account's only")] = None,
    json_output: JsonOption = False,
) -> None:
    """Open sessions, newest first: handle, account, address, since, last seen, expiry."""
    from portal import accounts  # noqa: PLC0415

    with registry_session() as session:
        user = _account(session, name) if name else None
        rows = [
            {
                "handle": accounts.session_handle(row),
                "user": who,
                "address": row.address,
                "created_at": row.created_at,
                "last_seen_at": row.last_seen_at,
                "expires_at": row.expires_at,
            }
            for row, who in accounts.sessions_of(session, user)
        ]
    if json_output:
        print_json(rows)
        return
    for row in rows:
        out.print(
            f"{row['handle']}  {row['user']:<20} {row['address']:<16} "
            f"since {row['created_at']:%Y-%m-%d %H:%M}  last {row['last_seen_at']:%H:%M}"
        )


@sessions_app.command("end")
def sessions_end(
    name: Annotated[str, typer.Option("--name", help="the account's name")],
    session_handle: Annotated[
        str | None, typer.Option("--session", help="one session's handle (else all)")
    ] = None,
) -> None:
    """End the account's sessions (or the one named); its browsers must sign in again."""
    from portal import accounts  # noqa: PLC0415

    with registry_session() as session:
        user = _account(session, name)
        ended = _portal_call(
            lambda: accounts.end_sessions(session, by=actor(), user=user, handle=session_handle)
        )
        session.commit()
    out.print(f"{ended} session(s) of {name} ended")


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


@portal_app.command("mark-deployed")
def mark_deployed(
    *,
    as_account: Annotated[
        str, typer.Option("--as", help="the ops approver's account the audit log names")
    ],
    request: Annotated[
        list[int] | None,
        typer.Option(
            "--request",
            help="a request to check (repeatable) [default: every one "
            "approved by ops and not yet deployed]",
            show_default=False,
        ),
    ] = None,
    cloud: Annotated[
        str | None,
        typer.Option("--cloud", help="clouds.yaml entry [default: as `portal serve` chooses]"),
    ] = None,
    county: CountyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Mark deployed the approved requests the live cloud is seen to hold.

    One fresh reading of the cloud, then each request is checked against it exactly as the
    portal's deploy action checks it: held, it becomes `deployed`; not held, it stays
    `ops_approved` and what is missing is printed (and the refused attempt audited). Run it
    after a deploy, or from cron as the background check. Exit 0 when every checked request
    is deployed, 1 when some are not held yet.
    """
    from cloud import inventory  # noqa: PLC0415  (openstacksdk: slow to import)
    from govcloud.model import SiteRole  # noqa: PLC0415
    from govcloud.registry.requests import RequestState  # noqa: PLC0415
    from portal import accounts, service  # noqa: PLC0415
    from portal.errors import NotDeployedError, PortalError  # noqa: PLC0415
    from portal.lifecycle import Action, Role  # noqa: PLC0415

    model = load(county)
    chosen, environment = portal_cloud(cloud)
    if chosen is None:
        raise BadInputError(
            "no cloud to check against: name one with --cloud or OS_CLOUD, or start the local "
            "cloud (`govcloud localcloud up`)"
        )
    with registry_session() as session:
        try:
            ops = accounts.actor_of(accounts.find_user(session, as_account))
        except PortalError as error:
            raise _portal_error(error) from None
        if ops.role is not Role.OPS_APPROVER:
            raise BadInputError(f"{as_account} is a {ops.role.value}: --as names an ops approver")
        wanted = request or [
            row.id
            for row, _ in service.listing(
                session,
                ops,
                service.Filters(),
                limit=10_000,
                states=frozenset({RequestState.OPS_APPROVED}),
            )
        ]
        session.rollback()  # no transaction stays open while the cloud is read
        region = model.site(SiteRole.PRIMARY).region
        snapshot = inventory.read(
            chosen, regions=[region], config_file=environment.get(CONFIG_FILE_ENV)
        )
        reading = service.CloudReading(chosen, snapshot)
        results: list[dict[str, Any]] = []
        for request_id in sorted(wanted):
            try:
                row = service.transition(
                    session, model, ops, request_id, action=Action.DEPLOY, reading=reading
                )
                results.append({"id": request_id, "state": row.state, "missing": []})
            except NotDeployedError as error:
                results.append(
                    {
                        "id": request_id,
                        "state": RequestState.OPS_APPROVED.value,
                        "missing": [m.message() for m in error.missing],
                    }
                )
            except PortalError as error:
                session.rollback()
                raise _portal_error(error) from None
            session.commit()  # each request its own transaction; a refusal keeps its audit
    if as_json:
        print_json({"cloud": chosen, "requests": results})
    else:
        _print_marked(chosen, results)
    if any(r["missing"] for r in results):
        raise typer.Exit(constants.EXIT_FINDINGS)


def _print_marked(cloud: str, results: list[dict[str, Any]]) -> None:
    for result in results:
        if result["missing"]:
            missing = "; ".join(result["missing"])
            out.print(
                f"request #{result['id']}: not deployed yet, cloud {cloud} does not hold {missing}",
                markup=False,
            )
        else:
            out.print(f"request #{result['id']}: deployed (cloud {cloud} holds it)")
    if not results:
        out.print("no request is waiting to be marked deployed")
