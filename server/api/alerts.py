"""API area: alerts. List and read the alerts flows raise; acknowledge and resolve them (audited).

Reading needs ``alerts:read``, acting ``alerts:write``. An alert shows the contact's name and phone: the
people who read alerts are the ones who call her back.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from server import alerts, webhooks_out
from server.api import query as params
from server.api.errors import ApiError, not_found, unprocessable
from server.api.messages import parse_uuid
from server.api.openapi import read_json
from server.api.pagination import page_body, parse_page
from server.appkeys import CLOCK, CONFIG, DB
from server.auth.guard import Principal, require
from server.db.schema import ALERT_STATUSES

LIST_PARAMETERS = ("status", "clinic", "limit", "cursor")


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def alert_json(alert: alerts.Alert) -> dict[str, Any]:
    return {
        "uuid": str(alert.uuid),
        "status": alert.status,
        "reason": alert.reason,
        "input": alert.input,
        "clinic": alert.clinic,
        "contact": {
            "uuid": str(alert.contact_uuid),
            "name": alert.contact_name,
            "phone": alert.contact_phone,
        },
        "message": str(alert.message_uuid) if alert.message_uuid is not None else None,
        "flow": alert.flow_uuid,
        "raised_at": _time(alert.raised_at),
        "updated_at": _time(alert.updated_at),
        "staff_notified_at": _time(alert.notified_at),
        "staff_texted": alert.staff_texted,
        "acknowledged_at": _time(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "resolved_at": _time(alert.resolved_at),
        "resolved_by": alert.resolved_by,
        "resolution": alert.resolution,
    }


def _query(request: web.Request) -> alerts.AlertQuery:
    params.reject_unknown(request, LIST_PARAMETERS)
    status = params.text(request, "status")
    if status is not None and status not in ALERT_STATUSES:
        raise unprocessable(
            f"status must be one of {', '.join(ALERT_STATUSES)}",
            [{"field": "status", "message": f"must be one of {', '.join(ALERT_STATUSES)}"}],
        )
    return alerts.AlertQuery(status=status, clinic=params.text(request, "clinic"))


async def list_alerts(request: web.Request) -> web.Response:
    await require(request, scope="alerts:read")
    query = _query(request)
    page = parse_page(request)
    async with request.app[DB].connect() as conn:
        found = await alerts.search_alerts(conn, query, after_id=page.after_id, limit=page.limit + 1)
    return web.json_response(page_body([alert_json(a) for a in found], [a.id for a in found], page))


def _alert_uuid(request: web.Request) -> uuid.UUID:
    alert_uuid = parse_uuid(request.match_info["uuid"])
    if alert_uuid is None:
        raise not_found("alert")
    return alert_uuid


async def get_alert(request: web.Request) -> web.Response:
    await require(request, scope="alerts:read")
    alert_uuid = _alert_uuid(request)
    try:
        async with request.app[DB].connect() as conn:
            alert = await alerts.get_alert(conn, alert_uuid)
    except alerts.NotFound:
        raise not_found("alert") from None
    return web.json_response(alert_json(alert))


async def _act(request: web.Request, principal: Principal, action: str, note: str | None) -> web.Response:
    alert_uuid = _alert_uuid(request)
    try:
        async with request.app[DB].begin() as conn:
            alert = await alerts.act(
                conn,
                alert_uuid,
                action,
                actor=principal.name,
                now=request.app[CLOCK].now(),
                note=note,
                events=webhooks_out.receivers_configured(request.app[CONFIG]),
            )
    except alerts.NotFound:
        raise not_found("alert") from None
    except alerts.Conflict as exc:
        raise ApiError(409, "conflict", str(exc), {"status": exc.alert.status}) from None
    return web.json_response(alert_json(alert))


async def acknowledge(request: web.Request) -> web.Response:
    """No body is needed; an empty JSON object is accepted too."""
    principal = await require(request, scope="alerts:write")
    if await request.read():
        await read_json(request, "AlertAcknowledge")
    return await _act(request, principal, "acknowledge", None)


async def resolve(request: web.Request) -> web.Response:
    principal = await require(request, scope="alerts:write")
    body = await read_json(request, "AlertResolve")
    note = str(body["note"]).strip()
    if not note:
        raise unprocessable("note is empty", [{"field": "note", "message": "is empty"}])
    return await _act(request, principal, "resolve", note)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/alerts", list_alerts)
    app.router.add_get("/api/v1/alerts/{uuid}", get_alert)
    app.router.add_post("/api/v1/alerts/{uuid}/acknowledge", acknowledge)
    app.router.add_post("/api/v1/alerts/{uuid}/resolve", resolve)
