"""``jobport run-import ID``: import what a dry run checked, without the file again.

The dry run (``jobport import TYPE FILE --dry-run``) kept its upload; the
service starts the real run from it with the dry run's options, read options,
mapping and thresholds, and the command follows it as ``import`` does.
"""

from __future__ import annotations

from typing import Annotated

import typer

from jobport.cli.context import operator, state_of
from jobport.cli.output import finish_run, progress_bar


def run_import_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The dry run to import.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the final run as JSON.")] = False,
) -> None:
    """Import what dry run ID checked, from its stored upload, showing progress."""
    service, who = state_of(ctx).service(), operator()
    dry_run = service.run_id(who, run_id)
    with progress_bar(as_json) as on_update:
        run = service.start_from_dry_run(who, dry_run)
        on_update(run)
        run = service.wait(who, run.id, on_update=on_update)
    finish_run(run, as_json, state_of(ctx).command)
