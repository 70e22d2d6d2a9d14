"""CLI commands of the HTTP face: ``serve``, ``demo`` and ``users``.

The server runs under uvicorn from an import string (``app_from_env``), so
``--workers N`` starts N independent processes; the settings reach them as
``JOBPORT_*`` environment variables, the one way every process reads them.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.console import Console

if TYPE_CHECKING:
    from jobport.cli_common import Context
    from jobport.settings import Settings

APP_FACTORY = "jobport.server:app_from_env"
DEMO_USER = "admin"

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``jobport`` app."""
    users = typer.Typer(help="API users and their bearer tokens.", no_args_is_help=True)
    app.add_typer(users, name="users")
    app.command("serve")(serve)
    app.command("demo")(demo)
    users.command("create")(users_create)
    users.command("token")(users_token)


def _context(ctx: typer.Context) -> Context:
    """The CLI's shared state, set by the ``jobport`` callback.

    Looked up without ``isinstance``: under ``python -m jobport.cli`` its
    class lives in ``__main__``, not in ``jobport.cli``.
    """
    state = ctx.find_root().obj
    assert hasattr(state, "overrides"), "the jobport callback sets it"
    return cast("Context", state)


# -- serve ------------------------------------------------------------------------------------


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Server processes (each with its own pool).")
    ] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the HTTP API (and live progress) with uvicorn."""
    check_port(host, port)
    settings = _context(ctx).settings()
    _preflight(settings)
    _run_server(settings, host=host, port=port, workers=workers, log_level=log_level)


def check_port(host: str, port: int) -> None:
    """Refuse a port taken (or an address not ours) before anything is set up or printed.

    uvicorn would find out only after the banner and the set-up, with a log
    line among others. The socket is bound as uvicorn binds it (address reuse
    on), so a port left in TIME_WAIT by a previous server still passes.
    """
    from jobport.errors import InputError

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


def _run_server(settings: Settings, *, host: str, port: int, workers: int, log_level: str) -> None:
    import uvicorn

    os.environ.update(settings_environment(settings))
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=False,
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


#: Settings held as SecretStr: passed on in clear to the processes we start.
_SECRETS = ("secret_key",)


# -- demo -------------------------------------------------------------------------------------


def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Option("--dir", help="Working folder: database, files, sample data.")
    ] = Path("jobport-demo"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    rows: Annotated[int, typer.Option(min=1, help="Rows of the sample file.")] = 50_000,
    dirty: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of bad rows.")] = 0.02,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Start the embedded demo: SQLite, local files and workers, a sample file, an admin token."""
    check_port(host, port)
    state = _context(ctx)
    directory = directory.resolve()
    sample, token, settings = prepare_demo(state, directory, rows=rows, dirty=dirty)
    url = f"http://{host}:{port}"
    out.print(f"[bold]jobport demo[/] in {directory}")
    out.print(f"  dashboard  {url}/   (sign in with the token below)")
    out.print(f"  API        {url}/api   (docs: {url}/docs)")
    out.print(f"  user       {DEMO_USER} (admin)")
    out.print(f"  token      {token}")
    out.print(f"  sample     {sample}")
    out.print("Import the sample and follow it:")
    out.print(
        f'  curl -H "Authorization: Bearer {token}" -F file=@{sample} {url}/api/imports/customers'
    )
    out.print(f'  curl -N -H "Authorization: Bearer {token}" {url}/api/jobs/<id>/events')
    out.print("See and drive the demo's runs from the command line:")
    out.print(f"  {cli_for(settings)} history", markup=False)
    sys.stdout.flush()
    _run_server(settings, host=host, port=port, workers=1, log_level=log_level)


def cli_for(settings: Settings) -> str:
    """The ``jobport`` options that reach the app, database and files of ``settings``."""
    options = ["--app", settings.app or "", "--database-url", settings.database_url]
    options += ["--storage-url", settings.storage_url]
    return shlex.join(["jobport", *options])


def prepare_demo(
    state: Context, directory: Path, *, rows: int = 50_000, dirty: float = 0.02
) -> tuple[Path, str, Settings]:
    """Set up the demo folder; returns the sample file, a fresh admin token and the settings.

    Running it again keeps the data and the sample and gives the admin a new
    token (tokens are stored hashed, so the old one cannot be shown again).
    """
    from jobport.demo.data import write_csv
    from jobport.engine import Jobport
    from jobport.http.auth import create_user, hash_token, new_token

    directory.mkdir(parents=True, exist_ok=True)
    defaults = {
        "database_url": f"sqlite:///{directory / 'jobport.db'}",
        "storage_url": str(directory / "files"),
        "app": "jobport.demo",
        "executor": "local",
    }
    state.overrides = {**defaults, **state.overrides}
    settings = state.settings()
    sample = directory / "customers.csv"
    if not sample.exists():
        write_csv(sample, rows, dirty=dirty)
    with Jobport(settings, warm=False) as engine:
        if engine.store.user_exists(DEMO_USER):
            token = new_token()
            engine.store.set_user_token(DEMO_USER, hash_token(token))
        else:
            _, token = create_user(engine.store, DEMO_USER, is_admin=True)
    return sample, token, settings


# -- users ------------------------------------------------------------------------------------


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
    from jobport.errors import InputError
    from jobport.http.auth import create_user

    engine = _context(ctx).engine(executor="inline")
    if engine.store.user_exists(name):
        raise InputError(f"user '{name}' exists; give it a new token with `jobport users token`")
    principal, token = create_user(engine.store, name, is_admin=admin, roles=role or ())
    roles = ", ".join(sorted(principal.roles)) or "none"
    err.print(f"created user {name} ({'admin' if admin else 'user'}; roles: {roles}); its token:")
    out.print(token)


def users_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user's name.")],
) -> None:
    """Give a user a new bearer token (the old one stops working) and print it."""
    from jobport.errors import InputError
    from jobport.http.auth import hash_token, new_token

    engine = _context(ctx).engine(executor="inline")
    token = new_token()
    if not engine.store.set_user_token(name, hash_token(token)):
        raise InputError(f"no user '{name}'; create it with `jobport users create {name}`")
    err.print(f"new token of {name}:")
    out.print(token)
