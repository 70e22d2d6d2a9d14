"""The shop's database: its own engine and session factory, made once per app.

jobport is handed this very engine (``Jobport(database=...)``), so its state
tables sit beside the shop's and a chunk's rows commit in the same
transaction as jobport's record of that chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from fastapi.requests import HTTPConnection
from sqlalchemy.orm import Session, sessionmaker

from examples.bookshop.models import Base


@dataclass(frozen=True)
class Database:
    engine: sa.Engine
    sessions: sessionmaker[Session]


def open_database(url: str) -> Database:
    """The shop's engine on ``url`` (nothing is connected yet)."""
    engine = sa.create_engine(url)
    return Database(engine, sessionmaker(engine, expire_on_commit=False))


def create_tables(database: Database) -> None:
    """The shop's tables, where missing (a real shop would run its migrations)."""
    Base.metadata.create_all(database.engine)


def get_session(connection: HTTPConnection) -> Iterator[Session]:
    """The shop's usual request-scoped session (HTTPConnection: WebSockets use it too)."""
    database: Database = connection.app.state.database
    with database.sessions() as session:
        yield session
