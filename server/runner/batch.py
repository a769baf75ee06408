"""What a batch of inbound turns reads up front and writes at its end, so that the number of statements grows
with the batch, not with its messages.

:class:`Prefetch` holds the batch's contacts' waiting sessions (read in one query, then kept up to date by the
turns) and answers, once for the whole batch, which of them wrote before and which flows are anonymous.
:class:`Writes` gathers the rows a turn would otherwise write one statement at a time (queued messages,
results, sessions with their fires, the handled marks); a turn's writes join the batch's only when the turn
succeeded, and :meth:`Writes.flush` writes them all, a statement per kind, before the commit. Anything else a
turn writes (contact changes, alerts, the inbox, webhook calls) goes straight to the database inside the turn's
savepoint.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flows.events import RunResultChanged, SessionWaiting
from server import messages, ratings, webhooks_out
from server.db.driver_rows import execute_rows
from server.db.schema import fires, sessions
from server.db.schema import messages as messages_table
from server.results import result_event, result_row, store_results
from server.runner.sessions import INSERT_FIRES, StoredSession, fire_rows, session_row, upsert_sessions

_MARK_HANDLED = (
    messages_table.update()
    .where(
        messages_table.c.id == sa.bindparam("message_id"),
        # not handled yet, or by the turn itself when it had to write at once (Turn.writer)
        sa.or_(messages_table.c.handled_at.is_(None), messages_table.c.handled_at == sa.bindparam("at")),
    )
    .values(handled_at=sa.bindparam("at"), handled_as=sa.bindparam("outcome"))
)


# Every batch runs these: built once (see server.db.statements).
_IDS: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
_SESSIONS = sa.select(sessions.c.contact_id, sessions.c.uuid, sessions.c.data, sessions.c.wait_kind).where(
    sessions.c.contact_id.in_(_IDS)
)
_DROP_SESSIONS = sessions.delete().where(sessions.c.contact_id.in_(_IDS))
_DROP_FIRES = fires.delete().where(fires.c.contact_id.in_(_IDS))


@dataclass
class Prefetch:
    """The batch's reads: her session as the turns so far left it, and lazily, for all contacts at once, which
    wrote an inbound message before the batch's first, and which flows keep their answers anonymous."""

    conn: AsyncConnection
    contact_ids: Collection[int]
    sessions: dict[int, StoredSession | None]
    first_inbound: dict[int, int] | None = None
    anonymous: dict[str, bool] = field(default_factory=dict)

    @classmethod
    async def read(cls, conn: AsyncConnection, contact_ids: Collection[int]) -> Prefetch:
        rows = await conn.execute(_SESSIONS, {"ids": list(contact_ids)})
        found: dict[int, StoredSession | None] = dict.fromkeys(contact_ids)
        for contact_id, session_uuid, data, wait_kind in rows:
            found[contact_id] = StoredSession(session_uuid, data, wait_kind)
        return cls(conn, contact_ids, found)

    async def is_first_message(self, contact_id: int, message_id: int) -> bool:
        if self.first_inbound is None:
            rows = await self.conn.execute(
                sa.select(messages_table.c.contact_id, sa.func.min(messages_table.c.id))
                .where(
                    messages_table.c.contact_id.in_(list(self.contact_ids)),
                    messages_table.c.direction == "in",
                )
                .group_by(messages_table.c.contact_id)
            )
            self.first_inbound = {contact: first for contact, first in rows}
        return self.first_inbound.get(contact_id, message_id) >= message_id

    async def is_anonymous(self, flow_uuid: str) -> bool:
        if flow_uuid not in self.anonymous:
            self.anonymous[flow_uuid] = await ratings.is_anonymous(self.conn, flow_uuid)
        return self.anonymous[flow_uuid]


@dataclass
class Writes:
    """Rows waiting for the end of the batch. Sessions and results are keyed so that a later turn's row
    replaces an earlier one's, as the statements one after another would have. ``events``: whether results
    are recorded as webhook events too."""

    events: bool

    messages: list[dict[str, Any]] = field(default_factory=list)
    sessions: dict[int, tuple[Mapping[str, Any], SessionWaiting] | None] = field(default_factory=dict)
    results: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    result_events: list[dict[str, Any]] = field(default_factory=list)
    handled: list[dict[str, Any]] = field(default_factory=list)

    def session(self, contact_id: int) -> StoredSession | None:
        """The session as this turn left it (only when ``contact_id in self.sessions``)."""
        entry = self.sessions[contact_id]
        if entry is None:
            return None
        data, waiting = entry
        return StoredSession(str(data["uuid"]), dict(data), waiting.kind)

    def result(
        self, contact_id: int, contact_uuid: uuid.UUID, event: RunResultChanged, now: dt.datetime
    ) -> None:
        self.results[(event.run_uuid, event.key)] = result_row(contact_id, event, now)
        if not self.events:
            return
        self.result_events.append(
            {
                "uuid": uuid.uuid4(),
                "type": "result.changed",
                "data": result_event(contact_uuid, event, now),
                "created_at": now,
            }
        )

    def extend(self, other: Writes) -> None:
        self.messages.extend(other.messages)
        self.sessions.update(other.sessions)
        self.results.update(other.results)
        self.result_events.extend(other.result_events)
        self.handled.extend(other.handled)

    async def flush(self, conn: AsyncConnection, *, actor: str, now: dt.datetime) -> None:
        await messages.insert_outgoing(conn, self.messages, actor=actor)
        if self.results:
            await store_results(conn, list(self.results.values()))
        if self.result_events:
            await execute_rows(conn, webhooks_out.RECORD_EVENTS, self.result_events)
        await self._flush_sessions(conn, now)
        if self.handled:
            updated = await execute_rows(conn, _MARK_HANDLED, [{**row, "at": now} for row in self.handled])
            sane = conn.dialect.supports_sane_multi_rowcount  # asyncpg does not count an executemany's rows
            if sane and updated != len(self.handled):
                # Every handler takes the contacts' locks before reading what is unhandled, so this is a bug.
                raise RuntimeError("an inbound message of the batch was handled by someone else meanwhile")

    async def _flush_sessions(self, conn: AsyncConnection, now: dt.datetime) -> None:
        if not self.sessions:
            return
        saved = {c: entry for c, entry in self.sessions.items() if entry is not None}
        dropped = [c for c, entry in self.sessions.items() if entry is None]
        if dropped:
            await conn.execute(_DROP_SESSIONS, {"ids": dropped})
        await conn.execute(_DROP_FIRES, {"ids": list(self.sessions)})
        if saved:
            await upsert_sessions(
                conn, [session_row(c, data, waiting, now=now) for c, (data, waiting) in saved.items()]
            )
            await execute_rows(
                conn,
                INSERT_FIRES,
                [row for c, (data, waiting) in saved.items() for row in fire_rows(c, data, waiting)],
            )
