"""Encodings, through the real import path: what reaches the table is the text of the file.

UTF-8 with or without a BOM and UTF-16/32 with a BOM are detected; a file
that is not UTF-8 has its encoding detected (formats/csvfile/detect.py), or
read by option. Bytes invalid in the chosen encoding fail their row and never
reach the database as replacement characters (mojibake). A file holding valid
UTF-8 beside a few invalid bytes is damaged UTF-8: those rows fail.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from tests.hardening.support import (
    DEMO_HEADER,
    customer,
    failures,
    ids,
    import_bytes,
    refusal,
    table,
)

from jobport import Jobport
from jobport.errors import InputError

UNDECODABLE = (
    "the row holds bytes that are invalid in the file's encoding, shown as \ufffd: write the "
    "text there again (or save the whole file in one encoding)"
)
NAMES = ["Zoë", "Łukasz", "Ærøskøbing", "Ünal", "Nguyễn", "😀 Smile"]


def named(text_rows: list[tuple[int, str]]) -> bytes:
    """A demo file (as str) whose rows carry the given last names."""
    header = DEMO_HEADER.decode()
    return (
        (header + "".join(customer(i, last_name="{}").decode() for i, _ in text_rows))
        .format(*(name for _, name in text_rows))
        .encode("utf-8")
    )


def last_names(engine: Jobport) -> list[tuple[int, str]]:
    return [(row["id"], row["last_name"]) for row in table(engine)]


def no_replacement_characters(engine: Jobport) -> bool:
    return all("\ufffd" not in str(value) for row in table(engine) for value in row.values())


ROWS = list(enumerate(NAMES, start=1))


def test_utf8_without_bom(engine: Jobport, tmp_path: Path) -> None:
    run = import_bytes(engine, tmp_path, named(ROWS))
    assert run.status == "completed"
    assert last_names(engine) == ROWS


def test_utf8_with_bom(engine: Jobport, tmp_path: Path) -> None:
    """The BOM is not part of the first column's name, so ``id`` still matches."""
    run = import_bytes(engine, tmp_path, codecs.BOM_UTF8 + named(ROWS))
    assert run.status == "completed"
    assert last_names(engine) == ROWS


@pytest.mark.parametrize(
    ("codec", "bom"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-32-le", codecs.BOM_UTF32_LE),
        ("utf-32-be", codecs.BOM_UTF32_BE),
    ],
)
@pytest.mark.parametrize("ending", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_utf16_and_utf32_with_bom_are_detected(
    engine: Jobport, tmp_path: Path, codec: str, bom: bytes, ending: str
) -> None:
    text = named(ROWS).decode().replace("\n", ending)
    run = import_bytes(engine, tmp_path, bom + text.encode(codec))
    assert run.status == "completed"
    assert last_names(engine) == ROWS


def test_latin1_by_option(engine: Jobport, tmp_path: Path) -> None:
    rows = [(1, "Müller"), (2, "Ærø"), (3, "Ça va")]
    data = named(rows).decode().encode("latin-1")
    run = import_bytes(engine, tmp_path, data, read={"encoding": "latin-1"})
    assert run.status == "completed"
    assert last_names(engine) == rows


def test_latin1_without_the_option_is_detected_and_imported(
    engine: Jobport, tmp_path: Path
) -> None:
    """Not UTF-8: the encoding is detected (named cp1252, which reads latin-1's letters
    alike), every row is written as the file's text, and the run says how it was read."""
    rows = [(1, "Muller"), (2, "Müller"), (3, "Smith"), (4, "Ærø")]
    data = named(rows).decode().encode("latin-1")
    run = import_bytes(engine, tmp_path, data)
    assert run.status == "completed"
    assert last_names(engine) == rows
    assert run.params["layout"]["file_encoding"] == "cp1252"
    assert run.params["layout"]["encoding_detected"] is True


def test_windows_1252_by_option(engine: Jobport, tmp_path: Path) -> None:
    rows = [(1, "€uro"), (2, "“Quoted”"), (3, "Œuvre")]
    data = named(rows).decode().encode("cp1252")
    run = import_bytes(engine, tmp_path, data, read={"encoding": "cp1252"})
    assert run.status == "completed"
    assert last_names(engine) == rows


def test_byte_undefined_in_the_chosen_single_byte_encoding_fails_its_row(
    engine: Jobport, tmp_path: Path
) -> None:
    """0x81 has no character in Windows-1252."""
    data = named([(1, "A"), (2, "B@"), (3, "C")]).replace(b"B@", b"B\x81")
    run = import_bytes(engine, tmp_path, data, read={"encoding": "cp1252"})
    assert run.status == "completed_with_errors"
    assert failures(engine, run.id) == [(3, UNDECODABLE)]
    assert ids(engine) == [1, 3]


def test_the_bom_wins_over_the_encoding_option(engine: Jobport, tmp_path: Path) -> None:
    run = import_bytes(
        engine, tmp_path, codecs.BOM_UTF8 + named(ROWS), read={"encoding": "latin-1"}
    )
    assert run.status == "completed"
    assert last_names(engine) == ROWS


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"\xff", id="never-valid-byte"),
        pytest.param(b"\xc3\x28", id="bad-continuation"),
        pytest.param(b"\xe2\x82", id="truncated-sequence"),
        pytest.param(b"\xc0\xaf", id="overlong-slash"),
        pytest.param(b"\xed\xa0\x80", id="encoded-surrogate"),
        pytest.param(b"\xf4\x90\x80\x80", id="beyond-u10ffff"),
    ],
)
def test_invalid_utf8_fails_its_row_and_the_others_are_imported(
    engine: Jobport, tmp_path: Path, bad: bytes
) -> None:
    rows = [customer(i) for i in range(1, 12)]
    for i, name in enumerate(NAMES):  # valid UTF-8 around the bad bytes: a damaged UTF-8 file
        rows[i] = customer(i + 1, last_name="{}").decode().format(name).encode()
    rows[6] = customer(7, last_name="Love@lace").replace(b"@lace", bad + b"lace")
    run = import_bytes(engine, tmp_path, DEMO_HEADER + b"".join(rows))

    assert run.status == "completed_with_errors"
    assert failures(engine, run.id) == [(8, UNDECODABLE)]
    assert ids(engine) == [i for i in range(1, 12) if i != 7]
    assert no_replacement_characters(engine)


def test_invalid_utf8_inside_a_multiline_quoted_field(engine: Jobport, tmp_path: Path) -> None:
    bad = customer(2, first_name='"first line\nbad # line"').replace(b"#", b"\xff")
    utf8 = customer(3, last_name="Zoë Ünal").decode().encode()
    data = DEMO_HEADER + customer(1, first_name='"two\nlines"') + bad + utf8
    run = import_bytes(engine, tmp_path, data)
    assert run.status == "completed_with_errors"
    assert failures(engine, run.id) == [(4, UNDECODABLE)]
    assert [(r["id"], r["first_name"]) for r in table(engine)] == [(1, "two\nlines"), (3, "Ada")]
    assert no_replacement_characters(engine)


def test_invalid_bytes_in_the_header_fail_the_run(engine: Jobport, tmp_path: Path) -> None:
    utf8 = customer(1, last_name="Zoë Ünal").decode().encode()  # the rest is UTF-8
    data = DEMO_HEADER.replace(b"first_name", b"first_n\xe4me") + utf8
    run = import_bytes(engine, tmp_path, data)
    assert run.status == "failed"
    assert run.error == "the header is not valid utf-8; pass the file's encoding"
    assert table(engine) == []


def test_unknown_encoding_option_is_refused_before_any_run(engine: Jobport, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="encoding: unknown encoding 'klingon'"):
        import_bytes(engine, tmp_path, named(ROWS), read={"encoding": "klingon"})
    assert engine.store.list_runs()[1] == 0
    assert table(engine) == []


@pytest.mark.parametrize("encoding", ["rot13", "hex", "base64", "idna"])
def test_non_text_codec_as_encoding_is_refused_clearly(
    engine: Jobport, tmp_path: Path, encoding: str
) -> None:
    message = refusal(engine, tmp_path, named(ROWS), read={"encoding": encoding})
    assert encoding in message
    assert table(engine) == []


def test_invalid_utf16_fails_its_row_and_the_others_are_imported(
    engine: Jobport, tmp_path: Path
) -> None:
    def utf16(data: bytes) -> bytes:
        return data.decode().encode("utf-16-le")

    data = (
        codecs.BOM_UTF16_LE
        + utf16(DEMO_HEADER + customer(1))
        + utf16(b"2,c2@example.com,Ada,Love")
        + b"\x00\xd8"  # a high surrogate with no low one after it
        + utf16(b"lace,GB,2024-01-31,1.00,true,36,0.5\n" + customer(3))
    )
    run = import_bytes(engine, tmp_path, data)
    assert run.status == "completed_with_errors"
    assert failures(engine, run.id) == [(3, UNDECODABLE)]
    assert ids(engine) == [1, 3]


def test_utf16_without_bom_by_option(engine: Jobport, tmp_path: Path) -> None:
    data = named(ROWS).decode().encode("utf-16-le")
    run = import_bytes(engine, tmp_path, data, read={"encoding": "utf-16-le"})
    assert run.status == "completed"
    assert last_names(engine) == ROWS


def test_utf16_option_without_a_bom_is_refused_clearly(engine: Jobport, tmp_path: Path) -> None:
    """A UTF-8 file sent with encoding=utf-16 (a plain user mistake) is refused, not a crash."""
    message = refusal(engine, tmp_path, named(ROWS), read={"encoding": "utf-16"})
    assert "utf-16" in message
    assert table(engine) == []


def test_invalid_utf8_after_a_bare_cr_in_the_same_chunk(notes: Jobport, tmp_path: Path) -> None:
    """A CR inside quotes stays field content; the invalid row alone is refused."""
    utf8 = "k3,thrée été,3\n".encode()  # the rest is UTF-8: a damaged UTF-8 file
    data = b'code,body,n\nk1,"one\rstill one",1\nk2,thr\xffee,2\n' + utf8
    run = import_bytes(notes, tmp_path, data, "notes")
    assert failures(notes, run.id) == [(3, UNDECODABLE)]
    assert [row["code"] for row in table(notes, "notes", "code")] == ["k1", "k3"]
    assert all(
        "\ufffd" not in str(v) for row in table(notes, "notes", "code") for v in row.values()
    )


def test_invalid_utf8_after_a_bare_cr_line_end(notes: Jobport, tmp_path: Path) -> None:
    """A CR outside quotes ends a line (read with bare-CR line ends from there on)."""
    utf8 = "k3,thrée été,3\n".encode()
    data = b"code,body,n\nk1,one,1\rk2,thr\xffee,2\n" + utf8
    run = import_bytes(notes, tmp_path, data, "notes")
    assert failures(notes, run.id) == [(3, UNDECODABLE)]
    assert [(row["code"], row["body"]) for row in table(notes, "notes", "code")] == [
        ("k1", "one"),
        ("k3", "thrée été"),
    ]
