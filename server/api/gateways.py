"""API area: gateway health. Each gateway the server has heard from, and the latest report of each of its
channels (a modem, a phone's SIM), as the gateways send them on every sync (``server.link.health``).

Not to be confused with ``server.api.gateway``, the link endpoint the gateways themselves call. Reading needs
``messages:read``: the channels are what carries the messages, and a gateway's own token may not read it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from server.api.query import reject_unknown
from server.appkeys import CLOCK, DB
from server.auth.guard import require
from server.db.schema import gateway_channels, gateways
from server.link.health import GATEWAY_FRESH, healthy_gateways

# healthy: synced recently with a healthy channel reported recently (the gateway keeps its contacts);
# unhealthy: synced recently, but no channel of it is healthy; stale: it has not synced for GATEWAY_FRESH.
GATEWAY_STATUSES = ("healthy", "unhealthy", "stale")


@dataclass(frozen=True)
class Channel:
    channel: str
    kind: str
    healthy: bool
    signal: int | None
    battery: int | None
    sent_today: int
    daily_cap: int | None
    queue: int
    operator: str | None
    detail: str | None
    last_seen_at: dt.datetime


@dataclass(frozen=True)
class Gateway:
    name: str
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    status: str
    channels: tuple[Channel, ...]


async def read_gateways(conn: AsyncConnection, now: dt.datetime) -> list[Gateway]:
    """Every gateway by name, with its channels by id. A site has a handful, so there is no paging."""
    healthy = await healthy_gateways(conn, now)
    channel_rows = await conn.execute(
        sa.select(gateway_channels).order_by(gateway_channels.c.gateway, gateway_channels.c.channel)
    )
    by_gateway: dict[str, list[Channel]] = {}
    for row in channel_rows.mappings():
        fields = {name: value for name, value in row.items() if name != "gateway"}
        by_gateway.setdefault(row["gateway"], []).append(Channel(**fields))
    gateway_rows = await conn.execute(sa.select(gateways).order_by(gateways.c.name))
    return [
        Gateway(
            name=g.name,
            first_seen_at=g.first_seen_at,
            last_seen_at=g.last_seen_at,
            status=_status(g.name, g.last_seen_at, healthy, now),
            channels=tuple(by_gateway.get(g.name, ())),
        )
        for g in gateway_rows
    ]


def _status(name: str, last_seen_at: dt.datetime, healthy: set[str], now: dt.datetime) -> str:
    if name in healthy:
        return "healthy"
    return "stale" if _is_stale(last_seen_at, now) else "unhealthy"


def _is_stale(last_seen_at: dt.datetime, now: dt.datetime) -> bool:
    return last_seen_at < now - GATEWAY_FRESH


def _channel_json(channel: Channel, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": channel.channel,
        "kind": channel.kind,
        "healthy": channel.healthy,
        "stale": _is_stale(channel.last_seen_at, now),
        "signal": channel.signal,
        "battery": channel.battery,
        "sent_today": channel.sent_today,
        "daily_cap": channel.daily_cap,
        "queue": channel.queue,
        "operator": channel.operator,
        "detail": channel.detail,
        "last_seen_at": channel.last_seen_at.isoformat(),
    }


def gateway_json(gateway: Gateway, now: dt.datetime) -> dict[str, Any]:
    return {
        "name": gateway.name,
        "status": gateway.status,
        "first_seen_at": gateway.first_seen_at.isoformat(),
        "last_seen_at": gateway.last_seen_at.isoformat(),
        "channels": [_channel_json(c, now) for c in gateway.channels],
    }


async def list_gateways(request: web.Request) -> web.Response:
    await require(request, scope="messages:read")
    reject_unknown(request, ())
    now = request.app[CLOCK].now()
    async with request.app[DB].connect() as conn:
        found = await read_gateways(conn, now)
    return web.json_response(
        {
            "items": [gateway_json(g, now) for g in found],
            "stale_after_seconds": int(GATEWAY_FRESH.total_seconds()),
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/gateways", list_gateways)
