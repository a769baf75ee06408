"""What a conversation leaves behind besides messages and contact changes: results, alerts, webhook calls to
make, and inbound messages for staff. Each writes inside the turn's transaction.

``record_alert`` is the one place an alert is created, so whatever else an alert must set off (texting the
clinic's staff, an outgoing webhook) hangs off this boundary.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from flows.events import AlertRaised, RunResultChanged, WebhookCalled
from server import alerts, results
from server.db.schema import inbox, webhook_requests


async def record_result(
    conn: AsyncConnection, contact_id: int, event: RunResultChanged, *, now: dt.datetime, events: bool
) -> None:
    """Keep a run's latest value for each result (an anonymous flow's are counted without her instead);
    ``events``: whether webhook events are recorded."""
    await results.record_result(conn, contact_id, event, now=now, events=events)


async def record_alert(
    conn: AsyncConnection, contact_id: int, event: AlertRaised, *, now: dt.datetime, events: bool
) -> uuid.UUID:
    """An open alert for health staff; returns its uuid. Its staff texts follow the commit."""
    return await alerts.record_alert(conn, contact_id, event, now=now, events=events)


async def record_webhook_request(
    conn: AsyncConnection,
    contact_id: int,
    session_uuid: str,
    event: WebhookCalled,
    *,
    priority: str,
    now: dt.datetime,
) -> None:
    """A call to make once this transaction has committed; its answer resumes the session."""
    await conn.execute(
        webhook_requests.insert().values(
            contact_id=contact_id,
            session_uuid=session_uuid,
            method=event.method[:10],
            url=event.url,
            headers=dict(event.headers),
            body=event.body,
            priority=priority,
            status="pending",
            created_at=now,
        )
    )


async def put_in_inbox(
    conn: AsyncConnection, message_id: int, contact_id: int, reason: str, *, now: dt.datetime
) -> None:
    await conn.execute(
        inbox.insert().values(message_id=message_id, contact_id=contact_id, reason=reason, created_at=now)
    )
