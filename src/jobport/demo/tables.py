"""The demo's tables: imported when a run needs one, not when the demo's types are declared.

The types name them by :class:`~jobport.registry.TableRef`, so ``jobport types``
loads no SQLAlchemy; ``jobport.demo.customers`` and ``jobport.demo.sync_source.orders``
still give them.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("first_name", sa.String(100)),
    sa.Column("last_name", sa.String(100), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("signup_date", sa.Date),
    sa.Column("balance", sa.Numeric(12, 2)),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("age", sa.Integer),
    sa.Column("score", sa.Float),
)

#: The synced orders have a metadata of their own, as a separate app's tables would.
orders_metadata = sa.MetaData()

orders = sa.Table(
    "orders",
    orders_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("ordered_at", sa.Date, nullable=False),
    sa.Column("amount", sa.Numeric(12, 2), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
)
