"""The CLI's one-line log handler writes to stderr as it is when a record comes."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest

from jobport.logs import ONE_LINE_VARIABLE, _OneLineHandler, log_in_one_line


@pytest.fixture
def root_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[logging.Logger]:
    """The root logger without a one-line handler (a CLI test in this process may have
    installed one); its handlers and level put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.handlers[:] = [h for h in handlers if not isinstance(h, _OneLineHandler)]
    monkeypatch.delenv(ONE_LINE_VARIABLE, raising=False)
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_records_go_to_the_stderr_of_the_moment_not_a_closed_one(
    root_logging: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test runner or a host application may swap sys.stderr, and close the old one,
    after the CLI set its logging up; a worker's death logged later must still show."""
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    log_in_one_line()
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)

    logging.getLogger("jobport.test").warning("a worker process died (%s)", "exit code -9")

    assert second.getvalue() == "warning: a worker process died (exit code -9)\n"


def test_installed_once(root_logging: logging.Logger) -> None:
    before = len(root_logging.handlers)
    log_in_one_line()
    log_in_one_line()
    assert len(root_logging.handlers) == before + 1
