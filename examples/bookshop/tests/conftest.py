"""The bookshop app on a fresh SQLite file per test, jobport running chunks inline.

The inline executor runs a run's chunks inside the request that starts it,
so a test reads the finished run right after the 202: no sleeps, no polling.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from examples.bookshop.app import Config, create_app
from examples.bookshop.auth import add_staff
from examples.bookshop.db import Database
from examples.bookshop.tests.support import Shop

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    config = Config(
        database_url=f"sqlite:///{tmp_path / 'bookshop.db'}",
        files=str(tmp_path / "files"),
        executor="inline",
    )
    app = create_app(config)
    database: Database = app.state.database
    with database.sessions() as session:
        keys = {
            "alice": add_staff(session, "alice"),
            "bob": add_staff(session, "bob"),
            "ann": add_staff(session, "ann", roles=["accounts"]),
            "mo": add_staff(session, "mo", manager=True),
        }
    with TestClient(app) as client:
        yield Shop(client, database, keys)


@pytest.fixture
def books_csv() -> bytes:
    return (DATA / "books.csv").read_bytes()
