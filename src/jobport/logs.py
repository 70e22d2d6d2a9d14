"""One-line log output for the command line, shared with the processes it starts.

The CLI promises one line per problem and a traceback only with
``JOBPORT_DEBUG=1``. Its log records must keep that promise too, including
those of the local pool's worker processes: they start from a forkserver with
no logging set up, where Python's last-resort handler prints every traceback
(a chunk failure printed 83 lines). So the CLI marks its environment, which
the pool hands to each worker, and a worker that finds the mark sets itself up
the same way (:func:`follow_environment`). Servers and host applications keep
their own logging: nothing here runs unless the CLI asks for it.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

#: Set to "1" by a process logging in one line, for the processes it starts.
ONE_LINE_VARIABLE = "JOBPORT_ONE_LINE_LOGS"


class OneLineFormatter(logging.Formatter):
    """``level: message: ExceptionType: first line of the exception`` and nothing more."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            message += f": {type(error).__name__}"
            text = str(error).strip()
            if text:
                message += f": {text.splitlines()[0]}"
        return f"{record.levelname.lower()}: {' '.join(message.split())}"


class _OneLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`log_in_one_line` installs, recognised so it is installed once.

    It writes to ``sys.stderr`` as it is when a record comes, as logging's own
    last-resort handler does: whoever swaps stderr after the CLI set logging up
    (a test runner capturing output, a host application) may close the old one,
    and a record written there would be lost to a "Logging error" report.
    """

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignored: the stream is always the current stderr."""


def log_in_one_line() -> None:
    """Log warnings and errors to stderr in one line each, here and in processes started now."""
    os.environ[ONE_LINE_VARIABLE] = "1"
    root = logging.getLogger()
    if any(isinstance(handler, _OneLineHandler) for handler in root.handlers):
        return
    handler = _OneLineHandler()
    handler.setFormatter(OneLineFormatter())
    handler.setLevel(logging.WARNING)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)


def follow_environment() -> None:
    """In a process the CLI started: log as the CLI does, if it asked for one-line logs."""
    if os.environ.get(ONE_LINE_VARIABLE) == "1":
        log_in_one_line()
