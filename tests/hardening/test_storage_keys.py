"""Storage keys: no user-supplied name or path ever reaches the file system.

Keys are made by the engine (``<area>/<uuid hex><allowed extension>``) and
``FileStore.path`` refuses anything else, so path traversal is impossible by
construction: these tests try it anyway, at the key and at the upload name.
"""

from __future__ import annotations

import inspect
import io
import os
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.hardening.support import DEMO_HEADER, customer, ids, make_engine, uploads

from jobport import Jobport, StartRequest
from jobport.errors import InputError, JobportError
from jobport.files import FileStore

HEX = "0123456789abcdef" * 2
KEY_SHAPE = re.compile(r"(uploads|results|work)/[0-9a-f]{32}(\.[a-z0-9]{1,8})?")
CSV = DEMO_HEADER + customer(1)


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(str(tmp_path / "files"))


BAD_KEYS = [
    "",
    "../etc/passwd",
    "uploads/../../etc/passwd",
    f"uploads/{HEX}/../../../etc/passwd",
    f"uploads/../uploads/{HEX}",
    "/etc/passwd",
    f"/uploads/{HEX}",
    f"./uploads/{HEX}",
    f"uploads//{HEX}",
    f"uploads/{HEX}/",
    f"uploads\\{HEX}",
    f"uploads\\..\\..\\{HEX}",
    f"..\\..\\windows\\{HEX}",
    "uploads/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    f"uploads%2f{HEX}",
    f"uploads/{HEX}\x00.csv",
    f"uploads/{HEX}.csv\x00",
    f"uploads/{HEX}.csv/..",
    f"uploads/{HEX}.csv.exe",
    f"uploads/{HEX}.toolongext",
    f"uploads/{HEX}.",
    f"uploads/{HEX}.CSV",
    f"uploads/{HEX.upper()}",
    f"uploads/{HEX[:-1]}",
    f"uploads/{HEX}0",
    "uploads/" + "\uff10" * 32,  # full-width zeros: digits to Unicode, not to the pattern
    f"UPLOADS/{HEX}",
    f"secrets/{HEX}",
    f"uploads/{HEX}" + "a" * 10_000,
    "uploads/" + "../" * 1_000 + "etc/passwd",
    f"file:///uploads/{HEX}",
    f"s3://bucket/uploads/{HEX}",
    f"~/uploads/{HEX}",
    f" uploads/{HEX}",
    f"uploads/{HEX} ",
    f"\nuploads/{HEX}",
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=[repr(k)[:40] for k in BAD_KEYS])
def test_path_refuses_anything_but_an_engine_key(store: FileStore, key: str) -> None:
    with pytest.raises(InputError, match="invalid storage key"):
        store.path(key)
    for use in (store.exists, store.size, store.delete):
        with pytest.raises(InputError, match="invalid storage key"):
            use(key)
    with pytest.raises(InputError, match="invalid storage key"), store.open(key, "wb"):
        pass
    with pytest.raises(InputError, match="invalid storage key"):
        store.copy_out(key, io.BytesIO())


def test_path_refuses_a_key_with_a_trailing_newline(store: FileStore) -> None:
    with pytest.raises(InputError, match="invalid storage key"):
        store.path(f"uploads/{HEX}\n")


@pytest.mark.parametrize(
    "key", [f"uploads/{HEX}", f"results/{HEX}.csv", f"work/{HEX}.xlsx", f"uploads/{HEX}.a1"]
)
def test_engine_shaped_keys_stay_under_the_root(store: FileStore, key: str) -> None:
    path = store.path(key)
    assert path == f"{store.root}/{key}"
    assert os.path.normpath(path) == path


@given(
    st.one_of(
        st.text(max_size=80),
        st.builds(
            lambda prefix, area, body, suffix: f"{prefix}{area}/{body}{suffix}",
            st.sampled_from(["", "/", "../", "./", "\\", "%2e", " "]),
            st.sampled_from(["uploads", "results", "work", "..", "Uploads"]),
            st.text(alphabet="0123456789abcdef/.\\%\x00", min_size=30, max_size=36),
            st.sampled_from(["", ".csv", "/..", "\x00", "\n", ".CSV", "/../../etc/passwd"]),
        ),
    )
)
def test_any_key_is_refused_or_resolves_inside_the_root(key: str) -> None:
    """Whatever the text, ``path`` either refuses it or names a file directly in an area."""
    store = FileStore.__new__(FileStore)
    store.root = "/srv/jobport-files"
    try:
        path = store.path(key)
    except InputError:
        return
    assert KEY_SHAPE.match(key)
    assert os.path.normpath(path) == path.rstrip("\n")
    assert os.path.commonpath([store.root, path]) == store.root
    assert path.count("/") == store.root.count("/") + 2


@given(area=st.sampled_from(["uploads", "results", "work"]), extension=st.text(max_size=20))
def test_new_keys_always_have_the_key_shape(area: str, extension: str) -> None:
    """The extension is kept only if it is short, lower-case letters and digits."""
    store = FileStore.__new__(FileStore)
    key = store.new_key(area, extension)
    assert KEY_SHAPE.fullmatch(key), key


def test_put_takes_no_name_at_all() -> None:
    """By construction: storing a file takes bytes and an extension, never a name or path."""
    for method in (FileStore.put_stream, FileStore.put_file):
        params = set(inspect.signature(method).parameters)
        assert not params & {"name", "filename", "key", "path"}


# -- upload names never reach the file system --------------------------------------------------

NAMES = [
    "../../etc/passwd",
    "../outside/pwned.csv",
    "/etc/passwd",
    "..\\..\\outside\\pwned.csv",
    "%2e%2e%2foutside%2fpwned.csv",
    "pwned.csv\x00.sh",
    "pwned.csv/../../../outside/x",
    f"uploads/{HEX}.csv",
    "~/.bashrc",
    "file:///etc/passwd",
    "s3://bucket/pwned.csv",
    "CON.csv",
    "x" * 5_000 + ".csv",
    "",
    "résumé 😀.csv",
]


@pytest.mark.parametrize("name", NAMES, ids=[repr(n)[:40] for n in NAMES])
def test_upload_names_never_reach_the_file_system(
    engine: Jobport, tmp_path: Path, name: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("untouched")
    before = {p for p in tmp_path.rglob("*") if "files" not in p.parts}

    run = engine.start(StartRequest(type="customers", source_name=name), stream=io.BytesIO(CSV))

    assert run.status == "completed"
    assert ids(engine) == [1]
    assert run.source_key is not None
    assert KEY_SHAPE.fullmatch(run.source_key)
    assert run.source_key != name
    # Kept for people to read (printable characters only), never used as a path.
    assert run.source_name == "".join(ch for ch in name if ch.isprintable())[-200:]
    stored = tmp_path / "files" / run.source_key
    assert stored.read_bytes() == CSV
    after = {p for p in tmp_path.rglob("*") if "files" not in p.parts}
    new = {p for p in after - before if not p.name.startswith("s.db")}
    assert new == set()
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert not Path("/etc/passwd.csv").exists()


@pytest.mark.postgres
@pytest.mark.parametrize("name", ["pwned.csv\x00.sh", "x" * 5_000 + ".csv"], ids=["nul", "long"])
def test_odd_upload_names_on_postgresql(fresh_postgres: str, tmp_path: Path, name: str) -> None:
    with make_engine(tmp_path, database_url=fresh_postgres) as engine:
        try:
            run = engine.start(
                StartRequest(type="customers", source_name=name), stream=io.BytesIO(CSV)
            )
        except JobportError:
            assert uploads(tmp_path) == []
            return
        assert run.status == "completed"
        assert ids(engine) == [1]


@pytest.mark.parametrize(
    ("name", "extension"),
    [
        ("customers.csv", ".csv"),
        ("CUSTOMERS.CSV", ".csv"),
        ("data.tsv", ".tsv"),
        ("book.xlsx", ".xlsx"),
        ("evil.php", ""),
        ("evil.csv.php", ""),
        ("evil.php.csv", ".csv"),
        ("evil.csv\x00.sh", ""),
        ("evil.csv/../x", ""),
        ("noextension", ""),
        (".csv", ""),
        ("trailing.", ""),
        ("../../etc/passwd", ""),
    ],
)
def test_only_allow_listed_extensions_are_kept(engine: Jobport, name: str, extension: str) -> None:
    key = engine.dispatcher.store_upload(io.BytesIO(CSV), name)
    assert KEY_SHAPE.fullmatch(key)
    suffix = key.split("/", 1)[1][32:]
    assert suffix == extension


def test_importing_a_missing_or_unreadable_path_is_an_input_error(
    engine: Jobport, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="cannot read"):
        engine.import_file("customers", tmp_path / "missing.csv")
    with pytest.raises(InputError, match="cannot read"):
        engine.import_file("customers", tmp_path)
