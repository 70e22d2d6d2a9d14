"""CLI commands of the export, sync and report kinds.

``jobport export``, ``jobport sync`` and ``jobport report`` start a run, show
its progress like ``jobport import`` does, and (for files) copy the result to
``--out``; ``jobport exports cleanup`` deletes result files past their expiry.
The shared helpers live in :mod:`jobport.cli` and are imported when a command
runs (this module is registered while that one is still loading).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from jobport.engine import Jobport
    from jobport.store import RunRecord

#: How long to wait, once a run has completed, for its file to be assembled.
RESULT_WAIT_SECONDS = 3600.0

exports_app = typer.Typer(help="Export and report files.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``jobport`` app."""
    app.command("export")(export_command)
    app.command("sync")(sync_command)
    app.command("report")(report_command)
    app.add_typer(exports_app, name="exports")


OptionList = Annotated[
    list[str] | None,
    typer.Option("--option", "-o", help="A type option as key=value (repeatable)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the final run as JSON.")]
Owner = Annotated[str | None, typer.Option(help="Record this owner on the run.")]
FileFormat = Annotated[
    str | None,
    typer.Option("--format", "-f", help="csv, xlsx, jsonl or parquet (default: the type's)."),
]


def export_command(
    ctx: typer.Context,
    job_type: Annotated[str, typer.Argument(metavar="TYPE", help="The export type.")],
    fmt: FileFormat = None,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the file (default: its name, here)."),
    ] = None,
    option: OptionList = None,
    owner: Owner = None,
    as_json: AsJson = False,
) -> None:
    """Export TYPE to a file, showing progress until it is written."""
    _run_to_file(ctx, job_type, fmt, out_path, option, owner, as_json, kind="export")


def report_command(
    ctx: typer.Context,
    job_type: Annotated[str, typer.Argument(metavar="TYPE", help="The report type.")],
    fmt: FileFormat = None,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the report (default: its name, here)."),
    ] = None,
    option: OptionList = None,
    owner: Owner = None,
    as_json: AsJson = False,
) -> None:
    """Run report TYPE and write its file; prints its summary (rows, totals)."""
    _run_to_file(ctx, job_type, fmt, out_path, option, owner, as_json, kind="report")


def sync_command(
    ctx: typer.Context,
    job_type: Annotated[str, typer.Argument(metavar="TYPE", help="The sync type.")],
    full: Annotated[
        bool, typer.Option("--full", help="Start from the beginning, not the stored cursor.")
    ] = False,
    option: OptionList = None,
    owner: Owner = None,
    as_json: AsJson = False,
) -> None:
    """Sync TYPE from its source, continuing after the last page synced."""
    from jobport.cli_common import finish_run, parse_options, progress_bar, state_of
    from jobport.dispatch import StartRequest

    engine = state_of(ctx).engine()
    _check_kind(engine, job_type, "sync")
    read = {"full": True} if full else {}
    with progress_bar(as_json) as on_update:
        run = engine.start(
            StartRequest(
                type=job_type,
                options=parse_options(option),
                owner=owner,
                read=read,
                is_admin=True,
            )
        )
        on_update(run)
        run = engine.wait(run.id, on_update=on_update)
    if run.finished and run.status.startswith("completed"):
        run = _wait_for_result(engine, run)
    finish_run(run, as_json)


@exports_app.command("cleanup")
def cleanup_command(
    ctx: typer.Context,
    as_json: AsJson = False,
) -> None:
    """Delete export and report files past their expiry."""
    from jobport.cli_common import out, print_json, state_of

    engine = state_of(ctx).engine(executor="inline")
    deleted = cleanup_expired(engine)
    if as_json:
        print_json({"deleted": deleted})
    else:
        out.print(f"{len(deleted)} expired file(s) deleted")


def cleanup_expired(engine: Jobport, *, now: dt.datetime | None = None) -> list[str]:
    """Delete the result files of export and report runs whose expiry has passed.

    The run keeps its result record, marked ``expired``, with no file key.
    Returns the ids of the runs whose file was deleted.
    """
    now = now or dt.datetime.now(dt.UTC)
    deleted: list[str] = []
    for kind in ("export", "report"):
        offset = 0
        while True:
            runs, _ = engine.store.runs_with_results(
                kind=kind, owner=None, limit=200, offset=offset
            )
            if not runs:
                break
            offset += len(runs)
            for run in runs:
                result = run.result or {}
                expires = _parse_time(result.get("expires_at"))
                if not run.result_key or expires is None or expires >= now:
                    continue
                engine.files.delete(run.result_key)
                engine.store.set_result(
                    run.id, "", {**result, "expired": True, "deleted_at": now.isoformat()}
                )
                deleted.append(run.id)
    return deleted


def _run_to_file(
    ctx: typer.Context,
    job_type: str,
    fmt: str | None,
    out_path: Path | None,
    option: list[str] | None,
    owner: str | None,
    as_json: bool,
    *,
    kind: str,
) -> None:
    from jobport.cli_common import (
        err,
        fail,
        finish_run,
        out,
        parse_options,
        print_json,
        progress_bar,
        state_of,
    )
    from jobport.dispatch import StartRequest

    engine = state_of(ctx).engine()
    _check_kind(engine, job_type, kind)
    with progress_bar(as_json) as on_update:
        run = engine.start(
            StartRequest(
                type=job_type,
                options=parse_options(option),
                owner=owner,
                format=fmt,
                is_admin=True,
            )
        )
        on_update(run)
        run = engine.wait(run.id, on_update=on_update)
    if not run.status.startswith("completed"):
        finish_run(run, as_json)
        return
    run = _wait_for_result(engine, run)
    result = run.result or {}
    if not run.result_key:
        fail(result.get("error") or "the run completed without a file", code=1)
    target = out_path or Path(str(result.get("filename") or Path(run.result_key).name))
    with open(target, "wb") as handle:
        engine.files.copy_out(run.result_key, handle)
    if as_json:
        print_json({**run.to_dict(), "out": str(target)})
        return
    out.print(
        f"run {run.id} [green]{run.status}[/]: {result.get('rows', 0):,} rows written to "
        f"{target} ({result.get('size', 0):,} bytes, {result.get('checksum', '')})"
    )
    summary = result.get("summary")
    if summary:
        totals = ", ".join(f"{k} {v:,}" for k, v in summary.get("totals", {}).items())
        err.print(
            f"summary: {summary.get('rows', 0):,} rows" + (f"; totals: {totals}" if totals else "")
        )


def _check_kind(engine: Jobport, job_type: str, kind: str) -> None:
    from jobport.errors import InputError

    found = engine.registry.get(job_type).kind
    if found != kind:
        raise InputError(f"'{job_type}' is {_a(found)} type, not {_a(kind)} type")


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _wait_for_result(engine: Jobport, run: RunRecord) -> RunRecord:
    """A completed run's file is assembled right after its last commit: wait for it.

    A run with no chunks (a sync with no new page) completed when it was
    planned: no commit, so no last step, and no result to wait for.
    """
    if run.chunks_total == 0:
        return run
    deadline = time.monotonic() + RESULT_WAIT_SECONDS
    while run.result is None and time.monotonic() < deadline:
        time.sleep(0.2)
        run = engine.run(run.id)
    return run


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
