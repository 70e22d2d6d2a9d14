"""The ``jobport`` command line: Typer commands over the engine, rich progress bars.

Every error a user can cause ends as one line on stderr and a non-zero exit
code; a traceback is shown only with JOBPORT_DEBUG=1.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from jobport import cli_kinds, cli_server
from jobport.cli import worker as cli_worker
from jobport.cli_common import (
    TERMINATED_EXIT_CODE,
    Context,
    Terminated,
    describe_run,
    err,
    finish_run,
    out,
    parse_options,
    print_json,
    progress_bar,
    raise_terminated,
    resolve_run_id,
    state_of,
    status_markup,
    total_text,
    use_plain_usage,
)
from jobport.dispatch import StartRequest
from jobport.errors import InputError, JobportError
from jobport.store import RunFilter

app = typer.Typer(
    name="jobport",
    help="Import, export, sync and report jobs: chunked, tracked, resumable.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The state database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback()
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


# -- job types --------------------------------------------------------------------------------


@app.command("types")
def types_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the job types of the app, grouped by kind."""
    from jobport.registry import load_registry

    registry = load_registry(state_of(ctx).settings().app)
    if as_json:
        items = []
        for job_type in registry:
            item = job_type.summary()
            item["columns"] = job_type.columns()
            item["options_schema"] = job_type.options_json_schema()
            items.append(item)
        print_json(items)
        return
    if not len(registry):
        err.print("no job types: point --app (or JOBPORT_APP) at the module that declares them")
        return
    table = Table("type", "label", "kind", "strategy", "formats", "model", "from")
    for kind, job_types in registry.grouped().items():
        for job_type in job_types:
            summary = job_type.summary()
            table.add_row(
                job_type.type,
                job_type.label,
                kind,
                job_type.strategy,
                ", ".join(job_type.formats),
                summary["model"] or "",
                job_type.origin,
            )
    out.print(table)


# -- running ----------------------------------------------------------------------------------


@app.command("import")
def import_command(
    ctx: typer.Context,
    job_type: Annotated[str, typer.Argument(metavar="TYPE", help="The import type.")],
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The file to import.")],
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="A type option as key=value (repeatable)."),
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="The file's encoding (default UTF-8).")
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="The field delimiter (default: sniffed).")
    ] = None,
    retry_of: Annotated[
        str | None, typer.Option(help="Import corrected failures of this run, linked to it.")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Record this owner on the run.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final run as JSON.")] = False,
) -> None:
    """Import FILE with job type TYPE, showing progress until the run ends."""
    engine = state_of(ctx).engine()
    engine.registry.get(job_type)  # an unknown type is the first thing to say
    if not file.is_file():
        raise InputError(f"{file}: no such file")
    read = {k: v for k, v in {"encoding": encoding, "delimiter": delimiter}.items() if v}
    if retry_of is not None:
        retry_of = resolve_run_id(engine, retry_of)
    with progress_bar(as_json) as on_update:
        run = engine.start(
            StartRequest(
                is_admin=True,  # whoever runs the CLI holds the database itself
                type=job_type,
                options=parse_options(option),
                owner=owner,
                read=read,
                retry_of=retry_of,
                source_name=file.name,
            ),
            path=file,
        )
        on_update(run)
        run = engine.wait(run.id, on_update=on_update)
    finish_run(run, as_json)


@app.command()
def resume(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Continue a failed, cancelled or interrupted run from its unfinished chunks."""
    engine = state_of(ctx).engine()
    run_id = resolve_run_id(engine, run_id)
    with progress_bar(as_json) as on_update:
        run = engine.wait(engine.resume(run_id).id, on_update=on_update)
    finish_run(run, as_json)


@app.command()
def retry(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run again only the chunks of a run that failed."""
    engine = state_of(ctx).engine()
    run_id = resolve_run_id(engine, run_id)
    with progress_bar(as_json) as on_update:
        run = engine.wait(engine.retry(run_id).id, on_update=on_update)
    finish_run(run, as_json)


@app.command()
def cancel(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Cancel a run: no new chunk starts; rows already committed stay."""
    engine = state_of(ctx).engine(executor="inline")
    run = engine.cancel(resolve_run_id(engine, run_id))
    if as_json:
        print_json(run.to_dict())
    else:
        out.print(f"run {run.id} cancelled after {run.processed:,} of {total_text(run)} rows")


# -- looking at runs --------------------------------------------------------------------------


@app.command()
def status(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show one run."""
    engine = state_of(ctx).engine(executor="inline")
    run = engine.run(resolve_run_id(engine, run_id))
    if as_json:
        print_json(run.to_dict())
        return
    table = Table(show_header=False, box=None)
    for label, value in describe_run(run):
        table.add_row(f"[bold]{label}[/]", value)
    out.print(table)


@app.command()
def history(
    ctx: typer.Context,
    job_type: Annotated[str | None, typer.Option("--type", help="Only this job type.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    status_filter: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List runs, newest first."""
    engine = state_of(ctx).engine(executor="inline")
    runs, count = engine.store.list_runs(
        RunFilter(kind=kind, type=job_type, status=status_filter, owner=owner), limit=limit
    )
    if as_json:
        print_json([run.to_dict() for run in runs])
        return
    table = Table(title=f"{len(runs)} of {count} runs", box=box.SIMPLE_HEAD, pad_edge=False)
    # Ids are what people copy into other commands: never cut, the other columns wrap.
    table.add_column("id", no_wrap=True, min_width=max((len(run.id) for run in runs), default=2))
    for column in ("type", "kind", "status", "processed", "failed", "created"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            run.id,
            run.type,
            run.kind,
            status_markup(run.status),
            f"{run.processed:,}/{total_text(run)}",
            f"{run.failed:,}",
            run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    out.print(table)


@app.command()
def failures(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="ID")],
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="Write the error report here (default: standard output)."),
    ] = None,
) -> None:
    """Write the error report of a run: the original columns, the line and the error."""
    from jobport.reports import write_report

    engine = state_of(ctx).engine(executor="inline")
    run = engine.run(resolve_run_id(engine, run_id))
    if out_path is None:
        write_report(engine.store, run, sys.stdout)
        return
    with open(out_path, "w", newline="", encoding="utf-8") as handle:
        count = write_report(engine.store, run, handle)
    err.print(f"{count:,} failed row(s) written to {out_path}")


# -- set-up -----------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the state tables."""
    from jobport.store import make_engine
    from jobport.store.migrations import current, upgrade

    database = make_engine(state_of(ctx).settings().database_url)
    try:
        upgrade(database)
        out.print(f"state tables at revision {current(database)}")
    finally:
        database.dispose()


@app.command("demo-data")
def demo_data(
    rows: Annotated[int, typer.Option(min=0, help="How many rows.")] = 10_000,
    dirty: Annotated[float, typer.Option(min=0.0, max=1.0, help="Fraction of invalid rows.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the CSV.")] = Path(
        "customers.csv"
    ),
) -> None:
    """Write a customers CSV for the demo app, with a chosen fraction of bad rows."""
    from jobport.demo.data import write_csv

    invalid = write_csv(out_path, rows, dirty=dirty, seed=seed)
    err.print(f"wrote {rows:,} rows ({invalid:,} invalid) to {out_path}")


# -- the other faces' commands ----------------------------------------------------------------

cli_kinds.register(app)
cli_server.register(app)
cli_worker.register(app)
use_plain_usage(app)


# -- helpers ----------------------------------------------------------------------------------


def _is_usage_error(exc: Exception) -> bool:
    """Typer ships its own click; recognise its usage errors by shape, not by class."""
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__) and hasattr(
        exc, "show"
    )


def main() -> None:
    """Console entry point: user errors become one line and an exit code."""
    debug = os.environ.get("JOBPORT_DEBUG") == "1"
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Terminated:
        sys.exit(TERMINATED_EXIT_CODE)
    except JobportError as exc:
        if debug:
            raise
        err.print(f"[red]error:[/] {escape(exc.message)}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug: say so plainly, keep the traceback for JOBPORT_DEBUG
        if debug:
            raise
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
