"""``jobport import``: import a local file with a job type, following its progress.

The file is copied into storage by the service once the request is checked,
then the command waits for the run and says how it ended.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jobport.cli.context import operator, parse_options, state_of
from jobport.cli.output import CommandLine, err, finish_run, progress_bar
from jobport.errors import InputError, listed

if TYPE_CHECKING:
    from jobport.principal import Principal
    from jobport.service import ImportStart, JobService
    from jobport.store import RunRecord

#: How many columns the mapping line names before it says how many more.
SHOWN_COLUMNS = 50

# The command's arguments and options, each with its help.
TypeName = Annotated[str, typer.Argument(metavar="TYPE", help="The import type.")]
File = Annotated[Path, typer.Argument(metavar="FILE", help="The file to import.")]
Options = Annotated[
    list[str] | None,
    typer.Option("--option", "-o", help="A type option as key=value (repeatable)."),
]
Encoding = Annotated[
    str | None,
    typer.Option(help="The file's encoding (default: UTF-8 when the file is, else detected)."),
]
FileFormat = Annotated[
    str | None,
    typer.Option(
        "--format", "-f", help="The file's format: csv, xlsx, jsonl or parquet (default: by name)."
    ),
]
Delimiter = Annotated[str | None, typer.Option(help="The field delimiter (default: sniffed).")]
Sheet = Annotated[
    str | None, typer.Option(help="The XLSX sheet to read, by name or 1-based position.")
]
HeaderRow = Annotated[
    int | None, typer.Option(help="The 1-based row holding the header (default: found).")
]
ColumnMap = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="Feed a field from a column: 'Header=field', or 'Header=' to ignore it (repeatable).",
    ),
]
StrictColumns = Annotated[
    bool, typer.Option(help="Refuse a file with a column that feeds no field.")
]
DecimalSeparator = Annotated[
    str | None, typer.Option(help="The decimal separator of numbers: '.' or ','.")
]
ThousandsSeparator = Annotated[
    str | None, typer.Option(help="The thousands separator, removed from numbers.")
]
DateFormats = Annotated[
    list[str] | None,
    typer.Option(help="A date format such as '%d/%m/%Y', tried in order (repeatable)."),
]
TrueWords = Annotated[
    str | None, typer.Option(help="Comma-separated words read as true, e.g. 'oui,ja'.")
]
FalseWords = Annotated[
    str | None, typer.Option(help="Comma-separated words read as false, e.g. 'non,nein'.")
]
DryRun = Annotated[bool, typer.Option(help="Validate the whole file like a run; write nothing.")]
MaxFailures = Annotated[
    int | None, typer.Option(help="Stop the run once more rows than this have failed.")
]
MaxFailureRatio = Annotated[
    float | None, typer.Option(help="Stop the run once this share of rows has failed.")
]
RetryOf = Annotated[
    str | None, typer.Option(help="Import corrected failures of this run, linked to it.")
]
Owner = Annotated[str | None, typer.Option(help="Record this owner on the run.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the final run as JSON.")]


def import_command(
    ctx: typer.Context,
    job_type: TypeName,
    file: File,
    option: Options = None,
    format_: FileFormat = None,
    encoding: Encoding = None,
    delimiter: Delimiter = None,
    sheet: Sheet = None,
    header_row: HeaderRow = None,
    map_: ColumnMap = None,
    strict_columns: StrictColumns = False,
    decimal: DecimalSeparator = None,
    thousands: ThousandsSeparator = None,
    date_format: DateFormats = None,
    true_words: TrueWords = None,
    false_words: FalseWords = None,
    dry_run: DryRun = False,
    max_failures: MaxFailures = None,
    max_failure_ratio: MaxFailureRatio = None,
    retry_of: RetryOf = None,
    owner: Owner = None,
    as_json: AsJson = False,
) -> None:
    """Import FILE with job type TYPE, showing progress until the run ends."""
    start_pool_early(ctx, file)
    from jobport.service import ImportStart

    service = state_of(ctx).service()
    who = operator(owner)
    service.job_type(job_type)  # an unknown type is the first thing to say
    if not file.is_file():
        raise InputError(f"{file}: no such file")
    read = given(
        encoding=encoding,
        delimiter=delimiter,
        sheet=sheet,
        header_row=header_row,
        mapping=parse_mapping(map_ or []),
        strict_columns=strict_columns,
        decimal=decimal,
        thousands=thousands,
        date_formats=date_format,
        true_words=words(true_words),
        false_words=words(false_words),
    )
    controls = given(
        dry_run=dry_run, max_failures=max_failures, max_failure_ratio=max_failure_ratio
    )
    start = ImportStart(
        type=job_type,
        source_key="",
        source_name=file.name,
        format=format_.strip().lower() if format_ else None,
        options=parse_options(option),
        read=read,
        controls=controls,
        retry_of=None if retry_of is None else service.run_id(who, retry_of),
    )
    follow_import(service, who, file, start, as_json, state_of(ctx).command)


#: A file this large most likely plans to several chunks (5,000 rows each by default), so
#: it will need the worker pool; a smaller one most likely runs whole in this process.
EARLY_POOL_BYTES = 512 * 1024


def start_pool_early(ctx: typer.Context, file: Path) -> None:
    """Start the pool's forkserver first thing for a file that will need the pool.

    Its imports (most of a second) then run beside this command's own imports
    and its planning of the file, instead of after them. A small file starts no
    process at all (its one chunk runs here), and Celery has its workers running.
    """
    settings = state_of(ctx).settings()
    if settings.executor != "local" or not settings.app:
        return
    try:
        size = file.stat().st_size
    except OSError:
        return  # said in its place: the import's own check names the file
    if size >= EARLY_POOL_BYTES:
        from jobport.executors.forkserver import start_early

        start_early(settings)


def follow_import(
    service: JobService,
    who: Principal,
    file: Path,
    start: ImportStart,
    as_json: bool,
    command: CommandLine,
) -> None:
    """Start the import, say how its columns were placed, show its progress and its end."""
    with progress_bar(as_json) as on_update:
        run = service.start_import_file(who, file, start)
        said = mapping_line(run)
        if said:
            err.print(said, markup=False, highlight=False)
        on_update(run)
        run = service.wait(who, run.id, on_update=on_update)
    finish_run(run, as_json, command)


def given(**values: Any) -> dict[str, Any]:
    """The options the user gave (unset, empty and false ones are left to the defaults)."""
    return {name: value for name, value in values.items() if value not in (None, False, "", [], {})}


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """``--map 'Header=field'`` pairs; the header is everything before the last ``=``."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        header, sep, field_name = pair.rpartition("=")
        if not sep or not header.strip():
            raise InputError(f"--map {pair!r}: expected 'Header=field' (or 'Header=' to ignore)")
        mapping[header.strip()] = field_name.strip()
    return mapping


def words(text: str | None) -> list[str] | None:
    """Comma-separated words, as every face reads them (None: not given)."""
    from jobport.formats.base import comma_words  # loaded by an import, not every command

    return None if text is None else comma_words(text)


def mapping_line(run: RunRecord) -> str | None:
    """``mapping: E-mail → email (synonym), id → id, ...``: which column fed which field,
    said before the progress when a rule other than the field's own name placed one (a
    file whose header is the fields' names has nothing to say)."""
    from jobport.kinds.params import ImportParams

    header = ImportParams.header_of(run.params)
    placed = [p for p in run.params.get("mapping") or [] if p.get("column", -1) < len(header)]
    if all(p.get("source") == "exact" for p in placed):
        return None
    said = []
    for p in placed:
        how = p["source"] if p["source"] != "fuzzy" else f"fuzzy {p['score']}"
        name = header[p["column"]].strip()
        fed = p["field"] or "(ignored)"
        said.append(f"{name} → {fed}" + ("" if how == "exact" else f" ({how})"))
    return f"mapping: {listed(said, most=SHOWN_COLUMNS)}"
