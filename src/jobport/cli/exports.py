"""Commands that leave a file: ``export``, ``report`` and ``exports cleanup``.

``jobport export`` and ``jobport report`` start a run, show its progress like
``jobport import`` does, and copy the result to ``--out``; ``jobport exports
cleanup`` deletes result files past their expiry.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jobport.cli.context import operator, parse_options, state_of
from jobport.cli.files import check_out, writing
from jobport.cli.output import err, fail, finish_run, out, print_json, progress_bar

if TYPE_CHECKING:
    from jobport.principal import Principal
    from jobport.registry import JobType
    from jobport.service import JobService
    from jobport.store import RunRecord

#: How long to wait, once a run has completed, for its file to be assembled.
RESULT_WAIT_SECONDS = 3600.0

exports_app = typer.Typer(help="Export and report files.", no_args_is_help=True)

OptionList = Annotated[
    list[str] | None,
    typer.Option("--option", "-o", help="A type option as key=value (repeatable)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the final run as JSON.")]
Owner = Annotated[str | None, typer.Option(help="Record this owner on the run.")]
FileFormat = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="csv, xlsx, jsonl or parquet (default: from --out's extension, else the type's).",
    ),
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


@exports_app.command("cleanup")
def cleanup_command(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Delete export and report files past their expiry."""
    service = state_of(ctx).service(executor="inline")
    deleted = service.delete_expired_results(operator())
    if as_json:
        print_json({"deleted": deleted})
    else:
        out.print(f"{len(deleted)} expired file(s) deleted")


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
    from jobport.lifecycle import COMPLETED_STATUSES

    check_out(out_path)
    service, who = state_of(ctx).service(), operator(owner)
    check_kind(service, job_type, kind)
    fmt = chosen_format(service.job_type(job_type), fmt, out_path)
    with progress_bar(as_json) as on_update:
        run = service.start_export(who, job_type, options=parse_options(option), format=fmt)
        on_update(run)
        run = service.wait(who, run.id, on_update=on_update)
    if run.status not in COMPLETED_STATUSES:
        finish_run(run, as_json, state_of(ctx).command)
        return
    run = wait_for_result(service, who, run)
    result = run.result or {}
    if not run.result_key:
        fail(result.get("error") or "the run completed without a file", code=1)
    target = out_path or Path(str(result.get("filename") or Path(run.result_key).name))
    with writing(target, f"run {run.id} {run.status}, but "), open(target, "wb") as handle:
        service.copy_result(who, run.id, handle)
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


def check_kind(service: JobService, job_type: str, kind: str) -> None:
    """Refuse a type of another kind with the command's own words (an import to ``export``),
    naming the types of the kind asked for, those whose names hold the one given first
    (``customers`` → ``customers-export``)."""
    from jobport.errors import InputError, listed
    from jobport.service.base import with_article

    found = service.job_type(job_type).kind
    if found != kind:
        names = sorted(
            (t.type for t in service.job_types(kind)),
            key=lambda name: (job_type.lower() not in name.lower(), name),
        )
        offer = f"; {kind} types: {listed(names)}" if names else f"; the app has no {kind} type"
        raise InputError(
            f"'{job_type}' is {with_article(found)} type, not {with_article(kind)} type{offer}"
        )


def chosen_format(job_type: JobType, fmt: str | None, out_path: Path | None) -> str | None:
    """The format to write: ``--format``, else the one ``--out``'s extension names, else None
    (the type's own). An extension of a format the type does not write, or of another
    format than ``--format``, is refused, saying what would do."""
    from jobport.errors import InputError
    from jobport.formats import FORMATS

    suffix = out_path.suffix.lower() if out_path is not None else ""
    spec = FORMATS.by_suffix(suffix) if suffix else None
    named = spec.name if spec is not None else None
    if fmt is None and (not suffix or named in job_type.formats):
        return named
    if fmt is None:
        raise InputError(
            f"--out {out_path}: '{job_type.type}' does not write {suffix} files; its formats: "
            f"{', '.join(job_type.formats)} (give --out one of their extensions, or --format)"
        )
    if named is None or named == fmt:
        return fmt
    assert out_path is not None  # its extension named a format
    fix = f"give --out a .{fmt} name ({out_path.with_suffix('.' + fmt).name})"
    if named in job_type.formats:
        fix += f", or write {named} without --format"
    raise InputError(f"--format {fmt} but --out {out_path} names a {named} file: {fix}")


def wait_for_result(service: JobService, who: Principal, run: RunRecord) -> RunRecord:
    """A completed run's file is assembled right after its last commit: wait for it.

    A run with no chunks (a sync with no new page) completed when it was
    planned: no commit, so no last step, and no result to wait for.
    """
    if run.chunks_total == 0:
        return run
    deadline = time.monotonic() + RESULT_WAIT_SECONDS
    while run.result is None and time.monotonic() < deadline:
        time.sleep(0.2)
        run = service.run(who, run.id)
    return run
