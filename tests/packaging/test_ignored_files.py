"""What `jobport demo` writes in a checkout by default is ignored by git: its folder
(database, uploads, samples) never shows as files to commit."""

from __future__ import annotations

import inspect
import shutil
import subprocess
from pathlib import Path

import pytest

from jobport.cli.demo import demo

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_folder_is_ignored_by_git() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    folder = inspect.signature(demo).parameters["directory"].default
    assert folder == Path("jobport-demo")
    for name in ("jobport.db", "customers.csv", "customers-1m.csv", "files/uploads/x"):
        path = f"{folder.as_posix()}/{name}"
        checked = subprocess.run(
            ["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, check=False
        )
        assert checked.returncode == 0, f"{path} is not ignored by .gitignore"
