"""Statements the busiest paths run again and again, built once per database dialect.

SQLAlchemy finds a statement's compiled form by its cache key, which it computes by walking the statement the
first time each statement object is executed. Building the statement anew on every call means a walk every
call, and for an ``INSERT ... ON CONFLICT DO UPDATE`` (every column of its ``SET``) the walk costs more than
the rest of the statement's Python. A statement kept here is built and walked once; each call passes only its
parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")


def per_dialect(build: Callable[[str], T]) -> Callable[[AsyncConnection], T]:
    """Decorate ``build(dialect_name)``: the statement for the connection's dialect, built on first use."""
    built: dict[str, T] = {}

    def for_connection(conn: AsyncConnection) -> T:
        name = conn.dialect.name
        statement = built.get(name)
        if statement is None:
            statement = built[name] = build(name)
        return statement

    for_connection.__doc__ = build.__doc__
    return for_connection


def insert_on_conflict(dialect_name: str, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    """INSERT with ON CONFLICT, which both backends spell the same way."""
    return (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(table)


def insert_for(conn: AsyncConnection, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    """:func:`insert_on_conflict` for the connection's database."""
    return insert_on_conflict(conn.dialect.name, table)
