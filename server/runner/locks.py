"""One turn per contact at a time: an asyncio lock within this process, and across processes the database's.

PostgreSQL gets a transaction-scoped advisory lock keyed by the contact's id (released by the commit or
rollback, so a crashed process never leaves one behind). SQLite needs nothing more: every transaction begins
IMMEDIATE (server.db.engine), which already lets one writer in at a time across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection, Iterable

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

    @contextlib.asynccontextmanager
    async def hold_free(self, contact_ids: Iterable[int]) -> AsyncIterator[set[int]]:
        """Hold, without waiting, the locks of those of these contacts that nobody here holds or waits for;
        yields their ids. For a holder of a database transaction, who must never wait for one of these."""
        async with contextlib.AsyncExitStack() as stack:
            held: set[int] = set()
            for contact_id in contact_ids:
                if contact_id not in self._locks:  # free: acquiring it cannot suspend
                    await stack.enter_async_context(self.hold(contact_id))
                    held.add(contact_id)
            yield held

    def __len__(self) -> int:
        return len(self._locks)


async def lock_contact_in_transaction(conn: AsyncConnection, contact_id: int) -> None:
    """Wait until no other process is in a turn for this contact (PostgreSQL); held until the transaction ends."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(contact_id)))


_LOCK_IN_ORDER = sa.text(
    # PostgreSQL evaluates a volatile function of the select list after ORDER BY: the locks are taken in order.
    "SELECT pg_advisory_xact_lock(id) FROM unnest(CAST(:ids AS bigint[])) AS t(id) ORDER BY id"
)


_TRY_LOCKS = sa.text(
    "SELECT id FROM unnest(CAST(:ids AS bigint[])) AS t(id) WHERE pg_try_advisory_xact_lock(id) ORDER BY id"
)


async def try_lock_contacts_in_transaction(conn: AsyncConnection, contact_ids: Collection[int]) -> set[int]:
    """Take, without waiting, the locks of :func:`lock_contact_in_transaction` that no other process holds;
    the ids of the contacts now locked (on SQLite, all of them). For a transaction that has written already."""
    if conn.dialect.name != "postgresql" or not contact_ids:
        return set(contact_ids)
    rows = await conn.execute(_TRY_LOCKS, {"ids": sorted(contact_ids)})
    return {contact_id for (contact_id,) in rows}


async def lock_contacts_in_transaction(conn: AsyncConnection, contact_ids: Collection[int]) -> None:
    """:func:`lock_contact_in_transaction` for many contacts, in id order (so that two holders of several
    never wait for each other), in one statement."""
    if conn.dialect.name == "postgresql" and contact_ids:
        await conn.execute(_LOCK_IN_ORDER, {"ids": sorted(contact_ids)})
