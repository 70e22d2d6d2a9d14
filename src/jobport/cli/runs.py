"""Commands over runs that exist: ``status``, ``history``, ``failures``, ``cancel``,
``resume`` and ``retry``.

Every run is named by its id or a unique start of it (a short id); the
service resolves it, so the same rule holds wherever an id is typed.
``status`` and ``history`` read the embedded SQLite file directly when they
can (:mod:`jobport.cli.lean_runs`), and print the same either way.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from jobport.cli import lean_runs
from jobport.cli.context import operator, state_of
from jobport.cli.files import check_out, writing
from jobport.cli.output import (
    CommandLine,
    describe_run,
    err,
    finish_run,
    out,
    print_json,
    progress_bar,
    status_markup,
    total_text,
)
from jobport.cli.words import in_cli_words

if TYPE_CHECKING:
    from jobport.cli.context import Context
    from jobport.store.records import RunRecord

RunId = Annotated[str, typer.Argument(metavar="ID")]
AsJson = Annotated[bool, typer.Option("--json")]


def resume(ctx: typer.Context, run_id: RunId, as_json: AsJson = False) -> None:
    """Continue a failed, cancelled or interrupted run from its unfinished chunks."""
    service, who = state_of(ctx).service(), operator()
    run_id = service.run_id(who, run_id)
    refuse_row_failures(service.run(who, run_id), state_of(ctx).command)
    with progress_bar(as_json) as on_update:
        run = service.resume(who, run_id)
        run = service.wait(who, run.id, on_update=on_update)
    finish_run(run, as_json, state_of(ctx).command)


def retry(ctx: typer.Context, run_id: RunId, as_json: AsJson = False) -> None:
    """Run again only the chunks of a run that failed."""
    service, who = state_of(ctx).service(), operator()
    run_id = service.run_id(who, run_id)
    refuse_row_failures(service.run(who, run_id), state_of(ctx).command)
    with progress_bar(as_json) as on_update:
        run = service.retry(who, run_id)
        run = service.wait(who, run.id, on_update=on_update)
    finish_run(run, as_json, state_of(ctx).command)


def refuse_row_failures(run: RunRecord, command: CommandLine) -> None:
    """An import that completed with failed rows has no chunk to run again: say the way
    forward, its error report corrected and imported as a retry of it."""
    from jobport.errors import RunStateError
    from jobport.lifecycle import RunStatus

    if run.kind != "import" or run.status != RunStatus.COMPLETED_WITH_ERRORS:
        return
    report = "failures.csv"
    write = command("failures", run.id, "--out", report)
    again = command("import", run.type, report, "--retry-of", run.id)
    raise RunStateError(
        f"run {run.id} completed with {run.failed:,} failed row(s); no chunk is left to run "
        f"again. Write them with `{write}`, correct them, then import the file with `{again}`"
    )


def cancel(ctx: typer.Context, run_id: RunId, as_json: AsJson = False) -> None:
    """Cancel a run: no new chunk starts; rows already committed stay."""
    service, who = state_of(ctx).service(executor="inline"), operator()
    run = service.cancel(who, service.run_id(who, run_id))
    if as_json:
        print_json(run.to_dict())
    else:
        out.print(f"run {run.id} cancelled after {run.processed:,} of {total_text(run)} rows")


def status(ctx: typer.Context, run_id: RunId, as_json: AsJson = False) -> None:
    """Show one run."""
    state = state_of(ctx)
    run = lean_runs.find_run(state, run_id)
    if run is None:  # not read from the SQLite file: the service's rules and messages
        service, who = state.service(executor="inline"), operator()
        run = service.run(who, service.run_id(who, run_id))
    show_run(run, as_json)


def show_run(run: RunRecord, as_json: bool) -> None:
    """``status``' answer: the run's lines, or its JSON."""
    from rich.table import Table

    if as_json:
        print_json(run.to_dict())
        return
    table = Table(show_header=False, box=None)
    for label, value in describe_run(run):
        table.add_row(f"[bold]{label}[/]", value)
    out.print(table)


def history(
    ctx: typer.Context,
    job_type: Annotated[str | None, typer.Option("--type", help="Only this job type.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    status_filter: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: AsJson = False,
) -> None:
    """List runs, newest first."""
    state = state_of(ctx)
    check_status(status_filter)
    filters = {"kind": kind, "type": job_type, "status": status_filter, "owner": owner}
    page = lean_runs.list_runs(state, filters, limit=limit)
    if page is None:  # not read from the SQLite file: the service's
        from jobport.store import RunFilter

        service = state.service(executor="inline")
        filtered = RunFilter(kind=kind, type=job_type, status=status_filter, owner=owner)
        page = service.history(operator(), filtered, limit=limit)
    if not page[0]:
        check_names(state, kind, job_type)
        if not as_json:
            out.print(no_runs(filters), markup=False, highlight=False)
            return
    show_runs(*page, as_json)


def check_status(status_filter: str | None) -> None:
    """Refuse a status no run can have, naming those it can."""
    from jobport.errors import InputError
    from jobport.lifecycle import RunStatus

    statuses = [str(status) for status in RunStatus]
    if status_filter is not None and status_filter not in statuses:
        raise InputError(f"unknown status '{status_filter}'; statuses: {', '.join(statuses)}")


def check_names(state: Context, kind: str | None, job_type: str | None) -> None:
    """No run matched: refuse a kind or a type the app does not have, as ``import`` does.

    Asked only then, so that the runs of a type since removed from the app still show.
    """
    from jobport.errors import InputError
    from jobport.registry import KINDS, load_registry

    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown kind '{kind}'; kinds: {', '.join(KINDS)}")
    if job_type is not None:
        load_registry(state.settings().app).get(job_type)


def no_runs(filters: dict[str, str | None]) -> str:
    """The one line of a history with no run: "no runs", or "no runs with --type T"."""
    given = [f"--{name} {value}" for name, value in filters.items() if value is not None]
    return "no runs" + (f" with {' '.join(given)}" if given else "")


def show_runs(runs: list[RunRecord], count: int, as_json: bool) -> None:
    """``history``' answer: a table of the page of runs out of ``count``, or their JSON.

    A terminal too narrow for the table (a run id is 36 characters) gets each run
    on two lines instead, so nothing is cut short: the id and when, then what.
    """
    from rich import box
    from rich.table import Table

    if as_json:
        print_json([run.to_dict() for run in runs])
        return
    title = f"{len(runs)} of {count} runs"
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    # Ids are what people copy into other commands: never cut.
    table.add_column("id", no_wrap=True, min_width=max((len(run.id) for run in runs), default=2))
    for column in ("type", "kind", "status", "processed", "failed", "created"):
        table.add_column(column, no_wrap=True)
    for run in runs:
        table.add_row(
            run.id,
            run.type,
            run.kind,
            status_markup(run.status),
            f"{run.processed:,}/{total_text(run)}",
            f"{run.failed:,}",
            _when(run),
        )
    if out.measure(table, options=out.options.update_width(1 << 16)).maximum <= out.width:
        out.print(table)
        return
    out.print(title)
    for run in runs:
        out.print(f"{run.id}  {_when(run)}", no_wrap=True, overflow="ignore")
        out.print(
            f"  {escape(run.type)} ({run.kind}) {status_markup(run.status)}: "
            f"{run.processed:,} of {total_text(run)} rows, {run.failed:,} failed"
        )


def _when(run: RunRecord) -> str:
    return run.created_at.strftime("%Y-%m-%d %H:%M:%S")


def failures(
    ctx: typer.Context,
    run_id: RunId,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="Write the error report here (default: standard output)."),
    ] = None,
) -> None:
    """Write the error report of a run: the original columns, the line and the error."""
    from jobport.reports import write_rows

    if out_path is not None:
        check_out(out_path)
    service, who = state_of(ctx).service(executor="inline"), operator()
    run = service.run(who, service.run_id(who, run_id))
    rows, delimiter = service.error_report(who, run.id), service.error_report_delimiter(run)
    rows = ([*row[:-1], in_cli_words(row[-1])] for row in rows)  # its hints as CLI options
    if out_path is None:
        write_rows(rows, sys.stdout, delimiter)
        return
    # utf-8-sig: the file starts with the byte order mark a spreadsheet reads as UTF-8.
    with writing(out_path), open(out_path, "w", newline="", encoding="utf-8-sig") as handle:
        count = write_rows(rows, handle, delimiter)
    err.print(f"{count:,} failed row(s) written to {out_path}")


#: The commands of this module, in the order of ``jobport --help``.
COMMANDS = (resume, retry, cancel, status, history, failures)
