"""What the CLI's command modules share: the context object, consoles, progress, output.

Kept apart from ``cli.py`` so command modules import one copy of it even when
the CLI runs as ``python -m jobport.cli`` (where ``cli.py`` is ``__main__``).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from typer.core import TyperArgument, TyperCommand

from jobport.dispatch import dispatcher_id
from jobport.engine import Jobport
from jobport.errors import ConfigurationError, InputError, RunNotFound, RunStateError
from jobport.logs import log_in_one_line
from jobport.settings import Settings
from jobport.store import RunRecord

#: How many candidates an ambiguous short id lists.
SHOWN_CANDIDATES = 5
#: Exit code of a run stopped by SIGTERM (128 + 15), as shells report it.
TERMINATED_EXIT_CODE = 143

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so the CLI stops as it does on Ctrl-C.

    A BaseException, like KeyboardInterrupt, so no ``except Exception`` on
    the way (a chunk's failure handling, say) mistakes it for an error.
    """


def raise_terminated(signum: int, frame: FrameType | None) -> NoReturn:
    """The CLI's SIGTERM handler: unwind like Ctrl-C, so the pool is ended, not orphaned."""
    raise Terminated


@dataclass
class Context:
    """The CLI's settings and engine; entered for the command, so an interrupt stops its runs."""

    overrides: dict[str, Any] = field(default_factory=dict)
    #: The options as typed on the command line (not those read from the environment).
    typed: list[str] = field(default_factory=list)
    _engine: Jobport | None = None

    def __enter__(self) -> Context:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if isinstance(exc, KeyboardInterrupt | Terminated):
                self._stop_runs("terminated" if isinstance(exc, Terminated) else "interrupted")
        finally:
            self.close()

    def _stop_runs(self, why: str) -> None:
        if self._engine is None:
            err.print(why)
            return
        engine = self._engine
        if engine.executor_name == "celery":
            for run in own_active_runs(engine):
                err.print(
                    f"{why}: run {run.id} goes on in the Celery workers; follow it with "
                    f"`{self.command('status', run.id)}`, stop it with "
                    f"`{self.command('cancel', run.id)}`"
                )
            return
        stopped = stop_own_runs(engine)
        for run in stopped:
            err.print(
                f"{why}: run {run.id} stopped after {run.processed:,} of {total_text(run)} "
                f"rows; continue it with `{self.command('resume', run.id)}`"
            )
        if not stopped:
            err.print(why)

    def command(self, *args: str) -> str:
        """The ``jobport`` command line running ``args`` with the options typed for this one."""
        return shlex.join(["jobport", *self.typed, *args])

    def settings(self) -> Settings:
        try:
            return Settings(**self.overrides)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            name = "JOBPORT_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
            raise ConfigurationError(f"{name}: {first['msg']}") from None

    def engine(self, **kwargs: Any) -> Jobport:
        if self._engine is None:
            if os.environ.get("JOBPORT_DEBUG") != "1":
                log_in_one_line()  # before the engine starts its worker processes
            self._engine = Jobport(self.settings(), **kwargs)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def own_active_runs(engine: Jobport) -> list[RunRecord]:
    """The unfinished runs this process dispatched."""
    me = dispatcher_id()
    return [run for run in engine.store.active_runs() if run.dispatcher == me]


def stop_own_runs(engine: Jobport) -> list[RunRecord]:
    """After Ctrl-C or SIGTERM: stop this process's runs at once, leaving them resumable.

    The worker processes are ended rather than waited for, the chunks they held
    are put back without counting an attempt (the user stopped them, not their
    input), and each run is cancelled: ``jobport resume`` continues it from its
    unfinished chunks, and nothing is left ``running`` with no process behind it.
    """
    engine.stop_sweeper()
    terminate = getattr(engine.executor, "terminate", None)
    if terminate is not None:
        terminate()
    engine.store.lose_leases({dispatcher_id(): None})
    stopped = []
    for run in own_active_runs(engine):
        try:
            stopped.append(engine.cancel(run.id))
        except RunStateError:
            continue  # it ended meanwhile
    return stopped


def resolve_run_id(engine: Jobport, given: str) -> str:
    """The full id of the run ``given`` names: its id or a unique start of it (a short id)."""
    if engine.store.find_run(given) is not None:
        return given
    found = engine.store.run_ids_starting_with(given, limit=SHOWN_CANDIDATES + 1) if given else []
    if not found:
        raise RunNotFound(given)
    if len(found) == 1:
        return found[0]
    listed = ", ".join(found[:SHOWN_CANDIDATES]) + (
        ", ..." if len(found) > SHOWN_CANDIDATES else ""
    )
    raise InputError(f"'{given}' starts the ids of several runs ({listed}): give more of it")


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


def state_of(ctx: typer.Context) -> Context:
    state = ctx.find_root().obj
    assert isinstance(state, Context)
    return state


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"option '{pair}' is not key=value")
        options[key.strip()] = value
    return options


@contextmanager
def progress_bar(quiet: bool) -> Iterator[Callable[[RunRecord], None]]:
    if quiet or not err.is_terminal:
        yield lambda run: None
        return
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


def finish_run(run: RunRecord, as_json: bool) -> None:
    for warning in run.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", markup=True, highlight=False)
    if as_json:
        print_json(run.to_dict())
    else:
        out.print(
            f"run {run.id} {status_markup(run.status)}: {run.processed:,} of "
            f"{total_text(run)} rows, {run.failed:,} failed"
            + (f" (see: jobport failures {run.id})" if run.failed else "")
        )
    if run.status not in ("completed", "completed_with_errors"):
        fail(run.error or f"run ended {run.status}", code=1)


def describe_run(run: RunRecord) -> list[tuple[str, str]]:
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
    if run.rows_per_second:
        rows.append(("rate", f"{run.rows_per_second:,.0f} rows/s"))
    if run.source_name:
        rows.append(("file", run.source_name))
    if run.owner:
        rows.append(("owner", run.owner))
    if run.error:
        rows.append(("error", run.error))
    for warning in run.warnings:
        rows.append(("warning", warning))
    if run.retry_of:
        rows.append(("retry of", run.retry_of))
    if run.retried_by:
        rows.append(("retried by", ", ".join(run.retried_by)))
    return rows


def total_text(run: RunRecord) -> str:
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
    sys.stdout.write(json.dumps(value, default=str) + "\n")


def fail(message: str, *, code: int) -> NoReturn:
    err.print(f"[red]error:[/] {escape(message)}", markup=True, highlight=False)
    raise typer.Exit(code)
