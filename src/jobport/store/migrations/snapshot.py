"""The state tables of a new SQLite database, made at once as the migrations would make them.

Every ``jobport`` command on the embedded SQLite prepares its database at
start, and on a new one (the first command in a folder, each test, each
benchmark run) running every migration through Alembic cost more than the
command itself. ``sqlite_head.json`` holds what those migrations leave in a new
database: its ``sqlite_master`` entries and the rows they insert, written from
a database the migrations made (:func:`write`), with the revision it is at.
:func:`create_at_head` plays it into a database that holds none of its tables.

The file is only ever a shortcut: a snapshot of another revision than the
migrations' head is not used (Alembic runs as before), and
``tests/e2e/test_cli_speed.py`` fails until it is written again::

    .venv/bin/python -m jobport.store.migrations.snapshot
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jobport.store.database import WRITE

SNAPSHOT = Path(__file__).parent / "sqlite_head.json"
#: SQLite's own table of AUTOINCREMENT counters: made by SQLite, its rows are data.
SEQUENCE = "sqlite_sequence"
#: The kinds of schema entry, in the order they are made (a table before its indexes).
ENTRY_ORDER = ("table", "index", "trigger", "view")


def read_schema(conn: Connection) -> dict[str, Any]:
    """A database's schema (``sqlite_master``'s statements) and every table's rows."""
    entries = conn.exec_driver_sql(
        "SELECT type, name, sql FROM sqlite_master"
        " WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
    ).all()
    ordered = sorted(entries, key=lambda entry: (ENTRY_ORDER.index(entry[0]), entry[1]))
    tables = [name for kind, name, _ in ordered if kind == "table"]
    if conn.exec_driver_sql(f"SELECT 1 FROM sqlite_master WHERE name = '{SEQUENCE}'").first():
        tables.append(SEQUENCE)
    rows: dict[str, list[list[Any]]] = {}
    for table in tables:
        found = conn.exec_driver_sql(f'SELECT * FROM "{table}" ORDER BY rowid').all()
        if found:
            rows[table] = [list(row) for row in found]
    return {"statements": [sql for _, _, sql in ordered], "tables": tables, "rows": rows}


def load() -> dict[str, Any] | None:
    """The snapshot as written by :func:`write`; None when there is none."""
    try:
        snapshot: dict[str, Any] = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return snapshot


def create_at_head(engine: Engine, head: str) -> bool:
    """Make the state tables at revision ``head`` from the snapshot; False if it cannot.

    It cannot when the snapshot is of another revision or missing, or when the
    database already holds one of its tables (a database older than the
    migrations' version table, say): Alembic then decides. The check and the
    statements are one write transaction, so two processes starting on one new
    database make the tables once; the other finds them and leaves them.
    """
    snapshot = load()
    if snapshot is None or snapshot["revision"] != head:
        return False
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        names = [name for name in snapshot["tables"] if name != SEQUENCE]
        present = conn.execute(
            sa.text("SELECT name FROM sqlite_master WHERE name IN :names").bindparams(
                sa.bindparam("names", expanding=True)
            ),
            {"names": names},
        ).first()
        if present is not None:
            return False
        for statement in snapshot["statements"]:
            conn.exec_driver_sql(statement)
        for table, rows in snapshot["rows"].items():
            if table == SEQUENCE:
                conn.exec_driver_sql(f"DELETE FROM {SEQUENCE}")
            marks = ", ".join("?" * len(rows[0]))
            conn.exec_driver_sql(
                f'INSERT INTO "{table}" VALUES ({marks})', [tuple(r) for r in rows]
            )
    return True


def written_by_migrations() -> dict[str, Any]:
    """What the migrations leave in a new SQLite database, with the revision they reach."""
    from jobport.store.database import make_engine
    from jobport.store.migrations.revisions import current, upgrade

    with tempfile.TemporaryDirectory(prefix="jobport-snapshot-") as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'state.db'}")
        try:
            upgrade(engine)
            with engine.connect() as conn:
                schema = read_schema(conn)
            return {"revision": current(engine), **schema}
        finally:
            engine.dispose()


def write(path: Path = SNAPSHOT) -> None:
    """Write the snapshot of the migrations' head (run this after adding a migration)."""
    snapshot = written_by_migrations()
    for rows in snapshot["rows"].values():
        for row in rows:
            if any(isinstance(value, bytes) for value in row):
                raise ValueError("a migration inserts bytes: the snapshot keeps JSON values")
    path.write_text(json.dumps(snapshot, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
    print(f"wrote {SNAPSHOT}")
