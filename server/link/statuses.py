"""What became of the messages a gateway was given: reports applied along the one lifecycle.

Reports come at least once and in any order. A repeated one changes nothing; one for a status the message has
already passed (``sent`` after ``delivered``) is acknowledged and dropped, so a message never moves back. Only
the gateway that holds a message may report on it; anything else is rejected with the reason, and a rejected
report is, like an acknowledged one, never to be sent again.

A gateway reports on hundreds of messages per sync, so the reports are checked against the lifecycle
(:func:`server.messages.may_become`) on rows read once and locked, then written with one statement each for
the messages and their history, as :func:`server.messages.transition` would write them one by one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server import messages as lifecycle
from server.db.schema import message_events, messages
from server.db.types import UTCDateTime
from server.link.health import remember_routes
from server.link.protocol import StatusReport
from server.link.sql import is_postgres

UNKNOWN_MESSAGE = "no such outgoing message"
NOT_YOURS = "the message is not leased to this gateway"


@dataclass
class StatusOutcome:
    acked: list[StatusReport] = field(default_factory=list)
    rejected: list[tuple[StatusReport, str]] = field(default_factory=list)


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@dataclass
class _Message:
    id: int
    uuid: uuid.UUID
    contact_id: int
    status: str
    gateway: str | None


async def _read(conn: AsyncConnection, wanted: list[uuid.UUID]) -> dict[uuid.UUID, _Message]:
    if not wanted:
        return {}
    stmt = (
        sa.select(
            messages.c.id, messages.c.uuid, messages.c.contact_id, messages.c.status, messages.c.gateway
        )
        .where(messages.c.uuid.in_(wanted), messages.c.direction == "out")
        .order_by(messages.c.id)
    )
    if is_postgres(conn):
        stmt = stmt.with_for_update()  # in id order, like every other locker of message rows
    return {
        r.uuid: _Message(r.id, r.uuid, r.contact_id, r.status, r.gateway) for r in await conn.execute(stmt)
    }


async def apply(
    conn: AsyncConnection,
    gateway: str,
    reports: Sequence[StatusReport],
    *,
    now: dt.datetime,
    lease_until: dt.datetime,
) -> StatusOutcome:
    outcome = StatusOutcome()
    ids = {r.message_id: _uuid(r.message_id) for r in reports}
    found = await _read(conn, sorted({u for u in ids.values() if u is not None}))
    changes: list[dict[str, Any]] = []
    delivered: dict[int, tuple[str, str | None]] = {}
    for report in reports:
        message_uuid = ids[report.message_id]
        row = found.get(message_uuid) if message_uuid is not None else None
        if row is None:
            outcome.rejected.append((report, UNKNOWN_MESSAGE))
            continue
        if row.gateway != gateway:
            if not await _reclaim(conn, gateway, row, now=now, until=lease_until):
                outcome.rejected.append((report, NOT_YOURS))
                continue
            row.status, row.gateway = "leased", gateway
        if row.status != report.status:
            if not lifecycle.may_become(row.status, report.status):
                refusal = lifecycle.IllegalTransition(row.uuid, row.status, report.status)
                if refusal.stale:
                    outcome.acked.append(report)  # older news than the server has: nothing to do
                else:
                    outcome.rejected.append((report, str(refusal)))
                continue
            changes.append(_change(row, report, now))
            row.status = report.status
            if report.status == "delivered":
                delivered[row.contact_id] = (gateway, report.channel)
        outcome.acked.append(report)
    await _write(conn, changes)
    await remember_routes(conn, delivered, now)
    return outcome


def _change(row: _Message, report: StatusReport, now: dt.datetime) -> dict[str, Any]:
    detail = report.error[: lifecycle.DETAIL_MAX] if report.error is not None else None
    return {
        "b_id": row.id,
        "b_before": row.status,
        "b_to": report.status,
        "b_at": min(report.at, now) if report.at is not None else now,  # the gateway's time, never ahead
        "b_channel": report.channel,
        "b_detail": detail,
        "b_parts": report.parts,
    }


# The columns server.messages.transition sets for a report's statuses (accepted, sent, delivered, failed,
# unknown), plus the parts the gateway actually sent (it may split or encode a text otherwise).
_TO = sa.bindparam("b_to", type_=sa.String)
_AT = sa.bindparam("b_at", type_=UTCDateTime)
_UPDATE = (
    messages.update()
    .where(messages.c.id == sa.bindparam("b_id"), messages.c.status == sa.bindparam("b_before"))
    .values(
        status=_TO,
        updated_at=_AT,
        leased_until=None,
        channel=sa.func.coalesce(sa.bindparam("b_channel", type_=sa.String), messages.c.channel),
        sent_at=sa.case((_TO == "sent", _AT), else_=messages.c.sent_at),
        delivered_at=sa.case((_TO == "delivered", _AT), else_=messages.c.delivered_at),
        error=sa.case((_TO == "failed", sa.bindparam("b_detail", type_=sa.String)), else_=messages.c.error),
        segments=sa.func.coalesce(sa.bindparam("b_parts", type_=sa.SmallInteger), messages.c.segments),
    )
)


async def _write(conn: AsyncConnection, changes: list[dict[str, Any]]) -> None:
    """Each change in the order reported (a message's ``accepted`` before its ``sent``); the rows are locked
    (PostgreSQL) or the transaction runs alone (SQLite), so each finds the status it expects."""
    if not changes:
        return
    await conn.execute(_UPDATE, changes)
    await conn.execute(
        lifecycle.INSERT_EVENTS,
        [
            {"message_id": c["b_id"], "status": c["b_to"], "at": c["b_at"], "detail": c["b_detail"]}
            for c in changes
        ],
    )


async def _reclaim(
    conn: AsyncConnection, gateway: str, row: _Message, *, now: dt.datetime, until: dt.datetime
) -> bool:
    """A report from the gateway whose lease ran out, for a message back in the queue that nobody else has
    leased since: the gateway has it after all, so it leases it again and the report applies."""
    if row.status != "queued":
        return False
    last_holder = (
        await conn.execute(
            sa.select(message_events.c.detail)
            .where(message_events.c.message_id == row.id, message_events.c.status == "leased")
            .order_by(message_events.c.id.desc())
            .limit(1)
        )
    ).scalar()
    if last_holder != gateway:
        return False
    await lifecycle.transition(
        conn, row.uuid, "leased", now=now, detail=gateway, gateway=gateway, leased_until=until
    )
    return True
