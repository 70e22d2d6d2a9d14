"""The ``jobport`` entry point builds only the command it runs, and that command is the same.

Typer turns every function it holds into a click command at each call; ``main``
builds an app of the one command the arguments name (:func:`build_app`), so
that command must be the very command the whole app has, and the arguments
must be read the way the whole app reads them.
"""

from __future__ import annotations

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from jobport.cli import COMMANDS, VALUED_OPTIONS, app, build_app, invoked

NAMES = [name for name, _ in COMMANDS] + ["worker"]


def help_of(target: typer.Typer, name: str) -> str:
    """What ``jobport NAME --help`` prints: the command's usage, arguments, options and help."""
    done = CliRunner().invoke(target, [name, "--help"], prog_name="jobport")
    assert done.exit_code == 0, done.output
    return done.output


def test_the_options_taking_a_value_are_the_apps() -> None:
    group = typer.main.get_command(app)
    valued = {
        name
        for param in group.params
        if param.param_type_name == "option" and not getattr(param, "is_flag", False)
        for name in param.opts
    }
    assert valued == VALUED_OPTIONS


@pytest.mark.parametrize("name", NAMES)
def test_a_command_alone_is_the_command_of_the_whole_app(name: str) -> None:
    alone = build_app(only=name)
    assert list(typer.main.get_command(alone).commands) == [name]  # type: ignore[attr-defined]
    assert help_of(alone, name) == help_of(app, name)


def test_every_command_of_the_whole_app_is_named() -> None:
    whole = typer.main.get_command(app)
    assert sorted(whole.commands) == sorted(NAMES)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["types"], "types"),
        (["--app", "jobport.demo", "status", "abc"], "status"),
        (["--app=jobport.demo", "--workers", "2", "import", "t", "f.csv"], "import"),
        (["--database-url", "sqlite:///x.db", "db", "upgrade"], "db"),
        (["worker"], "worker"),
        (["--help"], None),
        (["--app", "x", "--help"], None),
        (["typo"], None),
        (["--app", "x"], None),
        ([], None),
    ],
)
def test_the_command_is_read_past_the_global_options(args: list[str], command: str | None) -> None:
    assert invoked(args) == command
