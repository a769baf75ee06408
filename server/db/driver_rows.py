"""Many rows of one statement handed to SQLite's own ``executemany``, each value converted once by its column's
bind processor: the stored text is exactly what ``conn.execute(statement, rows)`` stores.

SQLAlchemy's ``executemany`` builds a parameter dictionary for every row and runs it through its machinery, about
15 µs a row on a slow two-core machine, which for the runner's batches is more than SQLite takes to write the
row. Here the statement is compiled once per set of keys, and a row costs a tuple. PostgreSQL gets the ordinary
``conn.execute`` (asyncpg sends a batch in one round trip already).

Only statements whose every parameter comes from the rows: no Python-side column defaults (the schema has
none), no ``RETURNING`` (SQLite's ``executemany`` returns no rows; :func:`last_id` with the ascending ids a
write transaction gets is the way to find inserted rows).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

Writable = sa.Insert | sa.Update | sa.Delete
# The compiled SQL, and each parameter's name in order with its processor (None: the value goes as it is).
_Compiled = tuple[str, tuple[tuple[str, Callable[[Any], Any] | None], ...]]
# (statement, its rows' keys) → what it compiled to. The statements passed are built once (see
# server.db.statements); should a caller build one per call, the cache starts over instead of growing.
_COMPILED: dict[tuple[Writable, tuple[str, ...]], _Compiled] = {}
_COMPILED_MAX = 256


def bind_processor(type_: sa.types.TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """How a value of ``type_`` is converted for the driver of ``dialect`` (None: it goes as it is)."""
    process: Callable[[Any], Any] | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return process


def _compile(statement: Writable, keys: tuple[str, ...], dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    if getattr(compiled, "returning", None) or compiled.positiontup is None:
        raise ValueError("driver rows need a positional statement without RETURNING")
    names = tuple(compiled.positiontup)
    missing = sorted(set(names) - set(keys))
    if missing:
        raise ValueError(f"the rows give no value for {', '.join(missing)}")
    binds = compiled.binds
    return compiled.string, tuple((name, bind_processor(binds[name].type, dialect)) for name in names)


async def execute_rows(conn: AsyncConnection, statement: Writable, rows: Sequence[Mapping[str, Any]]) -> int:
    """``conn.execute(statement, rows)``, on SQLite through the driver (every row with the first row's keys);
    the rows it changed, as the driver counts them (see ``supports_sane_multi_rowcount``)."""
    if not rows:
        return 0
    if conn.dialect.name != "sqlite":
        return (await conn.execute(statement, list(rows))).rowcount
    keys = tuple(rows[0])
    compiled = _COMPILED.get((statement, keys))
    if compiled is None:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        compiled = _COMPILED[(statement, keys)] = _compile(statement, keys, conn.dialect)
    sql, plan = compiled
    written = await conn.exec_driver_sql(
        sql,
        [
            tuple(row[name] if process is None else process(row[name]) for name, process in plan)
            for row in rows
        ],
    )
    return written.rowcount


async def last_id(conn: AsyncConnection, table: sa.Table) -> int:
    """The table's largest id (0 when empty). Inside a write transaction on SQLite, the rows inserted next get
    the ids after it, in the order they were given: no other writer can take one meanwhile."""
    found = await conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table.name}")  # noqa: S608 - a table name of ours
    return int(found.scalar_one())
