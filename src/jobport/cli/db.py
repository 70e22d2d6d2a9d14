"""``jobport db``: the state database's tables, created or migrated with Alembic."""

from __future__ import annotations

import typer

from jobport.cli.context import state_of
from jobport.cli.output import out

db_app = typer.Typer(help="The state database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the state tables."""
    from jobport.store import make_engine
    from jobport.store.migrations import current, upgrade

    database = make_engine(state_of(ctx).settings().database_url)
    try:
        upgrade(database)
        out.print(f"state tables at revision {current(database)}")
    finally:
        database.dispose()
