"""The app ``jobport serve`` runs (``app_from_env``): its start-up heap is left out of GC.

A full collection scanning the server's start-up objects stopped the event
loop for ~190 ms on a busy machine (bench/README.md); frozen, they are never
scanned again. Timing is the benchmark's; this holds that they are frozen.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from jobport.server import app_from_env


def test_the_served_app_freezes_its_start_up_heap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBPORT_DATABASE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("JOBPORT_STORAGE_URL", str(tmp_path / "files"))
    monkeypatch.setenv("JOBPORT_EXECUTOR", "inline")
    monkeypatch.setenv("JOBPORT_APP", "jobport.demo")
    gc.unfreeze()
    app = app_from_env()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 10_000, frozen  # the frameworks' and the app's objects, not a few
        assert gc.get_count()[0] < 1_000  # collected just before: the young generation is new
    finally:
        gc.unfreeze()
        app.state.jobport.engine.close()
