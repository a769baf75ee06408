"""SQLite through aiosqlite with at most one trip to the driver's thread per statement, and none inside a
transaction that holds the write lock.

aiosqlite runs every call of the sqlite3 module in a thread of its own, and SQLAlchemy's adaptation makes four
calls for each statement (open a cursor, execute, fetch the rows, close the cursor), each a round trip between
the event loop and that thread. A trip costs more than running a simple statement, and far more on a busy
machine, where the thread and the loop hand the interpreter's lock back and forth: a batch of replies runs a
score of statements, and their trips were most of its time. Here a statement is one function: execute, fetch,
close, with the cursor's description, row count and last row id brought back together.

Inside a write transaction (``write_lock_held``, set by ``server.db.engine`` once ``BEGIN IMMEDIATE`` has
the lock) that function runs on the event loop itself: holding SQLite's only write lock, the statement cannot
wait for another, and the writes recado makes are bounded batches, so it is short. ``BEGIN IMMEDIATE`` (which
may wait for another process's writer) and ``COMMIT`` (which waits for the disk) still go to the thread, as do
the statements of read transactions, which may scan large tables while the loop serves others. Server-side
cursors (streaming) are the stock adaptation.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# description, rowcount, lastrowid, the rows (None when the statement returns none)
_Outcome = tuple[Any, int, int | None, list[Any] | None]


def _execute(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


async def _ready(outcome: _Outcome) -> _Outcome:
    return outcome


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor that keeps no driver cursor between statements."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # The stock __init__ would open a driver cursor (a trip) that this class never uses.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # the rows are already here and no driver cursor is open

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._run(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._run(operation, seq_of_parameters, many=True)

    def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        adapted = self._adapt_connection
        try:
            if getattr(adapted, "write_lock_held", False):
                aio: Any = self._connection
                # Awaited all the same: SQLAlchemy checks that an async driver's statement awaited something.
                outcome: _Outcome = await_(_ready(_execute(aio._conn, operation, parameters, many)))
            else:
                outcome = await_(self._in_thread(operation, parameters, many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows) if rows else collections.deque()

    async def _in_thread(self, operation: Any, parameters: Any, many: bool) -> _Outcome:
        async with self._adapt_connection._execute_mutex:
            # aiosqlite's own way to run a function in its thread (SQLAlchemy's adaptation uses it too).
            aio: Any = self._connection
            result: _Outcome = await aio._execute(_execute, aio._conn, operation, parameters, many)
            return result


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("write_lock_held",)
    _cursor_cls = OneTripCursor  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.write_lock_held = False


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module to hand ``create_async_engine(..., module=...)`` for SQLite."""

    def connect(self, *arg: Any, **kw: Any) -> _Connection:
        stock = super().connect(*arg, **kw)
        return _Connection(self, stock._connection)


def hold_write_lock(dbapi_connection: Any, held: bool) -> None:
    """Say whether the connection's transaction holds the write lock (its statements then run on the loop)."""
    if isinstance(dbapi_connection, _Connection):
        dbapi_connection.write_lock_held = held


def dbapi() -> OneTripDbapi:
    import aiosqlite

    return OneTripDbapi(aiosqlite, sqlite3)
