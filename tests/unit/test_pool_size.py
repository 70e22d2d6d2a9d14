"""The local pool's default size: one process per core, plus one (see ``default_pool_size``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobport import Jobport, Settings
from jobport.executors.local import LocalExecutor
from jobport.settings import default_pool_size


def test_the_default_is_one_per_core_plus_a_spare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert default_pool_size() == 3
    monkeypatch.setattr("os.cpu_count", lambda: None)  # unknown: one core, plus one
    assert default_pool_size() == 2


@pytest.mark.parametrize(("workers", "expected"), [(0, 5), (2, 2)])
def test_the_engine_builds_its_pool_with_it_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, expected: int
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    settings = Settings(
        app="jobport.demo",
        database_url=f"sqlite:///{tmp_path}/jobport.db",
        storage_url=str(tmp_path / "files"),
        workers=workers,
    )
    with Jobport(settings) as engine:
        assert isinstance(engine.executor, LocalExecutor)
        assert engine.executor.size == expected
