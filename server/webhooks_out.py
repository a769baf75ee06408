"""Outgoing event webhooks: message, result and alert events POSTed to the receivers the settings name.

Events are written in the transaction that caused them (:func:`enqueue`; message events are read from
``message_events`` instead, behind a cursor) and delivered after it by the dispatcher: one delivery per event
and receiver, signed, tried again with exponential backoff, and kept as a dead letter after the last try.

Delivery is at least once: a receiver must treat a repeated ``Recado-Delivery`` id as the same event. Order is
not guaranteed across retries; ``created_at`` in the body orders events.

The signature is HMAC-SHA256, under the shared secret, of ``<timestamp>.<body>``: the ``Recado-Timestamp``
header (Unix seconds), a dot, and the raw body bytes. It is sent as ``Recado-Signature: v1=<hex>``. Signing
the timestamp with the body lets a receiver refuse a captured request replayed later.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.db.schema import (
    contacts,
    message_events,
    messages,
    webhook_cursors,
    webhook_dead_letters,
    webhook_deliveries,
    webhook_events,
)
from server.messages import PRIORITY_NAMES

if TYPE_CHECKING:
    from server.config import Config  # which imports this module's parse_endpoints

log = logging.getLogger(__name__)

EVENT_TYPES = ("message.status", "result.changed", "alert.raised", "alert.acknowledged", "alert.resolved")
SIGNATURE_HEADER = "Recado-Signature"
TIMESTAMP_HEADER = "Recado-Timestamp"
EVENT_HEADER = "Recado-Event"
DELIVERY_HEADER = "Recado-Delivery"
SECRET_MIN = 16
MAX_BACKOFF = dt.timedelta(hours=6)
ERROR_MAX = 255
MESSAGE_CURSOR = "message_events"
# On PostgreSQL, ids are handed out before commit, so a later id can become visible before an earlier one.
# Message events are taken only once they are this old, by when the transaction that wrote them has ended.
MESSAGE_SETTLE = dt.timedelta(seconds=30)
CONCURRENT_DELIVERIES = 8


class InvalidEndpoints(ValueError):
    pass


@dataclass(frozen=True)
class Endpoints:
    urls: tuple[str, ...] = ()
    secret: bytes = b""


def parse_endpoints(urls_text: str, secret: str) -> Endpoints:
    """The ``event_webhook_urls`` and ``event_webhook_secret`` settings: http(s) URLs with a host, comma-
    separated, and a secret of at least :data:`SECRET_MIN` characters whenever there is a URL."""
    urls: list[str] = []
    for url in (u.strip() for u in urls_text.split(",")):
        if not url:
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidEndpoints(f"{url!r} is not an http or https URL")
        urls.append(url)
    if urls and len(secret) < SECRET_MIN:
        raise InvalidEndpoints(f"event_webhook_secret must have at least {SECRET_MIN} characters")
    return Endpoints(tuple(dict.fromkeys(urls)), secret.encode("utf-8"))


# --- events -------------------------------------------------------------------------------------------------


_ANY_EVENT = sa.select(webhook_events.c.id).limit(1)
RECORD_EVENTS = webhook_events.insert()  # built once (see server.db.statements): the runner records with it


def receivers_configured(config: Config) -> bool:
    """Whether events are recorded at all. Without a receiver an event would be written in its conversation's
    transaction only to be deleted, unsent, a second later: the decision is made where it would be written
    (``wanted`` below, and the runner's batches), from the same settings the dispatcher delivers with."""
    return bool(parse_endpoints(config.event_webhook_urls, config.event_webhook_secret).urls)


async def enqueue(
    conn: AsyncConnection, event_type: str, data: Mapping[str, Any], *, now: dt.datetime, wanted: bool
) -> None:
    """Record an event inside the caller's transaction, so it exists exactly when what it reports does; not
    at all unless ``wanted`` (:func:`receivers_configured`)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    if not wanted:
        return
    await conn.execute(
        webhook_events.insert().values(uuid=uuid.uuid4(), type=event_type, data=dict(data), created_at=now)
    )


def event_body(
    event_uuid: uuid.UUID, event_type: str, data: Mapping[str, Any], created_at: dt.datetime
) -> str:
    return json.dumps(
        {"id": str(event_uuid), "type": event_type, "created_at": created_at.isoformat(), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    )


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify(
    secret: bytes,
    timestamp_header: str,
    signature_header: str,
    body: bytes,
    *,
    now: int,
    tolerance_s: int = 300,
) -> bool:
    """What a receiver does (the docs show the same code): recompute, compare in constant time, and refuse a
    timestamp too far from its own clock."""
    if not timestamp_header.isdigit() or abs(now - int(timestamp_header)) > tolerance_s:
        return False
    expected = sign(secret, int(timestamp_header), body)
    return hmac.compare_digest(expected.encode("ascii"), signature_header.encode("ascii", errors="replace"))


# --- the steps the dispatcher runs ---------------------------------------------------------------------------


async def reset_message_cursor(db: AsyncEngine, endpoints: Endpoints) -> None:
    """At start: with receivers, message events are sent from where the cursor stands, or from now when there
    is none yet (history is not replayed); without receivers, the cursor is dropped, so adding receivers later
    does not send what happened in between."""
    async with db.begin() as conn:
        if not endpoints.urls:
            await conn.execute(webhook_cursors.delete().where(webhook_cursors.c.name == MESSAGE_CURSOR))
            return
        exists = (
            await conn.execute(
                sa.select(webhook_cursors.c.last_id).where(webhook_cursors.c.name == MESSAGE_CURSOR)
            )
        ).first()
        if exists is None:
            last = (
                await conn.execute(sa.select(sa.func.coalesce(sa.func.max(message_events.c.id), 0)))
            ).scalar_one()
            await conn.execute(webhook_cursors.insert().values(name=MESSAGE_CURSOR, last_id=last))


def _message_event(row: Any) -> dict[str, Any]:
    """A message event carries no text: texts are health information, and an anonymous answer's text is only
    blanked once the runner has handled it. A receiver with access reads the text through the API."""
    return {
        "message": str(row.uuid),
        "contact": str(row.contact_uuid),
        "direction": row.direction,
        "status": row.status,
        "priority": PRIORITY_NAMES.get(row.priority, str(row.priority)),
        "segments": row.segments,
        "at": row.at.isoformat(),
        "detail": row.detail if row.status == "failed" else None,
    }


async def collect_message_events(
    db: AsyncEngine, endpoints: Endpoints, *, now: dt.datetime, limit: int = 1000
) -> int:
    """Turn new ``message_events`` rows into deliveries and move the cursor past them, in one transaction."""
    if not endpoints.urls:
        return 0
    settled = now - MESSAGE_SETTLE if db.dialect.name == "postgresql" else now
    try:
        return await _collect(db, endpoints, settled=settled, now=now, limit=limit)
    except _CursorMoved:
        return 0  # another process took these events, in the transaction that moved the cursor


class _CursorMoved(Exception):
    pass


async def _collect(
    db: AsyncEngine, endpoints: Endpoints, *, settled: dt.datetime, now: dt.datetime, limit: int
) -> int:
    async with db.begin() as conn:
        last = (
            await conn.execute(
                sa.select(webhook_cursors.c.last_id).where(webhook_cursors.c.name == MESSAGE_CURSOR)
            )
        ).scalar()
        if last is None:
            return 0
        rows = (
            await conn.execute(
                sa.select(
                    message_events.c.id,
                    message_events.c.status,
                    message_events.c.at,
                    message_events.c.detail,
                    messages.c.uuid,
                    messages.c.direction,
                    messages.c.priority,
                    messages.c.segments,
                    contacts.c.uuid.label("contact_uuid"),
                )
                .join(messages, messages.c.id == message_events.c.message_id)
                .join(contacts, contacts.c.id == messages.c.contact_id)
                .where(message_events.c.id > last, message_events.c.at <= settled)
                .order_by(message_events.c.id)
                .limit(limit)
            )
        ).all()
        if not rows:
            return 0
        moved = await conn.execute(
            webhook_cursors.update()
            .where(webhook_cursors.c.name == MESSAGE_CURSOR, webhook_cursors.c.last_id == last)
            .values(last_id=rows[-1].id)
        )
        if moved.rowcount != 1:
            raise _CursorMoved
        events = [(uuid.uuid4(), "message.status", _message_event(row), row.at) for row in rows]
        await _insert_deliveries(conn, events, endpoints, now=now)
    return len(rows)


async def fan_out(db: AsyncEngine, endpoints: Endpoints, *, now: dt.datetime, limit: int = 1000) -> int:
    """Replace recorded events by one delivery per receiver (or drop them when there is none)."""
    async with db.connect() as conn:
        # A look first, outside any write transaction: this runs every second, mostly with nothing to do, and
        # on SQLite a write transaction, even an empty one, holds up the syncs answering replies meanwhile.
        if (await conn.execute(_ANY_EVENT)).first() is None:
            return 0
    async with db.begin() as conn:
        oldest = sa.select(webhook_events.c.id).order_by(webhook_events.c.id).limit(limit).scalar_subquery()
        taken = (
            await conn.execute(
                webhook_events.delete()
                .where(webhook_events.c.id.in_(oldest))
                .returning(
                    webhook_events.c.uuid,
                    webhook_events.c.type,
                    webhook_events.c.data,
                    webhook_events.c.created_at,
                )
            )
        ).all()
        if taken and endpoints.urls:
            await _insert_deliveries(conn, [tuple(row) for row in taken], endpoints, now=now)
    return len(taken)


async def _insert_deliveries(
    conn: AsyncConnection,
    events: Sequence[tuple[Any, ...]],
    endpoints: Endpoints,
    *,
    now: dt.datetime,
) -> None:
    await conn.execute(
        webhook_deliveries.insert(),
        [
            {
                "event_uuid": event_uuid,
                "event_type": event_type,
                "url": url,
                "body": event_body(event_uuid, event_type, data, created_at),
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for event_uuid, event_type, data, created_at in events
            for url in endpoints.urls
        ],
    )


@dataclass(frozen=True)
class Attempt:
    """One try at a delivery; ``status`` is None when no HTTP answer came."""

    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Policy:
    attempts: int
    backoff: dt.timedelta
    timeout_s: float

    def retry_at(self, now: dt.datetime, failures: int) -> dt.datetime:
        """``backoff``, then twice as long after each further failure, never more than :data:`MAX_BACKOFF`."""
        return now + min(self.backoff * (1 << max(0, failures - 1)), MAX_BACKOFF)

    @property
    def lease(self) -> dt.timedelta:
        """How long a claimed delivery is left alone: a process that dies mid-try leaves it to be tried again."""
        return dt.timedelta(seconds=self.timeout_s + 60)


async def post(
    client: aiohttp.ClientSession,
    url: str,
    body: str,
    *,
    secret: bytes,
    event_type: str,
    event_uuid: str,
    now: dt.datetime,
    timeout_s: float,
) -> Attempt:
    raw = body.encode("utf-8")
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "recado-webhooks/1",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, raw),
        EVENT_HEADER: event_type,
        DELIVERY_HEADER: event_uuid,
    }
    try:
        async with client.post(
            url,
            data=raw,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as response:
            await response.content.read(4096)
            return Attempt(response.status, None if response.status < 300 else f"HTTP {response.status}")
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return Attempt(None, (type(exc).__name__ + ": " + str(exc))[:ERROR_MAX])


async def deliver_due(
    db: AsyncEngine,
    client: aiohttp.ClientSession,
    endpoints: Endpoints,
    policy: Policy,
    *,
    now: dt.datetime,
    limit: int = 100,
) -> int:
    """Claim the deliveries that are due, try each, and record what happened. Returns how many succeeded."""
    async with db.begin() as conn:
        due = (
            sa.select(webhook_deliveries.c.id)
            .where(webhook_deliveries.c.next_attempt_at <= now)
            .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
            .limit(limit)
            .scalar_subquery()
        )
        claimed = (
            await conn.execute(
                webhook_deliveries.update()
                # The second condition is checked again on the locked row, so two processes never both claim it.
                .where(webhook_deliveries.c.id.in_(due), webhook_deliveries.c.next_attempt_at <= now)
                .values(next_attempt_at=now + policy.lease)
                .returning(
                    webhook_deliveries.c.id,
                    webhook_deliveries.c.event_uuid,
                    webhook_deliveries.c.event_type,
                    webhook_deliveries.c.url,
                    webhook_deliveries.c.body,
                    webhook_deliveries.c.attempts,
                )
            )
        ).all()
    if not claimed:
        return 0
    gate = asyncio.Semaphore(CONCURRENT_DELIVERIES)

    async def attempt(row: Any) -> Attempt:
        async with gate:
            return await post(
                client,
                row.url,
                row.body,
                secret=endpoints.secret,
                event_type=row.event_type,
                event_uuid=str(row.event_uuid),
                now=now,
                timeout_s=policy.timeout_s,
            )

    outcomes = await asyncio.gather(*(attempt(row) for row in claimed))
    async with db.begin() as conn:
        for row, outcome in zip(claimed, outcomes, strict=True):
            await _settle(conn, row, outcome, policy, now=now)
    return sum(outcome.delivered for outcome in outcomes)


async def _settle(
    conn: AsyncConnection, row: Any, outcome: Attempt, policy: Policy, *, now: dt.datetime
) -> None:
    here = webhook_deliveries.c.id == row.id
    if outcome.delivered:
        await conn.execute(webhook_deliveries.delete().where(here))
        return
    failures = row.attempts + 1
    log.info(
        "event webhook to %s failed (try %d of %d): %s",
        urlsplit(row.url).netloc,
        failures,
        policy.attempts,
        outcome.error,
    )
    if failures < policy.attempts:
        await conn.execute(
            webhook_deliveries.update()
            .where(here)
            .values(
                attempts=failures,
                next_attempt_at=policy.retry_at(now, failures),
                last_status=outcome.status,
                last_error=outcome.error,
            )
        )
        return
    log.warning(
        "event webhook %s to %s is a dead letter after %d tries",
        row.event_uuid,
        urlsplit(row.url).netloc,
        failures,
    )
    stored: dt.datetime = (
        await conn.execute(sa.select(webhook_deliveries.c.created_at).where(here))
    ).scalar_one()
    await conn.execute(
        webhook_dead_letters.insert().values(
            event_uuid=row.event_uuid,
            event_type=row.event_type,
            url=row.url,
            body=row.body,
            attempts=failures,
            last_status=outcome.status,
            last_error=outcome.error,
            created_at=stored,
            failed_at=now,
        )
    )
    await conn.execute(webhook_deliveries.delete().where(here))


# --- reading the dead letters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    id: int
    event_uuid: uuid.UUID
    event_type: str
    url: str
    body: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: dt.datetime
    failed_at: dt.datetime


async def dead_letters(conn: AsyncConnection, *, after_id: int = 0, limit: int = 50) -> list[DeadLetter]:
    rows = await conn.execute(
        sa.select(webhook_dead_letters)
        .where(webhook_dead_letters.c.id > after_id)
        .order_by(webhook_dead_letters.c.id)
        .limit(limit)
    )
    return [DeadLetter(**row._asdict()) for row in rows]
