"""The storage layer on both backends: migrations, pragmas, UTC times, and who waits for whom."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import itertools
import sqlite3
import uuid
import zoneinfo

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server import alerts, contacts_import
from server.db import migrate
from server.db.engine import write_transaction
from server.db.schema import alerts as alerts_table
from server.db.schema import contacts, metadata

NOW = dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.UTC)
MEXICO = zoneinfo.ZoneInfo("America/Mexico_City")


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


def _new_contact(n: int) -> sa.Insert:
    return contacts.insert().values(
        uuid=uuid.uuid4(), phone=f"+5255500{n:05d}", created_at=NOW, updated_at=NOW
    )


async def _count_contacts(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(sa.func.count()).select_from(contacts))).scalar_one())


async def test_readers_do_not_wait_for_a_writer(engine: AsyncEngine) -> None:
    """A read through ``connect()`` completes while another transaction holds the write lock, and sees the
    database as it was before that transaction."""
    holding, read = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with engine.begin() as conn:
            await conn.execute(_new_contact(1))
            holding.set()
            await read.wait()

    writing = asyncio.create_task(writer())
    await holding.wait()
    async with engine.connect() as conn:
        seen = await _count_contacts(conn)
    assert not writing.done()
    read.set()
    await writing
    assert seen == 0
    async with engine.connect() as conn:
        assert await _count_contacts(conn) == 1


def _write_lock_is_free(path: str) -> bool:
    """Whether another process could take SQLite's write lock now (asked once, without waiting)."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        return False
    else:
        other.execute("ROLLBACK")
        return True
    finally:
        other.close()


async def test_sqlite_reads_take_no_lock_and_write_transactions_take_it_up_front(engine: AsyncEngine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    path = engine.url.database
    assert path is not None
    async with engine.connect() as conn:
        await _count_contacts(conn)
        assert _write_lock_is_free(path)
        await conn.rollback()
        async with write_transaction(conn):
            assert not _write_lock_is_free(path)  # before it has written anything
            await conn.execute(_new_contact(1))
        assert _write_lock_is_free(path)
        # The same pooled connection reads again without the lock: the mark went with its transaction.
        assert await _count_contacts(conn) == 1
        assert _write_lock_is_free(path)
    async with engine.begin():
        assert not _write_lock_is_free(path)


async def test_sqlite_a_write_cancelled_while_it_waits_for_the_lock_leaves_the_engine_usable(
    engine: AsyncEngine,
) -> None:
    """A server stopping cancels a writer that is still waiting for another process's lock: its connection is
    dropped, and the next writers and readers carry on."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    path = engine.url.database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    waiting = asyncio.Event()

    async def write() -> None:
        async with engine.connect() as conn:
            waiting.set()
            async with write_transaction(conn):
                await conn.execute(_new_contact(1))

    task = asyncio.create_task(write())
    await waiting.wait()
    await asyncio.sleep(0.2)  # into SQLite's wait for the lock
    task.cancel()
    other.execute("ROLLBACK")  # lets the dropped connection's thread finish its BEGIN, and close
    other.close()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with engine.begin() as conn:
        await conn.execute(_new_contact(2))
    async with engine.connect() as conn:
        assert await _count_contacts(conn) == 1
        assert _write_lock_is_free(path)


async def test_a_failed_write_transaction_leaves_nothing(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:

        async def insert_twice() -> None:
            async with write_transaction(conn):
                await conn.execute(_new_contact(1))
                await conn.execute(_new_contact(1))  # the same phone again

        with pytest.raises(sa.exc.IntegrityError):
            await insert_twice()
        assert await _count_contacts(conn) == 0


class _WriterStream:
    """Writers of this process one after another without a pause, each holding the write lock a moment as a
    turn does while the engine runs, until the block ends or ``most`` have committed."""

    def __init__(self, engine: AsyncEngine, most: int, tasks: int = 3) -> None:
        self.engine = engine
        self.most = most
        self.tasks = tasks
        self.committed = 0
        self._numbers = itertools.count(10_000)
        self._started = asyncio.Event()
        self._stop = asyncio.Event()
        self._running: asyncio.Future[list[None]] | None = None

    async def _writer(self) -> None:
        while not self._stop.is_set() and self.committed < self.most:
            async with self.engine.begin() as conn:
                await conn.execute(_new_contact(next(self._numbers)))
                await asyncio.sleep(0.02)
            self.committed += 1
            self._started.set()

    @property
    def ended(self) -> bool:
        return self._running is not None and self._running.done()

    async def __aenter__(self) -> _WriterStream:
        self._running = asyncio.gather(*(self._writer() for _ in range(self.tasks)))
        await self._started.wait()
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop.set()
        assert self._running is not None
        await self._running


async def test_staff_are_texted_while_a_stream_of_writers_runs(engine: AsyncEngine) -> None:
    """The dispatcher reads the alerts to text without the write lock, then queues each alert's texts in
    its turn: it is done while the stream still runs, instead of polling for the lock until the timeout."""
    async with engine.begin() as conn:
        contact_id = (await conn.execute(_new_contact(1).returning(contacts.c.id))).scalar_one()
        for _ in range(3):
            await conn.execute(
                alerts_table.insert().values(
                    uuid=uuid.uuid4(),
                    contact_id=contact_id,
                    flow_uuid=str(uuid.uuid4()),
                    node_uuid=str(uuid.uuid4()),
                    reason="sangrado",
                    input="ALERTA",
                    status="open",
                    raised_at=NOW,
                    updated_at=NOW,
                    clinic="Centro",
                )
            )
    staff = alerts.parse_staff("* = +525500000001", region="MX")
    async with _WriterStream(engine, most=150) as stream:
        queued = await alerts.text_staff(engine, staff, now=NOW)
        assert not stream.ended
    assert queued == 3
    async with engine.connect() as conn:
        pending = await conn.execute(sa.select(alerts_table.c.id).where(alerts_table.c.notified_at.is_(None)))
        assert pending.all() == []


async def test_a_contact_import_writes_its_batches_between_other_writers(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import keeps one connection for all its batches; each batch is a write transaction that takes its
    turn among the other writers (a batch that began as a reader would fail when one of them committed)."""
    monkeypatch.setattr(contacts_import, "BATCH_ROWS", 50)
    data = "phone,name\n" + "".join(f"55{13_000_000 + i:08d},Ana\n" for i in range(300))
    committed_at_batch: list[int] = []
    async with _WriterStream(engine, most=500) as stream:
        report = await contacts_import.import_contacts(
            engine,
            io.BytesIO(data.encode()),
            tz=MEXICO,
            programme_timezone=MEXICO.key,
            region="MX",
            now=NOW,
            actor="cli",
            progress=lambda _done, _total: committed_at_batch.append(stream.committed),
        )
        assert not stream.ended
    assert (report.rows, report.created, report.failed, report.errors) == (300, 300, 0, [])
    assert committed_at_batch[-1] > committed_at_batch[0]  # the others wrote between its batches
    async with engine.connect() as conn:
        assert await _count_contacts(conn) == 300 + stream.committed


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
