"""What every command stands on: the settings, the engine and service, the caller, interrupts.

The ``jobport`` callback builds one :class:`Context` per command from the
global options; commands ask it for the settings, or for the
:class:`~jobport.service.JobService` over an engine built on first use. It is
entered for the command, so Ctrl-C or SIGTERM stops the runs this process
started and says how to resume them.

Nothing heavy is imported here at start: the engine and the service come in
when a command asks for them, so ``jobport --help`` answers at once.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from jobport.cli.output import err, total_text
from jobport.errors import ConfigurationError, InputError

if TYPE_CHECKING:
    from jobport.engine import Jobport
    from jobport.principal import Principal
    from jobport.service import JobService
    from jobport.settings import Settings

#: Exit code of a run stopped by SIGTERM (128 + 15), as shells report it.
TERMINATED_EXIT_CODE = 143
#: Exit code of a run stopped by Ctrl-C (128 + 2).
INTERRUPTED_EXIT_CODE = 130


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so the CLI stops as it does on Ctrl-C.

    A BaseException, like KeyboardInterrupt, so no ``except Exception`` on
    the way (a chunk's failure handling, say) mistakes it for an error.
    """


def raise_terminated(signum: int, frame: FrameType | None) -> NoReturn:
    """The CLI's SIGTERM handler: unwind like Ctrl-C, so the pool is ended, not orphaned."""
    raise Terminated


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM inside, then put their handlers back as they were.

    The command is over or stopping: a further signal must not cut short its
    cleanup (a transaction, a pool's shutdown) and leave a lock or a
    half-started worker behind; the cleanup is bounded, and SIGKILL still ends
    it. The handlers are put back because an ignored signal is inherited by
    every process started later: a command run inside a longer-lived process
    (a test, an embedding app) must leave that process as it found it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers, and only it receives signals
        return
    held = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in held:
        signal.signal(signum, signal.SIG_IGN)
    try:
        yield
    finally:
        for signum, handler in held.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(signum, handler)


@dataclass
class Context:
    """The CLI's settings and engine; entered for the command, so an interrupt stops its runs."""

    overrides: dict[str, Any] = field(default_factory=dict)
    #: The options as typed on the command line (not those read from the environment).
    typed: list[str] = field(default_factory=list)
    _engine: Jobport | None = None
    #: The settings last built, and the overrides they were built from.
    _settings: tuple[dict[str, Any], Settings] | None = None

    def __enter__(self) -> Context:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with signals_held():
            try:
                if isinstance(exc, KeyboardInterrupt | Terminated):
                    self._stop_runs("terminated" if isinstance(exc, Terminated) else "interrupted")
            finally:
                self.close()

    def _stop_runs(self, why: str) -> None:
        """Stop the runs this process started (or say where they go on) and how to go on."""
        if self._engine is None:
            err.print(why)
            return
        service = self.service()
        if self._engine.executor_name == "celery":
            for run in service.own_active_runs():
                err.print(
                    f"{why}: run {run.id} goes on in the Celery workers; follow it with "
                    f"`{self.command('status', run.id)}`, stop it with "
                    f"`{self.command('cancel', run.id)}`"
                )
            return
        stopped = service.stop_own_runs()
        for run in stopped:
            err.print(
                f"{why}: run {run.id} stopped after {run.processed:,} of {total_text(run)} "
                f"rows; continue it with `{self.command('resume', run.id)}`"
            )
        if not stopped:
            err.print(why)

    def command(self, *args: str) -> str:
        """The ``jobport`` command line running ``args`` with the options typed for this one."""
        return shlex.join([program(), *self.typed, *args])

    def settings(self) -> Settings:
        """The settings from the global options and the environment; a bad one is one line.

        Built once for the command (``import`` asks before and while it builds its
        engine), again only if a command changed the overrides since.
        """
        from pydantic import ValidationError

        from jobport.settings import Settings

        if self._settings is not None and self._settings[0] == self.overrides:
            return self._settings[1]
        try:
            settings = Settings(**self.overrides)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            name = "JOBPORT_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
            raise ConfigurationError(f"{name}: {first['msg']}") from None
        self._settings = (dict(self.overrides), settings)
        return settings

    def engine(self, **kwargs: Any) -> Jobport:
        """The engine, built on first use (``executor="inline"`` for commands that start none).

        A command waits for the run it starts: a run of one chunk runs in this
        process, and the local pool starts only for a run with a second chunk.
        """
        kwargs = {"warm": False, "one_chunk_here": True, **kwargs}
        if self._engine is None:
            from jobport.engine import Jobport
            from jobport.logs import log_in_one_line

            if os.environ.get("JOBPORT_DEBUG") != "1":
                log_in_one_line()  # before the engine starts its worker processes
            self._engine = Jobport(self.settings(), **kwargs)
        return self._engine

    def service(self, **kwargs: Any) -> JobService:
        """The application layer over this command's engine."""
        from jobport.service import JobService

        return JobService(self.engine(**kwargs))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def operator(owner: str | None = None) -> Principal:
    """Whoever runs the CLI holds the database itself: every right, and ``--owner`` recorded."""
    from dataclasses import replace

    from jobport.principal import Principal

    who = replace(Principal.operator(), via="cli")
    return replace(who, name=owner) if owner else who


def state_of(ctx: typer.Context) -> Context:
    """The :class:`Context` the ``jobport`` callback set for this command."""
    state = ctx.find_root().obj
    assert isinstance(state, Context), "the jobport callback sets the context"
    return state


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """``--option key=value`` pairs as a dict (values stay text: the type's model parses)."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"option '{pair}' is not key=value")
        options[key.strip()] = value
    return options


def program() -> str:
    """How to call this ``jobport``: its name when the shell finds this very one, else its
    path (``.venv/bin/jobport`` after the README's command, whose venv is not active)."""
    running = Path(sys.argv[0])
    if running.name != "jobport" or not running.is_file():
        return "jobport"  # python -m jobport.cli, or a test runner's argv
    found = shutil.which("jobport")
    if found is not None and Path(found).resolve() == running.resolve():
        return "jobport"
    try:
        return str(running.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(running.resolve())
