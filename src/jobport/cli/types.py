"""``jobport types``: the job types of the app, grouped by kind.

Reads the registry alone: no engine, no database, so it answers even before
``jobport db upgrade``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from jobport.cli.context import state_of
from jobport.cli.output import err, out, print_json


def types_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the job types of the app, grouped by kind."""
    from rich.table import Table

    from jobport.registry import load_registry

    registry = load_registry(state_of(ctx).settings().app)
    if as_json:
        items = []
        for job_type in registry:
            item = job_type.summary()
            item["columns"] = job_type.columns()
            item["options_schema"] = job_type.options_json_schema()
            items.append(item)
        print_json(items)
        return
    if not len(registry):
        err.print("no job types: point --app (or JOBPORT_APP) at the module that declares them")
        return
    table = Table()
    # The type's name is what every command takes, kind and strategy are single words: never
    # cut. The rest wraps, never cut short.
    for column in ("type", "label", "kind", "strategy", "formats", "model", "from"):
        whole = column in ("type", "kind", "strategy")
        table.add_column(column, no_wrap=whole, overflow="ellipsis" if whole else "fold")
    for kind, job_types in registry.grouped().items():
        for job_type in job_types:
            summary = job_type.summary()
            table.add_row(
                job_type.type,
                job_type.label,
                kind,
                job_type.strategy,
                ", ".join(job_type.formats),
                summary["model"] or "",
                job_type.origin,
            )
    out.print(table)
