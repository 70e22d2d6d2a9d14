"""Every code sample in README.md and docs/*.md runs, in file order per document.

- A ```python block whose first line is a comment naming a file (``# name.py``,
  ``# pkg/name.py``) is written to that file in the document's temp folder,
  as a module the later samples import; any other ```python block is run as a
  script there.
- A ```sh block whose every command is ``jobport ...`` (or ``printf`` making a
  sample file) is run with bash, ``jobport`` being this environment's script.
- Any other block (placeholders such as ``<RUN-ID>``, servers, installs, remote
  services) must be named in :data:`SKIPPED` with the reason; an unknown
  unrunnable block, or a stale entry, fails the test.

Each document gets one temp folder (the current directory and ``PYTHONPATH``
of its samples), its own SQLite state database and storage folder.

A sample sees only what its reader has: jobport's base install plus what the
document's own ``pip install`` commands add. A ``sitecustomize`` module on the
samples' ``PYTHONPATH`` refuses to import any other installed distribution
(this environment holds the dev extras), as if it were missing.

The ``curl`` requests of docs/api.md that send a body cannot run without a
server; they are replayed instead through the test client against the demo
app, and must be accepted as the page says.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from jobport import Jobport, Settings
from jobport.api import create_user
from jobport.demo.data import write_csv
from jobport.server import create_app

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
JOBPORT = Path(sys.executable).with_name("jobport")
TIMEOUT = 180

#: (document, start of the block's first line) -> why the block is not run.
SKIPPED: dict[tuple[str, str], str] = {
    (
        "docs/bad-input.md",
        ".venv/bin/python -m pytest tests/hardening",
    ): "runs part of this very suite",
    (
        "README.md",
        "python3 -m venv .venv && .venv/bin/pip install -q -e . &&",
    ): "creates a virtual environment and starts a server",
    (
        "README.md",
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]' &&",
    ): "creates a virtual environment and runs this very suite",
    (
        "docs/quickstart.md",
        "python3 -m venv .venv && .venv/bin/pip install jobport",
    ): "installs from the package index",
    ("docs/quickstart.md", "jobport --app contacts_app history"): "holds the placeholder <RUN-ID>",
    (
        "docs/quickstart.md",
        "jobport --app contacts_app import contacts errors.csv --retry-of",
    ): "holds the placeholder <RUN-ID>",
    ("docs/api.md", "jobport demo "): "starts a server",
    (
        "docs/api.md",
        "from fastapi import Depends, FastAPI",
    ): "a fragment: the embedding app's own User and current_user are not defined",
    ("docs/api.md", 'curl -H "Authorization: Bearer $TOKEN"'): "needs a running server and a token",
    (
        "docs/api.md",
        'curl -N -H "Authorization: Bearer $TOKEN"',
    ): "needs a running server and a token",
    ("docs/dashboard.md", "jobport demo "): "starts a server",
    ("docs/embedding.md", "uvicorn --factory examples.bookshop.app"): "starts a server",
    ("docs/embedding.md", "pip install httpx2"): "installs from the package index",
    (
        "docs/dashboard.md",
        "from jobport.api import create_router, install_problem_handlers",
    ): "a fragment of an embedding app (its own app and principal dependency)",
    (
        "docs/deployment.md",
        "JOBPORT_DATABASE_URL=postgresql://jobport:pw@db:5432/jobport",
    ): "needs a PostgreSQL host named db",
    (
        "docs/deployment.md",
        "export JOBPORT_APP=myapp.jobs JOBPORT_BROKER_URL=redis://redis",
    ): "starts Celery workers against remote hosts",
    ("docs/deployment.md", "JOBPORT_STORAGE_URL=s3://"): "needs an S3 bucket",
    ("docs/deployment.md", "export JOBPORT_SECRET_KEY="): "configures a server's environment",
    (
        "docs/packaging.md",
        "python -m pip install build",
    ): "builds the package and installs it in a fresh virtual environment "
    "(tests/packaging checks the built wheel's contents)",
}

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
_MODULE_LINE = re.compile(r"#\s*([\w./-]+\.py)\s*$")
_RUNNABLE_SH = re.compile(r"^(jobport|printf)\b")
#: Commands that serve until stopped: never run, whatever SKIPPED says.
_SERVERS = re.compile(r"^jobport\b.*\s(demo|serve|worker)(\s|$)")


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0] if self.text.strip() else ""


def blocks_of(path: Path) -> list[Block]:
    source = path.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(source):
        lang = match.group(1)
        if lang in ("python", "sh"):
            line = source.count("\n", 0, match.start()) + 1
            found.append(Block(lang, match.group(2), line))
    return found


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _commands(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _runnable_sh(block: Block) -> bool:
    commands = _commands(block.text)
    return bool(commands) and all(
        _RUNNABLE_SH.match(c) and not _SERVERS.match(c) and "<" not in c.split("#")[0]
        for c in commands
    )


def _skipped(name: str, block: Block) -> str | None:
    for (document, start), reason in SKIPPED.items():
        if document == name and block.first_line.startswith(start):
            return reason
    return None


#: The folder (in a document's temp folder) holding the samples' import guard.
GUARD = "_documented_install"
_PIP_INSTALL = re.compile(r"\bpip install\b([^&|;\n]*)")
_GUARD_SOURCE = """\"\"\"tests/docs: this process sees only the documented install.\"\"\"
import sys

NOT_INSTALLED = frozenset({names!r})


class NotInstalled:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in NOT_INSTALLED:
            raise ModuleNotFoundError(
                f"No module named {{name!r}} (not in the documented install)", name=name
            )
        return None


sys.meta_path.insert(0, NotInstalled)
"""


def documented_install(document: Path) -> set[str]:
    """The distributions a reader of ``document`` has: jobport's, and what it installs."""
    wanted = ["jobport"]
    for block in blocks_of(document):
        if block.lang != "sh":
            continue
        for match in _PIP_INSTALL.finditer(block.text):
            words = shlex.split(match.group(1), comments=True)
            wanted += [_requirement(word) for word in words if not word.startswith("-")]
    return _with_dependencies(wanted)


def _requirement(word: str) -> str:
    """A ``pip install`` argument as a requirement: ``.``, ``.[dev]`` and wheels are jobport."""
    if word.startswith("."):
        return "jobport" + word[1:]
    if word.endswith(".whl"):
        return "jobport"
    return word


def _with_dependencies(requirements: list[str]) -> set[str]:
    """The distributions ``requirements`` install, following each one's own requirements."""
    names: set[str] = set()
    done: set[tuple[str, str]] = set()
    pending = [Requirement(text) for text in requirements]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        names.add(name)
        extras = {"", *requirement.extras} - {extra for n, extra in done if n == name}
        done |= {(name, extra) for extra in extras}
        if not extras:
            continue
        try:
            declared = requires(name) or []
        except PackageNotFoundError:
            continue
        for text in declared:
            needed = Requirement(text)
            marker = needed.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(needed)
    return names


def write_guard(document: Path, folder: Path) -> Path:
    """Write the ``sitecustomize`` that hides what ``document``'s reader has not installed."""
    have = documented_install(document)
    missing = sorted(
        module
        for module, distributions in packages_distributions().items()
        if not {canonicalize_name(d) for d in distributions} & have
    )
    guard = folder / GUARD
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(_GUARD_SOURCE.format(names=missing), encoding="utf-8")
    return guard


def _environment(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPORT_")}
    env["JOBPORT_DATABASE_URL"] = f"sqlite:///{folder / 'jobport.db'}"
    env["JOBPORT_STORAGE_URL"] = str(folder / "files")
    paths = [str(folder / GUARD), str(folder), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(paths).rstrip(os.pathsep)
    env["PATH"] = os.pathsep.join([str(JOBPORT.parent), env.get("PATH", "")])
    env.pop("PYTHONSTARTUP", None)
    return env


def _run(args: list[str], folder: Path, where: str) -> None:
    # A session of its own, so a timeout ends the sample's children too.
    process = subprocess.Popen(
        args,
        cwd=folder,
        env=_environment(folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"{where} ran over {TIMEOUT} s")
    assert process.returncode == 0, (
        f"{where} exited {process.returncode}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    )


@pytest.mark.parametrize("document", DOCUMENTS, ids=_name)
def test_samples_run(document: Path, tmp_path: Path) -> None:
    name = _name(document)
    write_guard(document, tmp_path)
    for number, block in enumerate(blocks_of(document)):
        where = f"{name}:{block.line} ({block.lang} block)"
        if _skipped(name, block) is not None:
            continue
        if block.lang == "python":
            module = _MODULE_LINE.fullmatch(block.first_line.strip())
            if module:
                target = tmp_path / module.group(1)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.text, encoding="utf-8")
                continue
            script = tmp_path / f"_sample_{number}.py"
            script.write_text(block.text, encoding="utf-8")
            _run([sys.executable, script.name], tmp_path, where)
        else:
            assert _runnable_sh(block), (
                f"{where} is not self-contained (`{block.first_line}`): make it runnable, "
                "or name it in SKIPPED with the reason"
            )
            text = re.sub(r"^jobport\b", lambda _: f'"{JOBPORT}"', block.text, flags=re.M)
            _run(["bash", "-euo", "pipefail", "-c", text], tmp_path, where)


def test_skipped_blocks_exist() -> None:
    """Every SKIPPED entry names a block that is still in its document."""
    present = {
        (_name(document), block.first_line)
        for document in DOCUMENTS
        for block in blocks_of(document)
    }
    stale = [
        (document, start)
        for document, start in SKIPPED
        if (ROOT / document).exists()
        and not any(d == document and first.startswith(start) for d, first in present)
    ]
    assert not stale, f"SKIPPED names blocks no document holds any more: {stale}"


def test_samples_are_found() -> None:
    """The extraction sees the samples this suite is meant to run."""
    names = {_name(document) for document in DOCUMENTS}
    assert {"README.md", "docs/quickstart.md", "docs/job-types.md", "docs/events.md"} <= names
    kinds = [block.lang for block in blocks_of(ROOT / "docs" / "events.md")]
    assert kinds == ["python", "python", "python"]


def test_a_sample_sees_only_the_documented_install(tmp_path: Path) -> None:
    """The guard hides the dev extras from a page that installs jobport alone."""
    assert "httpx2" in documented_install(ROOT / "docs" / "embedding.md")
    write_guard(ROOT / "docs" / "quickstart.md", tmp_path)
    script = tmp_path / "probe.py"
    script.write_text(
        "import importlib\n"
        "import fastapi, httpx, sqlalchemy, uvicorn  # the base install (httpx sends webhooks)\n"
        "for name in ('httpx2', 'pytest', 'psycopg', 'pyarrow'):\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError:\n"
        "        continue\n"
        "    raise SystemExit(f'{name} is importable')\n",
        encoding="utf-8",
    )
    _run([sys.executable, script.name], tmp_path, "the guarded probe")


@dataclass(frozen=True)
class CurlRequest:
    """What a documented ``curl`` command sends, to replay it without a server."""

    where: str
    method: str
    path: str
    headers: dict[str, str]
    fields: dict[str, str]
    files: dict[str, str]  # form field -> the name of the file sent in it
    body: str | None


def curl_requests(path: Path) -> list[CurlRequest]:
    """The document's ``curl`` commands that send a body (``-F`` or ``-d``)."""
    found = []
    for block in blocks_of(path):
        if block.lang != "sh" or not block.first_line.startswith("curl "):
            continue
        words = shlex.split(block.text.replace("\\\n", " "), comments=True)
        request = _curl_request(f"{_name(path)}:{block.line}", words[1:])
        if request.fields or request.files or request.body is not None:
            found.append(request)
    return found


def _curl_request(where: str, args: list[str]) -> CurlRequest:
    headers: dict[str, str] = {}
    fields: dict[str, str] = {}
    files: dict[str, str] = {}
    body: str | None = None
    url = ""
    words = iter(args)
    for word in words:
        if word == "-H":
            name, _, value = next(words).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-F":
            name, _, value = next(words).partition("=")
            if value.startswith("@"):
                files[name] = value[1:]
            else:
                fields[name] = value
        elif word == "-d":
            body = next(words)
        elif not word.startswith("-"):
            url = word
    path = re.sub(r"^https?://[^/]+", "", url)
    return CurlRequest(where, "POST", path, headers, fields, files, body)


def test_api_requests_with_a_body_are_accepted(tmp_path: Path) -> None:
    """docs/api.md's upload and sync requests, replayed against the demo app, start runs."""
    requests = curl_requests(ROOT / "docs" / "api.md")
    assert {r.path for r in requests} >= {"/api/imports/customers", "/api/syncs"}
    write_csv(tmp_path / "customers.csv", 20)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'jobport.db'}",
        storage_url=str(tmp_path / "files"),
        app="jobport.demo",
        executor="inline",
    )
    with Jobport(settings) as engine, TestClient(create_app(engine)) as client:
        _, token = create_user(engine.store, "root", is_admin=True)
        for request in requests:
            headers = {k: v.replace("$TOKEN", token) for k, v in request.headers.items()}
            files = {
                field: (name, (tmp_path / name).read_bytes())
                for field, name in request.files.items()
            }
            response = client.request(
                request.method,
                request.path,
                headers=headers,
                data=request.fields or None,
                files=files or None,
                content=request.body,
            )
            assert response.status_code == 202, f"{request.where}: {response.text}"
            # Ran to its end (the demo's orders hold some bad rows on purpose).
            assert response.json()["status"] in ("completed", "completed_with_errors"), (
                f"{request.where}: {response.text}"
            )
