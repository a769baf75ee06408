"""API area: the gateway link. ``POST /api/v1/gateway/sync`` is the one round trip a gateway makes; the
protocol is ``docs/gateway-link.md`` and its implementation ``server.link``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from server.api.errors import ApiError, unprocessable
from server.api.openapi import read_json
from server.appkeys import CLOCK, CONFIG, DB, INBOX_WAKE, LINK_SWEEPS, OUTBOX_WAKE
from server.auth.guard import check_live, require_signed
from server.link import protocol
from server.link.sync import Admit, LinkContext, SyncResult
from server.link.sync import sync as run_sync
from server.runner.service import RUNNER

GATEWAY_ROLES = ("gateway",)
_TOKEN_PREFIX = "token:"  # noqa: S105 - how server.auth.guard names a token principal


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _body(result: SyncResult) -> dict[str, Any]:
    rejected = [
        {"field": f"inbound.{item.index}", "id": item.id, "reason": reason}
        for item, reason in result.rejected_inbound
    ] + [
        {"field": f"statuses.{report.index}", "id": report.message_id, "reason": reason}
        for report, reason in result.rejected_statuses
    ]
    return {
        "acked_inbound": result.acked_inbound,
        "acked_statuses": [{"message_id": r.message_id, "status": r.status} for r in result.acked_statuses],
        "rejected": rejected,
        "outbound": [
            {
                "id": m.uuid,
                "to": m.to,
                "text": m.text,
                "priority": m.priority,
                "segments": m.segments,
                "encoding": m.encoding,
                "expires_at": _time(m.expires_at),
                "channel": m.channel,
                "lease_s": result.lease_s,
            }
            for m in result.outbound
        ],
        "lease_s": result.lease_s,
        "server_time": _time(result.server_time),
    }


def _context(app: web.Application, admit: Admit | None = None) -> LinkContext:
    config = app[CONFIG]
    runner = app.get(RUNNER)
    return LinkContext(
        engine=app[DB],
        clock=app[CLOCK],
        outbox=app[OUTBOX_WAKE],
        inbox=app[INBOX_WAKE],
        region=config.default_region,
        window=config.window,
        programme_tz=config.programme_timezone,
        answer=runner.answer_inbound if runner is not None else None,
        sweeps=app.get(LINK_SWEEPS),
        admit=admit,
    )


async def sync(request: web.Request) -> web.Response:
    claims = require_signed(request, scope="gateway:sync", roles=GATEWAY_ROLES)
    body = await read_json(request, "GatewaySync")
    try:
        batch = protocol.read_request(body)
    except protocol.BadBatch as exc:
        fields = ", ".join(dict.fromkeys(p["field"] for p in exc.problems))
        raise unprocessable(f"invalid request body: {fields}", exc.problems) from None
    gateway = claims.subject  # a gateway's token is named after it, and issued to that name

    async def admit(conn: AsyncConnection) -> None:
        if await check_live(conn, claims) != _TOKEN_PREFIX + gateway:
            raise ApiError(401, "unauthorized", "token does not match its record")

    def gone() -> bool:
        transport = request.transport
        return transport is None or transport.is_closing()

    result = await run_sync(_context(request.app, admit), gateway, batch, gone=gone)
    return web.json_response(_body(result))


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/gateway/sync", sync)
