"""Taking contacts' database locks without waiting, for a transaction that has written already."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.runner.locks import lock_contacts_in_transaction, try_lock_contacts_in_transaction


async def test_only_the_free_locks_are_taken(engine: AsyncEngine) -> None:
    async with engine.connect() as holder, holder.begin():
        await holder.execute(sa.select(1))
        await lock_contacts_in_transaction(holder, [2])
        async with engine.connect() as other, other.begin():
            await other.execute(sa.select(1))
            taken = await try_lock_contacts_in_transaction(other, [3, 1, 2])
    if engine.dialect.name == "postgresql":
        assert taken == {1, 3}  # 2 is another transaction's until it ends
    else:
        assert taken == {1, 2, 3}  # SQLite's write lock already keeps every other writer out
    async with engine.connect() as later, later.begin():
        await later.execute(sa.select(1))
        assert await try_lock_contacts_in_transaction(later, [2]) == {2}  # released with its transaction
        assert await try_lock_contacts_in_transaction(later, []) == set()
