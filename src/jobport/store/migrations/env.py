"""Alembic environment: runs against the engine jobport hands over."""

from __future__ import annotations

from alembic import context

from jobport.store.database import WRITE
from jobport.store.tables import metadata

config = context.config
engine = config.attributes["engine"]

with engine.connect().execution_options(**{WRITE: True}) as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=config.get_main_option("version_table"),
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
