"""Rows written through SQLite's own executemany store exactly what SQLAlchemy's statements store, on both
backends; statements the path cannot serve are refused, not half-written."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.db import driver_rows
from server.db.driver_rows import execute_rows, last_id
from server.db.engine import create_engine
from server.db.schema import contacts, messages, sessions
from server.db.statements import insert_on_conflict

NOW = dt.datetime(2027, 3, 1, 15, 4, 5, 123456, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=2)
MEXICO = dt.timezone(dt.timedelta(hours=-6))


def _session(contact_id: int, n: int, *, timeout: dt.datetime | None) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "flow_uuid": "f" * 36,
        "node_uuid": "n" * 36,
        "wait_kind": "msg",
        "nested": n % 2 == 1,
        "data": {"uuid": str(n), "texto": "¿Cómo estás? 😀", "list": [1, 2.5, None], "nested": {"a": True}},
        "timeout_on": timeout,
        "expires_on": LATER.astimezone(MEXICO),  # another offset: stored as UTC all the same
        "updated_at": NOW,
    }


def _upsert(conn: AsyncConnection) -> Any:
    insert = insert_on_conflict(conn.dialect.name, sessions)
    return insert.on_conflict_do_update(
        index_elements=[sessions.c.contact_id],
        set_={c.name: insert.excluded[c.name] for c in sessions.columns if c.name != "contact_id"},
    )


async def _contacts(conn: AsyncConnection, count: int) -> list[int]:
    rows = [
        {"uuid": uuid.uuid4(), "phone": f"+5255{i:08d}", "created_at": NOW, "updated_at": NOW}
        for i in range(count)
    ]
    await conn.execute(contacts.insert(), rows)
    return list((await conn.execute(sa.select(contacts.c.id).order_by(contacts.c.id))).scalars())


async def _stored(conn: AsyncConnection, table: sa.Table) -> list[tuple[Any, ...]]:
    """The rows as the driver returns them, unconverted, without the key."""
    columns = ", ".join(f'"{c.name}"' for c in table.columns if c.name != "contact_id")
    found = await conn.exec_driver_sql(f"SELECT {columns} FROM {table.name} ORDER BY contact_id")  # noqa: S608
    return [tuple(row) for row in found]


async def test_rows_are_stored_exactly_as_sqlalchemy_stores_them(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ids = await _contacts(conn, 4)
        by_sqlalchemy = [_session(ids[0], 0, timeout=None), _session(ids[1], 1, timeout=LATER)]
        await conn.execute(_upsert(conn), by_sqlalchemy)
        expected = await _stored(conn, sessions)
        await conn.execute(sessions.delete())
        written = await execute_rows(
            conn, _upsert(conn), [_session(ids[0], 0, timeout=None), _session(ids[1], 1, timeout=LATER)]
        )
        assert await _stored(conn, sessions) == expected
        assert written in (2, -1)  # asyncpg does not count an executemany's rows
        back = (await conn.execute(sa.select(sessions).order_by(sessions.c.contact_id))).all()
    assert [row.data for row in back] == [s["data"] for s in by_sqlalchemy]
    assert [row.timeout_on for row in back] == [None, LATER]
    assert {row.expires_on for row in back} == {LATER}
    assert [row.nested for row in back] == [False, True]


async def test_the_upsert_replaces_and_the_update_counts_its_rows(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ids = await _contacts(conn, 3)
        await execute_rows(conn, _upsert(conn), [_session(c, n, timeout=None) for n, c in enumerate(ids)])
        replaced = {**_session(ids[1], 7, timeout=LATER), "wait_kind": "webhook"}
        await execute_rows(conn, _upsert(conn), [replaced])
        rows = (await conn.execute(sa.select(sessions.c.uuid, sessions.c.wait_kind))).all()
        assert sorted(rows) == sorted(
            [
                (_session(ids[0], 0, timeout=None)["uuid"], "msg"),
                (replaced["uuid"], "webhook"),
                (_session(ids[2], 2, timeout=None)["uuid"], "msg"),
            ]
        )
        rename = (
            contacts.update()
            .where(contacts.c.id == sa.bindparam("k"), contacts.c.name.is_(None))
            .values(name=sa.bindparam("new"), updated_at=sa.bindparam("at"))
        )
        changed = await execute_rows(
            conn, rename, [{"k": ids[0], "new": "Ana", "at": LATER}, {"k": 999_999, "new": "x", "at": LATER}]
        )
        if conn.dialect.supports_sane_multi_rowcount:
            assert changed == 1
        names = dict((await conn.execute(sa.select(contacts.c.id, contacts.c.name))).all())
        assert names == {ids[0]: "Ana", ids[1]: None, ids[2]: None}
        assert (
            await conn.execute(sa.select(contacts.c.updated_at).where(contacts.c.id == ids[0]))
        ).scalar_one() == LATER


async def test_nothing_to_write_is_no_statement(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        assert await execute_rows(conn, sessions.insert().returning(sessions.c.uuid), []) == 0


async def test_statements_the_driver_cannot_serve_are_refused_before_any_row_is_written(
    sqlite_url: str,
) -> None:
    engine = create_engine(sqlite_url)
    try:
        async with engine.begin() as conn:
            (contact_id,) = await _contacts(conn, 1)
            row = _session(contact_id, 0, timeout=None)
            with pytest.raises(ValueError, match="RETURNING"):
                await execute_rows(conn, sessions.insert().returning(sessions.c.uuid), [row])
            half = sessions.insert().values(updated_at=sa.bindparam("stamp"))
            with pytest.raises(ValueError, match="no value for stamp"):
                await execute_rows(conn, half, [row])
            assert await _stored(conn, sessions) == []
    finally:
        await engine.dispose()


async def test_statements_built_per_call_do_not_grow_the_cache(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        async with engine.begin() as conn:
            ids = await _contacts(conn, 1)
            for n in range(driver_rows._COMPILED_MAX + 10):
                await execute_rows(conn, _upsert(conn), [_session(ids[0], n, timeout=None)])
            assert len(driver_rows._COMPILED) <= driver_rows._COMPILED_MAX
            stored = (await conn.execute(sa.select(sessions.c.uuid))).scalar_one()
            assert stored == _session(ids[0], driver_rows._COMPILED_MAX + 9, timeout=None)["uuid"]
    finally:
        await engine.dispose()


async def test_last_id_is_zero_then_the_largest(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        assert await last_id(conn, messages) == 0
        (contact_id,) = await _contacts(conn, 1)
        rows = [
            {
                "uuid": uuid.uuid4(),
                "contact_id": contact_id,
                "direction": "out",
                "text": f"m{i}",
                "status": "queued",
                "created_at": NOW,
                "updated_at": NOW,
            }
            for i in range(3)
        ]
        await conn.execute(messages.insert(), rows)
        assert await last_id(conn, messages) == max((await conn.execute(sa.select(messages.c.id))).scalars())
