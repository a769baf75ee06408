"""Statements both backends run the same way, and the transaction a sync runs in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")

# PostgreSQL gives up one of two transactions that wait on each other (deadlock, serialisation failure).
# Two gateways syncing at once can meet that way on contact rows; a sync is idempotent, so it runs again.
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 3


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


def _sqlstate(exc: sa.exc.DBAPIError) -> str | None:
    state = getattr(exc.orig, "sqlstate", None)
    return state if isinstance(state, str) else None


async def in_transaction(engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction (``BEGIN IMMEDIATE`` on SQLite, see server.db.engine), again when
    PostgreSQL chose it as a deadlock's victim."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with engine.begin() as conn:
                return await work(conn)
        except sa.exc.DBAPIError as exc:
            if attempt == ATTEMPTS or _sqlstate(exc) not in _RETRY_SQLSTATES:
                raise
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
