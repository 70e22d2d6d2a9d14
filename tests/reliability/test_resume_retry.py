"""Resume after a failure, retry of failed chunks, and retry of corrected failed rows.

Driven through the ``jobport`` command line where a user would be.
"""

from __future__ import annotations

import csv
import json

import pytest

from jobport.demo.data import DEFECTS, generate

from .app import MAX_ATTEMPTS
from .conftest import Place, write_customers, write_items

ROWS = 500  # 5 chunks of 100
BROKEN_ID = 250  # chunk 2


def failed_run(place: Place) -> tuple[str, dict[int, str]]:
    """A run whose chunk 2 failed for good; chunks 3 and 4 never started."""
    path = place.folder / "items.csv"
    names = write_items(path, ROWS, names={BROKEN_ID: "BROKEN"})
    run = place.jobport().import_file("items", path)
    assert run.status == "failed"
    assert run.error == (
        f"chunk 2 failed after {MAX_ATTEMPTS} attempt(s): "
        f"RuntimeError: row {BROKEN_ID} is broken until healed"
    )
    return run.id, names


def test_resume_after_a_failure_continues_from_the_unfinished_chunks(place: Place) -> None:
    run_id, names = failed_run(place)
    before = place.chunks(run_id)
    assert [c["status"] for c in before] == ["done", "done", "failed", "pending", "pending"]

    (place.flags / "healed").touch()  # the cause is fixed
    result = place.cli("resume", run_id, "--json")
    assert result.returncode == 0, result.stderr
    resumed = json.loads(result.stdout)
    assert (resumed["status"], resumed["processed"], resumed["failed"]) == ("completed", ROWS, 0)
    assert dict(place.table("items", "id", "name")) == names
    after = place.chunks(run_id)
    assert [c["attempts"] for c in after[:2]] == [c["attempts"] for c in before[:2]]  # not redone
    assert after[2]["attempts"] == MAX_ATTEMPTS + 1

    again = place.cli("resume", run_id)
    assert again.returncode == 1
    assert f"run {run_id} is completed; there is nothing to resume" in again.stderr
    retried = place.cli("retry", run_id)
    assert retried.returncode == 1
    assert f"run {run_id} is completed; there is nothing to retry" in retried.stderr


def test_retry_runs_only_the_failed_chunks_again(place: Place) -> None:
    run_id, names = failed_run(place)
    before = place.chunks(run_id)
    (place.flags / "healed").touch()
    result = place.cli("retry", run_id, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "completed"
    after = place.chunks(run_id)
    assert [c["status"] for c in after] == ["done"] * 5
    # The done chunks were not run again; the failed one was, once.
    assert [c["attempts"] for c in after[:2]] == [c["attempts"] for c in before[:2]] == [1, 1]
    assert (before[2]["attempts"], after[2]["attempts"]) == (MAX_ATTEMPTS, MAX_ATTEMPTS + 1)
    assert dict(place.table("items", "id", "name")) == names


def test_retry_of_a_run_without_failed_chunks_is_refused(place: Place) -> None:
    path = place.folder / "items.csv"
    write_items(path, ROWS)
    engine = place.jobport()
    run = place.planned(engine, "items", path)
    engine.cancel(run.id)
    result = place.cli("retry", run.id)
    assert result.returncode == 1
    assert "has no failed chunks to retry; use resume to continue it" in result.stderr


#: A correct value for each column a demo defect spoils.
FIXES = {
    "email": "fixed{id}@example.com",
    "last_name": "Fixed",
    "country": "FR",
    "age": "30",
    "signup_date": "2020-01-01",
    "balance": "10.00",
    "score": "1.5",
    "active": "true",
}


@pytest.mark.timeout(180)
def test_corrected_error_report_imported_as_a_linked_retry(place: Place) -> None:
    data = write_customers(place.folder / "customers.csv", 6_000, dirty=0.05, seed=21)
    first = place.cli("import", "customers", str(data.path), "--json")
    assert first.returncode == 0, first.stderr
    original = json.loads(first.stdout)
    assert original["failed"] == len(data.invalid_lines) > 0

    report = place.folder / "report.csv"
    written = place.cli("failures", original["id"], "--out", str(report))
    assert written.returncode == 0, written.stderr
    defects = {row.line: row.defect for row in generate(6_000, dirty=0.05, seed=21)}
    # The report starts with a UTF-8 byte order mark (for spreadsheets): read it as such.
    with open(report, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(int(row["line"]) for row in rows) == data.invalid_lines
    for row in rows:  # the user corrects each row where the report says it is wrong
        column = DEFECTS[str(defects[int(row["line"])])]
        row[column] = FIXES[column].format(id=row["id"])
    fixed = place.folder / "fixed.csv"
    with open(fixed, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    second = place.cli("import", "customers", str(fixed), "--retry-of", original["id"], "--json")
    assert second.returncode == 0, second.stderr
    child = json.loads(second.stdout)
    assert (child["status"], child["failed"], child["retry_of"]) == (
        "completed",
        0,
        original["id"],
    )
    shown = place.cli("status", original["id"], "--json")
    linked = json.loads(shown.stdout)
    assert linked["retried_by"] == [child["id"]]
    assert (linked["processed"], linked["failed"]) == (original["processed"], original["failed"])
    # Every customer is in now, once: the valid rows as they were, the others corrected.
    stored = dict(place.table("customers", "id", "email"))
    assert set(stored) == set(range(1, 6_001))
    assert all(stored[i] == email for i, email in data.valid.items())
