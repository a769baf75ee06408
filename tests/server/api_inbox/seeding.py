"""Inbox items and gateway reports written the way the runner and the gateway link write them."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from server import contacts as repository
from server.db.schema import messages
from server.link.health import record_channels, record_gateway
from server.link.protocol import ChannelReport
from server.runner.records import put_in_inbox


@dataclass(frozen=True)
class Seeded:
    message: uuid.UUID
    contact: uuid.UUID


async def inbox_item(engine: AsyncEngine, phone: str, text: str, reason: str, now: dt.datetime) -> Seeded:
    """An inbound message already handled as "inbox", as the runner leaves one no flow took."""
    async with engine.begin() as conn:
        found = await repository.find_contact_by_phone(conn, phone)
        if found is None:
            found = await repository.create_contact(
                conn, repository.ContactChanges(attributes={"phone": phone}), now=now
            )
        message_uuid = uuid.uuid4()
        inserted = await conn.execute(
            messages.insert()
            .values(
                uuid=message_uuid,
                contact_id=found.id,
                direction="in",
                text=text,
                status="received",
                gateway="gw-test",
                external_id=str(uuid.uuid4()),
                created_at=now,
                updated_at=now,
                handled_at=now,
                handled_as="inbox",
            )
            .returning(messages.c.id)
        )
        await put_in_inbox(conn, inserted.scalar_one(), found.id, reason, now=now)
    return Seeded(message_uuid, found.uuid)


def channel(
    channel_id: str, *, healthy: bool = True, kind: str = "modem", detail: str | None = None
) -> ChannelReport:
    """A channel's report with ordinary readings (a modem on Telcel, 120 of 500 parts sent today)."""
    return ChannelReport(
        id=channel_id,
        kind=kind,
        healthy=healthy,
        signal=18,
        battery=None if kind == "modem" else 80,
        sent_today=120,
        daily_cap=500,
        queue=3,
        operator="Telcel",
        detail=detail,
    )


async def gateway_sync(
    engine: AsyncEngine, name: str, channels: list[ChannelReport], now: dt.datetime
) -> None:
    """What one sync of the gateway records about itself."""
    async with engine.begin() as conn:
        await record_gateway(conn, name, now)
        await record_channels(conn, name, channels, now)
