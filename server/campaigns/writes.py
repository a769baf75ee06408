"""Writing what a batch of fires decided, in one go: the messages, their ``queued`` events, the log, and the
rows moved on or deleted.

A batch writes thousands of rows in each of those tables, so the writing is batched statement by statement
(DESIGN's target: 20,000 fires per second on SQLite). On SQLite the rows go to the driver's ``executemany``
as plain tuples, each value converted once by its column's own bind processor (the stored text is exactly what
an ordinary statement stores), and the messages' events are one ``INSERT ... SELECT`` over the ids the batch
just took: the transaction began IMMEDIATE, so no other writer can take ids in between. PostgreSQL gets the
ordinary Core statements (multi-row inserts with ``RETURNING``).
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.schema import PRIORITIES, campaign_fires, campaign_log, message_events, messages
from server.messages import Text

ACTOR = "campaigns"  # the ``detail`` of the messages' ``queued`` events, and the audit actor
_BULK = PRIORITIES["bulk"]


@dataclass
class Writes:
    messages: list[tuple[int, Text]] = field(default_factory=list)  # (contact id, text)
    # (contact id, campaign uuid, event uuid, outcome, due at)
    log: list[tuple[int, str, str, str, dt.datetime]] = field(default_factory=list)
    moves: list[tuple[int, int, str, dt.datetime]] = field(
        default_factory=list
    )  # (contact, campaign, event, at)
    drops: list[tuple[int, int]] = field(default_factory=list)  # (contact id, campaign id)

    def __bool__(self) -> bool:
        return bool(self.messages or self.log or self.moves or self.drops)


async def write(conn: AsyncConnection, writes: Writes, now: dt.datetime) -> None:
    if conn.dialect.name == "sqlite":
        await _write_sqlite(conn, writes, now)
    else:
        await _write_core(conn, writes, now)


# --- PostgreSQL (and any backend): Core statements --------------------------------------------------------


async def _write_core(conn: AsyncConnection, writes: Writes, now: dt.datetime) -> None:
    if writes.messages:
        rows = [
            {
                "uuid": uuid.uuid4(),
                "contact_id": contact_id,
                "direction": "out",
                "text": text.text,
                "status": "queued",
                "priority": _BULK,
                "segments": text.size.segments,
                "encoding": text.size.encoding,
                "created_at": now,
                "updated_at": now,
            }
            for contact_id, text in writes.messages
        ]
        inserted = await conn.execute(messages.insert().returning(messages.c.id), rows)
        await conn.execute(
            message_events.insert(),
            [{"message_id": i, "status": "queued", "at": now, "detail": ACTOR} for i in inserted.scalars()],
        )
    if writes.log:
        await conn.execute(
            campaign_log.insert(),
            [
                {
                    "contact_id": contact_id,
                    "campaign_uuid": campaign_uuid,
                    "event_uuid": event_uuid,
                    "outcome": outcome,
                    "due_at": due_at,
                    "at": now,
                }
                for contact_id, campaign_uuid, event_uuid, outcome, due_at in writes.log
            ],
        )
    if writes.moves:
        await conn.execute(
            campaign_fires.update()
            .where(
                campaign_fires.c.contact_id == sa.bindparam("k_contact"),
                campaign_fires.c.campaign_id == sa.bindparam("k_campaign"),
            )
            .values(event_uuid=sa.bindparam("event_uuid"), due_at=sa.bindparam("due_at")),
            [
                {"k_contact": c, "k_campaign": k, "event_uuid": e, "due_at": at}
                for c, k, e, at in writes.moves
            ],
        )
    if writes.drops:
        await conn.execute(
            campaign_fires.delete().where(
                campaign_fires.c.contact_id == sa.bindparam("k_contact"),
                campaign_fires.c.campaign_id == sa.bindparam("k_campaign"),
            ),
            [{"k_contact": c, "k_campaign": k} for c, k in writes.drops],
        )


# --- SQLite: the driver's executemany -----------------------------------------------------------------------

_MESSAGES = (
    "INSERT INTO messages (uuid, contact_id, direction, text, status, priority, segments, encoding, "
    "created_at, updated_at) VALUES (?, ?, 'out', ?, 'queued', ?, ?, ?, ?, ?)"
)
_EVENTS = (
    "INSERT INTO message_events (message_id, status, at, detail) "
    "SELECT id, 'queued', ?, ? FROM messages WHERE id > ? ORDER BY id"
)
_LOG = (
    "INSERT INTO campaign_log (contact_id, campaign_uuid, event_uuid, outcome, due_at, at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_MOVE = "UPDATE campaign_fires SET event_uuid = ?, due_at = ? WHERE contact_id = ? AND campaign_id = ?"
_DROP = "DELETE FROM campaign_fires WHERE contact_id = ? AND campaign_id = ?"


def _processor(column: sa.Column[Any], conn: AsyncConnection) -> Callable[[Any], Any]:
    process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    assert process is not None  # uuid and time columns always convert on SQLite
    return process


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}  # 0b10 and two random bits
_COUNTER = 4096  # values of the 12-bit counter of a version 7 UUID


def _uuid7_hexes(count: int) -> list[str]:
    """``count`` time-ordered UUIDs (RFC 9562 version 7, the 12 bits after the version a counter) as the 32 hex
    digits SQLite stores. A batch's messages get ascending uuids, so their unique index grows at its end
    instead of taking a random page for each; random UUIDs made that index the most expensive part of a fire.
    The wall clock (not the injected one) dates them: they only need to be unique and ascending."""
    millis = time.time_ns() // 1_000_000
    randoms = os.urandom(8 * count).hex()
    return [
        f"{millis + i // _COUNTER:012x}7{i % _COUNTER:03x}"
        + _VARIANT[randoms[16 * i]]
        + randoms[16 * i + 1 : 16 * i + 16]
        for i in range(count)
    ]


async def _write_sqlite(conn: AsyncConnection, writes: Writes, now: dt.datetime) -> None:
    as_time = _processor(campaign_log.c.at, conn)
    stamp = as_time(now)
    times: dict[dt.datetime, Any] = {}

    def stored(moment: dt.datetime) -> Any:
        found = times.get(moment)
        if found is None:
            found = times[moment] = as_time(moment)
        return found

    if writes.messages:
        before = (await conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM messages")).scalar_one()
        await conn.exec_driver_sql(
            _MESSAGES,
            [
                (
                    message_uuid,
                    contact_id,
                    text.text,
                    _BULK,
                    text.size.segments,
                    text.size.encoding,
                    stamp,
                    stamp,
                )
                for message_uuid, (contact_id, text) in zip(
                    _uuid7_hexes(len(writes.messages)), writes.messages, strict=True
                )
            ],
        )
        await conn.exec_driver_sql(_EVENTS, (stamp, ACTOR, before))
    if writes.log:
        await conn.exec_driver_sql(
            _LOG, [(c, k, e, outcome, stored(at), stamp) for c, k, e, outcome, at in writes.log]
        )
    if writes.moves:
        await conn.exec_driver_sql(_MOVE, [(e, stored(at), c, k) for c, k, e, at in writes.moves])
    if writes.drops:
        await conn.exec_driver_sql(_DROP, writes.drops)
