"""What a conversation leaves behind besides messages and contact changes: results, alerts, webhook calls to
make, and inbound messages for staff. Each writes inside the turn's transaction.

``record_alert`` is the one place an alert is created, so whatever else an alert must set off (texting the
clinic's staff, an outgoing webhook) hangs off this boundary.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from flows.events import AlertRaised, RunResultChanged, WebhookCalled
from server.db.schema import alerts, inbox, results, webhook_requests

RESULT_COLUMNS = ("flow_uuid", "name", "value", "category", "input", "node_uuid", "at")


async def record_result(
    conn: AsyncConnection, contact_id: int, event: RunResultChanged, *, now: dt.datetime
) -> None:
    """Keep a run's latest value for each result (an answer given again replaces the earlier one)."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(results)
    stmt = insert.values(
        run_uuid=event.run_uuid,
        flow_uuid=event.flow_uuid,
        contact_id=contact_id,
        key=event.key,
        name=event.name,
        value=event.value,
        category=event.category,
        input=event.input,
        node_uuid=event.node_uuid,
        at=now,
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[results.c.run_uuid, results.c.key],
            set_={name: stmt.excluded[name] for name in RESULT_COLUMNS},
        )
    )


async def record_alert(
    conn: AsyncConnection, contact_id: int, event: AlertRaised, *, now: dt.datetime
) -> uuid.UUID:
    """An open alert for health staff; returns its uuid."""
    alert_uuid = uuid.uuid4()
    await conn.execute(
        alerts.insert().values(
            uuid=alert_uuid,
            contact_id=contact_id,
            flow_uuid=event.flow_uuid,
            node_uuid=event.node_uuid,
            reason=event.reason,
            input=event.input,
            status="open",
            raised_at=now,
            updated_at=now,
        )
    )
    return alert_uuid


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
