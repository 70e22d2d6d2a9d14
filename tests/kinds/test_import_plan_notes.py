"""What planning says of a file before any chunk runs: a detected encoding, bad locales."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import MakeJobport


def test_a_detected_encoding_is_named_in_the_runs_warnings(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    path = tmp_path / "cp1252.csv"
    path.write_bytes(
        "id,email,last_name,country\n1,a@b.org,Müller,DE\n2,c@d.org,François,FR\n".encode("cp1252")
    )
    engine = make_jobport()
    run = engine.wait(engine.import_file("customers", path).id)
    assert (run.status, run.processed, run.failed) == ("completed", 2, 0)
    assert "the file is not UTF-8: read it as cp1252 (detected)" in run.warnings


def test_a_utf8_file_has_no_encoding_warning(make_jobport: MakeJobport, tmp_path: Path) -> None:
    path = tmp_path / "utf8.csv"
    path.write_text("id,email,last_name,country\n1,a@b.org,Müller,DE\n", encoding="utf-8")
    engine = make_jobport()
    run = engine.wait(engine.import_file("customers", path).id)
    assert run.status == "completed"
    assert not any("UTF-8" in warning for warning in run.warnings)


def test_contradictory_locale_options_fail_the_run_at_planning(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    path = tmp_path / "eu.csv"
    path.write_text("id,email,last_name,country\n1,a@b.org,B,DE\n", encoding="utf-8")
    engine = make_jobport()
    run = engine.import_file("customers", path, read={"decimal": ".", "thousands": "."})
    assert run.status == "failed"
    assert run.chunks_total == 0  # refused before any chunk was planned, never retried
    assert run.error is not None
    assert "separators are both '.'" in run.error
