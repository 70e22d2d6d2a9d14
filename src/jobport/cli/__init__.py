"""The ``jobport`` command line: the Typer app, its global options and ``main``.

One module per group of commands (``imports``, ``dry_runs``, ``templates``,
``exports``, ``syncs``, ``schedules``, ``runs``, ``undo``, ``types``, ``server``,
``demo``, ``worker``, ``db``, ``prune``, ``webhooks``), over what they share
(``context``: the settings, the engine and service, the caller; ``output``: how
they speak; ``words``: the engine's hints as CLI options; ``files``: where they
write, ``--out`` checked first); this one puts
them together in the order ``jobport --help`` lists them. Commands call the
application layer (:class:`jobport.service.JobService`) as the local operator; the
status and history commands read the embedded SQLite file straight when they can
(``lean_runs``), the service answering all else.

Every error a user can cause ends as one line on stderr and a non-zero exit
code; a traceback is shown only with JOBPORT_DEBUG=1. Modules load only what
their commands use, when they run, so ``jobport --help`` answers at once.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.markup import escape

from jobport.cli import (
    db,
    demo,
    dry_runs,
    exports,
    imports,
    prune,
    runs,
    schedules,
    server,
    syncs,
    templates,
    types,
    undo,
    webhooks,
    worker,
)
from jobport.cli.context import (
    INTERRUPTED_EXIT_CODE,
    TERMINATED_EXIT_CODE,
    Context,
    Terminated,
    raise_terminated,
)
from jobport.cli.output import err, use_plain_usage
from jobport.cli.words import in_cli_words
from jobport.errors import JobportError


def main_options(
    ctx: typer.Context,
    app_module: Annotated[
        str | None,
        typer.Option(
            "--app", envvar="JOBPORT_APP", help="Module holding the job types (module[:attr])."
        ),
    ] = None,
    # The brackets are escaped: the help is rich markup, where "[env: ...]" vanishes as a tag.
    database_url: Annotated[
        str | None,
        typer.Option(help="State database URL \\[env: JOBPORT_DATABASE_URL].", show_default=False),
    ] = None,
    storage_url: Annotated[
        str | None,
        typer.Option(
            help="Storage folder or fsspec URL \\[env: JOBPORT_STORAGE_URL].", show_default=False
        ),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(help="local, inline or celery \\[env: JOBPORT_EXECUTOR].", show_default=False),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Local worker processes (0: one per core).", show_default=False),
    ] = None,
) -> None:
    overrides = {
        "app": app_module,
        "database_url": database_url,
        "storage_url": storage_url,
        "executor": executor,
        "workers": workers,
    }
    add_working_directory_to_path()
    given = {k: v for k, v in overrides.items() if v is not None}
    typed = [
        f"--{name.replace('_', '-')}={value}"
        for name, value in given.items()
        if _typed(ctx, "app_module" if name == "app" else name)
    ]
    state = Context(given, typed)
    ctx.obj = state
    ctx.with_resource(state)  # closed with the command; told of an interrupt to stop its runs


def _typed(ctx: typer.Context, parameter: str) -> bool:
    """Whether the option was given on the command line (Typer ships its own click: by name)."""
    source = ctx.get_parameter_source(parameter)
    return source is not None and source.name == "COMMANDLINE"


def add_working_directory_to_path() -> None:
    """Let ``--app`` name a module of the current folder, as uvicorn and celery do.

    ``python -m jobport.cli`` has the folder on ``sys.path`` already, the
    ``jobport`` script does not. The local pool's workers inherit the path.
    """
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)


# -- the commands, in the order of ``jobport --help`` -----------------------------------------

#: Each command's name and its function (or its group's Typer app).
COMMANDS: tuple[tuple[str, Callable[..., Any] | typer.Typer], ...] = (
    ("db", db.db_app),
    ("types", types.types_command),
    ("import", imports.import_command),
    ("run-import", dry_runs.run_import_command),
    ("template", templates.template_command),
    *((command.__name__, command) for command in runs.COMMANDS),
    ("undo", undo.undo_command),
    ("audit", undo.audit_command),
    ("demo-data", demo.demo_data),
    ("export", exports.export_command),
    ("sync", syncs.sync_command),
    ("report", exports.report_command),
    ("exports", exports.exports_app),
    ("schedules", schedules.schedules_app),
    ("webhooks", webhooks.webhooks_app),
    ("users", server.users_app),
    ("prune", prune.prune_command),
    ("serve", server.serve),
    ("demo", demo.demo),
)
#: The global options that take a value (``--app MODULE``): what comes before the command.
VALUED_OPTIONS = frozenset({"--app", "--database-url", "--storage-url", "--executor", "--workers"})


def build_app(only: str | None = None) -> typer.Typer:
    """The ``jobport`` app: every command, or only the command ``only`` (and the options).

    Typer builds a click command from every function it holds (their signatures,
    annotations and help) each time the app is called: a tenth of a second for
    all of them, which a command that needs one should not pay at every start.
    """
    target = typer.Typer(
        name="jobport",
        help="Import, export, sync and report jobs: chunked, tracked, resumable.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    target.callback()(main_options)
    for name, command in COMMANDS:
        if only is not None and name != only:
            continue
        if isinstance(command, typer.Typer):
            target.add_typer(command, name=name)
        else:
            target.command(name)(command)
    if only is None or only == "worker":
        worker.register(target)
    use_plain_usage(target)
    return target


#: The whole app: ``jobport --help``, an unknown command, and whoever calls it in-process.
app = build_app()


def invoked(args: list[str]) -> str | None:
    """The command ``args`` name, if it is one of :data:`COMMANDS` or the worker's; None for
    anything else (help, a mistyped name), which the whole app answers."""
    at = 0
    while at < len(args):
        arg = args[at]
        if not arg.startswith("-"):
            known = {name for name, _ in COMMANDS} | {"worker"}
            return arg if arg in known else None
        if arg in VALUED_OPTIONS:
            at += 2
        elif arg.split("=", 1)[0] in VALUED_OPTIONS:
            at += 1
        else:
            return None  # --help, or an option the whole app reports
    return None


# -- the entry point --------------------------------------------------------------------------


def _is_usage_error(exc: Exception) -> bool:
    """Typer ships its own click; recognise its usage errors by shape, not by class."""
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__) and hasattr(
        exc, "show"
    )


def main() -> None:
    """Console entry point: user errors become one line and an exit code.

    The process's heap is frozen on the way out: the interpreter's teardown then
    skips its collections over every object of SQLAlchemy, pydantic and the app,
    most of 0.1 s of every command (exit handlers and flushes still run).

    A command interrupted (Ctrl-C, SIGTERM) while this process still runs a chunk
    in its own thread (``Jobport.wait``'s, see ``one_chunk_here``) ends at once
    with its exit code, its output flushed. Left to the interpreter's teardown,
    that daemon thread is ended wherever it is, and inside pydantic-core's
    validation (native frames calling a Python validator) that aborts the whole
    process (SIGABRT, "FATAL: exception not rethrown") instead of exit 130.
    The run itself was already stopped and its pool closed.
    """
    code: object = 0
    escaped: BaseException | None = None
    try:
        _run_command()
    except SystemExit as exc:
        code = exc.code
        raise
    except BaseException as exc:  # JOBPORT_DEBUG=1 lets an error out, for its traceback
        escaped, code = exc, 1
        raise
    finally:
        gc.freeze()
        if _chunk_left_running():
            _end_now(code, escaped)


def _chunk_left_running() -> bool:
    """Whether a chunk still runs in this process's own thread: only a command that
    built an engine (so loaded the dispatcher) can have started one."""
    dispatch = sys.modules.get("jobport.dispatch")
    return dispatch is not None and dispatch.chunks_running_here() > 0


def _end_now(code: object, escaped: BaseException | None = None) -> None:
    """Exit with ``code`` as ``sys.exit`` would, without the interpreter's teardown;
    an error that ``escaped`` the command shown as the interpreter would show it."""
    if escaped is not None:
        import traceback  # only on this way out

        traceback.print_exception(escaped)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code or 0)


def _run_command() -> None:
    debug = os.environ.get("JOBPORT_DEBUG") == "1"
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        command = invoked(sys.argv[1:])
        runs_it = app if command is None else build_app(only=command)
        code = runs_it(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Terminated:
        sys.exit(TERMINATED_EXIT_CODE)
    except JobportError as exc:
        if debug:
            raise
        err.print(f"[red]error:[/] {escape(in_cli_words(exc.message))}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(INTERRUPTED_EXIT_CODE)
    except Exception as exc:  # a bug: say so plainly, keep the traceback for JOBPORT_DEBUG
        if debug:
            raise
        _exit_on_bug(exc)


def _exit_on_bug(exc: Exception) -> None:
    """Click's own usage errors and aborts as click shows them; anything else as one line."""
    if _is_usage_error(exc):
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    if type(exc).__name__ == "Abort":
        sys.exit(1)
    err.print(
        f"[red]internal error:[/] {type(exc).__name__}: {exc} "
        "(run with JOBPORT_DEBUG=1 for the traceback)",
        highlight=False,
    )
    sys.exit(70)


__all__ = ["COMMANDS", "Context", "app", "build_app", "main"]
