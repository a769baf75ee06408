"""Handing queued messages to a gateway: a lease with an end, in priority order, in the delivery window,
to the contact's own gateway while it is healthy.

Order: replies (priority 0), then alerts (1), then bulk (2), oldest first within each. Bulk waits for the
delivery window in the contact's timezone; replies and alerts do not. A contact whose route (the gateway
that last carried her) is another gateway that is healthy is left to that gateway. A message past its
``expires_at`` fails as ``expired`` instead of going out late; a lease that ran out puts the message back in
the queue for any gateway.

On PostgreSQL, concurrent syncs take disjoint messages with ``FOR UPDATE SKIP LOCKED``; on SQLite the sync's
``BEGIN IMMEDIATE`` transaction already runs alone. Status changes are written in bulk (one UPDATE and one
batch of ``message_events`` per step) along the lifecycle of :mod:`server.messages`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.schema import PRIORITIES, contact_routes, contacts, messages
from server.db.statements import per_dialect
from server.link.sql import is_postgres
from server.link.window import OpenZones
from server.messages import INSERT_EVENTS, PRIORITY_NAMES, SENDABLE_CONTACT_STATUS

BULK = PRIORITIES["bulk"]
SWEEP_LIMIT = 1000  # expired leases or messages handled per sync; the rest at the next one
EXPIRED = "expired"


@dataclass(frozen=True)
class Leased:
    uuid: str
    to: str
    text: str
    priority: str
    segments: int
    encoding: str
    expires_at: dt.datetime | None
    channel: str | None  # the channel of this gateway that last carried the contact


async def _locked_ids(conn: AsyncConnection, stmt: sa.Select[Any]) -> list[Any]:
    if is_postgres(conn):
        stmt = _skip_locked(stmt)
    return list(await conn.execute(stmt))


def _skip_locked(stmt: sa.Select[Any]) -> sa.Select[Any]:
    """PostgreSQL: rows another sync is handling are left to it (SQLite has one writer at a time)."""
    return stmt.with_for_update(skip_locked=True, of=messages)


# The sweeps run in every sync: built once (see server.db.statements), with their locking clause on PostgreSQL.
@per_dialect
def _expired_leases(dialect: str) -> sa.Select[Any]:
    stmt = (
        sa.select(messages.c.id, messages.c.gateway)
        .where(messages.c.status == "leased", messages.c.leased_until <= sa.bindparam("now"))
        .order_by(messages.c.id)
        .limit(SWEEP_LIMIT)
    )
    return _skip_locked(stmt) if dialect == "postgresql" else stmt


@per_dialect
def _expired_messages(dialect: str) -> sa.Select[Any]:
    stmt = (
        sa.select(messages.c.id)
        .where(messages.c.status == "queued", messages.c.expires_at <= sa.bindparam("now"))
        .order_by(messages.c.expires_at)
        .limit(SWEEP_LIMIT)
    )
    return _skip_locked(stmt) if dialect == "postgresql" else stmt


async def _events(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(INSERT_EVENTS, list(rows))


async def release_expired_leases(conn: AsyncConnection, now: dt.datetime) -> int:
    """leased → queued for every lease that ran out: the gateway never said it had the message."""
    rows = list(await conn.execute(_expired_leases(conn), {"now": now}))
    if not rows:
        return 0
    await conn.execute(
        messages.update()
        .where(messages.c.id.in_([r.id for r in rows]), messages.c.status == "leased")
        .values(status="queued", gateway=None, channel=None, leased_until=None, updated_at=now)
    )
    await _events(
        conn,
        [
            {
                "message_id": r.id,
                "status": "queued",
                "at": now,
                "detail": f"lease of {r.gateway} ran out"[:255],
            }
            for r in rows
        ],
    )
    return len(rows)


async def fail_expired(conn: AsyncConnection, now: dt.datetime) -> int:
    """queued → failed ("expired") for messages whose time has passed: late is worse than never."""
    rows = list(await conn.execute(_expired_messages(conn), {"now": now}))
    await _fail(conn, [r.id for r in rows], EXPIRED, now)
    return len(rows)


async def _fail(conn: AsyncConnection, ids: Sequence[int], reason: str, now: dt.datetime) -> None:
    if not ids:
        return
    await conn.execute(
        messages.update()
        .where(messages.c.id.in_(ids), messages.c.status == "queued")
        .values(status="failed", error=reason, leased_until=None, updated_at=now)
    )
    await _events(conn, [{"message_id": i, "status": "failed", "at": now, "detail": reason} for i in ids])


def _candidates(
    limit: int, *, now: dt.datetime, zones: OpenZones, programme_tz: str, others: Collection[str]
) -> sa.Select[Any]:
    stmt = (
        sa.select(
            messages.c.id,
            messages.c.uuid,
            messages.c.text,
            messages.c.priority,
            messages.c.segments,
            messages.c.encoding,
            messages.c.expires_at,
            contacts.c.phone,
            contacts.c.status.label("contact_status"),
            contact_routes.c.gateway.label("route_gateway"),
            contact_routes.c.channel.label("route_channel"),
        )
        .select_from(
            messages.join(contacts, contacts.c.id == messages.c.contact_id).outerjoin(
                contact_routes, contact_routes.c.contact_id == messages.c.contact_id
            )
        )
        .where(
            messages.c.status == "queued",
            sa.or_(messages.c.expires_at.is_(None), messages.c.expires_at > now),
        )
        .order_by(messages.c.priority, messages.c.id)
        .limit(limit)
    )
    if zones.none_open:
        stmt = stmt.where(messages.c.priority < BULK)
    elif zones.names:
        zone = sa.func.coalesce(contacts.c.timezone, programme_tz)
        in_window = zone.in_(zones.names) if zones.inside else zone.not_in(zones.names)
        stmt = stmt.where(sa.or_(messages.c.priority < BULK, in_window))
    if others:
        # Left to her own gateway while it is healthy.
        stmt = stmt.where(sa.or_(contact_routes.c.gateway.is_(None), contact_routes.c.gateway.not_in(others)))
    return stmt


async def lease(
    conn: AsyncConnection,
    gateway: str,
    *,
    want: int,
    want_parts: int | None,
    now: dt.datetime,
    until: dt.datetime,
    zones: OpenZones,
    programme_tz: str,
    others: Collection[str],
) -> list[Leased]:
    """Up to ``want`` messages (and ``want_parts`` SMS parts, the first message always fitting) leased to
    ``gateway`` until ``until``."""
    taken: list[Leased] = []
    parts = 0
    while len(taken) < want:
        asked = want - len(taken)
        rows = await _locked_ids(
            conn, _candidates(asked, now=now, zones=zones, programme_tz=programme_tz, others=others)
        )
        # A contact who stopped after her bulk message was queued does not get it; replies still go (the
        # confirmation of her opting out is one).
        refused = {r.id for r in rows if r.priority >= BULK and r.contact_status != SENDABLE_CONTACT_STATUS}
        await _fail(conn, sorted(refused), "contact is not active", now)
        chosen: list[Any] = []
        full = False
        for row in rows:
            if row.id in refused:
                continue
            if want_parts is not None and (taken or chosen) and parts + row.segments > want_parts:
                full = True
                break
            parts += row.segments
            chosen.append(row)
        await _mark_leased(conn, gateway, [r.id for r in chosen], now=now, until=until)
        taken.extend(
            Leased(
                uuid=str(r.uuid),
                to=r.phone,
                text=r.text,
                priority=PRIORITY_NAMES.get(r.priority, "bulk"),
                segments=r.segments,
                encoding=r.encoding,
                expires_at=r.expires_at,
                channel=r.route_channel if r.route_gateway == gateway else None,
            )
            for r in chosen
        )
        if full or len(rows) < asked:
            break
    return taken


async def _mark_leased(
    conn: AsyncConnection, gateway: str, ids: Sequence[int], *, now: dt.datetime, until: dt.datetime
) -> None:
    if not ids:
        return
    result = await conn.execute(
        messages.update()
        .where(messages.c.id.in_(ids), messages.c.status == "queued")
        .values(status="leased", gateway=gateway, channel=None, leased_until=until, updated_at=now)
    )
    if result.rowcount != len(ids):
        # The rows are locked (PostgreSQL) or the transaction runs alone (SQLite): nothing can take them.
        raise RuntimeError(f"leased {result.rowcount} of {len(ids)} locked messages")
    # The detail names the holder: a late report from it can reclaim the message (server.link.statuses).
    await _events(conn, [{"message_id": i, "status": "leased", "at": now, "detail": gateway} for i in ids])
