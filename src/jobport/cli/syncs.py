"""``jobport sync``: pull a sync type's source from its stored cursor, following progress."""

from __future__ import annotations

from typing import Annotated

import typer

from jobport.cli.context import operator, parse_options, state_of
from jobport.cli.exports import AsJson, OptionList, Owner, check_kind, wait_for_result
from jobport.cli.output import finish_run, progress_bar


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
    from jobport.lifecycle import COMPLETED_STATUSES

    service, who = state_of(ctx).service(), operator(owner)
    check_kind(service, job_type, "sync")
    with progress_bar(as_json) as on_update:
        run = service.start_sync(who, job_type, options=parse_options(option), full=full)
        on_update(run)
        run = service.wait(who, run.id, on_update=on_update)
    if run.status in COMPLETED_STATUSES:
        run = wait_for_result(service, who, run)
    finish_run(run, as_json, state_of(ctx).command)
