"""Validating a chunk's records into rows to write, and failures with their lines.

The hot loop of every import: the whole chunk goes through pydantic-core in
one call where the row model allows it (:mod:`jobport.kinds.batch`); records it
turns away, and every record of other models, are checked one by one by the
model itself, so failures always carry the model's own checks, told in plain
words (:mod:`jobport.kinds.messages`). Cells written in a locale's way (a
decimal comma, day-first dates) are converted first (:mod:`jobport.kinds.locale`),
only when a locale is set."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any, cast

from pydantic import BaseModel, ValidationError
from pydantic_core import SchemaValidator

from jobport.errors import bounded, listed, shown
from jobport.formats import BadRecord, Record
from jobport.formats.base import ReadOptions, undecodable_row
from jobport.kinds.batch import (
    BatchValidator,
    batch_validator,
    model_fields_schema,
)
from jobport.kinds.importer import Importer
from jobport.kinds.locale import (
    CellConverters,
    Locale,
    Refused,
    cell_converters,
    field_kind,
    locale_for,
)
from jobport.kinds.messages import error_detail, refusal_detail
from jobport.store import Failure
from jobport.targets.capacity import Capacity


def validate_records(
    records: Iterable[Record],
    header: list[str],
    columns: list[list[Any]],
    importer: Importer,
    table_columns: list[str],
    *,
    capacity: Capacity | None = None,
    read: ReadOptions | None = None,
) -> tuple[list[tuple[Any, ...]], list[str], list[Failure]]:
    """Validate each record (see :func:`validate_chunk`): the rows, columns and failures."""
    rows, out, failures, _ = validate_chunk(
        records, header, columns, importer, table_columns, capacity=capacity, read=read
    )
    return rows, out, failures


def validate_chunk(
    records: Iterable[Record],
    header: list[str],
    columns: list[list[Any]],
    importer: Importer,
    table_columns: list[str],
    *,
    capacity: Capacity | None = None,
    read: ReadOptions | None = None,
) -> tuple[list[tuple[Any, ...]], list[str], list[Failure], int]:
    """Validate each record.

    Returns the rows to write as tuples (later duplicates of a key win), the
    column names of those tuples, the failures, and how many rows a later row of
    the same key replaced (:func:`latest_by_key`). This is the hot loop of every import:
    the whole chunk goes through pydantic-core in one call where the row model
    allows it (see :mod:`jobport.kinds.batch`), and the records it turns away,
    with every record of other models, are checked one by one. With
    ``capacity``, a value its target column cannot hold fails its row; ``read``
    brings the run's locale options (see :func:`locale_for`).
    """
    if importer.transform is not None:
        groups, failures = validate_transformed(
            records, header, columns, importer, table_columns, capacity, read=read
        )
        rows, out = _union_of(groups, table_columns)
        return rows, out, failures, 0
    checker = _RowChecker(header, columns, importer, table_columns, read)
    records = records if isinstance(records, list) else list(records)
    batch = batch_validator(importer.row, len(header), columns)
    rows = checker.rows(records) if batch is None else _batch_rows(batch, records, checker)
    if capacity is not None:
        rows = checker.fitting(rows, checker.out_columns, None, records, capacity)
    rows, repeated = latest_by_key(rows, checker.out_columns, importer.key_columns)
    return rows, checker.out_columns, checker.failures, repeated


def latest_by_key(
    rows: list[tuple[Any, ...]], columns: list[str], key: Sequence[str]
) -> tuple[list[tuple[Any, ...]], int]:
    """One row per key, the last of each (as it would be, written in file order), and
    how many rows a later one replaced: the run says so, as they are written nowhere."""
    if len(key) == 1:
        key_at = columns.index(key[0])
        by_key = {row[key_at]: row for row in rows}
    else:
        key_of = itemgetter(*(columns.index(k) for k in key))
        by_key = dict(zip(map(key_of, rows), rows, strict=True))
    return list(by_key.values()), len(rows) - len(by_key)


#: Rows that carry the same columns: (columns, the ones an existing row gets, rows).
RowGroup = tuple[list[str], list[str], list[tuple[Any, ...]]]


def validate_transformed(
    records: Iterable[Record],
    header: list[str],
    columns: list[list[Any]],
    importer: Importer,
    table_columns: list[str],
    capacity: Capacity | None = None,
    *,
    read: ReadOptions | None = None,
) -> tuple[list[RowGroup], list[Failure]]:
    """Valid rows passed through the transform, grouped by the columns each one carries.

    A transform decides what it writes. A row is written with exactly the
    columns its dict holds, so a column one row lacks is never set to NULL
    because another row has it; and a field no file column feeds, passed
    through unchanged, is written to new rows only.
    """
    records = records if isinstance(records, list) else list(records)
    checker = _RowChecker(header, columns, importer, table_columns, read)
    fed = {field for _, field in columns}
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[int, tuple[Any, ...]]]] = {}
    for line, given, result in checker.transformed(records):
        names = tuple(name for name in table_columns if name in result)
        update = tuple(
            name
            for name in names
            if name in fed or name not in given or result[name] is not given[name]
        )
        groups.setdefault((names, update), []).append((line, tuple(map(result.get, names))))
    out: list[RowGroup] = []
    for (names, update), lined in groups.items():
        rows = [row for _, row in lined]
        if capacity is not None:
            lines = [line for line, _ in lined]
            rows = checker.fitting(rows, list(names), lines, records, capacity)
        out.append((list(names), list(update), rows))
    return out, checker.failures


def _union_of(
    groups: list[RowGroup], table_columns: list[str]
) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Grouped rows as one list under every column any group has (NULL where one lacks it)."""
    present = {name for names, _, _ in groups for name in names}
    out = [name for name in table_columns if name in present]
    rows: list[tuple[Any, ...]] = []
    for names, _, group in groups:
        where = [names.index(n) if n in names else None for n in out]
        rows.extend(tuple(row[i] if i is not None else None for i in where) for row in group)
    return rows, out


def _batch_rows(
    batch: BatchValidator, records: Iterable[Record], checker: _RowChecker
) -> list[tuple[Any, ...]]:
    """Rows of a chunk validated in one call; records it turns away go to ``checker``."""
    records = records if isinstance(records, list) else list(records)
    inputs = [
        [None if value == "" else value for value in record]
        if type(record) is list and "" in record
        else record
        for _, record in records
    ]
    if checker.convert is not None:
        inputs = checker.convert.records(inputs, len(checker.header))
    outputs = batch.validate_list(inputs)
    positions = {field: index for index, field in checker.columns}
    width = len(checker.header)
    for offset, field in enumerate(batch.default_fields):
        positions[field] = width + offset
    order = [positions[name] for name in checker.out_columns]
    # When the file's columns are the rows' columns, in order, the validated
    # tuples are the rows as they are: no second tuple per row.
    pick: Callable[[Sequence[Any]], tuple[Any, ...]] | None = None
    if order != list(range(width)):
        pick = plain_pick = _getter(order)
        if batch.defaults:
            defaults = batch.defaults

            def pick(values: Sequence[Any]) -> tuple[Any, ...]:
                return plain_pick((*values, *defaults))

    def picked(outputs: list[Any]) -> Iterable[tuple[Any, ...]]:
        return outputs if pick is None else map(pick, outputs)

    turned_away = [i for i, values in enumerate(outputs) if type(values) is not tuple]
    if not turned_away:
        return list(picked(outputs))
    rows: list[tuple[Any, ...]] = []
    start = 0
    for i in turned_away:
        rows.extend(picked(outputs[start:i]))
        rows.extend(checker.rows(records[i : i + 1]))
        start = i + 1
    rows.extend(picked(outputs[start:]))
    return rows


class _RowChecker:
    """Checks records one at a time with the row model's own validator.

    The reference behaviour of an import: every row the batch path turns
    away, and every row of a model it cannot mirror, is decided here.
    """

    def __init__(
        self,
        header: list[str],
        columns: list[list[Any]],
        importer: Importer,
        table_columns: list[str],
        read: ReadOptions | None = None,
    ) -> None:
        self.header = header
        self.columns = columns
        self.importer = importer
        self.validate = dict_validator(importer.row)
        self.fields = [field for _, field in columns]
        self.pick = _getter([index for index, _ in columns])
        self.out_columns = [name for name in importer.row.model_fields if name in table_columns]
        self.as_row = _getter_of(self.out_columns)
        self.field_to_column = {field: header[index].strip() for index, field in columns}
        self.failures: list[Failure] = []
        self.locale: Locale | None = locale_for(importer.locale, read)
        self.convert: CellConverters | None = cell_converters(self.locale, importer.row, columns)
        self.trimmed = _trimmed_positions(importer.row, self.fields)

    def values(self, line: int, record: Any) -> dict[str, Any] | None:
        """The record's validated field values, or None once its failure is recorded."""
        if type(record) is not list:
            self.failures.append(self.refusal(line, record))
            return None
        if len(record) != len(self.header):
            self.failures.append(self.misshapen(line, record))
            return None
        picked = self.pick(record)
        if self.trimmed:
            picked = _trim(picked, self.trimmed)
        if "" in picked:
            picked = tuple(_blank_to_none(value) for value in picked)
        data = dict(zip(self.fields, picked))  # noqa: B905 (same length)
        refused = self.convert.values(data) if self.convert is not None else None
        try:
            values = self.validate(data)
        except ValidationError as exc:
            self.failures.append(self.failure(line, record, exc, refused))
            return None
        if refused:
            self.failures.append(self.failure(line, record, None, refused))
            return None
        return values

    def misshapen(self, line: int, record: list[Any]) -> Failure:
        """The failure of a record with more or fewer fields than the header: where it
        ends short, the first column it lacks (a cut line, a delimiter missing)."""
        width, found = len(self.header), len(record)
        message = f"expected {width} fields, found {found}"
        column = None
        if found < width:
            lacking = [name.strip() for name in self.header[found:]]
            message += f": the row has no {listed(lacking)}"
            column = lacking[0]
        else:
            message += ": more than the header (a value holding the delimiter, not quoted?)"
        return Failure(line, message, column=column, raw=raw_values(self.header, record))

    def refusal(self, line: int, record: BadRecord | None) -> Failure:
        """The failure of a record refused as it was read, with what could be read of it."""
        if record is None:  # what a reader without the cells gives for such a row
            record = undecodable_row()
        # A reader's plain reason (a str) carries no cells.
        cells, at = getattr(record, "cells", None), getattr(record, "column", None)
        column = self.header[at].strip() if at is not None and at < len(self.header) else None
        raw = raw_values(self.header, cells) if cells is not None else None
        return Failure(line, str(record), column=column, raw=raw)

    def failure(
        self,
        line: int,
        record: list[Any],
        exc: ValidationError | None,
        refused: dict[str, Refused] | None,
    ) -> Failure:
        """A row's failure: one detail per failed cell, each with its column and value.

        A cell the locale refused was validated as empty, so what pydantic says
        of it is left out: the refusal says it.
        """
        refused = refused or {}
        fields = self.importer.row.model_fields
        cell = {field: record[index] for index, field in self.columns}
        errors = []
        for error in exc.errors(include_url=False) if exc is not None else ():
            field = str(error["loc"][0]) if error["loc"] else ""
            if field not in refused:
                column = self.field_to_column.get(field, field)
                info, value = fields.get(field), cell.get(field)
                errors.append(error_detail(error, column, info, self.locale, value))
        for field, why in refused.items():
            column = self.field_to_column.get(field, field)
            errors.append(refusal_detail(why, column, cell[field]))
        if refused:
            order = {self.field_to_column.get(f, f): at for at, f in enumerate(self.fields)}
            errors.sort(key=lambda detail: order.get(detail["column"], -1))
        text = "; ".join(f"{e['column']}: {e['message']}" for e in errors)
        return Failure(
            line,
            bounded(text),
            column=errors[0]["column"] if errors else None,
            errors=errors,
            raw=raw_values(self.header, record),
        )

    def rows(self, records: Iterable[Record]) -> list[tuple[Any, ...]]:
        values_of, as_row = self.values, self.as_row
        rows = []
        for line, record in records:
            values = values_of(line, record)
            if values is not None:
                rows.append(as_row(values))
        return rows

    def transformed(
        self, records: Iterable[Record]
    ) -> Iterable[tuple[int, dict[str, Any], dict[str, Any]]]:
        """Valid rows through the transform hook: (line, its values, what the transform
        returned), one per key (the later row wins)."""
        transform = self.importer.transform
        assert transform is not None
        key_of = _getter_of(list(self.importer.key_columns))
        reshaped: dict[Any, tuple[int, dict[str, Any], dict[str, Any]]] = {}
        for line, record in records:
            values = self.values(line, record)
            if values is None:
                continue
            record = cast(list[Any], record)  # a record that validated is a list of cells
            try:
                result = transform(dict(values))
            except (ValueError, TypeError, KeyError) as exc:
                self.failures.append(
                    Failure(
                        line,
                        f"transform failed: {shown(exc, 500)}",
                        raw=raw_values(self.header, record),
                    )
                )
                continue
            if result is None:
                continue
            try:
                reshaped[key_of(result)] = (line, values, result)
            except KeyError as exc:
                self.failures.append(
                    Failure(
                        line,
                        f"transform dropped the key column {exc}",
                        raw=raw_values(self.header, record),
                    )
                )
        return reshaped.values()

    def fitting(
        self,
        rows: list[tuple[Any, ...]],
        columns: list[str],
        lines: list[int] | None,
        records: list[Record],
        capacity: Capacity,
    ) -> list[tuple[Any, ...]]:
        """``rows`` less those holding a value their column cannot hold, each of which
        becomes a failure at its line.

        ``lines`` are the rows' lines; None means the rows are the records that
        did not fail, in order (so the lines are worked out only when needed).
        """
        misfits = capacity.misfits(rows, columns)
        if not misfits:
            return rows
        if lines is None:
            failed = {failure.line for failure in self.failures}
            lines = [line for line, _ in records if line not in failed]
        record_at = dict(records)
        by_row: dict[int, list[dict[str, Any]]] = {}
        for index, name, message in misfits:
            column = self.field_to_column.get(name, name)
            by_row.setdefault(index, []).append({"column": column, "message": message})
        for index, errors in by_row.items():
            record = record_at[lines[index]]
            self.failures.append(
                Failure(
                    lines[index],
                    "; ".join(f"{e['column']}: {e['message']}" for e in errors),
                    column=errors[0]["column"],
                    errors=errors,
                    raw=raw_values(self.header, record) if type(record) is list else None,
                )
            )
        return [row for index, row in enumerate(rows) if index not in by_row]


@lru_cache(maxsize=64)
def dict_validator(row: type[BaseModel]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Validate a row into a plain dict of field values.

    Where the model is plain fields (no model-level validators, no custom
    initialiser), pydantic-core's fields validator is used directly: the same
    checks and conversions, without building a model instance per row, which
    is a quarter of the validation time. Anything fancier goes through the
    model itself. Cached: building a validator costs far more than a row.
    """
    found = model_fields_schema(row)
    if found is None:
        validate_model = row.__pydantic_validator__.validate_python
        return lambda data: validate_model(data).__dict__
    fields_validator = SchemaValidator(*found)
    validate_fields = fields_validator.validate_python
    return lambda data: validate_fields(data)[0]


def _getter(indices: list[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A C-level picker that always returns a tuple, even for one index."""
    if len(indices) == 1:
        only = indices[0]
        return lambda record: (record[only],)
    return itemgetter(*indices)


def _getter_of(names: list[str]) -> Callable[[dict[str, Any]], Any]:
    if len(names) == 1:
        only = names[0]
        return lambda values: (values[only],)
    return itemgetter(*names)


#: Kinds of fields whose text pydantic reads only without spaces around it (" yes ",
#: " 2024-01-31 "), where numbers and strings of a model that strips them are read either way.
_TRIMMED_KINDS = frozenset({"bool", "date", "datetime"})


def _trimmed_positions(row: type[BaseModel], fields: list[str]) -> tuple[int, ...]:
    """Where a record's picked cells are yes/no or date fields (see :func:`_trim`)."""
    infos = row.model_fields
    return tuple(at for at, name in enumerate(fields) if field_kind(infos[name]) in _TRIMMED_KINDS)


def _trim(picked: tuple[Any, ...], positions: tuple[int, ...]) -> tuple[Any, ...]:
    """The cells with spaces around the text of yes/no and date fields taken off.

    A spreadsheet or a hand-edited file often pads a cell (" yes ", "2024-01-31 "):
    the value is plain, and refusing it would fail a row for what no one can see.
    The batch validator turns such a row away; here, on the row's own path, it passes.
    """
    cells = list(picked)
    for at in positions:
        cell = cells[at]
        if type(cell) is str:
            cells[at] = cell.strip()
    return tuple(cells)


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


def raw_values(header: list[str], record: list[Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {
        name.strip(): _jsonable(value) for name, value in zip(header, record, strict=False)
    }
    if len(record) > len(header):
        raw["_extra"] = record[len(header) :]
    return raw


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
