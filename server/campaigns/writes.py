"""Writing what a batch of fires decided, in one go: the messages, their ``queued`` events, the log, and the
rows moved on or deleted; and the rows a recomputation changed (:func:`write_rows`).

A batch decides once for many contacts, so each entry of :class:`Writes` holds the list of contacts it applies
to, and is expanded into rows here: a time is converted for the database once per decision, not per row.

A batch writes thousands of rows in each of those tables, so the writing is batched statement by statement
(DESIGN's target: 20,000 fires per second on SQLite). On SQLite the rows go to the driver's ``executemany``
as plain tuples, each value converted once by its column's own bind processor (the stored text is exactly what
an ordinary statement stores), and the messages' events are one ``INSERT ... SELECT`` over the ids the batch
just took: the transaction began IMMEDIATE, so no other writer can take ids in between. PostgreSQL gets the
ordinary Core statements (multi-row inserts with ``RETURNING``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.driver_rows import bind_processor, last_id
from server.db.ids import uuid7_hexes, uuid7s
from server.db.schema import PRIORITIES, campaign_fires, campaign_log, message_events, messages
from server.messages import QUEUED_SINCE, Text

ACTOR = "campaigns"  # the ``detail`` of the messages' ``queued`` events, and the audit actor
_BULK = PRIORITIES["bulk"]


Contacts = Sequence[int]  # the contacts one decision applies to: a batch decides once for all who share it


@dataclass
class Writes:
    """What a batch decided, by decision: each entry applies to a list of contacts."""

    messages: list[tuple[Contacts, Text]] = field(default_factory=list)
    # (contacts, campaign uuid, event uuid, outcome, due at)
    log: list[tuple[Contacts, str, str, str, dt.datetime]] = field(default_factory=list)
    # (contacts, campaign id, event uuid, at)
    moves: list[tuple[Contacts, int, str, dt.datetime]] = field(default_factory=list)
    drops: list[tuple[Contacts, int]] = field(default_factory=list)  # (contacts, campaign id)

    def __bool__(self) -> bool:
        return bool(self.messages or self.log or self.moves or self.drops)


@dataclass
class RowWrites:
    """Campaign rows a recomputation changes, in one campaign."""

    campaign_id: int
    upserts: list[tuple[int, str, dt.datetime]] = field(default_factory=list)  # (contact, event uuid, due)
    deletes: list[int] = field(default_factory=list)  # contacts whose row goes
    kept: int = 0  # contacts who have a row after the writes, changed or not


async def write_rows(conn: AsyncConnection, rows: RowWrites) -> None:
    """Insert or replace the recomputed rows, and delete the ones that go."""
    if rows.upserts and conn.dialect.name == "sqlite":
        as_time = _processor(campaign_fires.c.due_at, conn)
        stored: dict[dt.datetime, Any] = {}
        for _, _, due in rows.upserts:
            if due not in stored:
                stored[due] = as_time(due)
        await conn.exec_driver_sql(
            _UPSERT, [(c, rows.campaign_id, e, stored[due]) for c, e, due in rows.upserts]
        )
    elif rows.upserts:
        insert = postgresql.insert(campaign_fires)
        await conn.execute(
            insert.on_conflict_do_update(
                index_elements=[campaign_fires.c.contact_id, campaign_fires.c.campaign_id],
                set_={"event_uuid": insert.excluded.event_uuid, "due_at": insert.excluded.due_at},
            ),
            [
                {"contact_id": c, "campaign_id": rows.campaign_id, "event_uuid": e, "due_at": due}
                for c, e, due in rows.upserts
            ],
        )
    if rows.deletes:
        await conn.execute(
            campaign_fires.delete().where(
                campaign_fires.c.campaign_id == rows.campaign_id,
                campaign_fires.c.contact_id.in_(rows.deletes),
            )
        )


async def write(conn: AsyncConnection, writes: Writes, now: dt.datetime) -> None:
    if conn.dialect.name == "sqlite":
        await _write_sqlite(conn, writes, now)
    else:
        await _write_core(conn, writes, now)


# --- PostgreSQL (and any backend): Core statements --------------------------------------------------------


async def _write_core(conn: AsyncConnection, writes: Writes, now: dt.datetime) -> None:
    if writes.messages:
        queued = [(contact_id, text) for contact_ids, text in writes.messages for contact_id in contact_ids]
        rows = [
            {
                "uuid": message_uuid,
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
            for message_uuid, (contact_id, text) in zip(uuid7s(len(queued)), queued, strict=True)
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
                for contact_ids, campaign_uuid, event_uuid, outcome, due_at in writes.log
                for contact_id in contact_ids
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
                for ids, k, e, at in writes.moves
                for c in ids
            ],
        )
    if writes.drops:
        await conn.execute(
            campaign_fires.delete().where(
                campaign_fires.c.contact_id == sa.bindparam("k_contact"),
                campaign_fires.c.campaign_id == sa.bindparam("k_campaign"),
            ),
            [{"k_contact": c, "k_campaign": k} for ids, k in writes.drops for c in ids],
        )


# --- SQLite: the driver's executemany -----------------------------------------------------------------------

_MESSAGES = (
    "INSERT INTO messages (uuid, contact_id, direction, text, status, priority, segments, encoding, "
    "created_at, updated_at) VALUES (?, ?, 'out', ?, 'queued', ?, ?, ?, ?, ?)"
)
_LOG = (
    "INSERT INTO campaign_log (contact_id, campaign_uuid, event_uuid, outcome, due_at, at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_UPSERT = (
    "INSERT INTO campaign_fires (contact_id, campaign_id, event_uuid, due_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (contact_id, campaign_id) DO UPDATE SET event_uuid = excluded.event_uuid, due_at = excluded.due_at"
)
_MOVE = "UPDATE campaign_fires SET event_uuid = ?, due_at = ? WHERE contact_id = ? AND campaign_id = ?"
_DROP = "DELETE FROM campaign_fires WHERE contact_id = ? AND campaign_id = ?"


def _processor(column: sa.Column[Any], conn: AsyncConnection) -> Callable[[Any], Any]:
    process = bind_processor(column.type, conn.dialect)
    assert process is not None  # uuid and time columns always convert on SQLite
    return process


async def _write_sqlite(conn: AsyncConnection, writes: Writes, now: dt.datetime) -> None:
    as_time = _processor(campaign_log.c.at, conn)
    stamp = as_time(now)
    if writes.messages:
        before = await last_id(conn, messages)
        queued = [
            (contact_id, text.text, text.size.segments, text.size.encoding)
            for contact_ids, text in writes.messages
            for contact_id in contact_ids
        ]
        await conn.exec_driver_sql(
            _MESSAGES,
            [
                (message_uuid, contact_id, body, _BULK, segments, encoding, stamp, stamp)
                for message_uuid, (contact_id, body, segments, encoding) in zip(
                    uuid7_hexes(len(queued)), queued, strict=True
                )
            ],
        )
        await conn.exec_driver_sql(QUEUED_SINCE, (ACTOR, before))
    # Each decision's time is converted once, for all the contacts it applies to.
    if writes.log:
        log_rows: list[tuple[Any, ...]] = []
        for ids, campaign_uuid, e, outcome, due_at in writes.log:
            due = as_time(due_at)
            log_rows.extend([(c, campaign_uuid, e, outcome, due, stamp) for c in ids])
        await conn.exec_driver_sql(_LOG, log_rows)
    if writes.moves:
        move_rows: list[tuple[Any, ...]] = []
        for ids, k, e, at in writes.moves:
            stored = as_time(at)
            move_rows.extend([(e, stored, c, k) for c in ids])
        await conn.exec_driver_sql(_MOVE, move_rows)
    if writes.drops:
        await conn.exec_driver_sql(_DROP, [(c, k) for ids, k in writes.drops for c in ids])
