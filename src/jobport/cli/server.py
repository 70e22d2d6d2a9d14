"""The HTTP face's commands: ``serve`` and ``users``, and how the server process starts.

The server runs under uvicorn from an import string (``app_from_env``), so
``--workers N`` starts N independent processes; the settings reach them as
``JOBPORT_*`` environment variables, the one way every process reads them.
uvicorn, FastAPI and the dashboard's templates are imported only here,
inside the commands, so other commands never pay for them.
"""

from __future__ import annotations

import json
import os
import socket
from typing import TYPE_CHECKING, Annotated

import typer

from jobport.cli.context import operator, state_of
from jobport.cli.output import err, out
from jobport.errors import InputError

if TYPE_CHECKING:
    from jobport.settings import Settings

APP_FACTORY = "jobport.server:app_from_env"

#: Settings held as SecretStr: passed on in clear to the processes we start.
_SECRETS = ("secret_key",)

users_app = typer.Typer(help="API users and their bearer tokens.", no_args_is_help=True)


# -- serve ------------------------------------------------------------------------------------


def default_workers() -> int:
    """One server process per core: a request holds the interpreter's lock while it
    works, so one process serves from one core however many connections it holds.

    Several processes share the state database (SQLite in WAL mode or PostgreSQL),
    each tails the outbox for live progress, and each runs the runs it started on
    its own local pool; a run whose process died is taken back by the others.
    """
    return os.cpu_count() or 1


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Server processes, each with its own pool.",
            show_default="one per core",
        ),
    ] = default_workers(),
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    proxy_headers: Annotated[
        bool,
        typer.Option(
            "--proxy-headers",
            help="Behind a reverse proxy: take the client address from X-Forwarded-For "
            "(sent by the addresses of --forwarded-allow-ips).",
        ),
    ] = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated proxy addresses trusted with --proxy-headers "
            "(default 127.0.0.1; * trusts any).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (and live progress) with uvicorn."""
    check_port(host, port)
    settings = state_of(ctx).settings()
    _preflight(settings)
    run_server(
        settings,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy=Proxy(proxy_headers, forwarded_allow_ips),
    )


class Proxy:
    """Whether the server trusts a reverse proxy to say who the client is, and which one.

    The sign-in throttle counts per client address: behind a proxy every
    request comes from the proxy's address unless its X-Forwarded-For is read.
    """

    def __init__(self, headers: bool = False, allow_ips: str | None = None) -> None:
        if allow_ips is not None and not headers:
            raise InputError("--forwarded-allow-ips needs --proxy-headers")
        self.headers = headers
        self.allow_ips = allow_ips


def check_port(host: str, port: int) -> None:
    """Refuse a port taken (or an address not ours) before anything is set up or printed.

    uvicorn would find out only after the banner and the set-up, with a log
    line among others. The socket is bound as uvicorn binds it (address reuse
    on), so a port left in TIME_WAIT by a previous server still passes.
    """
    where = f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:  # socket.gaierror included
        reason = exc.strerror or str(exc)
        raise InputError(
            f"cannot listen on {where}: {reason}; choose another with --port or --host"
        ) from None


def _preflight(settings: Settings) -> None:
    """Build the engine once before forking: migrations run once, config errors read well."""
    from jobport.engine import Jobport

    Jobport(settings, warm=False).close()


def run_server(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    proxy: Proxy | None = None,
) -> None:
    """Run uvicorn over the app factory, the settings passed on in the environment."""
    import uvicorn

    from jobport.metrics import shared_folder

    proxy = proxy or Proxy()
    os.environ.update(settings_environment(settings))
    # Every server process and pool worker counts into one folder: /metrics adds them up.
    with shared_folder(settings.metrics):
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            proxy_headers=proxy.headers,
            forwarded_allow_ips=proxy.allow_ips,
        )


def settings_environment(settings: Settings) -> dict[str, str]:
    """The ``JOBPORT_*`` variables that recreate ``settings`` in another process."""
    env = {}
    for name, value in settings.model_dump(mode="json", exclude_none=True).items():
        if name in _SECRETS:
            value = getattr(settings, name).get_secret_value()
        if isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, dict | list):
            text = json.dumps(value)  # how pydantic-settings reads complex values back
        else:
            text = str(value)
        env[f"JOBPORT_{name.upper()}"] = text
    return env


# -- users ------------------------------------------------------------------------------------


@users_app.command("create")
def users_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user's name (recorded as runs' owner).")],
    admin: Annotated[bool, typer.Option("--admin", help="Sees and acts on every run.")] = False,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="A role, for job types restricted to roles (repeatable)."),
    ] = None,
) -> None:
    """Create an API user and print its bearer token (shown this once)."""
    from jobport.http.auth import hash_token, new_token
    from jobport.service import UserExists

    token = new_token()
    service = state_of(ctx).service(executor="inline")
    try:
        principal = service.create_user(
            operator(), name, hash_token(token), is_admin=admin, roles=role or ()
        )
    except UserExists:
        raise InputError(
            f"user '{name}' exists; give it a new token with `jobport users token`"
        ) from None
    roles = ", ".join(sorted(principal.roles)) or "none"
    err.print(f"created user {name} ({'admin' if admin else 'user'}; roles: {roles}); its token:")
    out.print(token)


@users_app.command("token")
def users_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user's name.")],
) -> None:
    """Give a user a new bearer token (the old one stops working) and print it."""
    from jobport.http.auth import hash_token, new_token

    service = state_of(ctx).service(executor="inline")
    token = new_token()
    if not service.replace_token(operator(), name, hash_token(token)):
        raise InputError(f"no user '{name}'; create it with `jobport users create {name}`")
    err.print(f"new token of {name}:")
    out.print(token)
