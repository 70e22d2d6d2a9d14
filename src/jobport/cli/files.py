"""Where commands write their files (``--out``): checked before any work, written as user errors.

A path the command could not write (a folder that does not exist, a folder
given for a file, one that may not be written) is refused before a run starts
or a report is read; a write that fails all the same (a full disk) ends as the
usual one-line error, never as a bug.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jobport.errors import InputError


def check_out(path: Path | None) -> None:
    """Refuse an ``--out`` that could not be written (None: a file named later, here)."""
    if path is None:
        if not os.access(".", os.W_OK):
            raise InputError(f"cannot write files in the current folder {Path.cwd()}")
        return
    if path.is_dir():
        raise InputError(f"--out {path} is a folder: give the name of a file to write in it")
    folder = path.parent
    if not folder.is_dir():
        raise InputError(f"--out {path}: the folder {folder} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"--out {path}: the file may not be written (permission denied)")
    if not path.exists() and not os.access(folder, os.W_OK):
        raise InputError(f"--out {path}: the folder {folder} may not be written in")


@contextmanager
def writing(path: Path, before: str = "") -> Iterator[None]:
    """Say an OSError raised inside as a user error about ``path`` (after ``before``, if given)."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(f"{before}could not write {path}: {reason}") from None
