"""The SQLite driver adaptation: a statement of a read transaction is one trip to aiosqlite's thread, one of a
write transaction runs on the loop, and either way results, counts and errors are what SQLAlchemy's stock
adaptation gives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.engine import create_engine, write_transaction

metadata = sa.MetaData()
items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String, nullable=False, unique=True),
)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.sqlite3'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def _trips(
    db: AsyncEngine, statement: Any, parameters: Any = None, *, writes: bool = False
) -> tuple[int, Any]:
    """How many functions the statement ran in aiosqlite's thread, and its result's rows (or row count)."""
    async with db.begin() if writes else db.connect() as conn:
        await conn.execute(sa.select(1))  # the transaction has begun
        raw = await conn.get_raw_connection()
        aio: Any = raw.driver_connection
        calls = []
        stock = aio._execute

        async def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(function)
            return await stock(function, *args, **kwargs)

        aio._execute = counted
        try:
            result = await conn.execute(statement, parameters)
            answer = result.all() if result.returns_rows else result.rowcount
        finally:
            del aio._execute
    return len(calls), answer


async def test_a_write_transactions_statements_run_on_the_loop(db: AsyncEngine) -> None:
    assert await _trips(db, items.insert(), [{"name": "a"}, {"name": "b"}], writes=True) == (0, 2)
    assert await _trips(db, sa.select(items.c.name).order_by(items.c.id), writes=True) == (
        0,
        [("a",), ("b",)],
    )
    assert await _trips(db, items.update().values(name=items.c.name + "!"), writes=True) == (0, 2)
    assert await _trips(db, items.delete().where(items.c.name == "a!"), writes=True) == (0, 1)


async def test_a_read_transactions_statement_is_one_trip(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        await conn.execute(items.insert(), [{"name": "a"}, {"name": "b"}])
    assert await _trips(db, sa.select(items.c.name).order_by(items.c.id)) == (1, [("a",), ("b",)])


async def test_begin_and_commit_still_go_to_the_thread(db: AsyncEngine) -> None:
    """BEGIN IMMEDIATE may wait for another process's writer and COMMIT for the disk: never on the loop."""
    async with db.connect() as conn:
        raw = await conn.get_raw_connection()
        aio: Any = raw.driver_connection
        ran: list[str] = []
        stock = aio._execute

        async def named(function: Any, *args: Any, **kwargs: Any) -> Any:
            ran.append(str(args[1]) if len(args) > 1 else getattr(function, "__name__", "?"))
            return await stock(function, *args, **kwargs)

        aio._execute = named
        try:
            async with write_transaction(conn):
                await conn.execute(items.insert().values(name="uno"))
        finally:
            del aio._execute
    assert ran == ["BEGIN IMMEDIATE", "commit"]


async def test_results_counts_and_ids(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        inserted = await conn.execute(items.insert().values(name="uno"))
        assert inserted.inserted_primary_key == (1,)
        returned = await conn.execute(
            items.insert().returning(items.c.id, items.c.name), [{"name": "dos"}, {"name": "tres"}]
        )
        assert sorted(returned.all()) == [(2, "dos"), (3, "tres")]
        assert (await conn.execute(sa.select(sa.func.count()).select_from(items))).scalar_one() == 3
        assert (await conn.execute(sa.select(items).where(items.c.id == 99))).first() is None
        many = await conn.execute(
            items.update().where(items.c.id == sa.bindparam("i")).values(name=sa.bindparam("new")),
            [{"i": 1, "new": "one"}, {"i": 2, "new": "two"}],
        )
        assert many.rowcount == 2


async def test_streaming_still_works(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        await conn.execute(items.insert(), [{"name": f"n{i}"} for i in range(250)])
    async with db.connect() as conn:
        result = await conn.stream(sa.select(items.c.name).order_by(items.c.id))
        names = [name async for (name,) in result]
    assert names == [f"n{i}" for i in range(250)]


async def test_errors_are_sqlalchemys_and_leave_the_connection_usable(db: AsyncEngine) -> None:
    async with db.begin() as conn:
        await conn.execute(items.insert().values(name="uno"))

    async def dos_then_uno_again() -> None:
        async with db.begin() as conn:
            await conn.execute(items.insert().values(name="dos"))
            await conn.execute(items.insert().values(name="uno"))

    with pytest.raises(sa.exc.IntegrityError, match="UNIQUE"):
        await dos_then_uno_again()
    with pytest.raises(sa.exc.OperationalError, match="no such table"):
        async with db.connect() as conn:
            await conn.execute(sa.text("SELECT * FROM nowhere"))
    async with db.connect() as conn:
        assert (await conn.execute(sa.select(items.c.name))).scalars().all() == ["uno"]  # "dos" rolled back
