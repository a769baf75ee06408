"""The gateway's durable memory: one SQLite file (WAL, ``synchronous=FULL``) that outlives crashes and outages.

What it guarantees, and how:

- **Inbound is committed before a radio forgets it.** :meth:`Spool.add_inbound` returns only after the
  commit; transports delete their copy after it returns (:mod:`gateway.transports.base`). An SMS offered
  again (a modem re-read after a crash between commit and delete) has the same (channel, identity) and is
  not stored twice. Its link id is derived from that pair, so even after the local row is purged the server
  recognises a very late re-read as the same SMS.
- **Inbound goes up in arrival order and stays until the server answers** (acknowledged or rejected).
- **Outbound is recorded before a radio gets it.** A leased message is stored with its ``accepted`` status in
  one transaction; before ``send`` is called it is marked ``sending`` with its channel. A message found
  ``sending`` when the spool opens (the gateway died mid-send) becomes ``unknown``, and is never handed to a
  radio again.
- **Every status is kept until the server acknowledges or rejects it**, in the order it happened.
- **Leases are honoured**: a message may go to a radio while its lease (counted from when the request was
  sent) runs, or once the server acknowledged ``accepted``; after that it waits, and is dropped if the
  server rejects ``accepted`` (another gateway has it).

One connection serves the whole process; an asyncio lock keeps each piece of work whole. Writes are
committed in groups: each writer's work runs in a savepoint of a shared transaction and its call returns only
after the COMMIT that contains it, so it is exactly as durable as a transaction of its own; writers that
arrive while a commit is on its way to disk share the next one, one fsync for all (32 modems finishing a
send at the same moment would otherwise queue for 64 fsyncs a second). Readers never see a write that is not
committed: a read commits the open group first.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from flows.phones import InvalidPhoneNumber, normalise_phone
from gateway.transports.base import InboundSMS, Priority

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SURROGATE = re.compile("[\ud800-\udfff]")
_INBOUND_NAMESPACE = uuid.UUID("3b0f9c1e-5a52-4f7e-8d0b-6c2e1f4a9d77")
PRIORITY_RANK: dict[str, int] = {"reply": 0, "alert": 1, "bulk": 2}
# Outbound states that mean "the gateway is done with it"; ``queued`` may still go out, ``sending`` is in
# a radio's hands right now.
FINAL_STATES = frozenset({"sent", "accepted", "delivered", "failed", "unknown", "dropped"})
# A later report never moves a message back (``sent`` arriving after ``delivered``); ``unknown`` is settled by
# any real news.
_STATE_RANK = {"unknown": 0, "queued": 0, "sending": 0, "accepted": 1, "sent": 2, "delivered": 3, "failed": 3}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inbound (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    identity TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT,
    text TEXT NOT NULL,
    received_at TEXT NOT NULL,
    spooled_at REAL NOT NULL,
    done_at REAL,
    outcome TEXT,
    UNIQUE (channel, identity)
);
CREATE INDEX IF NOT EXISTS inbound_pending ON inbound (seq) WHERE done_at IS NULL;
CREATE TABLE IF NOT EXISTS outbound (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    recipient TEXT NOT NULL,
    contact TEXT NOT NULL,
    text TEXT NOT NULL,
    priority TEXT NOT NULL,
    segments INTEGER NOT NULL,
    expires_at TEXT,
    hint TEXT,
    lease_until REAL NOT NULL,
    confirmed INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    channel TEXT,
    parts INTEGER,
    refs TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    handed_at REAL,
    finished_at REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS outbound_state ON outbound (state);
CREATE INDEX IF NOT EXISTS outbound_usage ON outbound (channel, handed_at);
CREATE TABLE IF NOT EXISTS statuses (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    channel TEXT,
    parts INTEGER,
    at TEXT NOT NULL,
    error TEXT,
    done_at REAL,
    UNIQUE (message_id, status)
);
CREATE INDEX IF NOT EXISTS statuses_pending ON statuses (seq) WHERE done_at IS NULL;
CREATE TABLE IF NOT EXISTS contacts (contact TEXT PRIMARY KEY, channel TEXT NOT NULL, at REAL NOT NULL);
"""


class SpoolError(RuntimeError):
    """The spool file cannot be used (not a recado spool, a newer schema)."""


@dataclass(frozen=True)
class PendingInbound:
    id: str
    channel: str
    sender: str
    recipient: str | None
    text: str
    received_at: str


@dataclass(frozen=True)
class PendingStatus:
    message_id: str
    status: str
    channel: str | None
    parts: int | None
    at: str
    error: str | None


@dataclass(frozen=True)
class Outbound:
    seq: int
    id: str
    to: str
    contact: str  # the number in the form the spool compares (E.164 when it parses)
    text: str
    priority: Priority
    segments: int
    expires_at: dt.datetime | None
    hint: str | None  # the channel the server says last carried her
    lease_until: float
    confirmed: bool
    attempts: int


@dataclass(frozen=True)
class Leased:
    """One message from a sync answer, as the spool stores it."""

    id: str
    to: str
    text: str
    priority: Priority
    segments: int
    expires_at: dt.datetime | None
    channel: str | None


def inbound_id(channel: str, identity: str) -> str:
    return str(uuid.uuid5(_INBOUND_NAMESPACE, f"{channel}\x00{identity}"))


def contact_key(number: str, region: str = "MX") -> str:
    """The form two numbers are compared in: a network's ``9511234567`` and the server's ``+529511234567``
    are the same woman."""
    try:
        return normalise_phone(number, region)
    except InvalidPhoneNumber:
        return number.strip()


def storable(text: str) -> str:
    """``text`` with lone surrogates (a broken UCS-2 PDU) replaced: SQLite and JSON need valid Unicode, and an
    SMS the spool cannot store would be offered again forever."""
    return _SURROGATE.sub("\ufffd", text)


def _iso(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("times in the spool carry an offset")
    return value.isoformat()


class _Group:
    """Writes sharing one commit: settled (or failed) once, for every writer in it."""

    def __init__(self) -> None:
        self.committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Retrieved here so that a failed commit whose writers were all cancelled is not reported as lost.
        self.committed.add_done_callback(lambda f: f.cancelled() or f.exception())


class Spool:
    def __init__(
        self, connection: aiosqlite.Connection, *, clock: Callable[[], float], region: str = "MX"
    ) -> None:
        self._db = connection
        self._lock = asyncio.Lock()
        self._group: _Group | None = None  # the open transaction, not yet committed
        self._committers: set[asyncio.Task[None]] = set()
        self._clock = clock
        self.region = region

    @classmethod
    async def open(
        cls, path: Path | str, *, clock: Callable[[], float] = time.time, region: str = "MX"
    ) -> Spool:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            try:
                await connection.execute("PRAGMA journal_mode=WAL")
                await connection.execute("PRAGMA synchronous=FULL")
                await connection.execute("PRAGMA busy_timeout=5000")
                await connection.executescript(_SCHEMA)
            except aiosqlite.DatabaseError as error:
                raise SpoolError(f"{path} is not a usable spool file: {error}") from error
            spool = cls(connection, clock=clock, region=region)
            await spool._prepare()
        except BaseException:
            await connection.close()
            raise
        return spool

    async def close(self) -> None:
        if self._committers:
            await asyncio.gather(*self._committers, return_exceptions=True)
        async with self._lock:
            await self._commit_open_group()
        await self._db.close()

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One writer's work: all of it or none, and on disk when the block exits without an error."""
        async with self._lock:
            if self._group is None:
                await self._db.execute("BEGIN IMMEDIATE")
                self._group = _Group()
                # It queues for the lock behind the writers already waiting, so they join this group.
                committer = asyncio.create_task(self._commit_later(self._group))
                self._committers.add(committer)
                committer.add_done_callback(self._committers.discard)
            group = self._group
            await self._db.execute("SAVEPOINT work")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK TO work")
                await self._db.execute("RELEASE work")
                raise
            await self._db.execute("RELEASE work")
        # Shielded: a writer cancelled while it waits must not cancel the commit the others wait for.
        await asyncio.shield(group.committed)

    async def _commit_later(self, group: _Group) -> None:
        async with self._lock:
            if self._group is group:
                await self._commit_open_group()

    async def _commit_open_group(self) -> None:
        """Under the lock: commit what the open group wrote and tell its writers."""
        group, self._group = self._group, None
        if group is None:
            return
        try:
            await self._db.execute("COMMIT")
        except BaseException as error:
            with contextlib.suppress(Exception):
                await self._db.execute("ROLLBACK")
            group.committed.set_exception(error)
            if not isinstance(error, Exception):
                raise
        else:
            group.committed.set_result(None)

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """Reads see committed work only: the open group is committed first."""
        async with self._lock:
            await self._commit_open_group()
            yield self._db

    async def _prepare(self) -> None:
        async with self._transaction() as db:
            row = await (await db.execute("SELECT value FROM meta WHERE key = 'schema'")).fetchone()
            if row is None:
                await db.execute("INSERT INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise SpoolError(f"the spool was written by a newer recado (schema {row[0]})")
            await self._settle_interrupted_sends(db)

    async def _settle_interrupted_sends(self, db: aiosqlite.Connection) -> None:
        """A message still ``sending`` was in a radio's hands when the gateway died: it may have gone out."""
        now = self._clock()
        rows = await (
            await db.execute("SELECT id, channel, parts FROM outbound WHERE state = 'sending'")
        ).fetchall()
        for message_id, channel, parts in rows:
            log.warning(
                "message %s was being sent on %s when the gateway stopped: unknown", message_id, channel
            )
            await db.execute(
                "UPDATE outbound SET state = 'unknown', finished_at = ?, error = ? WHERE id = ?",
                (now, "the gateway stopped during the send", message_id),
            )
            await self._add_status(
                db, message_id, "unknown", channel, parts, now, "the gateway stopped during the send"
            )

    # --- inbound -----------------------------------------------------------------------------------------

    async def add_inbound(self, channel: str, sms: InboundSMS) -> bool:
        """Commit one received SMS; False when it was already spooled (the same SMS offered again)."""
        identity = storable(sms.identity)
        link_id = inbound_id(channel, identity)
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT OR IGNORE INTO inbound (id, channel, identity, sender, recipient, text, received_at,"
                " spooled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    link_id,
                    channel,
                    identity,
                    storable(sms.sender),
                    storable(sms.recipient) if sms.recipient is not None else None,
                    storable(sms.text),
                    _iso(sms.received_at),
                    self._clock(),
                ),
            )
            fresh = cursor.rowcount == 1
            if fresh:
                await self._remember_contact(db, storable(sms.sender), channel)
        return fresh

    async def pending_inbound(self, limit: int) -> list[PendingInbound]:
        async with self._reading():
            rows = await (
                await self._db.execute(
                    "SELECT id, channel, sender, recipient, text, received_at FROM inbound"
                    " WHERE done_at IS NULL ORDER BY seq LIMIT ?",
                    (limit,),
                )
            ).fetchall()
        return [PendingInbound(*row) for row in rows]

    # --- outbound ----------------------------------------------------------------------------------------

    async def store_leased(self, messages: Sequence[Leased], lease_until: float) -> list[str]:
        """Store what a sync leased, each with its ``accepted`` status; returns the ids new to the spool.

        The same id again is the same message: a queued copy gets the new lease, anything further along is
        left as it is."""
        fresh: list[str] = []
        now = self._clock()
        async with self._transaction() as db:
            for message in messages:
                cursor = await db.execute(
                    "INSERT OR IGNORE INTO outbound (id, recipient, contact, text, priority, segments,"
                    " expires_at, hint, lease_until, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued')",
                    (
                        message.id,
                        message.to,
                        contact_key(message.to, self.region),
                        message.text,
                        message.priority,
                        message.segments,
                        _iso(message.expires_at) if message.expires_at else None,
                        message.channel,
                        lease_until,
                    ),
                )
                if cursor.rowcount == 1:
                    fresh.append(message.id)
                    await self._add_status(db, message.id, "accepted", None, None, now, None)
                else:
                    await db.execute(
                        "UPDATE outbound SET lease_until = MAX(lease_until, ?) WHERE id = ? AND state = 'queued'",
                        (lease_until, message.id),
                    )
        return fresh

    async def sendable(self) -> list[Outbound]:
        """Queued messages whose lease allows sending, best first: replies, alerts, bulk; oldest first."""
        now = self._clock()
        async with self._reading():
            rows = await (
                await self._db.execute(
                    "SELECT seq, id, recipient, contact, text, priority, segments, expires_at, hint,"
                    " lease_until, confirmed, attempts FROM outbound WHERE state = 'queued'"
                    " AND (confirmed = 1 OR lease_until > ?)"
                    " ORDER BY CASE priority WHEN 'reply' THEN 0 WHEN 'alert' THEN 1 ELSE 2 END, seq",
                    (now,),
                )
            ).fetchall()
        return [_outbound(row) for row in rows]

    async def queued_counts(self) -> tuple[int, int]:
        """(messages, parts) waiting to be sent, whatever their lease."""
        async with self._reading():
            row = await (
                await self._db.execute(
                    "SELECT COUNT(*), COALESCE(SUM(segments), 0) FROM outbound WHERE state = 'queued'"
                )
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    async def mark_sending(self, message_id: str, channel: str, parts: int) -> bool:
        """Record that ``channel`` is about to get the message; False when it is no longer queued."""
        now = self._clock()
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE outbound SET state = 'sending', channel = ?, parts = ?, handed_at = ?,"
                " attempts = attempts + 1 WHERE id = ? AND state = 'queued'",
                (channel, parts, now, message_id),
            )
            return cursor.rowcount == 1

    async def record_outcome(
        self,
        message_id: str,
        status: str,
        *,
        channel: str,
        parts: int,
        references: Iterable[int] = (),
        error: str | None = None,
        requeue: bool = False,
    ) -> None:
        """What ``send`` said. With ``requeue`` (nothing reached the network) the message waits for another
        try instead, and no status is reported."""
        now = self._clock()
        async with self._transaction() as db:
            if requeue:
                await db.execute(
                    "UPDATE outbound SET state = 'queued', channel = NULL, handed_at = NULL, error = ?"
                    " WHERE id = ? AND state = 'sending'",
                    (error, message_id),
                )
                return
            await db.execute(
                "UPDATE outbound SET state = ?, channel = ?, parts = ?, refs = ?, finished_at = ?, error = ?"
                " WHERE id = ?",
                (status, channel, parts, json.dumps(list(references)), now, error, message_id),
            )
            await self._add_status(db, message_id, status, channel, parts, now, error)
            if status in ("sent", "accepted"):
                row = await (
                    await db.execute("SELECT recipient FROM outbound WHERE id = ?", (message_id,))
                ).fetchone()
                if row is not None:
                    await self._remember_contact(db, row[0], channel)

    async def fail_unsent(self, message_id: str, error: str) -> None:
        """A queued message that will not go out (expired, no channel can ever take it)."""
        now = self._clock()
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE outbound SET state = 'failed', finished_at = ?, error = ? WHERE id = ? AND state = 'queued'",
                (now, error, message_id),
            )
            if cursor.rowcount == 1:
                await self._add_status(db, message_id, "failed", None, None, now, error)

    async def add_report(
        self, channel: str, message_id: str, status: str, at: dt.datetime | None, error: str | None
    ) -> bool:
        """A later word from a radio (delivered, failed, sent); False for a message this spool never had."""
        when = at.timestamp() if at is not None else self._clock()
        async with self._transaction() as db:
            row = await (
                await db.execute("SELECT parts, state FROM outbound WHERE id = ?", (message_id,))
            ).fetchone()
            if row is None:
                return False
            parts, state = row
            if _STATE_RANK.get(status, 0) > _STATE_RANK.get(state, 0):
                await db.execute(
                    "UPDATE outbound SET state = ?, error = COALESCE(?, error) WHERE id = ?",
                    (status, error, message_id),
                )
            await self._add_status(db, message_id, status, channel, parts, when, error)
        return True

    async def outbound_state(self, message_id: str) -> tuple[str, str | None] | None:
        async with self._reading():
            row = await (
                await self._db.execute("SELECT state, channel FROM outbound WHERE id = ?", (message_id,))
            ).fetchone()
        return (row[0], row[1]) if row is not None else None

    async def usage(self, channel: str, since: float) -> int:
        """SMS parts handed to ``channel`` since ``since`` (a daily cap, an Android check period)."""
        async with self._reading():
            row = await (
                await self._db.execute(
                    "SELECT COALESCE(SUM(parts), 0) FROM outbound WHERE channel = ? AND handed_at >= ?",
                    (channel, since),
                )
            ).fetchone()
        assert row is not None
        return int(row[0])

    async def handed_since(self, channel: str, since: float) -> list[tuple[float, int]]:
        async with self._reading():
            rows = await (
                await self._db.execute(
                    "SELECT handed_at, parts FROM outbound WHERE channel = ? AND handed_at >= ? ORDER BY handed_at",
                    (channel, since),
                )
            ).fetchall()
        return [(float(at), int(parts)) for at, parts in rows]

    # --- statuses ----------------------------------------------------------------------------------------

    async def _add_status(
        self,
        db: aiosqlite.Connection,
        message_id: str,
        status: str,
        channel: str | None,
        parts: int | None,
        when: float,
        error: str | None,
    ) -> None:
        at = dt.datetime.fromtimestamp(when, dt.UTC).isoformat()
        await db.execute(
            "INSERT OR IGNORE INTO statuses (message_id, status, channel, parts, at, error)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (message_id, status, channel, parts, at, error),
        )

    async def pending_statuses(self, limit: int) -> list[PendingStatus]:
        async with self._reading():
            rows = await (
                await self._db.execute(
                    "SELECT message_id, status, channel, parts, at, error FROM statuses"
                    " WHERE done_at IS NULL ORDER BY seq LIMIT ?",
                    (limit,),
                )
            ).fetchall()
        return [PendingStatus(*row) for row in rows]

    # --- the server's answer -----------------------------------------------------------------------------

    async def settle(
        self,
        *,
        acked_inbound: Iterable[str],
        acked_statuses: Iterable[tuple[str, str]],
        rejected_inbound: Iterable[tuple[str, str]],
        rejected_statuses: Iterable[tuple[str, str, str]],
    ) -> None:
        """Forget what the server took, and drop what it refused (logged for the technician)."""
        now = self._clock()
        async with self._transaction() as db:
            for link_id in acked_inbound:
                await db.execute(
                    "UPDATE inbound SET done_at = ?, outcome = 'acked' WHERE id = ? AND done_at IS NULL",
                    (now, link_id),
                )
            for link_id, reason in rejected_inbound:
                log.warning("the server refused inbound SMS %s: %s", link_id, reason)
                await db.execute(
                    "UPDATE inbound SET done_at = ?, outcome = ? WHERE id = ? AND done_at IS NULL",
                    (now, f"rejected: {reason}", link_id),
                )
            for message_id, status in acked_statuses:
                await db.execute(
                    "UPDATE statuses SET done_at = ? WHERE message_id = ? AND status = ? AND done_at IS NULL",
                    (now, message_id, status),
                )
                if status == "accepted":
                    await db.execute("UPDATE outbound SET confirmed = 1 WHERE id = ?", (message_id,))
            for message_id, status, reason in rejected_statuses:
                log.warning("the server refused status %s of %s: %s", status, message_id, reason)
                await db.execute(
                    "UPDATE statuses SET done_at = ? WHERE message_id = ? AND status = ? AND done_at IS NULL",
                    (now, message_id, status),
                )
                if status == "accepted":
                    # Another gateway holds it now: it must not go out from here.
                    await db.execute(
                        "UPDATE outbound SET state = 'dropped', finished_at = ?, error = ?"
                        " WHERE id = ? AND state = 'queued'",
                        (now, f"lease lost: {reason}", message_id),
                    )

    # --- contacts ----------------------------------------------------------------------------------------

    async def _remember_contact(self, db: aiosqlite.Connection, number: str, channel: str) -> None:
        await db.execute(
            "INSERT INTO contacts (contact, channel, at) VALUES (?, ?, ?)"
            " ON CONFLICT (contact) DO UPDATE SET channel = excluded.channel, at = excluded.at",
            (contact_key(number, self.region), channel, self._clock()),
        )

    async def last_channel(self, contact: str) -> str | None:
        async with self._reading():
            row = await (
                await self._db.execute("SELECT channel FROM contacts WHERE contact = ?", (contact,))
            ).fetchone()
        return str(row[0]) if row is not None else None

    # --- housekeeping ------------------------------------------------------------------------------------

    async def purge(self, older_than_s: float) -> int:
        """Drop finished rows older than ``older_than_s``; the server keeps the history."""
        cutoff = self._clock() - older_than_s
        async with self._transaction() as db:
            removed = 0
            for statement in (
                "DELETE FROM inbound WHERE done_at IS NOT NULL AND done_at < ?",
                "DELETE FROM statuses WHERE done_at IS NOT NULL AND done_at < ?",
                "DELETE FROM outbound WHERE state NOT IN ('queued', 'sending') AND COALESCE(finished_at, 0) < ?"
                " AND NOT EXISTS (SELECT 1 FROM statuses s WHERE s.message_id = outbound.id AND s.done_at IS NULL)",
                "DELETE FROM contacts WHERE at < ?",
            ):
                cursor = await db.execute(statement, (cutoff,))
                removed += max(cursor.rowcount, 0)
        return removed

    async def counts(self) -> dict[str, Any]:
        """What the spool holds, for logs, health and tests."""
        async with self._reading():
            inbound = await (
                await self._db.execute("SELECT COUNT(*) FROM inbound WHERE done_at IS NULL")
            ).fetchone()
            statuses = await (
                await self._db.execute("SELECT COUNT(*) FROM statuses WHERE done_at IS NULL")
            ).fetchone()
            states = await (
                await self._db.execute("SELECT state, COUNT(*) FROM outbound GROUP BY state")
            ).fetchall()
        assert inbound is not None
        assert statuses is not None
        return {
            "inbound_pending": int(inbound[0]),
            "statuses_pending": int(statuses[0]),
            "outbound": {str(state): int(n) for state, n in states},
        }


def _outbound(row: Any) -> Outbound:
    (
        seq,
        message_id,
        to,
        contact,
        text,
        priority,
        segments,
        expires_at,
        hint,
        lease_until,
        confirmed,
        attempts,
    ) = row
    return Outbound(
        seq=seq,
        id=message_id,
        to=to,
        contact=contact,
        text=text,
        priority=priority,
        segments=segments,
        expires_at=dt.datetime.fromisoformat(expires_at) if expires_at else None,
        hint=hint,
        lease_until=lease_until,
        confirmed=bool(confirmed),
        attempts=attempts,
    )
