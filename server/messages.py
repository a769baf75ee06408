"""Messages: queueing outgoing ones, the lifecycle every status change goes through, and reading them back.

An outgoing message lives through

    queued → leased → accepted → sent → delivered | failed | unknown

``queued``: waiting for a gateway. ``leased``: handed to one gateway, which has until ``leased_until`` to say it
has it; a lease that runs out puts the message back in the queue. ``accepted``: the gateway has stored it
durably and will hand it to a radio. ``sent``: the network took it. ``delivered`` / ``failed``: the network's
final word. ``unknown``: the gateway lost track of whether it went out (a crash mid-send); it is never sent
again on its own, and a later report from the network may still settle it. Inbound messages are stored as
``received`` and never change.

Reports can skip steps (a gateway that batches may report only ``sent``), so a status may move forward past
the ones between; it never moves back, and a repeated report changes nothing. :data:`TRANSITIONS` is the whole
lifecycle and :func:`transition` the only code that changes a message's status; each change writes a
``message_events`` row in the same transaction.

Every function works on an ``AsyncConnection`` inside the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flows import sms
from server import audit
from server.contact_values import InvalidValue, clean_text
from server.db.driver_rows import execute_rows, last_id
from server.db.ids import uuid7s
from server.db.schema import PRIORITIES, contacts, group_members, groups, message_events, messages

TEXT_MAX = 1600  # characters; the document's maxLength
SEGMENTS_MAX = 10  # SMS parts; old handsets reassemble no more, and networks charge each part
DETAIL_MAX = 255  # message_events.detail, messages.error
SENDABLE_CONTACT_STATUS = "active"
PRIORITY_NAMES: Final = {number: name for name, number in PRIORITIES.items()}

TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "queued": frozenset({"leased", "failed"}),
    "leased": frozenset({"queued", "accepted", "sent", "delivered", "failed", "unknown"}),
    "accepted": frozenset({"sent", "delivered", "failed", "unknown"}),
    "sent": frozenset({"delivered", "failed"}),
    "unknown": frozenset({"sent", "delivered", "failed"}),
    "delivered": frozenset(),
    "failed": frozenset(),
    "received": frozenset(),
}
# The order an outgoing message passes its statuses in; a report for an earlier one arrives late.
_STAGE: Final = {
    "queued": 0,
    "leased": 1,
    "accepted": 2,
    "sent": 3,
    "unknown": 3,
    "delivered": 4,
    "failed": 4,
}


class MessagesError(Exception):
    pass


class NotFound(MessagesError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Invalid(MessagesError):
    """Input that cannot be queued; ``problems`` names each field, as the API's 422 details do."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['message']}" for p in problems))
        self.problems = problems


class IllegalTransition(MessagesError):
    """The lifecycle does not allow this change. ``stale`` is True for a report of a status the message has
    already passed (a "sent" arriving after "delivered"), which a receiver may acknowledge and drop."""

    def __init__(self, message_uuid: uuid.UUID, current: str, requested: str) -> None:
        super().__init__(f"message {message_uuid} is {current}; it cannot become {requested}")
        self.current = current
        self.requested = requested
        self.stale = requested in _STAGE and current in _STAGE and _STAGE[requested] < _STAGE[current]


def may_become(current: str, requested: str) -> bool:
    return requested in TRANSITIONS.get(current, frozenset())


# --- reading input -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """Text ready to queue, with what it costs and what transliteration changed."""

    text: str
    size: sms.Size
    changes: tuple[sms.Change, ...] = ()


def check_text(raw: str, *, transliterate: bool = False) -> Text:
    """Trimmed, storable text of at most :data:`SEGMENTS_MAX` SMS parts, made GSM-7 when asked and possible."""
    try:
        text = clean_text(raw, max_length=TEXT_MAX)
    except InvalidValue as exc:
        raise Invalid([{"field": "text", "message": exc.reason}]) from None
    if not text:
        raise Invalid([{"field": "text", "message": "is empty"}])
    changes: tuple[sms.Change, ...] = ()
    if transliterate:
        result = sms.transliterate(text)
        text, changes = result.text, result.changes
    size = sms.size(text)
    if size.segments > SEGMENTS_MAX:
        limit = sms.GSM7_PART if size.encoding == "gsm7" else sms.UCS2_PART
        raise Invalid(
            [
                {
                    "field": "text",
                    "message": f"needs {size.segments} SMS parts; the most is {SEGMENTS_MAX} "
                    f"({SEGMENTS_MAX * limit} {'GSM-7' if size.encoding == 'gsm7' else 'UCS-2'} units)",
                }
            ]
        )
    return Text(text, size, changes)


# --- queueing ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    id: int
    uuid: uuid.UUID
    status: str


@dataclass(frozen=True)
class Queued:
    """What one send did: a message per sendable contact, and the contacts it left out with their status."""

    messages: tuple[tuple[uuid.UUID, uuid.UUID], ...]  # (message uuid, contact uuid), in contact order
    skipped: tuple[Recipient, ...]
    text: Text


async def contacts_by_uuid(conn: AsyncConnection, contact_uuids: Sequence[uuid.UUID]) -> list[Recipient]:
    """The given contacts, each once, in the order given; Invalid naming every uuid that is not a contact."""
    wanted = list(dict.fromkeys(contact_uuids))
    rows = await conn.execute(
        sa.select(contacts.c.uuid, contacts.c.id, contacts.c.status).where(contacts.c.uuid.in_(wanted))
    )
    found = {row.uuid: Recipient(row.id, row.uuid, row.status) for row in rows}
    missing = [u for u in wanted if u not in found]
    if missing:
        raise Invalid([{"field": "contacts", "message": f"no contact {u}"} for u in missing])
    return [found[u] for u in wanted]


async def group_recipients(conn: AsyncConnection, group_uuid: uuid.UUID) -> list[Recipient]:
    """Every member of the group, in the order they were created; Invalid when there is no such group."""
    group_id = (await conn.execute(sa.select(groups.c.id).where(groups.c.uuid == group_uuid))).scalar()
    if group_id is None:
        raise Invalid([{"field": "group", "message": f"no group {group_uuid}"}])
    rows = await conn.execute(
        sa.select(contacts.c.id, contacts.c.uuid, contacts.c.status)
        .join(group_members, group_members.c.contact_id == contacts.c.id)
        .where(group_members.c.group_id == group_id)
        .order_by(contacts.c.id)
    )
    return [Recipient(row.id, row.uuid, row.status) for row in rows]


async def queue_outgoing(
    conn: AsyncConnection,
    recipients: Sequence[Recipient],
    text: Text,
    *,
    priority: str,
    now: dt.datetime,
    actor: str,
    group: uuid.UUID | None = None,
) -> Queued:
    """One queued message per active recipient; stopped and blocked contacts are skipped, not an error.

    The send is audited (who, how many, which group) without its text, which may be health information.
    """
    sendable = [r for r in recipients if r.status == SENDABLE_CONTACT_STATUS]
    skipped = tuple(r for r in recipients if r.status != SENDABLE_CONTACT_STATUS)
    rows = outgoing_rows([r.id for r in sendable], text, priority=priority, now=now)
    await insert_outgoing(conn, rows, actor=actor)
    created = [(row["uuid"], r.uuid) for row, r in zip(rows, sendable, strict=True)]
    await audit.record(
        conn,
        at=now,
        actor=actor,
        action="message.send",
        target=str(group) if group is not None else None,
        detail={
            "queued": len(created),
            "skipped": len(skipped),
            "segments": text.size.segments,
            "priority": priority,
        },
    )
    return Queued(tuple(created), skipped, text)


def outgoing_rows(
    contact_ids: Sequence[int], text: Text, *, priority: str, now: dt.datetime
) -> list[dict[str, Any]]:
    """The ``messages`` rows of ``text`` queued for each contact, for :func:`insert_outgoing`."""
    if priority not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r}")
    return [
        {
            "uuid": message_uuid,
            "contact_id": contact_id,
            "direction": "out",
            "text": text.text,
            "status": "queued",
            "priority": PRIORITIES[priority],
            "segments": text.size.segments,
            "encoding": text.size.encoding,
            "created_at": now,
            "updated_at": now,
        }
        for message_uuid, contact_id in zip(uuid7s(len(contact_ids)), contact_ids, strict=True)
    ]


# Built once (see server.db.statements): every batch that answers or fires writes with these.
_INSERT_OUTGOING = messages.insert().returning(messages.c.uuid, messages.c.id)
INSERT_EVENTS = message_events.insert()
INSERT_MESSAGES = messages.insert()  # through the driver on SQLite (server.db.driver_rows): no RETURNING
# The ``queued`` event of every message after an id, at the moment it was queued (SQLite: see insert_outgoing).
QUEUED_SINCE = (
    "INSERT INTO message_events (message_id, status, at, detail) "
    "SELECT id, 'queued', created_at, ? FROM messages WHERE id > ? ORDER BY id"
)


async def insert_outgoing(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]], *, actor: str) -> None:
    """Insert queued messages (rows of :func:`outgoing_rows`, any texts and contacts) with the ``queued`` event
    that names who queued them: two statements, however many rows (three on SQLite)."""
    if not rows:
        return
    detail = actor[:DETAIL_MAX]
    if conn.dialect.name == "sqlite":
        # The write transaction holds SQLite's only write lock, so the rows take the ids after the largest
        # and every message after it is one of these.
        before = await last_id(conn, messages)
        await execute_rows(conn, INSERT_MESSAGES, rows)
        await conn.exec_driver_sql(QUEUED_SINCE, (detail, before))
        return
    # Matched by uuid rather than by asking for rows in parameter order, which a multi-row INSERT does not
    # promise.
    inserted = await conn.execute(_INSERT_OUTGOING, list(rows))
    ids: dict[uuid.UUID, int] = {row.uuid: row.id for row in inserted}
    await conn.execute(
        INSERT_EVENTS,
        [
            {"message_id": ids[row["uuid"]], "status": "queued", "at": row["created_at"], "detail": detail}
            for row in rows
        ],
    )


# --- the lifecycle -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    message_id: int
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


_RACE_RETRIES = 3


async def transition(
    conn: AsyncConnection,
    message_uuid: uuid.UUID,
    to: str,
    *,
    now: dt.datetime,
    detail: str | None = None,
    channel: str | None = None,
    gateway: str | None = None,
    leased_until: dt.datetime | None = None,
) -> Transition:
    """Move a message to status ``to``, recording the change in its history.

    A message already in ``to`` is left alone (reports arrive at least once). ``leased`` needs
    ``leased_until`` and ``gateway``; ``detail`` is kept with the event and, for ``failed``, as the message's
    error. IllegalTransition when the lifecycle forbids the change, NotFound when there is no such message.
    """
    if to not in TRANSITIONS:
        raise ValueError(f"unknown message status {to!r}")
    if to == "leased" and (leased_until is None or gateway is None):
        raise ValueError("a lease needs leased_until and gateway")
    detail = detail[:DETAIL_MAX] if detail is not None else None
    for _attempt in range(_RACE_RETRIES):
        row = (
            await conn.execute(
                sa.select(messages.c.id, messages.c.status).where(messages.c.uuid == message_uuid)
            )
        ).first()
        if row is None:
            raise NotFound("message")
        if row.status == to:
            return Transition(row.id, to, to)
        if not may_become(row.status, to):
            raise IllegalTransition(message_uuid, row.status, to)
        values = _columns_for(
            to, now=now, detail=detail, channel=channel, gateway=gateway, until=leased_until
        )
        # The status in the WHERE clause makes a concurrent change lose cleanly instead of being overwritten.
        result = await conn.execute(
            messages.update()
            .where(messages.c.id == row.id, messages.c.status == row.status)
            .values(status=to, updated_at=now, **values)
        )
        if result.rowcount == 1:
            await conn.execute(
                message_events.insert().values(message_id=row.id, status=to, at=now, detail=detail)
            )
            return Transition(row.id, row.status, to)
    raise MessagesError(f"message {message_uuid} kept changing under {to!r}; try again")


def _columns_for(
    to: str,
    *,
    now: dt.datetime,
    detail: str | None,
    channel: str | None,
    gateway: str | None,
    until: dt.datetime | None,
) -> dict[str, Any]:
    values: dict[str, Any] = {"leased_until": until if to == "leased" else None}
    if to == "leased":
        values["gateway"] = gateway
    elif to == "queued":
        values.update(gateway=None, channel=None)  # back in the queue, for whichever gateway leases it next
    if channel is not None:
        values["channel"] = channel
    if to == "sent":
        values["sent_at"] = now
    elif to == "delivered":
        values["delivered_at"] = now
    elif to == "failed":
        values["error"] = detail
    return values


# --- reading -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    id: int
    uuid: UUID
    contact: UUID
    direction: str
    text: str
    status: str
    priority: str
    segments: int
    encoding: str
    channel: str | None
    gateway: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None
    expires_at: dt.datetime | None
    error: str | None


@dataclass(frozen=True)
class Event:
    status: str
    at: dt.datetime
    detail: str | None


@dataclass(frozen=True)
class MessageQuery:
    """All given conditions must hold; ``since`` is inclusive and ``until`` exclusive (creation time)."""

    contact: uuid.UUID | None = None
    direction: str | None = None
    status: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


_MESSAGE_COLUMNS = (
    messages.c.id,
    messages.c.uuid,
    contacts.c.uuid.label("contact"),
    messages.c.direction,
    messages.c.text,
    messages.c.status,
    messages.c.priority,
    messages.c.segments,
    messages.c.encoding,
    messages.c.channel,
    messages.c.gateway,
    messages.c.created_at,
    messages.c.updated_at,
    messages.c.sent_at,
    messages.c.delivered_at,
    messages.c.expires_at,
    messages.c.error,
)


def _select_messages() -> sa.Select[Any]:
    return sa.select(*_MESSAGE_COLUMNS).join(contacts, contacts.c.id == messages.c.contact_id)


def _message(row: sa.Row[Any]) -> Message:
    values = row._asdict()
    values["priority"] = PRIORITY_NAMES.get(row.priority, str(row.priority))
    return Message(**values)


async def search_messages(
    conn: AsyncConnection, query: MessageQuery, *, after_id: int = 0, limit: int = 50
) -> list[Message]:
    """Messages with ``id > after_id`` in id order (oldest first), at most ``limit`` (a page of a cursor)."""
    stmt = _select_messages().where(messages.c.id > after_id).order_by(messages.c.id).limit(limit)
    if query.contact is not None:
        stmt = stmt.where(contacts.c.uuid == query.contact)
    if query.direction is not None:
        stmt = stmt.where(messages.c.direction == query.direction)
    if query.status is not None:
        stmt = stmt.where(messages.c.status == query.status)
    if query.since is not None:
        stmt = stmt.where(messages.c.created_at >= query.since)
    if query.until is not None:
        stmt = stmt.where(messages.c.created_at < query.until)
    return [_message(row) for row in await conn.execute(stmt)]


async def get_message(conn: AsyncConnection, message_uuid: uuid.UUID) -> tuple[Message, list[Event]]:
    """A message and its status history, oldest first."""
    row = (await conn.execute(_select_messages().where(messages.c.uuid == message_uuid))).first()
    if row is None:
        raise NotFound("message")
    events = await conn.execute(
        sa.select(message_events.c.status, message_events.c.at, message_events.c.detail)
        .where(message_events.c.message_id == row.id)
        .order_by(message_events.c.id)
    )
    return _message(row), [Event(e.status, e.at, e.detail) for e in events]
