"""A format of another package joins through the ``jobport.formats`` entry point group.

The package is written into a folder with a ``.dist-info`` (metadata and
``entry_points.txt``), as pip installs one, so it is found by the real
``importlib.metadata.entry_points`` lookup: in this process for the registry,
and through ``PYTHONPATH`` by the CLI and its worker processes for an import.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from jobport.errors import ConfigurationError, InputError
from jobport.formats import FORMATS, FormatSpec
from jobport.formats.spec import FormatRegistry
from jobport.store import make_engine

ROOT = Path(__file__).resolve().parents[2]

#: A fixed-width reader: a column starts where its header name starts.
PLUGIN = '''
"""Fixed-width text files, as another package would declare them."""

from __future__ import annotations

from typing import Any

from jobport.formats import FormatSpec, Prepared


def _starts(header: str) -> list[int]:
    return [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]


class FixedWidth:
    name = "fixed"

    def sniff(self, head: bytes) -> bool:
        return b"\\x00" not in head and head[:1].isalpha()

    def prepare(self, files: Any, key: str, read: Any) -> Prepared:
        with files.open(key) as stream:
            line = stream.readline()
        header = line.decode("utf-8").rstrip("\\r\\n")
        starts = _starts(header)
        names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        return Prepared(key, names, {"starts": starts, "data_offset": len(line)})

    def plan(self, files: Any, prepared: Prepared, rows_per_chunk: int) -> Any:
        start = offset = prepared.params["data_offset"]
        first = line = 2
        rows = 0
        with files.open(prepared.source_key) as stream:
            stream.seek(offset)
            for raw in stream:
                offset += len(raw)
                line += 1
                rows += 1
                if rows == rows_per_chunk:
                    yield {"start": start, "end": offset, "first_line": first, "rows": rows}
                    start, first, rows = offset, line, 0
        if rows:
            yield {"start": start, "end": offset, "first_line": first, "rows": rows}

    def read(self, files: Any, source_key: str, params: Any, spec: Any) -> Any:
        with files.open(source_key) as stream:
            stream.seek(spec["start"])
            text = stream.read(spec["end"] - spec["start"]).decode("utf-8")
        starts = params["starts"]
        ends = [*starts[1:], None]
        for number, line in enumerate(text.splitlines(), start=spec["first_line"]):
            yield number, [line[a:b].strip() or None for a, b in zip(starts, ends, strict=True)]


FORMAT = FormatSpec(
    name="fixed",
    suffixes=(".fwf",),
    media_type="text/plain; charset=utf-8",
    label="Fixed-width",
    reader=FixedWidth(),
)

NOT_A_FORMAT = 42
'''

APP = """
from tests.apps.people import Person, people

from jobport import Importer, JobRegistry, JobType

registry = JobRegistry()
registry.add(
    JobType(
        type="people-fixed",
        label="People (fixed width)",
        kind="import",
        model=people,
        handler=Importer(row=Person, key="code"),
        chunk_size=2,
        formats=("fixed",),
    )
)
"""

IMPORT = ("import", "people-fixed", "people.fwf", "--json")

FILE = """\
code  name        age
P1    Ada         36
P2    Grace       45
P3    Linus
P4    Barbara     x
P5    Margaret    33
"""


def install_plugin(site: Path, entry_points: str) -> None:
    """Write the plugin package and its dist-info, as ``pip install`` would lay them out."""
    (site / "jobport_fixedwidth").mkdir(parents=True)
    (site / "jobport_fixedwidth" / "__init__.py").write_text(PLUGIN)
    info = site / "jobport_fixedwidth-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: jobport-fixedwidth\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_an_entry_point_format_is_registered_and_a_broken_one_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    install_plugin(
        tmp_path,
        """\
        [jobport.formats]
        fixed = jobport_fixedwidth:FORMAT
        broken = jobport_fixedwidth:NOT_A_FORMAT
        missing = jobport_no_such_module:FORMAT
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = FormatRegistry()
    for spec in FORMATS.specs():
        if spec.origin == "jobport":
            registry.add(spec)
    with caplog.at_level(logging.ERROR, logger="jobport.formats.spec"):
        names = [spec.name for spec in registry.specs()]
    assert names == ["csv", "xlsx", "jsonl", "parquet", "fixed"]
    fixed = registry.get("fixed")
    assert fixed is not None
    assert fixed.origin == "entry point fixed"
    assert registry.by_suffix(".FWF") is fixed
    assert registry.media_type("fixed") == "text/plain; charset=utf-8"
    with pytest.raises(InputError, match="cannot write 'fixed' files; formats: csv, xlsx"):
        registry.writer("fixed")
    left_out = [r.getMessage() for r in caplog.records]
    assert any("'broken'" in m and "names a int, not a FormatSpec" in m for m in left_out)
    assert any("'missing'" in m and "jobport_no_such_module" in m for m in left_out)


def test_a_format_cannot_take_a_suffix_another_one_reads() -> None:
    registry = FormatRegistry(load_entry_points=False)
    registry.add(FORMATS.by_name["csv"])
    clash = FormatSpec(name="tabbed", suffixes=(".tsv",), media_type="text/plain")
    with pytest.raises(ConfigurationError, match=r"suffix \.tsv already belongs to 'csv'"):
        registry.add(clash)


def test_the_cli_imports_a_file_with_an_installed_format(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_plugin(site, "[jobport.formats]\nfixed = jobport_fixedwidth:FORMAT\n")
    (site / "fixedapp.py").write_text(APP)
    (tmp_path / "people.fwf").write_text(FILE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPORT_")}
    env.update(
        JOBPORT_DATABASE_URL=f"sqlite:///{tmp_path / 'state.db'}",
        JOBPORT_STORAGE_URL=str(tmp_path / "files"),
        PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]),
    )
    result = subprocess.run(
        [sys.executable, "-m", "jobport.cli", "--app", "fixedapp", *IMPORT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert (run["status"], run["total"], run["processed"], run["failed"]) == (
        "completed_with_errors",
        5,
        5,
        1,
    )
    assert run["chunks_total"] == 3
    engine = make_engine(env["JOBPORT_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT code, name, age FROM people ORDER BY code")).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [
        ("P1", "Ada", 36),
        ("P2", "Grace", 45),
        ("P3", "Linus", None),
        ("P5", "Margaret", 33),
    ]
