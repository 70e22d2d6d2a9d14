"""The import kind end to end on the inline executor: rows, failures, progress and events."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import zipfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.apps import people as people_app
from tests.conftest import MakeJobport

from jobport import (
    InputError,
    Jobport,
    JobRegistry,
    RunNotFound,
    RunStateError,
    StartRequest,
    UnknownJobType,
)
from jobport.demo import customers
from jobport.demo.data import COLUMNS, DEFECTS, generate, write_csv
from jobport.errors import PermissionDenied
from jobport.events import JobEvent
from jobport.executors.inline import InlineExecutor
from jobport.kinds import JobKind
from jobport.registry import load_app

people = people_app.people


def write_rows(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def table_rows(engine: Jobport, table: sa.Table, key: str) -> dict[Any, dict[str, Any]]:
    with engine.database.connect() as conn:
        rows = conn.execute(sa.select(table)).mappings().all()
    return {row[key]: dict(row) for row in rows}


def failures_of(engine: Jobport, run_id: str) -> list[dict[str, Any]]:
    items, count = engine.store.list_failures(run_id, limit=100_000)
    assert count == len(items)
    return items


class Recorder:
    """An executor that only records what it was asked to run."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, list[int]]] = []

    def submit(self, run_id: str, chunks: Sequence[int]) -> None:
        self.submitted.append((run_id, list(chunks)))

    def close(self) -> None:
        return None


# -- the demo customers type --------------------------------------------------------------------


def test_dirty_file_fails_exactly_its_invalid_rows(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport()
    path = tmp_path / "customers.csv"
    invalid = write_csv(path, 300, dirty=0.15, seed=11)
    generated = list(generate(300, dirty=0.15, seed=11))
    bad = {row.line: row for row in generated if row.defect}
    good = {int(row.values[0]): row for row in generated if not row.defect}
    assert invalid == len(bad) > 0
    assert {row.defect for row in bad.values()} == set(DEFECTS)  # every kind of defect shows

    run = engine.import_file("customers", path)

    assert run.status == "completed_with_errors"
    assert (run.total, run.processed, run.failed) == (300, 300, len(bad))
    failures = failures_of(engine, run.id)
    assert {(f["line"], f["column"]) for f in failures} == {
        (line, DEFECTS[row.defect]) for line, row in bad.items() if row.defect
    }
    for failure in failures:
        row = bad[failure["line"]]
        assert failure["raw"] == dict(zip(COLUMNS, row.values, strict=True))
        assert failure["message"].startswith(f"{DEFECTS[row.defect or '']}: ")

    stored = table_rows(engine, customers, "id")
    assert set(stored) == set(good)
    for customer_id in list(good)[:25]:
        values = dict(zip(COLUMNS, good[customer_id].values, strict=True))
        row = stored[customer_id]
        assert row["email"] == values["email"]
        assert row["last_name"] == values["last_name"]
        assert row["balance"] == Decimal(values["balance"])
        assert row["signup_date"] == dt.date.fromisoformat(values["signup_date"])
        assert row["active"] is (values["active"] in ("true", "1", "yes"))
        assert row["age"] == int(values["age"])
        assert row["score"] == pytest.approx(float(values["score"]))


def test_a_pattern_mismatch_reads_as_words_and_keeps_its_pattern_in_the_details(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport()
    path = write_rows(
        tmp_path / "customers.csv",
        COLUMNS,
        [["1", "not-an-address", "Ada", "Lovelace", "GB", "2020-01-01", "1.00", "true", "30", "1"]],
    )
    run = engine.import_file("customers", path)
    [failure] = failures_of(engine, run.id)
    assert failure["message"] == "email: is not in the expected format"
    [detail] = failure["errors"]
    assert detail["column"] == "email"
    assert detail["pattern"].startswith("^[A-Za-z0-9")  # for whoever maintains the type


def test_header_matching_ignores_case_and_spaces_and_extra_columns(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport()
    header = ["  ID ", "Notes", "EMAIL", "Last_Name", " country", "Active ", "unused"]
    path = write_rows(
        tmp_path / "mixed.csv",
        header,
        [
            ["7", "vip", "ada@example.com", "Lovelace", "gb", "no", "x"],
            ["8", "", "alan@example.com", "Turing", "GB", "yes", "y"],
        ],
    )
    run = engine.import_file("customers", path)
    assert run.status == "completed", run.error
    stored = table_rows(engine, customers, "id")
    assert set(stored) == {7, 8}
    assert stored[7]["email"] == "ada@example.com"
    assert stored[7]["country"] == "GB"
    assert stored[7]["active"] is False
    assert stored[7]["first_name"] is None
    assert stored[8]["active"] is True
    assert run.params["columns"] == [
        [0, "id"],
        [2, "email"],
        [3, "last_name"],
        [4, "country"],
        [5, "active"],
    ]


def test_missing_required_column_fails_the_run_and_writes_nothing(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport()
    path = write_rows(
        tmp_path / "no-country.csv",
        ["id", "email", "last_name"],
        [["1", "ada@example.com", "Lovelace"]],
    )
    run = engine.import_file("customers", path)
    assert run.status == "failed"
    assert run.error is not None
    assert "missing required column(s): country" in run.error
    assert run.finished_at is not None
    assert run.processed == 0
    assert table_rows(engine, customers, "id") == {}
    assert failures_of(engine, run.id) == []


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("code,name,Code", "column 'Code' appears twice in the header"),
        ("code,,name", "column 2 of the header has no name"),
    ],
)
def test_ambiguous_header_fails_the_run(
    make_jobport: MakeJobport, tmp_path: Path, header: str, message: str
) -> None:
    engine = make_jobport(app="tests.apps.people")
    path = tmp_path / "people.csv"
    path.write_text(f"{header}\nA,Ada,A\n", encoding="utf-8")
    run = engine.import_file("people", path)
    assert run.status == "failed"
    assert run.error == message
    assert table_rows(engine, people, "code") == {}


def test_failed_rows_keep_line_numbers_after_quoted_newlines(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport(app="tests.apps.people")
    path = tmp_path / "people.csv"
    path.write_text(
        'code,name,age\nA,"Ada\nof London",36\nB,,41\n\nC,Carl,-1\nD,Dora,\n', encoding="utf-8"
    )
    run = engine.import_file("people", path)
    assert run.status == "completed_with_errors"
    assert [(f["line"], f["column"], f["message"]) for f in failures_of(engine, run.id)] == [
        (4, "name", "name: is required"),
        (6, "age", "age: must be at least 0"),
    ]
    stored = table_rows(engine, people, "code")
    assert stored["A"]["name"] == "Ada\nof London"
    assert stored["D"]["age"] is None


def test_wrong_field_count_is_a_row_failure(make_jobport: MakeJobport, tmp_path: Path) -> None:
    engine = make_jobport(app="tests.apps.people")
    path = tmp_path / "people.csv"
    path.write_text("code,name,age\nA,Ada,36\nB,Bob\nC,Cy,3,extra\n", encoding="utf-8")
    run = engine.import_file("people", path)
    failures = failures_of(engine, run.id)
    assert [(f["line"], f["message"]) for f in failures] == [
        (3, "expected 3 fields, found 2: the row has no age"),
        (
            4,
            "expected 3 fields, found 4: more than the header "
            "(a value holding the delimiter, not quoted?)",
        ),
    ]
    assert failures[1]["raw"]["_extra"] == ["extra"]
    assert set(table_rows(engine, people, "code")) == {"A"}


def test_invalid_bytes_fail_only_their_row(make_jobport: MakeJobport, tmp_path: Path) -> None:
    engine = make_jobport(app="tests.apps.people")
    path = tmp_path / "people.csv"
    # Valid UTF-8 beside the bad byte: a damaged UTF-8 file, not one in another encoding.
    path.write_bytes(b"code,name\nA,Ada\nB,B\xffb\nC," + "Zoë Ünal".encode() + b"\n")
    run = engine.import_file("people", path)
    assert run.status == "completed_with_errors"
    [failure] = failures_of(engine, run.id)
    assert (failure["line"], failure["column"]) == (3, "name")
    assert failure["message"].startswith("the row holds bytes that are invalid in the file's")
    # The row's cells are kept, the bad byte shown: the error report holds it, to fix there.
    assert failure["raw"] == {"code": "B", "name": "B\ufffdb"}
    assert set(table_rows(engine, people, "code")) == {"A", "C"}


# -- duplicates, upserts, transforms ------------------------------------------------------------


def test_later_row_wins_within_a_chunk_and_across_chunks(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport(app="tests.apps.people")
    assert people_app.CHUNK_SIZE == 3
    rows = [
        ["A", "first A", "1"],  # chunk 0
        ["B", "first B", "2"],
        ["A", "second A", "3"],  # same chunk: this one wins over line 2 ...
        ["C", "only C", "4"],  # chunk 1
        ["D", "first D", "5"],
        ["E", "only E", "6"],
        ["A", "third A", "7"],  # chunk 2: ... and this one over both
        ["D", "second D", "8"],
        ["B", "invalid B", "-1"],  # an invalid later row does not override a valid one
        ["F", "only F", "9"],  # chunk 3
    ]
    path = write_rows(tmp_path / "dupes.csv", ["code", "name", "age"], rows)
    run = engine.import_file("people", path)
    assert run.chunks_total == 4
    assert (run.total, run.processed, run.failed) == (10, 10, 1)
    stored = table_rows(engine, people, "code")
    assert {code: row["name"] for code, row in stored.items()} == {
        "A": "third A",
        "B": "first B",
        "C": "only C",
        "D": "second D",
        "E": "only E",
        "F": "only F",
    }
    assert stored["A"]["age"] == 7


def test_upsert_updates_existing_rows(make_jobport: MakeJobport, tmp_path: Path) -> None:
    engine = make_jobport(app="tests.apps.people")
    first = write_rows(
        tmp_path / "1.csv", ["code", "name", "age"], [["A", "Ada", "36"], ["B", "Bob", "40"]]
    )
    second = write_rows(
        tmp_path / "2.csv", ["code", "name", "age"], [["B", "Robert", ""], ["C", "Cy", "5"]]
    )
    assert engine.import_file("people", first).status == "completed"
    assert engine.import_file("people", second).status == "completed"
    stored = table_rows(engine, people, "code")
    assert {code: (row["name"], row["age"]) for code, row in stored.items()} == {
        "A": ("Ada", 36),
        "B": ("Robert", None),
        "C": ("Cy", 5),
    }


def test_transform_reshapes_and_skips_rows(make_jobport: MakeJobport, tmp_path: Path) -> None:
    engine = make_jobport(app="tests.apps.people")
    rows = [
        ["A", "ada", "36"],
        ["B", "skip", "1"],
        ["C", "explode", "2"],
        ["D", "dora", "x"],  # invalid: never reaches the transform
        ["E", "eve", "50"],
    ]
    path = write_rows(tmp_path / "shout.csv", ["code", "name", "age"], rows)
    run = engine.import_file("people-shout", path)
    assert run.status == "completed_with_errors"
    assert (run.processed, run.failed) == (5, 2)
    failures = failures_of(engine, run.id)
    assert [(f["line"], f["column"]) for f in failures] == [(4, None), (5, "age")]
    assert failures[0]["message"] == "transform failed: cannot shout this name"
    stored = table_rows(engine, people, "code")
    assert {code: (r["name"], r["nickname"], r["age"]) for code, r in stored.items()} == {
        "A": ("ADA", "ada", None),
        "E": ("EVE", "eve", None),
    }


def test_a_crashing_chunk_fails_the_run_and_retry_finishes_it(
    make_jobport: MakeJobport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_jobport(app="tests.apps.people")
    rows = [[f"P{i}", "flaky" if i == 4 else f"Person {i}", str(i)] for i in range(10)]
    path = write_rows(tmp_path / "flaky.csv", ["code", "name", "age"], rows)
    monkeypatch.setitem(people_app.FLAKY, "broken", True)

    run = engine.import_file("people-flaky", path)
    assert run.status == "failed"
    assert run.error == (
        "chunk 1 failed after 3 attempt(s): RuntimeError: the flaky dependency is down"
    )
    assert (run.processed, run.chunks_done) == (3, 1)  # chunk 0 committed before
    assert [c["status"] for c in engine.store.chunks(run.id)] == [
        "done",
        "failed",
        "pending",
        "pending",
    ]
    assert set(table_rows(engine, people, "code")) == {"P0", "P1", "P2"}

    monkeypatch.setitem(people_app.FLAKY, "broken", False)
    engine.retry(run.id)
    done = engine.run(run.id)
    assert done.status == "completed"
    assert (done.total, done.processed, done.failed, done.chunks_done) == (10, 10, 0, 4)
    assert done.error is None
    assert len(table_rows(engine, people, "code")) == 10
    with pytest.raises(RunStateError, match="nothing to resume"):
        engine.resume(run.id)


# -- whole-file outcomes ------------------------------------------------------------------------


def test_header_only_file_completes_with_nothing_to_do(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport()
    path = tmp_path / "header.csv"
    path.write_text(",".join(COLUMNS) + "\n", encoding="utf-8")
    run = engine.import_file("customers", path)
    assert run.status == "completed"
    assert (run.total, run.processed, run.failed, run.chunks_total) == (0, 0, 0, 0)
    assert run.error is None


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file_fails_with_a_clear_error(
    make_jobport: MakeJobport, tmp_path: Path, content: bytes
) -> None:
    engine = make_jobport()
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    run = engine.import_file("customers", path)
    assert run.status == "failed"
    assert run.error is not None
    assert "the file is empty" in run.error


def test_zip_sent_as_csv_fails_with_a_clear_error(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport()
    path = tmp_path / "customers.csv"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("customers.csv", "id,email\n1,a@b.co\n")
    run = engine.import_file("customers", path)
    assert run.status == "failed"
    assert run.error is not None
    assert "sent as CSV" in run.error
    assert table_rows(engine, customers, "id") == {}


def test_unbalanced_quote_fails_the_run_naming_the_line(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport(app="tests.apps.people")
    path = tmp_path / "broken.csv"
    path.write_text('code,name\nA,Ada\nB,"Bob\nC,Cy\n', encoding="utf-8")
    run = engine.import_file("people", path)
    assert run.status == "failed"
    assert run.error is not None
    assert "line 3" in run.error


def test_semicolon_utf16_file_imports(make_jobport: MakeJobport, tmp_path: Path) -> None:
    engine = make_jobport(app="tests.apps.people")
    path = tmp_path / "excel.csv"
    path.write_bytes("code;name;age\r\nÅ;Åsa;30\r\nØ;Øyvind;31\r\n".encode("utf-16"))
    run = engine.import_file("people", path)
    assert run.status == "completed", run.error
    assert {c: r["name"] for c, r in table_rows(engine, people, "code").items()} == {
        "Å": "Åsa",
        "Ø": "Øyvind",
    }


# -- progress -----------------------------------------------------------------------------------


def test_total_is_known_before_the_first_chunk_runs(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport(app="tests.apps.people")
    recorder = Recorder()
    engine.dispatcher.executor = recorder
    rows = [[f"P{i}", f"Person {i}", str(i)] for i in range(10)]
    path = write_rows(tmp_path / "ten.csv", ["code", "name", "age"], rows)

    queued = engine.import_file("people", path)
    assert queued.status == "queued"
    assert (queued.total, queued.processed, queued.chunks_total) == (10, 0, 4)
    assert queued.started_at is None
    assert recorder.submitted == [(queued.id, [0, 1, 2, 3])]
    assert table_rows(engine, people, "code") == {}

    InlineExecutor(engine.worker_context).submit(queued.id, [0])
    partial = engine.run(queued.id)
    assert partial.status == "running"
    assert (partial.processed, partial.chunks_done) == (3, 1)
    assert partial.started_at is not None
    assert partial.eta_seconds is not None

    InlineExecutor(engine.worker_context).submit(queued.id, [1, 2, 3])
    done = engine.run(queued.id)
    assert done.status == "completed"
    assert (done.processed, done.failed, done.chunks_done) == (10, 0, 4)
    assert len(table_rows(engine, people, "code")) == 10


def test_counters_at_the_end(make_jobport: MakeJobport, tmp_path: Path) -> None:
    engine = make_jobport()
    path = tmp_path / "c.csv"
    invalid = write_csv(path, 40, dirty=0.3, seed=5)
    run = engine.import_file("customers", path)
    assert run.status == "completed_with_errors"
    assert run.processed == run.total == 40
    assert run.failed == invalid == engine.store.list_failures(run.id)[1]
    assert run.rows_per_second is not None
    assert run.rows_per_second > 0
    assert run.eta_seconds == 0.0
    assert run.finished_at is not None
    assert run.started_at is not None
    assert run.finished_at >= run.started_at
    assert run.chunks_done == run.chunks_total == 1


def test_clean_file_completes_without_errors(make_jobport: MakeJobport, tmp_path: Path) -> None:
    engine = make_jobport()
    path = tmp_path / "c.csv"
    assert write_csv(path, 25, dirty=0.0) == 0
    run = engine.import_file("customers", path)
    assert run.status == "completed"
    assert (run.processed, run.failed) == (25, 0)
    assert len(table_rows(engine, customers, "id")) == 25


# -- events -------------------------------------------------------------------------------------


def people_registry(*listeners: Any) -> JobRegistry:
    registry = load_app("tests.apps.people")
    for listener in listeners:
        registry.listen(listener)
    return registry


def ten_people(tmp_path: Path) -> Path:
    rows = [[f"P{i}", f"Person {i}", str(i if i != 4 else -4)] for i in range(10)]
    return write_rows(tmp_path / "ten.csv", ["code", "name", "age"], rows)


def test_listener_receives_progress_in_order_then_completed(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    events: list[JobEvent] = []
    engine = make_jobport(app=None, registry=people_registry(events.append))
    run = engine.import_file("people", ten_people(tmp_path))

    assert [e.name for e in events] == ["JobProgressed"] * 3 + ["JobCompleted"]
    assert all(e.run_id == run.id and e.type == "people" for e in events)
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert [e.processed for e in events] == [3, 6, 9, 10]
    assert [e.failed for e in events] == [0, 1, 1, 1]
    assert all(e.total == 10 for e in events)
    assert events[-1].status == "completed_with_errors"
    assert events[-1].seq == run.seq
    # The same events are kept for other processes, in the same order.
    assert engine.store.events_since(run.id, 0) == events
    assert engine.store.events_since(run.id, 2) == events[2:]


def test_listeners_are_called_in_order(make_jobport: MakeJobport, tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []
    registry = people_registry(
        lambda e: calls.append(("first", e.seq)), lambda e: calls.append(("second", e.seq))
    )
    engine = make_jobport(app=None, registry=registry)
    engine.import_file("people", ten_people(tmp_path))
    assert calls == [(name, seq) for seq in (1, 2, 3, 4) for name in ("first", "second")]


def test_a_broken_listener_is_logged_and_the_run_completes(
    make_jobport: MakeJobport, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def broken(event: JobEvent) -> None:
        raise RuntimeError("listener is broken")

    registry = people_registry(broken, lambda e: seen.append(e.name))
    engine = make_jobport(app=None, registry=registry)
    with caplog.at_level(logging.ERROR, logger="jobport"):
        run = engine.import_file("people", ten_people(tmp_path))
    assert run.status == "completed_with_errors"
    assert run.processed == 10
    assert seen == ["JobProgressed"] * 3 + ["JobCompleted"]
    logged = [r for r in caplog.records if r.name == "jobport.events"]
    assert len(logged) == 4
    assert all(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in logged)


def test_strategy_none_emits_only_the_final_event(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    events: list[JobEvent] = []
    engine = make_jobport(app=None, registry=people_registry(events.append))
    run = engine.import_file("people-quiet", ten_people(tmp_path))
    assert run.chunks_total == 4
    assert [(e.name, e.processed) for e in events] == [("JobCompleted", 10)]
    assert [e.name for e in engine.store.events_since(run.id, 0)] == ["JobCompleted"]


def test_types_without_broadcast_keep_events_in_process(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    events: list[JobEvent] = []
    engine = make_jobport(app=None, registry=people_registry(events.append))
    run = engine.import_file("people-private", ten_people(tmp_path))
    assert [e.name for e in events] == ["JobProgressed"] * 3 + ["JobCompleted"]
    assert engine.store.events_since(run.id, 0) == []


def test_failed_run_sends_job_failed(make_jobport: MakeJobport, tmp_path: Path) -> None:
    events: list[JobEvent] = []
    engine = make_jobport(app=None, registry=people_registry(events.append))
    path = write_rows(tmp_path / "nameless.csv", ["code"], [["A"]])
    run = engine.import_file("people", path)
    assert run.status == "failed"
    stored = engine.store.events_since(run.id, 0)
    assert [(e.name, e.status) for e in stored] == [("JobFailed", "failed")]
    assert stored[0].error == run.error


# -- options and roles --------------------------------------------------------------------------


def test_options_are_validated_against_the_type_schema(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport(app="tests.apps.people")
    path = ten_people(tmp_path)
    admin = {"is_admin": True}
    with pytest.raises(InputError, match=r"invalid options for 'people-options': limit: "):
        engine.import_file("people-options", path, options={"limit": "lots"}, **admin)
    with pytest.raises(InputError, match=r"limit: Field required"):
        engine.import_file("people-options", path, options={}, **admin)
    with pytest.raises(InputError, match=r"colour: Extra inputs are not permitted"):
        engine.import_file("people-options", path, options={"limit": 5, "colour": "red"}, **admin)
    with pytest.raises(InputError, match=r"invalid options for 'people'"):
        engine.import_file("people", path, options={"anything": 1})
    _, count = engine.store.list_runs()
    assert count == 0  # nothing was recorded for refused requests

    run = engine.import_file("people-options", path, options={"limit": "5"}, **admin)
    assert run.params["options"] == {"limit": 5, "dry_run": False}


def test_roles_are_checked(make_jobport: MakeJobport, tmp_path: Path) -> None:
    engine = make_jobport(app="tests.apps.people")
    path = ten_people(tmp_path)
    options = {"limit": 10}
    with pytest.raises(PermissionDenied, match="needs one of the roles: admin, importer"):
        engine.import_file("people-options", path, options=options, roles=frozenset({"viewer"}))
    run = engine.import_file("people-options", path, options=options, roles=frozenset({"importer"}))
    assert run.status == "completed_with_errors"


def test_retry_of_must_name_a_run_of_the_same_type(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport(app="tests.apps.people")
    path = ten_people(tmp_path)
    original = engine.import_file("people", path)
    with pytest.raises(InputError, match="is a 'people' run, not 'people-shout'"):
        engine.import_file("people-shout", path, retry_of=original.id)
    with pytest.raises(RunNotFound):
        engine.import_file("people", path, retry_of="no-such-run")
    child = engine.import_file("people", path, retry_of=original.id)
    assert child.retry_of == original.id
    assert engine.run(original.id).retried_by == (child.id,)


def test_declared_encoding_is_used(make_jobport: MakeJobport, tmp_path: Path) -> None:
    engine = make_jobport(app="tests.apps.people")
    path = tmp_path / "latin1.csv"
    path.write_bytes("code;name\nA;Zoë\n".encode("latin-1"))
    run = engine.import_file("people", path, read={"encoding": "latin-1"})
    assert run.status == "completed", run.error
    assert table_rows(engine, people, "code")["A"]["name"] == "Zoë"


def test_unknown_type_is_refused_before_anything_is_stored(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport()
    with pytest.raises(UnknownJobType, match="unknown job type 'nope'; known types"):
        engine.start(StartRequest(type="nope"), stream=io.BytesIO(b"id\n1\n"))
    assert not (tmp_path / "files" / "uploads").exists() or not any(
        (tmp_path / "files" / "uploads").iterdir()
    )


# -- a transform that reshapes only some rows (each row keeps its own columns) ------------------


@pytest.mark.parametrize("names", [["keep me", "shout"], ["shout", "keep me"]])
def test_transform_reshaping_only_some_rows(
    make_jobport: MakeJobport, tmp_path: Path, names: list[str]
) -> None:
    engine = make_jobport(app="tests.apps.people")
    rows = [[f"C{i}", name, str(30 + i)] for i, name in enumerate(names)]
    path = write_rows(tmp_path / "mixed.csv", ["code", "name", "age"], rows)
    run = engine.import_file("people-mixed", path)
    assert run.status == "completed", run.error
    stored = table_rows(engine, people, "code")
    kept = stored[f"C{names.index('keep me')}"]
    shouted = stored[f"C{names.index('shout')}"]
    assert (kept["name"], kept["age"], kept["nickname"]) == (
        "keep me",
        30 + names.index("keep me"),
        None,
    )
    assert (shouted["name"], shouted["nickname"]) == ("SHOUT", "nick")


def test_chunks_are_built_with_the_cycle_collector_paused(
    make_jobport: MakeJobport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk's rows are many small containers alive until it ends: no collector passes."""
    import gc

    from jobport import worker

    collector_on: list[bool] = []
    real_kind_for = worker.kind_for

    class Probe(JobKind):
        name = "probe"

        def __init__(self, kind: Any) -> None:
            self._kind = kind
            self.in_order = kind.in_order

        def run_chunk(self, task: Any) -> Any:
            collector_on.append(gc.isenabled())
            return self._kind.run_chunk(task)

    monkeypatch.setattr(worker, "kind_for", lambda name: Probe(real_kind_for(name)))
    assert gc.isenabled()
    engine = make_jobport(app="tests.apps.people")
    rows = [[f"P{i}", f"Person {i}", str(i)] for i in range(10)]
    path = write_rows(tmp_path / "p.csv", ["code", "name", "age"], rows)
    run = engine.import_file("people", path)
    assert (run.status, run.processed) == ("completed", 10)
    assert collector_on == [False] * 4
    assert gc.isenabled()  # switched back on after each chunk
