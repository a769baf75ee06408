"""One turn per contact at a time: an asyncio lock within this process, and across processes the database's.

PostgreSQL gets a transaction-scoped advisory lock keyed by the contact's id (released by the commit or
rollback, so a crashed process never leaves one behind). SQLite needs nothing more: every transaction begins
IMMEDIATE (server.db.engine), which already lets one writer in at a time across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection


class ContactLocks:
    """An asyncio lock per contact id, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._holders: dict[int, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, contact_id: int) -> AsyncIterator[None]:
        lock = self._locks.setdefault(contact_id, asyncio.Lock())
        self._holders[contact_id] = self._holders.get(contact_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._holders[contact_id] -= 1
            if not self._holders[contact_id]:
                del self._holders[contact_id]
                del self._locks[contact_id]

    def __len__(self) -> int:
        return len(self._locks)


async def lock_contact_in_transaction(conn: AsyncConnection, contact_id: int) -> None:
    """Wait until no other process is in a turn for this contact (PostgreSQL); held until the transaction ends."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(contact_id)))
