"""How the CLI speaks: its consoles, the progress bar, a run as lines, JSON, errors, usage.

Everything a command prints goes through here, so every command says a run,
a status and an error the same way: results on standard output, progress,
warnings and errors on standard error.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from typer.core import TyperArgument, TyperCommand

from jobport.cli.words import in_cli_words

if TYPE_CHECKING:
    from jobport.store import RunRecord

#: Writes a ``jobport`` command line for given arguments (see ``Context.command``).
CommandLine = Callable[..., str]

#: How wide a table may be on standard output that is not a terminal (a pipe, a file):
#: wide enough for any row, so that none is wrapped or cut at 80 columns.
PIPED_WIDTH = 10_000


class PipedWide(Console):
    """A console that, writing to a pipe or a file, lays tables out as wide as they are.

    Rich gives a console that is no terminal 80 columns (or the terminal's, if another
    stream is one): a table piped to ``cat`` or ``grep`` then splits its words and cuts
    its ids. ``COLUMNS``, when set, still says the width.
    """

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self.is_terminal or "COLUMNS" in os.environ or self._width is not None:
            return size
        return ConsoleDimensions(PIPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


out = PipedWide(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def progress_bar(quiet: bool) -> Iterator[Callable[[RunRecord], None]]:
    """A callback drawing the run's progress on standard error (a terminal only)."""
    if quiet or not err.is_terminal:
        yield lambda run: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TextColumn("ETA {task.fields[eta]}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as progress:
        task = progress.add_task("queued", total=None, rate="-", eta="-")

        def update(run: RunRecord) -> None:
            progress.update(
                task,
                description=f"{run.type} {run.status}",
                total=run.total,
                completed=run.processed,
                rate=f"{run.rows_per_second:,.0f}" if run.rows_per_second else "-",
                eta=f"{run.eta_seconds:.0f}s" if run.eta_seconds is not None else "-",
            )

        yield update


def finish_run(run: RunRecord, as_json: bool, command: CommandLine) -> None:
    """Say how a run ended (its warnings first); a run that did not complete exits 1.

    ``command`` writes the hint's command line with the global options the user
    typed (``--app``, ``--database-url``...), so that it runs as shown.
    """
    from jobport.lifecycle import COMPLETED_STATUSES

    for warning in run.warnings:
        err.print(
            f"[yellow]warning:[/] {escape(in_cli_words(warning))}", markup=True, highlight=False
        )
    see = f" (see: {command('failures', run.id)})" if run.failed else ""
    if as_json:
        print_json(run.to_dict())
    elif run.dry_run:
        show_dry_run(run, see, command)
    elif run.total is None and not run.processed and run.error is not None:
        # Refused before a row was read (the file, its header): the error says it all.
        out.print(f"run {run.id} {status_markup(run.status)} before reading any row")
    else:
        counted = counts_text(run)
        out.print(
            f"run {run.id} {status_markup(run.status)}: {run.processed:,} of "
            f"{total_text(run)} rows, {run.failed:,} failed"
            + (f"; {counted}" if counted else "")
            + escape(see)
        )
    if run.status not in COMPLETED_STATUSES:
        fail(run.error or f"run ended {run.status}", code=1)


def counts_text(run: RunRecord) -> str:
    """What an import did to the table's rows ("600 created, 380 updated, 20 unchanged");
    "" for runs that do not count them."""
    if run.created is None:
        return ""
    updated, unchanged = run.updated or 0, run.unchanged or 0
    return f"{run.created:,} created, {updated:,} updated, {unchanged:,} unchanged"


def show_dry_run(run: RunRecord, see: str, command: CommandLine) -> None:
    """A dry run's outcome, then, if it completed with valid rows, how to import them."""
    from jobport.lifecycle import COMPLETED_STATUSES

    out.print(dry_run_line(run) + see, markup=False, highlight=False)
    if run.status in COMPLETED_STATUSES and run.processed > run.failed:
        out.print(f"import it with: {command('run-import', run.id)}", markup=False)


def dry_run_line(run: RunRecord) -> str:
    """A dry run's outcome: "dry run ID: 1,000 rows: 980 valid (would create 600, update 360,
    leave 20 unchanged), 20 failed; nothing was written"."""
    would = (
        f" (would create {run.created:,}, update {run.updated or 0:,}, "
        f"leave {run.unchanged or 0:,} unchanged)"
        if run.created is not None
        else ""
    )
    return (
        f"dry run {run.id}: {rows_text(run.processed)}: {run.processed - run.failed:,} "
        f"valid{would}, {run.failed:,} failed; nothing was written"
    )


def rows_text(count: int) -> str:
    """``1 row``, ``2 rows``, ``1,000 rows``."""
    return f"{count:,} row" + ("" if count == 1 else "s")


def describe_run(run: RunRecord) -> list[tuple[str, str]]:
    """The run as label/value lines, those with nothing to say left out."""
    rows = [
        ("id", run.id),
        ("type", f"{run.type} ({run.kind})"),
        ("status", status_markup(run.status)),
        ("rows", f"{run.processed:,} of {total_text(run)} processed, {run.failed:,} failed"),
        ("chunks", f"{run.chunks_done} of {run.chunks_total} done"),
        ("created", run.created_at.isoformat()),
        ("started", run.started_at.isoformat() if run.started_at else "-"),
        ("finished", run.finished_at.isoformat() if run.finished_at else "-"),
    ]
    if run.dry_run:
        rows.append(("dry run", "yes: validated and counted; nothing was written"))
    if counts_text(run):
        rows.append(("outcome", ("would be: " if run.dry_run else "") + counts_text(run)))
    if run.rows_per_second:
        rows.append(("rate", f"{run.rows_per_second:,.0f} rows/s"))
    optional = [
        ("file", run.source_name),
        ("owner", run.owner),
        ("error", in_cli_words(run.error) if run.error else None),
    ]
    rows.extend((label, value) for label, value in optional if value)
    rows.extend(("warning", in_cli_words(warning)) for warning in run.warnings)
    if run.retry_of:
        rows.append(("retry of", run.retry_of))
    if run.retried_by:
        rows.append(("retried by", ", ".join(run.retried_by)))
    return rows


def total_text(run: RunRecord) -> str:
    """The run's row count, or ``?`` while it is not known (a sync still paging)."""
    return f"{run.total:,}" if run.total is not None else "?"


def status_markup(status: str) -> str:
    colour = {
        "completed": "green",
        "completed_with_errors": "yellow",
        "failed": "red",
        "cancelled": "magenta",
        "running": "cyan",
    }.get(status, "white")
    return f"[{colour}]{status}[/]"


def print_json(value: Any) -> None:
    """One line of JSON on standard output: what ``--json`` promises scripts."""
    sys.stdout.write(json.dumps(value, default=str) + "\n")


def fail(message: str, *, code: int) -> NoReturn:
    """End the command with one error line on standard error and ``code``."""
    err.print(f"[red]error:[/] {escape(in_cli_words(message))}", markup=True, highlight=False)
    raise typer.Exit(code)


class PlainUsage(TyperCommand):
    """Arguments in the usage line as ``TYPE FILE``, as click shows them, not ``{TYPE} {file}``."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if not isinstance(param, TyperArgument):
                pieces.extend(param.get_usage_pieces(ctx))
                continue
            name = param.display_name_raw.upper()
            name = name if param.required else f"[{name}]"
            pieces.append(name + ("..." if param.nargs != 1 else ""))
        return pieces


def use_plain_usage(app: typer.Typer) -> None:
    """Give every command of ``app`` and its sub-apps the :class:`PlainUsage` usage line."""
    for command in app.registered_commands:
        if command.cls in (None, TyperCommand):
            command.cls = PlainUsage
    for group in app.registered_groups:
        if group.typer_instance is not None:
            use_plain_usage(group.typer_instance)
