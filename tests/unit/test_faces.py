"""The faces reach runs through the application layer, and the dashboard's pages are modules.

The CLI, the HTTP API and the dashboard start, read and act on runs through
:class:`jobport.service.JobService`: none of them imports the dispatcher, the
chunk worker, recovery or the executors (``jobport worker``, the command that
*is* a Celery worker process, is the one face that builds an executor). Each
dashboard page is a module of :mod:`jobport.web.pages` whose handlers are
module-level functions, as the API's routers are (``tests/api/test_routers.py``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

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
        if reaches_machinery(name)
    ]
    assert crossing == []


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
