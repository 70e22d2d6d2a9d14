"""``jobport prune``: remove finished runs past an age, with their rows and files.

The rules (what goes, what is kept, in what order) are :mod:`jobport.retention`'s;
the supervisor applies the same ones on its own with ``JOBPORT_RETENTION_DAYS``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from jobport.cli.context import operator, state_of
from jobport.cli.output import out, print_json
from jobport.errors import InputError


def prune_command(
    ctx: typer.Context,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Remove runs finished longer ago than this: 90d, 12h, 30m, 2w "
            "(default: JOBPORT_RETENTION_DAYS).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would go; remove nothing.")
    ] = False,
    job_type: Annotated[
        str | None,
        typer.Option("--type", help="Only runs of this job type.", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Remove finished runs older than an age: rows, failures, events, uploads, result files.

    A run still going is never removed, nor a run linked to one that is kept:
    runs linked by retries go together once all of them are past the age.
    """
    from jobport.retention import parse_age

    state = state_of(ctx)
    settings = state.settings()
    if older_than is not None:
        age = parse_age(older_than)
    elif settings.retention_days is not None:
        age = timedelta(days=settings.retention_days)
    else:
        raise InputError("give --older-than (as in 90d), or set JOBPORT_RETENTION_DAYS")
    service = state.service(executor="inline")
    report = service.prune(operator(), age, type=job_type, dry_run=dry_run)
    if as_json:
        print_json(report.to_dict())
    else:
        out.print(report.summary())
