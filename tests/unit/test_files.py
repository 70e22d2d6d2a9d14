"""Storing a local file: an exact, independent copy, refused whole when over the limit.

Local storage copies in the kernel; other storage streams. Both must behave
the same to the caller, so each test runs on both.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobport.errors import InputError, LimitExceeded
from jobport.files import FileStore


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FileStore]:
    if request.param == "local":
        yield FileStore(str(tmp_path / "files"))
    else:
        yield FileStore(f"memory://jobport-test-{uuid.uuid4().hex}")


def stored_uploads(store: FileStore) -> list[str]:
    root = f"{store.root}/uploads"
    return list(store.fs.ls(root)) if store.fs.exists(root) else []


def test_put_file_stores_an_exact_copy_that_later_edits_do_not_reach(
    store: FileStore, tmp_path: Path
) -> None:
    source = tmp_path / "source.csv"
    data = bytes(range(256)) * 5_000
    source.write_bytes(data)

    key, size = store.put_file(str(source), extension=".csv")
    source.write_bytes(b"changed after the upload")

    assert size == len(data)
    with store.open(key) as handle:
        assert handle.read() == data


def test_put_file_over_the_limit_is_refused_and_leaves_nothing(
    store: FileStore, tmp_path: Path
) -> None:
    source = tmp_path / "big.csv"
    source.write_bytes(b"x" * 1_001)

    with pytest.raises(LimitExceeded, match="limit of 1,000 bytes"):
        store.put_file(str(source), max_bytes=1_000)
    assert stored_uploads(store) == []

    key, size = store.put_file(str(source), max_bytes=1_001)
    assert size == 1_001
    assert store.size(key) == 1_001


def test_put_file_of_a_missing_path_says_it_cannot_read_it(
    store: FileStore, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match=r"cannot read .*missing\.csv"):
        store.put_file(str(tmp_path / "missing.csv"))
    with pytest.raises(InputError, match="cannot read"):
        store.put_file(str(tmp_path))  # a directory
