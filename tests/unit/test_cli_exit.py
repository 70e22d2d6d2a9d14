"""The ``jobport`` entry point leaves its heap frozen for the interpreter's teardown.

Teardown otherwise runs full collections over every object the command
loaded (SQLAlchemy, pydantic, the app): most of 0.1 s of a command's wall
time (``bench/cli_bench.py``). Frozen, they are skipped; exit handlers run.
"""

from __future__ import annotations

import gc
import signal
from collections.abc import Iterator

import pytest

from jobport import cli


@pytest.fixture
def thawed() -> Iterator[None]:
    """A heap not frozen yet, and this process left as it was (main sets a SIGTERM handler)."""
    handler = signal.getsignal(signal.SIGTERM)
    gc.unfreeze()
    yield
    gc.unfreeze()
    signal.signal(signal.SIGTERM, handler)


@pytest.mark.parametrize(
    ("argv", "code"), [(["jobport", "--help"], 0), (["jobport", "no-such-command"], 2)]
)
def test_the_entry_point_exits_with_its_heap_frozen(
    thawed: None, monkeypatch: pytest.MonkeyPatch, argv: list[str], code: int
) -> None:
    monkeypatch.setattr("sys.argv", argv)
    assert gc.get_freeze_count() == 0
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == code
    assert gc.get_freeze_count() > 0


class _Ended(Exception):
    """``os._exit`` called: the process would have ended here, with ``code``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def test_a_bug_escaping_while_a_chunk_runs_here_exits_1_with_its_traceback(
    thawed: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With JOBPORT_DEBUG=1 an error escapes the command; with a chunk still running in
    this process's own thread the process ends at once, and must still say what went
    wrong and fail, as the interpreter would have."""

    def broken() -> None:
        raise RuntimeError("the bug")

    def ended(code: int) -> None:
        raise _Ended(code)

    monkeypatch.setattr(cli, "_run_command", broken)
    monkeypatch.setattr(cli, "_chunk_left_running", lambda: True)
    monkeypatch.setattr(cli.os, "_exit", ended)
    with pytest.raises(_Ended) as exited:
        cli.main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "RuntimeError: the bug" in err
