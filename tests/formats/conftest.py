from __future__ import annotations

from pathlib import Path

import pytest

from jobport.files import FileStore


@pytest.fixture
def files(tmp_path: Path) -> FileStore:
    return FileStore(str(tmp_path / "store"))
