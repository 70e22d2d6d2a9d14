"""The shop's own tables, as SQLAlchemy 2 declarative models.

jobport's job types name these models directly (an ORM class is accepted
through its ``__table__``), so the shop keeps one definition of its schema.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Book(Base):
    """A title the shop sells; imported from suppliers' files, matched on the ISBN."""

    __tablename__ = "books"

    isbn: Mapped[str] = mapped_column(String(13), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    author: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    stock: Mapped[int] = mapped_column(default=0)


class Sale(Base):
    """A sale rung up on the till, copied here by the till sync (the till numbers them)."""

    __tablename__ = "sales"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    isbn: Mapped[str] = mapped_column(String(13), index=True)
    quantity: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    sold_at: Mapped[dt.datetime]


class Staff(Base):
    """Someone who works at the shop, with their API key (stored as its SHA-256 only)."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_manager: Mapped[bool] = mapped_column(default=False)
    #: Comma-separated, e.g. "accounts".
    roles: Mapped[str] = mapped_column(String(200), default="")

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(role for role in self.roles.split(",") if role)
