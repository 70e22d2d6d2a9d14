"""``jobport import``: import a local file with a job type, following its progress.

The file is copied into storage by the service once the request is checked,
then the command waits for the run and says how it ended.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jobport.cli.context import operator, parse_options, state_of
from jobport.cli.output import finish_run, progress_bar
from jobport.errors import InputError


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
    from jobport.service import ImportStart

    service = state_of(ctx).service()
    who = operator(owner)
    service.job_type(job_type)  # an unknown type is the first thing to say
    if not file.is_file():
        raise InputError(f"{file}: no such file")
    read = {k: v for k, v in {"encoding": encoding, "delimiter": delimiter}.items() if v}
    original = None if retry_of is None else service.run_id(who, retry_of)
    start = ImportStart(
        type=job_type,
        source_key="",
        source_name=file.name,
        options=parse_options(option),
        read=read,
        retry_of=original,
    )
    with progress_bar(as_json) as on_update:
        run = service.start_import_file(who, file, start)
        on_update(run)
        run = service.wait(who, run.id, on_update=on_update)
    finish_run(run, as_json)
