"""A format whose spec says its files do not split is imported as one chunk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from tests.conftest import MakeJobport

from jobport import StartRequest
from jobport.formats import FORMATS

#: Ten people: four chunks of the people types' three rows when the file splits.
PEOPLE = "code,name,age\n" + "".join(f"P{n},Person {n},{20 + n}\n" for n in range(10))


def import_people(make_jobport: MakeJobport, tmp_path: Path) -> tuple[int, int]:
    engine = make_jobport(app="tests.apps.people")
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE, encoding="utf-8")
    request = StartRequest(type="people", format="csv", source_name=path.name)
    run = engine.run(engine.start(request, path=path).id)
    assert run.status == "completed", run.error
    return run.chunks_total, run.processed


def test_a_file_of_a_splitting_format_is_cut_into_chunks(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    assert import_people(make_jobport, tmp_path) == (4, 10)


def test_a_file_of_a_format_that_does_not_split_is_one_chunk(
    make_jobport: MakeJobport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = FORMATS.get("csv")
    assert csv is not None
    monkeypatch.setitem(FORMATS.by_name, "csv", dataclasses.replace(csv, splits=False))
    assert import_people(make_jobport, tmp_path) == (1, 10)
