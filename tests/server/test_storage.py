"""The storage layer on both backends: migrations, pragmas, UTC times."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db import migrate
from server.db.schema import contacts, metadata

NOW = dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.UTC)


async def test_migrations_create_exactly_the_schema(engine: AsyncEngine) -> None:
    def diff(conn: sa.Connection) -> list[object]:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
    assert await migrate.is_current(engine)


async def test_upgrade_twice_is_harmless(engine: AsyncEngine) -> None:
    await migrate.upgrade(engine)
    assert await migrate.is_current(engine)


async def test_sqlite_pragmas(engine: AsyncEngine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    async with engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2  # FULL
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 10_000


async def test_sqlite_writers_of_one_process_take_turns_in_order(engine: AsyncEngine) -> None:
    """SQLite's own wait for its lock serves nobody in order; a process's transactions queue first come,
    first served, so a writer that asked first is never overtaken (nor starved by a stream of others)."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    order: list[int] = []

    async def writer(n: int) -> None:
        async with engine.begin() as conn:
            order.append(n)
            await conn.execute(
                contacts.insert().values(
                    uuid=uuid.uuid4(), phone=f"+5255500{n:05d}", created_at=NOW, updated_at=NOW
                )
            )
            await asyncio.sleep(0.01)  # holding the write lock, as a turn does while the engine runs

    tasks = []
    for n in range(12):
        tasks.append(asyncio.create_task(writer(n)))
        await asyncio.sleep(0)  # each asks in turn
    await asyncio.gather(*tasks)
    assert order == list(range(12))


async def test_times_round_trip_as_utc(engine: AsyncEngine) -> None:
    local = dt.datetime(2027, 3, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=-6)))
    async with engine.begin() as conn:
        await conn.execute(
            contacts.insert().values(
                uuid=uuid.uuid4(), phone="+525512345678", created_at=local, updated_at=local
            )
        )
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.select(contacts.c.created_at))).scalar_one()
    assert stored == local
    assert stored.utcoffset() == dt.timedelta(0)


async def test_naive_datetimes_are_refused(engine: AsyncEngine) -> None:
    naive = dt.datetime(2027, 3, 1, 9, 30)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        async with engine.begin() as conn:
            await conn.execute(
                contacts.insert().values(
                    uuid=uuid.uuid4(), phone="+525512345678", created_at=naive, updated_at=naive
                )
            )


async def test_foreign_keys_are_enforced(engine: AsyncEngine) -> None:
    from server.db.schema import group_members

    now = dt.datetime.now(dt.UTC)
    with pytest.raises(sa.exc.IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(group_members.insert().values(group_id=999, contact_id=999, added_at=now))
