"""The sync kind: pages of records from a source, validated and upserted, one page a chunk.

A :class:`SyncSource` names its pages up front, cheaply (a key range, an
offset, a page number: nothing is fetched), and fetches one page on demand;
each page becomes a chunk, so pages are fetched and validated in parallel and
commit in order. With each page's rows the store records, in the same
transaction, the cursor after that page: a later sync of the type and source
continues from the last committed page, and ``jobport resume`` continues an interrupted
run from its unfinished pages. A full sync (``read={"full": True}``, or a type
with ``delete_missing``) starts from the beginning; with ``delete_missing``,
rows of the target table that no page held are deleted once the last page
has committed.

A cursor is kept per type and per source: the options that say which source
a sync reads (:attr:`Syncer.source_options`, every option by default) are
hashed into its scope, so two syncs of one type from two sources (two
regions, two accounts) never continue from each other's cursor. An option
left at its default counts as not given: cursors stored before a type gained
an option, or before scopes existed (the scope ""), stay where they were.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection, Engine

from jobport.errors import ConfigurationError
from jobport.formats.cells import as_text
from jobport.kinds.base import ChunkTask, JobKind, Plan, PlanRequest
from jobport.kinds.columns import map_columns
from jobport.kinds.exports import options_of
from jobport.kinds.params import PageSpec, SyncParams
from jobport.kinds.syncer import Page, Syncer, SyncSource
from jobport.kinds.validation import validate_records
from jobport.store import ChunkOutcome, RunResult
from jobport.store.database import WRITE
from jobport.store.tables import sync_cursors
from jobport.targets.upsert import prepare_upsert

if TYPE_CHECKING:
    from jobport.files import FileStore
    from jobport.registry import JobType

#: Keys of the deleted-rows check inserted per statement.
KEY_BATCH = 5_000


def stored_cursor(database: Engine, type_key: str, scope: str = "") -> Any:
    """The cursor of the last committed page of the type and source ``scope``, or None."""
    with database.connect() as conn:
        return conn.execute(
            sa.select(sync_cursors.c.cursor).where(
                sync_cursors.c.type == type_key, sync_cursors.c.scope == scope
            )
        ).scalar()


class SyncKind(JobKind):
    name = "sync"
    in_order = True
    finishes = True

    def plan(self, request: PlanRequest) -> Plan:
        syncer = _syncer(request.job_type)
        _table(request.job_type, syncer)
        full = bool(request.read.get("full")) or syncer.delete_missing
        scope = syncer.cursor_scope(request.options)
        stored = stored_cursor(request.database, request.job_type.type, scope)
        after = None if full else stored
        pages = page_specs(syncer.source.pages(after, request.options))
        chunks = [page.to_json() for page in pages]
        _check_json(chunks)
        known = [page.rows for page in pages]
        total = (
            sum(r for r in known if r is not None) if all(r is not None for r in known) else None
        )
        seen = (
            [request.files.new_key("work", ".json") for _ in pages] if syncer.delete_missing else []
        )
        params = SyncParams(full=full, after=after, seen=seen)
        return Plan(chunks=chunks, total=total, params=params.to_json())

    def run_chunk(self, task: ChunkTask) -> ChunkOutcome:
        syncer = _syncer(task.job_type)
        table = _table(task.job_type, syncer)
        spec = PageSpec.of(task.spec)
        options = options_of(task)
        page = syncer.source.fetch(spec.page, options)
        header = list(syncer.row.model_fields)
        first = spec.first or 1
        records: list[tuple[int, list[Any] | None]] = [
            (first + index, [as_text(_field(record, name, syncer.row)) for name in header])
            for index, record in enumerate(page.records)
        ]
        rows, columns, failures = validate_records(
            records,
            header,
            map_columns(header, syncer.row),
            syncer.importer(),
            [c.name for c in table.c],
        )
        upsert = prepare_upsert(task.database.dialect, table, rows, columns, syncer.key_columns)
        seen = SyncParams.of(task.run.params).seen
        if seen:
            _write_seen(task.files, seen[task.no], page.records, rows, columns, syncer, table)
        cursor = page.cursor
        type_key, scope = task.job_type.type, syncer.cursor_scope(options)
        run_id = task.run.id

        def write(conn: Connection) -> None:
            upsert(conn)
            _save_cursor(conn, (type_key, scope), cursor, run_id)

        return ChunkOutcome(processed=len(records), failures=failures, write=write)

    def finish(self, task: ChunkTask) -> RunResult:
        syncer = _syncer(task.job_type)
        params = SyncParams.of(task.run.params)
        summary: dict[str, Any] = {
            "cursor": stored_cursor(
                task.database, task.job_type.type, syncer.cursor_scope(options_of(task))
            ),
            "full": params.full,
            "pages": task.run.chunks_total,
        }
        if syncer.delete_missing and params.full and params.seen:
            table = _table(task.job_type, syncer)
            summary["deleted"] = delete_missing(
                task.database, task.files, table, syncer.key_columns, params.seen
            )
        # The keys seen go once the run is completed: a second attempt needs them.
        return RunResult("", summary, leftovers=tuple(params.seen))


def page_specs(pages: Iterable[Any]) -> list[PageSpec]:
    """A chunk per page, its records numbered on from the pages before it while every
    page so far said how many it holds (a dict descriptor with an int ``rows``)."""
    specs = []
    first: int | None = 1
    for page in pages:
        rows = page.get("rows") if isinstance(page, dict) else None
        if isinstance(rows, int):
            specs.append(PageSpec(page, first, rows))
            first = None if first is None else first + rows
        else:
            specs.append(PageSpec(page, first))
            first = None
    return specs


def _field(record: Mapping[str, Any], name: str, row: type[BaseModel]) -> Any:
    if name in record:
        return record[name]
    alias = row.model_fields[name].alias
    return record.get(alias) if alias else None


def _save_cursor(conn: Connection, key: tuple[str, str], cursor: Any, run_id: str) -> None:
    """Record the cursor of (type, scope) with the page's rows."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    prepare_upsert(
        conn.dialect,
        sync_cursors,
        [(*key, cursor, run_id, now)],
        ["type", "scope", "cursor", "run_id", "updated_at"],
        ["type", "scope"],
    )(conn)


def _write_seen(
    files: FileStore,
    key: str,
    records: Sequence[Mapping[str, Any]],
    rows: list[tuple[Any, ...]],
    columns: list[str],
    syncer: Syncer,
    table: sa.Table,
) -> None:
    """The keys this page held (valid rows, and the raw keys of invalid ones)."""
    positions = [columns.index(k) for k in syncer.key_columns]
    keys = {tuple(row[p] for p in positions) for row in rows}
    for record in records:
        raw = []
        for name in syncer.key_columns:
            value = record.get(name)
            with contextlib.suppress(TypeError, ValueError, NotImplementedError):
                value = table.c[name].type.python_type(value) if value is not None else None
            raw.append(value)
        if None not in raw:
            keys.add(tuple(raw))
    with files.open(key, "wb") as stream:
        stream.write(json.dumps([list(k) for k in keys], default=str).encode())


def delete_missing(
    database: Engine,
    files: FileStore,
    table: sa.Table,
    key_columns: Sequence[str],
    seen_keys: Sequence[str],
) -> int:
    """Delete the rows of ``table`` whose key is in none of the ``seen_keys`` parts.

    The seen keys go to a temporary table, so memory does not grow with the table.
    """
    seen = sa.Table(
        f"jobport_seen_{uuid.uuid4().hex[:12]}",
        sa.MetaData(),
        *[sa.Column(name, table.c[name].type) for name in key_columns],
        prefixes=["TEMPORARY"],
    )
    with database.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        seen.create(conn)
        for key in seen_keys:
            with files.open(key) as stream:
                values = json.loads(stream.read())
            for start in range(0, len(values), KEY_BATCH):
                conn.execute(
                    seen.insert(),
                    [
                        dict(zip(key_columns, v, strict=True))
                        for v in values[start : start + KEY_BATCH]
                    ],
                )
        match = sa.and_(*[seen.c[name] == table.c[name] for name in key_columns])
        result = conn.execute(table.delete().where(~sa.exists().where(match)))
        seen.drop(conn)
        return int(result.rowcount)


def _check_json(chunks: list[dict[str, Any]]) -> None:
    try:
        json.dumps(chunks)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"a sync source's page descriptors must be JSON: {exc}") from None


def _table(job_type: JobType, syncer: Syncer) -> sa.Table:
    table = job_type.table
    if table is None:
        raise ConfigurationError(f"sync type '{job_type.type}' has no model")
    missing = [k for k in syncer.key_columns if k not in table.c]
    if missing:
        raise ConfigurationError(
            f"sync type '{job_type.type}': key column(s) {missing} are not in table '{table.name}'"
        )
    return table


def _syncer(job_type: JobType) -> Syncer:
    handler = job_type.handler
    if not isinstance(handler, Syncer):
        raise ConfigurationError(f"sync type '{job_type.type}' needs a Syncer as its handler")
    unknown = set(handler.source_options or ()) - set(job_type.options.model_fields)
    if unknown:
        raise ConfigurationError(
            f"sync type '{job_type.type}': source_options {sorted(unknown)} are not its options"
        )
    return handler


__all__ = ["Page", "SyncKind", "SyncSource", "Syncer", "stored_cursor", "sync_cursors"]
