"""Creating the async engine, with the SQLite settings recado depends on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from server.db import sqlite_driver

SQLITE_BUSY_TIMEOUT_MS = 10_000


def normalise_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url[len("postgres://") :]
    return url


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    url = normalise_url(url)
    if url.startswith("sqlite+aiosqlite:"):
        kwargs.setdefault("module", sqlite_driver.dbapi())
        # Statements of a write transaction run on the event loop, BEGIN and COMMIT in aiosqlite's thread:
        # one connection used from both, never at once (see server.db.sqlite_driver).
        kwargs.setdefault("connect_args", {"check_same_thread": False})
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
        return SqliteEngine(engine.sync_engine)
    return engine


class SqliteEngine(AsyncEngine):
    """SQLite has one writer at a time, and its own wait for the lock (``busy_timeout``) polls with sleeps
    that grow to 100 ms and serves nobody in order: under a stream of replies a transaction could sleep past
    the moment the lock was free, or starve until the timeout. The transactions this process opens with
    :meth:`begin` or :func:`write_transaction` (each takes the write lock at once, see ``_on_begin``) queue
    here instead, first come first served, and each gets the lock as soon as the one before commits. Other
    processes on the same file (a contact import from the command line) still meet it through
    ``busy_timeout``. Transactions of :meth:`connect` only read, and in WAL mode take no lock at all."""

    def __init__(self, sync_engine: sa.Engine) -> None:
        super().__init__(sync_engine)
        self._writers = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        # The turn in the queue comes before the connection: writers waiting their turn hold none of the pool.
        async with self._writers, self.connect() as conn, _immediate(conn):
            yield conn

    @contextlib.asynccontextmanager
    async def _write_on(self, conn: AsyncConnection) -> AsyncIterator[None]:
        async with self._writers, _immediate(conn):
            yield


@contextlib.asynccontextmanager
async def write_transaction(conn: AsyncConnection) -> AsyncIterator[None]:
    """A transaction that writes, on a connection from ``connect()`` kept across several transactions (a
    contact import's batches). On SQLite it takes the write lock up front, in this process's queue of
    writers, as :meth:`SqliteEngine.begin` does: a transaction that begins as a reader and then writes fails at
    once (SQLITE_BUSY_SNAPSHOT) when another writer committed in between, which no timeout waits out. On
    PostgreSQL it is a plain transaction."""
    engine = conn.engine
    if isinstance(engine, SqliteEngine):
        async with engine._write_on(conn):
            yield
    else:
        async with conn.begin():
            yield


# Set in a connection's ``info`` while it begins a transaction that will write; read by ``_on_begin``.
_WRITES = "recado.writes"


@contextlib.asynccontextmanager
async def _immediate(conn: AsyncConnection) -> AsyncIterator[None]:
    # ``info`` follows the pooled connection to its next user: the mark must not outlive this transaction.
    # It is removed through the dict itself: a transaction cancelled while it began leaves an invalidated
    # connection, which ``conn.info`` would try to reconnect.
    info = conn.info
    info[_WRITES] = True
    try:
        async with conn.begin():
            yield
    finally:
        info.pop(_WRITES, None)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @sa.event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # A transaction that will write takes the write lock up front (IMMEDIATE): a deferred one that reads
        # and then writes can fail with SQLITE_BUSY on the upgrade, which busy_timeout cannot wait out. The
        # others (those ``connect()`` begins by itself) only read: deferred, they take no lock in WAL mode,
        # so no reader waits behind writers nor makes them wait.
        writes = bool(conn.info.get(_WRITES))
        dbapi_connection = conn.connection.dbapi_connection
        sqlite_driver.hold_write_lock(dbapi_connection, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")
        sqlite_driver.hold_write_lock(dbapi_connection, writes)
