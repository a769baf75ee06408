"""API area: messages. Queue ad-hoc outgoing messages; list, filter and read messages with their history."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from aiohttp import web

from server import messages
from server.api import query as params
from server.api.errors import ApiError, not_found, unprocessable
from server.api.openapi import read_json
from server.api.pagination import page_body, parse_page
from server.appkeys import CLOCK, DB, OUTBOX_WAKE
from server.auth.guard import require
from server.db.schema import MESSAGE_DIRECTIONS, MESSAGE_STATUSES

LIST_PARAMETERS = ("contact", "direction", "status", "since", "until", "limit", "cursor")


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def message_json(message: messages.Message) -> dict[str, Any]:
    return {
        "uuid": str(message.uuid),
        "contact": str(message.contact),
        "direction": message.direction,
        "text": message.text,
        "status": message.status,
        "priority": message.priority,
        "segments": message.segments,
        "encoding": message.encoding,
        "channel": message.channel,
        "gateway": message.gateway,
        "created_at": _time(message.created_at),
        "updated_at": _time(message.updated_at),
        "sent_at": _time(message.sent_at),
        "delivered_at": _time(message.delivered_at),
        "expires_at": _time(message.expires_at),
        "error": message.error,
    }


def _invalid(exc: messages.Invalid) -> ApiError:
    fields = ", ".join(dict.fromkeys(p["field"] for p in exc.problems))
    return unprocessable(f"invalid request: {fields}", exc.problems)


async def send(request: web.Request) -> web.Response:
    principal = await require(request, scope="messages:write")
    body = await read_json(request, "MessageSend")
    if ("contacts" in body) == ("group" in body):
        raise unprocessable(
            "give either contacts or group",
            [{"field": "contacts", "message": "give either contacts (a list of contact uuids) or group"}],
        )
    now = request.app[CLOCK].now()
    try:
        text = messages.check_text(body["text"], transliterate=body.get("transliterate", False))
        async with request.app[DB].begin() as conn:
            group = uuid.UUID(body["group"]) if "group" in body else None
            recipients = (
                await messages.group_recipients(conn, group)
                if group is not None
                else await messages.contacts_by_uuid(conn, [uuid.UUID(u) for u in body["contacts"]])
            )
            queued = await messages.queue_outgoing(
                conn,
                recipients,
                text,
                priority=body.get("priority", "bulk"),
                now=now,
                actor=principal.name,
                group=group,
            )
    except messages.Invalid as exc:
        raise _invalid(exc) from None
    request.app[OUTBOX_WAKE].notify()  # a gateway waiting in a long poll takes them at once
    return web.json_response(
        {
            "queued": len(queued.messages),
            "messages": [{"uuid": str(m), "contact": str(c), "status": "queued"} for m, c in queued.messages],
            "skipped": [{"contact": str(r.uuid), "status": r.status} for r in queued.skipped],
            "text": text.text,
            "encoding": text.size.encoding,
            "segments": text.size.segments,
            "transliterated": [
                {"from": c.original, "to": c.replacement, "count": c.count} for c in text.changes
            ],
        },
        status=202,
    )


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.one(request, name)
    if value is not None and value not in allowed:
        raise unprocessable(
            f"{name} must be one of {', '.join(allowed)}",
            [{"field": name, "message": f"must be one of {', '.join(allowed)}"}],
        )
    return value


def parse_uuid(value: str) -> uuid.UUID | None:
    """A uuid written the canonical way (``8-4-4-4-12`` hex digits), else None."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return parsed if str(parsed) == value.lower() else None


def _query(request: web.Request) -> messages.MessageQuery:
    unknown = sorted(set(request.query) - set(LIST_PARAMETERS))
    if unknown:
        raise unprocessable(
            f"unknown query parameter(s): {', '.join(unknown)}",
            [{"field": name, "message": "unknown query parameter"} for name in unknown],
        )
    contact = params.one(request, "contact")
    contact_uuid = parse_uuid(contact) if contact is not None else None
    if contact is not None and contact_uuid is None:
        raise unprocessable("contact must be a uuid", [{"field": "contact", "message": "must be a uuid"}])
    return messages.MessageQuery(
        contact=contact_uuid,
        direction=_choice(request, "direction", MESSAGE_DIRECTIONS),
        status=_choice(request, "status", MESSAGE_STATUSES),
        since=params.moment(request, "since"),
        until=params.moment(request, "until"),
    )


async def list_messages(request: web.Request) -> web.Response:
    await require(request, scope="messages:read")
    query = _query(request)
    page = parse_page(request)
    async with request.app[DB].connect() as conn:
        found = await messages.search_messages(conn, query, after_id=page.after_id, limit=page.limit + 1)
    return web.json_response(page_body([message_json(m) for m in found], [m.id for m in found], page))


async def get_message(request: web.Request) -> web.Response:
    await require(request, scope="messages:read")
    message_uuid = parse_uuid(request.match_info["uuid"])
    if message_uuid is None:
        raise not_found("message")
    try:
        async with request.app[DB].connect() as conn:
            message, history = await messages.get_message(conn, message_uuid)
    except messages.NotFound:
        raise not_found("message") from None
    return web.json_response(
        {
            **message_json(message),
            "history": [{"status": e.status, "at": _time(e.at), "detail": e.detail} for e in history],
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/messages", send)
    app.router.add_get("/api/v1/messages", list_messages)
    app.router.add_get("/api/v1/messages/{uuid}", get_message)
