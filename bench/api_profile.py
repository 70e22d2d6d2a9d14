"""What one API read costs the server, in-process: CPU per request, and where it goes.

wrk on a shared 2-core machine measures the machine as much as the server;
this calls the ASGI app directly (no network, no uvicorn), on the embedded
default (SQLite, local files, the demo app, a non-admin's token), and prints
the CPU milliseconds of one request, best of 5 batches, for ``/api/health``
(the floor: the cheapest route of the same app), ``GET /api/jobs/{id}``
(the run read every progress bar polls), with and without ``If-None-Match``,
and ``GET /api/jobs?limit=20`` (a history page, over ``--runs`` runs).
``--profile N`` adds cProfile's top N functions of the run read (or of the
history page with ``--profile-of history``; the event loop's thread only:
what runs in the thread pool is not seen, see ``--parts``). ``--parts``
times the run read's pieces alone: the store's read through SQLAlchemy, the
lean read through sqlite3 (:mod:`jobport.store.run_reads`), the body.

    .venv/bin/python bench/api_profile.py
    .venv/bin/python bench/api_profile.py --parts --profile 30
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from jobport import Jobport
from jobport.api import create_user
from jobport.demo.data import write_csv
from jobport.server import create_app
from jobport.settings import Settings
from jobport.store.run_reads import lean_reads

Asgi = Callable[..., Any]


async def batch(app: Asgi, path: str, headers: list[tuple[bytes, bytes]], n: int) -> float:
    """CPU ms per request of ``n`` GETs of ``path`` through the app; fails on a 4xx/5xx."""
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "root_path": "",
        "query_string": query.encode(),
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
        "path": path,
        "raw_path": path.encode(),
        "headers": headers,
    }
    started = time.process_time()
    for _ in range(n):
        await app(dict(scope), receive, send)
    spent = (time.process_time() - started) / n * 1e3
    if statuses[-1] >= 400:
        raise SystemExit(f"{path} answered {statuses[-1]}")
    return spent


def parts(engine: Jobport, run_id: str, n: int) -> None:
    """The run read's pieces alone, best of 5 batches."""
    from jobport.api.schemas import RunOut

    run = engine.store.find_run(run_id)
    assert run is not None
    lean = lean_reads(engine.store.engine)
    assert lean is not None
    pieces: dict[str, Callable[[], object]] = {
        "store.find_run (one query, SQLAlchemy)": lambda: engine.store.find_run(run_id),
        "RunReads.find (the same, sqlite3)": lambda: lean.find(run_id),
        "RunReads.rows (its query alone)": lambda: lean.rows(run_id),
        "RunOut.of + model_dump_json": lambda: RunOut.of(run, "/api").model_dump_json(),
    }
    for name, piece in pieces.items():
        best = float("inf")
        for _ in range(5):
            started = time.process_time()
            for _ in range(n):
                piece()
            best = min(best, (time.process_time() - started) / n * 1e3)
        print(f"{name:<45} {best:.3f} ms")


async def measure(app: Asgi, engine: Jobport, token: str, run_id: str, args: Any) -> None:
    auth = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c:
        first = await c.get(f"/api/jobs/{run_id}", headers={"Authorization": f"Bearer {token}"})
        etag = first.headers["etag"].encode()
    routes = {
        "GET /api/health (floor)": ("/api/health", auth),
        "GET /api/jobs/{id}": (f"/api/jobs/{run_id}", auth),
        "GET /api/jobs/{id} If-None-Match (304)": (
            f"/api/jobs/{run_id}",
            [*auth, (b"if-none-match", etag)],
        ),
        "GET /api/jobs?limit=20 (history)": ("/api/jobs?limit=20", auth),
    }
    for name, (path, headers) in routes.items():
        await batch(app, path, headers, 200)  # warm
        best = min([await batch(app, path, headers, args.reads) for _ in range(5)])
        print(f"{name:<45} {best:.3f} ms CPU a request (best of 5 x {args.reads})")
    if args.parts:
        parts(engine, run_id, args.reads)
    if args.profile:
        path = "/api/jobs?limit=20" if args.profile_of == "history" else f"/api/jobs/{run_id}"
        profile = cProfile.Profile()
        profile.enable()
        await batch(app, path, auth, args.reads)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--reads", type=int, default=1000, help="Requests per batch.")
    parser.add_argument("--parts", action="store_true", help="Time the read's pieces alone.")
    parser.add_argument("--profile", type=int, default=0, help="cProfile's top N functions.")
    parser.add_argument("--profile-of", choices=("run", "history"), default="run")
    parser.add_argument("--runs", type=int, default=25, help="Runs in the history.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jobport-api-profile-") as tmp:
        work = Path(tmp)
        settings = Settings(
            database_url=f"sqlite:///{work / 'state.db'}",
            storage_url=str(work / "files"),
            executor="inline",
            app="jobport.demo",
        )
        engine = Jobport(settings)
        try:
            _, token = create_user(engine.store, "bench")
            source = work / "customers.csv"
            write_csv(source, 100, dirty=0.02, seed=7)
            app = create_app(engine)
            asyncio.run(run(app, engine, token, source, args))
        finally:
            engine.close()


async def run(app: Any, engine: Jobport, token: str, source: Path, args: Any) -> None:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
            for _ in range(max(args.runs, 1)):
                started = await client.post(
                    "/api/imports/customers",
                    headers={"Authorization": f"Bearer {token}"},
                    files={"file": (source.name, source.read_bytes(), "text/csv")},
                )
                started.raise_for_status()
        await measure(app, engine, token, started.json()["id"], args)


if __name__ == "__main__":
    main()
