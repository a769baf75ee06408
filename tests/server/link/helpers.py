"""A gateway as the link tests drive it (plain HTTP against the real app), and direct database set-up."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from server import messages
from server.db.schema import contacts, message_events
from server.db.schema import messages as messages_table
from tests.conftest import auth

SYNC = "/api/v1/gateway/sync"
HEALTHY = {"id": "modem-1", "kind": "modem", "healthy": True, "signal": 18, "sent_today": 0, "queue": 0}


class Gateway:
    def __init__(self, client: TestClient, token: str, name: str) -> None:
        self.client = client
        self.headers = auth(token)
        self.name = name

    async def post(self, body: Any) -> tuple[int, Any]:
        resp = await self.client.post(SYNC, json=body, headers=self.headers)
        return resp.status, await resp.json()

    async def sync(self, **body: Any) -> dict[str, Any]:
        status, answer = await self.post(body)
        assert status == 200, answer
        result: dict[str, Any] = answer
        return result

    async def take(self, want: int = 50, **body: Any) -> list[dict[str, Any]]:
        """Lease up to ``want`` messages, reporting a healthy channel (as a live gateway does)."""
        body.setdefault("channels", [HEALTHY])
        outbound: list[dict[str, Any]] = (await self.sync(want=want, **body))["outbound"]
        return outbound


def sms(
    ext_id: str,
    sender: str,
    text: str = "hola",
    *,
    channel: str = "modem-1",
    at: str = "2027-03-01T14:59:00Z",
) -> dict[str, Any]:
    return {"id": ext_id, "channel": channel, "from": sender, "text": text, "received_at": at}


async def add_contact(
    engine: AsyncEngine, phone: str, now: dt.datetime, *, status: str = "active", timezone: str | None = None
) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(
            contacts.insert()
            .values(
                uuid=uuid.uuid4(),
                phone=phone,
                status=status,
                timezone=timezone,
                created_at=now,
                updated_at=now,
            )
            .returning(contacts.c.id)
        )
        contact_id: int = result.scalar_one()
        return contact_id


async def queue(
    engine: AsyncEngine,
    contact_id: int,
    text: str,
    now: dt.datetime,
    *,
    priority: str = "bulk",
    expires_at: dt.datetime | None = None,
) -> str:
    """One queued message, as the runner or the messages API would queue it; its uuid."""
    async with engine.begin() as conn:
        status = (
            await conn.execute(
                sa.select(contacts.c.uuid, contacts.c.status).where(contacts.c.id == contact_id)
            )
        ).one()
        queued = await messages.queue_outgoing(
            conn,
            [messages.Recipient(contact_id, status.uuid, status.status)],
            messages.check_text(text),
            priority=priority,
            now=now,
            actor="test",
        )
        ((message_uuid, _contact),) = queued.messages
        if expires_at is not None:
            await conn.execute(
                messages_table.update()
                .where(messages_table.c.uuid == message_uuid)
                .values(expires_at=expires_at)
            )
    return str(message_uuid)


async def message(engine: AsyncEngine, message_uuid: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(messages_table).where(messages_table.c.uuid == uuid.UUID(message_uuid))
            )
        ).one()


async def history(engine: AsyncEngine, message_uuid: str) -> list[tuple[str, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(message_events.c.status, message_events.c.detail)
            .join(messages_table, messages_table.c.id == message_events.c.message_id)
            .where(messages_table.c.uuid == uuid.UUID(message_uuid))
            .order_by(message_events.c.id)
        )
        return [(r.status, r.detail) for r in rows]


async def snapshot(engine: AsyncEngine) -> dict[str, Any]:
    """Every row of the tables a sync writes, to show that a refused request changed nothing."""
    from server.db.schema import audit_log, contact_routes, gateway_channels, gateways

    tables = (contacts, messages_table, message_events, gateways, gateway_channels, contact_routes, audit_log)
    found: dict[str, Any] = {}
    async with engine.connect() as conn:
        for table in tables:
            found[table.name] = [
                tuple(r) for r in await conn.execute(sa.select(table).order_by(*table.primary_key))
            ]
    return found
