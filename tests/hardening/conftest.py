"""Fixtures of the hardening tests: an embedded demo engine in the test's folder."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from tests.hardening.support import make_engine as make_jobport
from tests.hardening.support import notes_registry

from jobport import Jobport
from jobport.store import make_engine
from jobport.store.migrations import upgrade


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Jobport]:
    """The demo app (``customers``) on SQLite, local files and the inline executor."""
    with make_jobport(tmp_path) as built:
        yield built


@pytest.fixture
def notes(tmp_path: Path) -> Iterator[Jobport]:
    """The ``notes`` type: an unbounded text field, three rows a chunk, no limits of its own."""
    with make_jobport(tmp_path, app=None, registry=notes_registry()) as built:
        yield built


@pytest.fixture
def fresh_postgres(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL database of this test's own, dropped afterwards.

    Other test runs share the server's ``test`` database, so this test creates
    one with a unique name beside it instead of touching shared tables.
    """
    server = make_url(postgres_url).set(drivername="postgresql+psycopg", database="postgres")
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"jobport_hardening_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = server.set(database=name).render_as_string(hide_password=False)
        state = make_engine(url)
        upgrade(state)  # what `jobport db upgrade` does
        state.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
