"""Every base dependency in pyproject.toml is imported by jobport's own code.

A library only tests use (python-calamine, an oracle for the XLSX reader) belongs
in the dev extra: as a base dependency every install carried it for nothing.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "jobport"
_IMPORT = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", re.M)
#: Base dependencies jobport's code does not import, each with why it stays.
NOT_IMPORTED = {
    "email-validator": "unused since the first commit (the demo checks emails with a pattern); "
    "an application's EmailStr may rely on it, so dropping it is a release note's decision",
}


def base_dependencies() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [canonicalize_name(Requirement(text).name) for text in project["dependencies"]]


def imported_modules() -> set[str]:
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        found.update(_IMPORT.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_base_dependency_is_imported_by_jobport() -> None:
    modules_of: dict[str, set[str]] = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            modules_of.setdefault(canonicalize_name(distribution), set()).add(module)
    imported = imported_modules()
    unused = [name for name in base_dependencies() if not modules_of.get(name, set()) & imported]
    assert sorted(set(unused) - set(NOT_IMPORTED)) == [], "base dependencies never imported"
    assert sorted(set(NOT_IMPORTED) - set(unused)) == [], "NOT_IMPORTED names one in use"


def test_the_xlsx_oracle_is_a_dev_dependency_only() -> None:
    assert "python-calamine" not in base_dependencies()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dev = [canonicalize_name(Requirement(t).name) for t in project["optional-dependencies"]["dev"]]
    assert "python-calamine" in dev
