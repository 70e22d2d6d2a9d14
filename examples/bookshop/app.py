"""The bookshop's FastAPI app: its own routes, with jobport mounted under ``/jobs``.

Run it with ``uvicorn --factory examples.bookshop.app:create_app`` (see
README.md). Tests call :func:`create_app` with a :class:`Config` of their own.
"""

from __future__ import annotations

import contextlib
import html
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from examples.bookshop.auth import KEY_COOKIE, current_staff, hash_key, jobport_principal
from examples.bookshop.db import create_tables, get_session, open_database
from examples.bookshop.models import Book, Staff
from examples.bookshop.till import TillSyncOptions
from jobport import Jobport, Settings, StartRequest
from jobport.api import create_router, install_problem_handlers
from jobport.settings import ExecutorName
from jobport.web import dashboard_router

#: Where jobport's workers find the job types (they import this module by name).
JOBS_MODULE = "examples.bookshop.jobs"
#: Where jobport is mounted: its API under /jobs/api, its dashboard at /jobs/.
JOBS_PREFIX = "/jobs"


@dataclass(frozen=True)
class Config:
    database_url: str
    files: str
    executor: ExecutorName = "local"

    @classmethod
    def from_env(cls) -> Config:
        """``BOOKSHOP_DATABASE_URL``, ``BOOKSHOP_FILES``, ``BOOKSHOP_EXECUTOR``."""
        executor = os.environ.get("BOOKSHOP_EXECUTOR", "local")
        if executor not in ("local", "inline", "celery"):
            raise ValueError(f"BOOKSHOP_EXECUTOR must be local, inline or celery: {executor!r}")
        return cls(
            database_url=os.environ.get(
                "BOOKSHOP_DATABASE_URL", f"sqlite:///{Path.cwd() / 'bookshop.db'}"
            ),
            files=os.environ.get("BOOKSHOP_FILES", str(Path.cwd() / "bookshop-files")),
            executor=executor,  # type: ignore[arg-type]
        )


class BookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    isbn: str
    title: str
    author: str
    price: Decimal
    stock: int


ShopSession = Annotated[Session, Depends(get_session)]
CurrentStaff = Annotated[Staff, Depends(current_staff)]


def create_app(config: Config | None = None) -> FastAPI:
    """The shop, with jobport on the shop's own engine and the shop's own sign-in."""
    config = config or Config.from_env()
    database = open_database(config.database_url)
    # jobport gets the shop's engine: its state tables go beside the shop's. Its
    # worker processes open database_url, which is therefore the same URL.
    jobs = Jobport(
        Settings(
            database_url=config.database_url,
            storage_url=config.files,
            app=JOBS_MODULE,
            executor=config.executor,
        ),
        database=database.engine,
        recover=config.executor != "inline",
    )
    create_tables(database)  # the staff table (jobport created books and sales)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(jobs.close)
            database.engine.dispose()

    app = FastAPI(title="Bookshop", lifespan=lifespan)
    app.state.database = database
    app.state.jobport = jobs
    install_problem_handlers(app)  # jobport's errors (and the shop's) as problem+json

    api = create_router(jobs, principal=jobport_principal, prefix=f"{JOBS_PREFIX}/api")
    app.include_router(api)
    app.include_router(
        dashboard_router(jobs, feed=api.feed, principal=jobport_principal), prefix=JOBS_PREFIX
    )
    _shop_routes(app, jobs)
    return app


def _shop_routes(app: FastAPI, jobs: Jobport) -> None:
    @app.get("/books")
    def list_books(session: ShopSession, _staff: CurrentStaff) -> list[BookOut]:
        books = session.scalars(sa.select(Book).order_by(Book.title))
        return [BookOut.model_validate(book) for book in books]

    @app.get("/books/{isbn}")
    def get_book(isbn: str, session: ShopSession, _staff: CurrentStaff) -> BookOut:
        book = session.get(Book, isbn)
        if book is None:
            raise HTTPException(404, f"no book with ISBN {isbn}")
        return BookOut.model_validate(book)

    @app.post("/till/sync", status_code=202)
    def sync_till(staff: CurrentStaff, options: TillSyncOptions | None = None) -> dict[str, Any]:
        """Pull the till's new sales, as a manager's action of the shop's own API.

        jobport's ``POST /api/syncs`` would start it too; the shop keeps its own
        route so that the manager check and the options stay in its vocabulary.
        """
        if not staff.is_manager:
            raise HTTPException(403, "only managers sync the till")
        run = jobs.start(
            StartRequest(
                type="till-sales",
                options=(options or TillSyncOptions()).model_dump(),
                owner=staff.name,
                roles=staff.role_set,
                is_admin=staff.is_manager,
            )
        )
        return {"id": run.id, "status": run.status, "run": f"{JOBS_PREFIX}/api/jobs/{run.id}"}

    @app.get("/", response_class=HTMLResponse)
    def home() -> str:
        return _page(
            "Bookshop",
            f'<p><a href="{JOBS_PREFIX}/">Imports, exports and reports</a> · '
            '<a href="/login">Sign in</a></p>',
        )

    @app.get("/login", response_class=HTMLResponse)
    def login_form() -> str:
        return _page(
            "Sign in",
            '<form method="post" action="/login"><label>Staff key '
            '<input name="key" type="password" autocomplete="off" required></label> '
            '<button type="submit">Sign in</button></form>',
        )

    @app.post("/login")
    def login(key: Annotated[str, Form()], session: ShopSession, request: Request) -> Response:
        known = session.scalar(sa.select(Staff.id).where(Staff.key_hash == hash_key(key)))
        if known is None:
            return HTMLResponse(_page("Sign in", "<p>Unknown key.</p>"), status_code=401)
        response = RedirectResponse(f"{JOBS_PREFIX}/", status_code=303)
        response.set_cookie(
            KEY_COOKIE,
            key,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            max_age=12 * 3600,
        )
        return response

    @app.post("/logout")
    def logout() -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(KEY_COOKIE, httponly=True, samesite="lax")
        return response


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"{body}</body></html>"
    )
