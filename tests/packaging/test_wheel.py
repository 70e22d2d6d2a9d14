"""The built wheel and sdist carry what an installed jobport needs.

One ``python -m build`` (sdist, then the wheel built from that sdist) into a
temp folder; the tests read the archives' file lists. Installing the wheel in
a fresh virtual environment is too slow for the suite: docs/packaging.md
describes that check by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "jobport"
EXTRAS = {"postgres", "redis", "parquet", "celery", "s3"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        import build  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("the 'build' package is missing: pip install -e '.[dev]'")
        pytest.skip("the 'build' package is not installed (it is in the dev extra)")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"python -m build failed:\n{done.stdout}\n{done.stderr}"
    return out


def _wheel_names(dist: Path) -> set[str]:
    (wheel,) = dist.glob("jobport-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _sdist_names(dist: Path) -> set[str]:
    (sdist,) = dist.glob("jobport-*.tar.gz")
    with tarfile.open(sdist) as archive:
        # Drop the leading "jobport-<version>/".
        return {name.partition("/")[2] for name in archive.getnames()}


def _data_files() -> list[str]:
    """The package's files that are not Python: templates, static files, migrations."""
    names = []
    for path in sorted(PACKAGE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            names.append(path.relative_to(PACKAGE.parent).as_posix())
    return names


def test_wheel_carries_every_package_file(dist: Path) -> None:
    names = _wheel_names(dist)
    missing = [name for name in _data_files() if name not in names]
    assert not missing, f"files of src/jobport missing from the wheel: {missing}"


def test_wheel_carries_templates_static_and_migrations(dist: Path) -> None:
    names = _wheel_names(dist)
    templates = [n for n in names if n.startswith("jobport/web/templates/") and n.endswith(".html")]
    static = [n for n in names if n.startswith("jobport/web/static/")]
    assert "jobport/web/templates/base.html" in templates
    assert any(n.endswith(".css") for n in static)
    assert any(n.endswith(".js") for n in static)
    for name in (
        "jobport/store/migrations/env.py",
        "jobport/store/migrations/script.py.mako",
    ):
        assert name in names
    versions = [n for n in names if n.startswith("jobport/store/migrations/versions/")]
    expected = sorted((PACKAGE / "store" / "migrations" / "versions").glob("*.py"))
    assert len(versions) >= len(expected) >= 1


def test_wheel_metadata(dist: Path) -> None:
    names = _wheel_names(dist)
    (wheel,) = dist.glob("jobport-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
        points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert "jobport = jobport.cli:main" in points
    extras = {
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Provides-Extra:")
    }
    assert extras >= EXTRAS
    assert not [n for n in names if n.startswith(("tests/", ".hypothesis/", "docs/"))]


def test_sdist_carries_sources_and_no_caches(dist: Path) -> None:
    names = _sdist_names(dist)
    for name in (
        "pyproject.toml",
        "README.md",
        "src/jobport/store/migrations/script.py.mako",
        "src/jobport/web/templates/base.html",
    ):
        assert name in names, name
    caches = [
        n
        for n in names
        if n.split("/")[0] in {".hypothesis", ".venv", ".mypy_cache", ".pytest_cache"}
    ]
    assert not caches, caches
    assert not [n for n in names if "__pycache__" in n or n.endswith(".db")]
