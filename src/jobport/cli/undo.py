"""``jobport undo RUN_ID [--force]`` and ``jobport audit [--run ID]``.

An undo says first what it will do (rows restored, deleted, later runs over
the same rows), then runs like any run, with its progress, and ends with its
outcome; rows changed since the import are its failures (``jobport failures``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from jobport.cli.context import operator, state_of
from jobport.cli.output import err, finish_run, out, print_json, progress_bar

RunId = Annotated[str, typer.Argument(metavar="ID")]
AsJson = Annotated[bool, typer.Option("--json")]
Force = Annotated[
    bool,
    typer.Option("--force", help="Restore rows changed since the run too (overwriting them)."),
]


def undo_command(
    ctx: typer.Context, run_id: RunId, force: Force = False, as_json: AsJson = False
) -> None:
    """Undo an import: delete the rows it inserted, put back the rows it updated."""
    from jobport.undoing import Undoing

    service, who = state_of(ctx).service(), operator()
    undoing = Undoing(service)
    preview = undoing.preview(who, service.run_id(who, run_id))
    if not as_json:
        summary = preview.summary
        out.print(
            f"undoing run {preview.run.id}: {summary.restored:,} rows to restore, "
            f"{summary.deleted:,} to delete, {summary.reinserted:,} to insert again"
        )
        if preview.warning:
            err.print(f"warning: {preview.warning}")
    with progress_bar(as_json) as on_update:
        run = undoing.undo(who, preview.run.id, force=force)
        run = service.wait(who, run.id, on_update=on_update)
    finish_run(run, as_json, state_of(ctx).command)


def audit_command(
    ctx: typer.Context,
    run_id: Annotated[str | None, typer.Option("--run", help="Only this run's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    as_json: AsJson = False,
) -> None:
    """Who started, cancelled, retried, resumed, undid, downloaded or shared which run."""
    from rich.table import Table

    from jobport.undoing import Undoing

    service, who = state_of(ctx).service(executor="inline"), operator()
    if run_id is not None:
        run_id = service.run_id(who, run_id)
    entries = Undoing(service).audit(who, run_id=run_id, limit=limit)
    if as_json:
        print_json([entry.to_dict() for entry in entries])
        return
    table = Table()
    # In a narrow terminal the time and the name wrap, never cut; the action is one word.
    for column in ("when", "who", "via", "action"):
        table.add_column(column, overflow="fold", no_wrap=column in ("via", "action"))
    # Ids are what people copy into other commands: never cut.
    longest = max((len(entry.run_id or "") for entry in entries), default=3)
    table.add_column("run", no_wrap=True, min_width=longest)
    for entry in entries:
        shown = entry.to_dict()
        table.add_row(shown["at"], shown["actor"], entry.via, shown["action"], entry.run_id or "")
    out.print(table)
