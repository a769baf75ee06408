"""What the server knows about gateways: when each last synced, its channels' health, and which gateway and
channel last carried each contact. Leasing reads these to keep a contact on her own site's number."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.schema import contact_routes, gateway_channels, gateways
from server.db.statements import insert_for, insert_on_conflict, per_dialect
from server.link.protocol import ChannelReport

# A gateway that has not synced for this long, or whose channels were last reported unhealthy, no longer
# holds on to its contacts: their messages go to any gateway. A live gateway syncs at least every
# MAX_WAIT_S (30 s), so this is several missed syncs.
GATEWAY_FRESH = dt.timedelta(seconds=120)


async def record_gateway(conn: AsyncConnection, gateway: str, now: dt.datetime) -> None:
    await conn.execute(_gateway_upsert(conn), {"name": gateway, "first_seen_at": now, "last_seen_at": now})


@per_dialect
def _gateway_upsert(dialect: str) -> sqlite.Insert | postgresql.Insert:
    """Every sync records its gateway: built once (see server.db.statements)."""
    insert = insert_on_conflict(dialect, gateways)
    return insert.on_conflict_do_update(
        index_elements=["name"], set_={"last_seen_at": insert.excluded.last_seen_at}
    )


async def record_channels(
    conn: AsyncConnection, gateway: str, channels: Iterable[ChannelReport], now: dt.datetime
) -> None:
    rows = [
        {
            "gateway": gateway,
            "channel": c.id,
            "kind": c.kind,
            "healthy": c.healthy,
            "signal": c.signal,
            "battery": c.battery,
            "sent_today": c.sent_today,
            "daily_cap": c.daily_cap,
            "queue": c.queue,
            "operator": c.operator,
            "detail": c.detail,
            "last_seen_at": now,
        }
        for c in sorted(channels, key=lambda c: c.id)  # one lock order for concurrent reports
    ]
    if not rows:
        return
    insert = insert_for(conn, gateway_channels)
    updated = {name: insert.excluded[name] for name in rows[0] if name not in ("gateway", "channel")}
    await conn.execute(
        insert.on_conflict_do_update(index_elements=["gateway", "channel"], set_=updated), rows
    )


async def healthy_gateways(conn: AsyncConnection, now: dt.datetime) -> set[str]:
    """Gateways that synced recently and reported, recently, at least one healthy channel."""
    since = now - GATEWAY_FRESH
    channel_ok = (
        sa.select(gateway_channels.c.gateway)
        .where(
            gateway_channels.c.gateway == gateways.c.name,
            gateway_channels.c.healthy.is_(True),
            gateway_channels.c.last_seen_at >= since,
        )
        .exists()
    )
    rows = await conn.execute(sa.select(gateways.c.name).where(gateways.c.last_seen_at >= since, channel_ok))
    return set(rows.scalars())


async def remember_routes(
    conn: AsyncConnection, routes: Mapping[int, tuple[str, str | None]], now: dt.datetime
) -> None:
    """``routes``: contact id → (gateway, channel) that just carried a message of hers."""
    if not routes:
        return
    rows = [
        {"contact_id": contact_id, "gateway": gateway, "channel": channel, "at": now}
        for contact_id, (gateway, channel) in sorted(routes.items())  # one lock order, as above
    ]
    await conn.execute(_route_upsert(conn), rows)


@per_dialect
def _route_upsert(dialect: str) -> sqlite.Insert | postgresql.Insert:
    insert = insert_on_conflict(dialect, contact_routes)
    return insert.on_conflict_do_update(
        index_elements=["contact_id"],
        set_={
            "gateway": insert.excluded.gateway,
            "channel": insert.excluded.channel,
            "at": insert.excluded.at,
        },
        where=contact_routes.c.at <= insert.excluded.at,
    )
