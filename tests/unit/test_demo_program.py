"""The demo's banner and the CLI's hints name ``jobport`` as the user can call it: by name
when the shell finds this one, else by its path (the README's command does not activate
the venv)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from jobport.cli.context import Context, program


@pytest.fixture
def venv_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / ".venv" / "bin" / "jobport"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script), "demo"])
    return script


def test_a_venv_not_on_the_path_is_named_by_its_path(
    venv_script: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin")
    assert program() == os.path.join(".venv", "bin", "jobport")


def test_the_jobport_the_shell_finds_is_named_by_name(
    venv_script: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{venv_script.parent}{os.pathsep}/usr/bin")
    assert program() == "jobport"


def test_python_dash_m_is_named_jobport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/x/jobport/cli/__main__.py", "demo"])
    assert program() == "jobport"


def test_a_hint_runs_as_printed_from_an_inactive_venv(
    venv_script: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin")
    hint = Context(typed=["--app=jobport.demo"]).command("failures", "0b3a7c1e")
    assert hint == f"{os.path.join('.venv', 'bin', 'jobport')} --app=jobport.demo failures 0b3a7c1e"
