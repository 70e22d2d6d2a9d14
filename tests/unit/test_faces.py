"""The faces reach runs through the application layer, and the dashboard's pages are modules.

The CLI, the HTTP API and the dashboard start, read and act on runs through
:class:`jobport.service.JobService`: none of them imports the dispatcher, the
chunk worker, recovery or the executors (``jobport worker``, the command that
*is* a Celery worker process, is the one face that builds an executor). Each
dashboard page is a module of :mod:`jobport.web.pages` whose handlers are
module-level functions, as the API's routers are (``tests/api/test_routers.py``).

Nor do the faces reach the store. What a face may take from :mod:`jobport.store`
is its *records*: the values the service hands out and takes (``RunRecord``,
``RunFilter``, ``RunStats``, the webhook records; dataclasses, enums and
constants such as ``RUN_STATUSES``), at run time or for types alike, since a
face builds filters and reads records. What acts on the database (``JobStore``,
its sections, ``make_engine``, the migrations, a function) is the service's,
and so is the engine's ``.store``. ``jobport db`` is the one face that works
on the database itself: it migrates the schema, before any engine or service.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute

from jobport import Jobport, Settings
from jobport.demo import customers
from jobport.demo.exports import customers_export_type
from jobport.registry import registry_of
from jobport.web import dashboard_router

SOURCE = Path(__file__).resolve().parents[2] / "src" / "jobport"

#: The faces (the facade ``jobport/__init__`` re-exports public names and is left out).
FACES = ("cli", "api", "web", "http", "demo", "server.py")
#: What a face never imports: the machinery under the application layer.
MACHINERY = ("jobport.dispatch", "jobport.worker", "jobport.recovery", "jobport.executors")
#: The command that runs a Celery worker process builds its executor.
WORKER_COMMAND = SOURCE / "cli" / "worker.py"
#: ``jobport import`` of a large file starts the pool's forkserver before it imports the
#: service (whose imports the forkserver's then overlap): the one face's use of the local
#: executor that cannot wait for an engine, and it only starts a process.
EARLY_POOL_START = ("cli/imports.py", "jobport.executors.forkserver")


def face_modules() -> Iterator[Path]:
    for face in FACES:
        path = SOURCE / face
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def imported_names(path: Path) -> Iterator[tuple[str, int]]:
    """Every absolute module name ``path`` imports, at any depth, with its line."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module, node.lineno


def reaches_machinery(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in MACHINERY)


def test_the_scan_sees_the_faces_and_their_deferred_imports() -> None:
    scanned = set(face_modules())
    assert SOURCE / "web" / "pages" / "imports.py" in scanned
    assert SOURCE / "server.py" in scanned
    # The worker command's import sits inside its function: the scan finds it.
    assert any(reaches_machinery(name) for name, _ in imported_names(WORKER_COMMAND))


def test_no_face_imports_the_dispatcher_the_worker_or_recovery() -> None:
    crossing = [
        f"{path.relative_to(SOURCE)}:{line} imports {name}"
        for path in face_modules()
        if path != WORKER_COMMAND
        for name, line in imported_names(path)
        if reaches_machinery(name) and (str(path.relative_to(SOURCE)), name) != EARLY_POOL_START
    ]
    assert crossing == []


#: The command that migrates the schema works on the database before any engine exists.
SCHEMA_COMMAND = SOURCE / "cli" / "db.py"
#: Reaches into the store still to be moved behind the service, by module (the number may
#: only go down). They hand the store to the pieces of jobport.http that take a JobStore
#: (auth, feeds, live) or read runs leanly past the service (api/routers/runs.py's
#: documented hot read, and cli/lean_runs.py's: ``status`` and ``history`` read the
#: SQLite file without SQLAlchemy, leaving all else to the service); each goes when that
#: piece takes the service instead.
STORE_NOT_YET: dict[str, int] = {
    "api/routers/live.py": 2,
    "api/routers/runs.py": 4,
    "api/routes.py": 2,
    "cli/lean_runs.py": 2,
    "http/auth.py": 1,
    "http/feeds.py": 2,
    "http/live.py": 1,
    "server.py": 2,
    "web/pages/runs.py": 1,
    "web/router.py": 1,
}


def is_record(value: Any) -> bool:
    """A value the service hands out or takes: a dataclass, an enum, a constant."""
    if isinstance(value, type):
        return dataclasses.is_dataclass(value) or issubclass(value, enum.Enum)
    return isinstance(value, str | int | tuple | frozenset)


def store_reaches(path: Path) -> Iterator[tuple[int, str]]:
    """Where ``path`` reaches the store: (line, what) for each import from jobport.store
    of something not a record, and each other object's ``.store`` it reads."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "jobport.store" or alias.name.startswith("jobport.store."):
                    yield node.lineno, f"imports {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module == "jobport.store" or node.module.startswith("jobport.store."):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if not is_record(getattr(module, alias.name, module)):
                        yield node.lineno, f"imports {node.module}.{alias.name}"
        # Another object's store (the engine's, the service's); a class's own
        # ``self.store`` was handed to it, and its type is what the imports show.
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "store"
            and ast.unparse(node.value) != "self"
        ):
            yield node.lineno, f"reads {ast.unparse(node)}"


def test_the_store_scan_tells_records_from_what_acts_on_the_database(tmp_path: Path) -> None:
    face = tmp_path / "face.py"
    face.write_text(
        "from jobport.store import RunFilter, RunRecord, JobStore\n"
        "from jobport.store.records import RUN_STATUSES\n"
        "from jobport.store import make_engine\n"
        "import jobport.store.migrations\n"
        "def f(engine):\n    return engine.store.user_exists('x')\n"
        "def g(self):\n    return self.store\n",
        encoding="utf-8",
    )
    assert list(store_reaches(face)) == [
        (1, "imports jobport.store.JobStore"),
        (3, "imports jobport.store.make_engine"),
        (4, "imports jobport.store.migrations"),
        (6, "reads engine.store"),
    ]


def test_no_face_reaches_the_store() -> None:
    found: Counter[str] = Counter()
    where: list[str] = []
    for path in face_modules():
        if path == SCHEMA_COMMAND:
            continue
        module = path.relative_to(SOURCE).as_posix()
        for line, what in store_reaches(path):
            found[module] += 1
            where.append(f"{module}:{line} {what}")
    over = [w for w in where if found[w.split(":")[0]] > STORE_NOT_YET.get(w.split(":")[0], 0)]
    assert over == []


def routes_of(routes: Iterable[BaseRoute]) -> Iterator[APIRoute | APIWebSocketRoute]:
    """The routes of a router, those of the routers it includes too (newer FastAPI keeps
    an included router as one entry)."""
    for route in routes:
        if isinstance(route, APIRoute | APIWebSocketRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from routes_of(included.routes)


def test_every_dashboard_route_is_a_module_level_handler_of_a_page_module(
    tmp_path: Path,
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        storage_url=str(tmp_path / "files"),
        executor="inline",
    )
    with Jobport(settings, registry=registry_of(customers_export_type(customers))) as engine:
        router = dashboard_router(engine)
    endpoints = [route.endpoint for route in routes_of(router.routes)]
    assert len(endpoints) > 20
    for endpoint in endpoints:
        assert endpoint.__module__.startswith("jobport.web.pages."), endpoint
        assert endpoint.__qualname__ == endpoint.__name__, endpoint  # not nested in a factory


def test_the_cli_docstring_names_every_command_module() -> None:
    import jobport.cli

    named = set(re.findall(r"``(\w+)``", (jobport.cli.__doc__ or "").split("\n\n")[1]))
    modules = {p.stem for p in (SOURCE / "cli").glob("*.py") if not p.stem.startswith("__")}
    assert named == modules
