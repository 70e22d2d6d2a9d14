"""A CSV that is not UTF-8 has its encoding detected from its first MiB and is read in it;
a given encoding or a byte-order mark still decides, and UTF-8 files are left as they were."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from tests.conftest import MakeJobport
from tests.formats.support import read_all, stored

from jobport.demo import customers
from jobport.files import FileStore
from jobport.formats import ReadOptions, reader_for
from jobport.formats.csvfile.detect import SAMPLE_BYTES, guess_encoding, oddities

#: Typographic marks Excel writes in cp1252: a right quote, an en dash, curly double quotes.
APOSTROPHE, DASH, OPEN, CLOSE = "\u2019", "\u2013", "\u201c", "\u201d"
JUNIOR = f"O{APOSTROPHE}Brien {DASH} {OPEN}Jr{CLOSE}"

EXCEL = (
    "id,email,last_name,country,balance\n"
    "1,m@example.de,Müller,DE,963.16\n"
    "2,f@example.fr,François,FR,12.00\n"
    "3,n@example.es,Núñez,ES,5.50\n"
    f"4,o@example.ie,{JUNIOR},IE,1.00\n"
)


@pytest.mark.parametrize(
    ("text", "encoding", "named"),
    [
        (EXCEL + "5,e@example.fr,Prix en €,FR,1.00\n", "cp1252", "cp1252"),
        ("id,name\n1,Müller\n2,Ærøskøbing\n3,Señor\n", "latin-1", "cp1252"),  # same letters
        ("id,name\n1,café\n", "cp1252", "cp1252"),
        ("id,name\n1,Łódź\n2,Kraków\n", "cp1250", "cp1250"),
        ("id,name\n1,Dvořák\n2,Příliš žluťoučký kůň\n", "cp1250", "cp1250"),
        ("id,name\n1,Привет\n2,Москва\n", "cp1251", "cp1251"),
        ("id,name\n1,日本語のテキスト\n", "shift_jis", "cp932"),
        ("id,name\n1,25°C\n2,ACME®\n", "cp1252", "cp1252"),
    ],
)
def test_the_encoding_a_spreadsheet_wrote_is_told(text: str, encoding: str, named: str) -> None:
    data = text.encode(encoding)
    assert guess_encoding(data) == named
    assert data.decode(named) == text


@pytest.mark.parametrize(
    "data",
    [
        b"plain,ascii\n1,2\n",
        "id,name\n1,Zoë\n2,Nguyễn\n3,😀\n".encode(),
        # cut inside a character: the sample's end is not the file's
        "id,name\n1,Zoë".encode()[:-1],
        # damaged UTF-8: valid sequences outnumber the stray bytes
        "id,name\n1,Zoë\n2,Ünal\n".encode() + b"3,B\xffb\n",
    ],
)
def test_utf8_and_damaged_utf8_stay_utf8(data: bytes) -> None:
    assert guess_encoding(data) is None


@pytest.mark.parametrize("bad", [b"\xc3\x28", b"\xf4\x90\x80\x80"])
def test_stray_bytes_that_read_as_no_word_are_not_taken_for_an_encoding(bad: bytes) -> None:
    """Read as UTF-8, their row fails; guessed, they would be written as nonsense."""
    assert guess_encoding(b"id,name\n1,Love" + bad + b"lace,GB\n2,Smith,GB\n") is None


def test_oddities_are_what_a_wrong_encoding_makes_of_words() -> None:
    assert oddities(f"Łódź Kraków O{APOSTROPHE}Brien 25°C") == (0, 6)
    assert oddities("£ódŸ") == (2, 3)  # Łódź read as cp1252: a symbol, a capital inside
    assert oddities("cafй") == (1, 1)  # é read as cp1251: a Cyrillic letter in a Latin word


def test_a_detected_encoding_is_read_and_said(files: FileStore, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(EXCEL.encode("cp1252"))
    key = stored(files, path)
    prepared = reader_for("csv").prepare(files, key, ReadOptions())
    assert (prepared.params["file_encoding"], prepared.params["encoding_detected"]) == (
        "cp1252",
        True,
    )
    _, records, _ = read_all(files, "csv", key)
    assert [values[2] for _, values in records] == [
        "Müller",
        "François",
        "Núñez",
        JUNIOR,
    ]


def test_bare_cr_line_ends_in_a_detected_encoding(files: FileStore, tmp_path: Path) -> None:
    """The UTF-8 copy made for bare-CR line ends is made from the detected encoding."""
    path = tmp_path / "mac.csv"
    path.write_bytes(EXCEL.replace("\n", "\r").encode("cp1252"))
    _, records, _ = read_all(files, "csv", stored(files, path))
    assert [values[2] for _, values in records][:2] == ["Müller", "François"]


@pytest.mark.parametrize(
    ("data", "read", "said"),
    [
        (EXCEL.encode("cp1252"), {"encoding": "latin-1"}, "iso8859-1"),  # forced: no guess
        (codecs.BOM_UTF8 + EXCEL.encode(), {}, "utf-8"),
        (EXCEL.encode(), {}, "utf-8"),
    ],
)
def test_a_given_encoding_or_a_bom_decides_and_is_no_guess(
    files: FileStore, tmp_path: Path, data: bytes, read: dict[str, str], said: str
) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    prepared = reader_for("csv").prepare(files, stored(files, path), ReadOptions(**read))
    assert prepared.params["file_encoding"] == said
    assert "encoding_detected" not in prepared.params


def test_only_the_first_mib_is_looked_at(files: FileStore, tmp_path: Path) -> None:
    """Bounded: bytes past the sample cannot change the decision (their rows fail)."""
    line = b"1,m@example.de,Mueller,DE,963.16\n"
    padding = line * (SAMPLE_BYTES // len(line) + 1)
    path = tmp_path / "late.csv"
    late = "2,x@y.de,Müller,DE,1\n".encode("cp1252")
    path.write_bytes(EXCEL.split("\n", 1)[0].encode() + b"\n" + padding + late)
    prepared = reader_for("csv").prepare(files, stored(files, path), ReadOptions())
    assert prepared.params["file_encoding"] == "utf-8"
    assert "encoding_detected" not in prepared.params


def test_a_cp1252_file_imports_with_no_option_and_no_failure(
    tmp_path: Path, make_jobport: MakeJobport
) -> None:
    engine = make_jobport()
    path = tmp_path / "export.csv"
    path.write_bytes(EXCEL.encode("cp1252"))
    run = engine.import_file("customers", path)
    assert run.status == "completed", run.error
    assert run.failed == 0
    with engine.database.connect() as conn:
        names = sorted(r.last_name for r in conn.execute(customers.select()))
    assert names == sorted(["Müller", "François", "Núñez", JUNIOR])
    assert run.params["layout"]["file_encoding"] == "cp1252"
