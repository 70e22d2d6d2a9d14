"""A command run inside a longer-lived process leaves its signal handlers as it found them.

The CLI ignores Ctrl-C and SIGTERM while it cleans up; an ignored signal is
inherited by every process started afterwards, so leaving them ignored made a
test process's later subprocesses deaf to Ctrl-C and its pool workers immune
to ``terminate()``.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from jobport.cli import app as cli_app
from jobport.cli.context import signals_held


def test_a_command_run_in_process_keeps_the_signal_handlers(tmp_path: Path) -> None:
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    result = CliRunner().invoke(
        cli_app,
        [
            "--database-url",
            f"sqlite:///{tmp_path / 's.db'}",
            "--storage-url",
            str(tmp_path / "files"),
            "--app",
            "jobport.demo",
            "types",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_signals_are_ignored_while_held_and_restored_after() -> None:
    before = signal.getsignal(signal.SIGINT)
    with signals_held():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) is before


def test_holding_signals_off_the_main_thread_changes_nothing() -> None:
    seen: list[Any] = []

    def hold() -> None:
        with signals_held():
            seen.append(signal.getsignal(signal.SIGINT))

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=hold)
    thread.start()
    thread.join()
    assert seen == [before]
