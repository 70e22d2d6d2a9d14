"""``jobport template``: write an import type's template, a file to fill in.

Reads the registry alone, like ``jobport types``: no engine, no database, so it
answers even before ``jobport db upgrade``. The local operator may start every
type, so the service's question of who may start it does not arise here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jobport.cli.context import state_of
from jobport.cli.files import check_out, writing
from jobport.cli.output import out


def template_command(
    ctx: typer.Context,
    job_type: Annotated[str, typer.Argument(metavar="TYPE", help="The import type.")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="csv or xlsx (default: from --out's extension, else csv)."
        ),
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write it (default: TYPE-template.FORMAT, here)."),
    ] = None,
) -> None:
    """Write a template of import TYPE: its columns in order and an example row.

    The XLSX template marks the required columns and describes each column
    (comments on the header, and an About sheet).
    """
    from jobport.kinds.template import TEMPLATE_FORMATS, build_template
    from jobport.registry import load_registry

    check_out(out_path)
    registry = load_registry(state_of(ctx).settings().app)
    if fmt is None:
        suffix = out_path.suffix.lower().lstrip(".") if out_path is not None else ""
        fmt = suffix if suffix in TEMPLATE_FORMATS else "csv"
    template = build_template(registry.get(job_type), fmt)
    target = out_path or Path(template.filename)
    with writing(target):
        target.write_bytes(template.content)
    out.print(f"wrote {target} ({len(template.content):,} bytes)", highlight=False)
