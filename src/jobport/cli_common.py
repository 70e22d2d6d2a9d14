"""What the CLI's command modules share: the context object, consoles, progress, output.

Kept apart from ``cli.py`` so command modules import one copy of it even when
the CLI runs as ``python -m jobport.cli`` (where ``cli.py`` is ``__main__``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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

from jobport.engine import Jobport
from jobport.errors import ConfigurationError, InputError
from jobport.settings import Settings
from jobport.store import RunRecord

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class Context:
    overrides: dict[str, Any] = field(default_factory=dict)
    _engine: Jobport | None = None

    def settings(self) -> Settings:
        try:
            return Settings(**self.overrides)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            name = "JOBPORT_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
            raise ConfigurationError(f"{name}: {first['msg']}") from None

    def engine(self, **kwargs: Any) -> Jobport:
        if self._engine is None:
            self._engine = Jobport(self.settings(), **kwargs)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


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
