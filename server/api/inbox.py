"""API area: the inbox. Inbound messages no flow took (``server.runner.inbound`` puts them there), for staff to
read, answer and mark resolved.

An inbox item is an inbound message, so the ``messages`` scopes govern it: reading needs ``messages:read``,
resolving ``messages:write``. Her phone number is shown as ``GET /api/v1/contacts`` shows it, that is only to a
caller whose token also grants ``contacts:read``; to others it is null, and her contact uuid is what they get.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from server import audit
from server.api import query as params
from server.api.errors import ApiError, not_found, unprocessable
from server.api.messages import parse_uuid
from server.api.openapi import read_json
from server.api.pagination import page_body, parse_page
from server.appkeys import CLOCK, DB
from server.auth.guard import Principal, require
from server.auth.scopes import grants
from server.db.schema import INBOX_REASONS, contacts, inbox, messages

LIST_PARAMETERS = ("reason", "contact", "resolved", "since", "until", "limit", "cursor")
RESOLVED_CHOICES = ("false", "true", "all")


@dataclass(frozen=True)
class Item:
    id: int
    message_uuid: uuid.UUID
    text: str
    received_at: dt.datetime
    reason: str
    contact_uuid: uuid.UUID
    contact_phone: str
    added_at: dt.datetime
    resolved_at: dt.datetime | None
    resolved_by: str | None


@dataclass(frozen=True)
class ItemQuery:
    reason: str | None = None
    contact: uuid.UUID | None = None
    resolved: bool | None = False  # None: resolved and open alike
    since: dt.datetime | None = None  # on the message's time, as GET /api/v1/messages filters
    until: dt.datetime | None = None


def _select() -> sa.Select[Any]:
    return (
        sa.select(
            inbox.c.message_id.label("id"),
            messages.c.uuid.label("message_uuid"),
            messages.c.text,
            messages.c.created_at.label("received_at"),
            inbox.c.reason,
            contacts.c.uuid.label("contact_uuid"),
            contacts.c.phone.label("contact_phone"),
            inbox.c.created_at.label("added_at"),
            inbox.c.resolved_at,
            inbox.c.resolved_by,
        )
        .select_from(inbox)
        .join(messages, messages.c.id == inbox.c.message_id)
        .join(contacts, contacts.c.id == inbox.c.contact_id)
    )


async def search_items(conn: AsyncConnection, query: ItemQuery, *, after_id: int, limit: int) -> list[Item]:
    """Items after ``after_id``, oldest message first, at most ``limit``."""
    stmt = _select().where(inbox.c.message_id > after_id).order_by(inbox.c.message_id).limit(limit)
    if query.resolved is not None:
        done = inbox.c.resolved_at.is_not(None)
        stmt = stmt.where(done if query.resolved else sa.not_(done))
    if query.reason is not None:
        stmt = stmt.where(inbox.c.reason == query.reason)
    if query.contact is not None:
        stmt = stmt.where(contacts.c.uuid == query.contact)
    if query.since is not None:
        stmt = stmt.where(messages.c.created_at >= query.since)
    if query.until is not None:
        stmt = stmt.where(messages.c.created_at < query.until)
    return [Item(**row._asdict()) for row in await conn.execute(stmt)]


async def _item(conn: AsyncConnection, message_uuid: uuid.UUID) -> Item | None:
    row = (await conn.execute(_select().where(messages.c.uuid == message_uuid))).first()
    return Item(**row._asdict()) if row is not None else None


class AlreadyResolved(Exception):
    def __init__(self, item: Item) -> None:
        super().__init__(f"the item was already resolved by {item.resolved_by}")
        self.item = item


async def resolve_item(
    conn: AsyncConnection, message_uuid: uuid.UUID, *, actor: str, now: dt.datetime
) -> Item:
    """Mark an open item resolved, audited in the same transaction. LookupError when the message is not in the
    inbox; AlreadyResolved when someone resolved it first (they stay on record)."""
    item = await _item(conn, message_uuid)
    if item is None:
        raise LookupError(message_uuid)
    changed = await conn.execute(
        inbox.update()
        .where(inbox.c.message_id == item.id, inbox.c.resolved_at.is_(None))
        .values(resolved_at=now, resolved_by=actor)
    )
    if changed.rowcount != 1:
        raise AlreadyResolved(await _item(conn, message_uuid) or item)
    await audit.record(
        conn,
        at=now,
        actor=actor,
        action="inbox.resolve",
        target=str(message_uuid),
        detail={"reason": item.reason},
    )
    return dataclasses.replace(item, resolved_at=now, resolved_by=actor)


# --- HTTP ---------------------------------------------------------------------------------------------------


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def item_json(item: Item, *, show_phone: bool) -> dict[str, Any]:
    return {
        "message": str(item.message_uuid),
        "text": item.text,
        "received_at": _time(item.received_at),
        "reason": item.reason,
        "contact": {"uuid": str(item.contact_uuid), "phone": item.contact_phone if show_phone else None},
        "added_at": _time(item.added_at),
        "resolved_at": _time(item.resolved_at),
        "resolved_by": item.resolved_by,
    }


def _shows_phone(principal: Principal) -> bool:
    return grants(principal.scopes, "contacts:read")


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.text(request, name)
    if value is not None and value not in allowed:
        raise unprocessable(
            f"{name} must be one of {', '.join(allowed)}",
            [{"field": name, "message": f"must be one of {', '.join(allowed)}"}],
        )
    return value


def _query(request: web.Request) -> ItemQuery:
    params.reject_unknown(request, LIST_PARAMETERS)
    contact = params.text(request, "contact")
    contact_uuid = parse_uuid(contact) if contact is not None else None
    if contact is not None and contact_uuid is None:
        raise unprocessable("contact must be a uuid", [{"field": "contact", "message": "must be a uuid"}])
    resolved = _choice(request, "resolved", RESOLVED_CHOICES) or "false"
    return ItemQuery(
        reason=_choice(request, "reason", INBOX_REASONS),
        contact=contact_uuid,
        resolved=None if resolved == "all" else resolved == "true",
        since=params.moment(request, "since", max_length=params.TEXT_PARAMETER_MAX),
        until=params.moment(request, "until", max_length=params.TEXT_PARAMETER_MAX),
    )


async def list_items(request: web.Request) -> web.Response:
    principal = await require(request, scope="messages:read")
    query = _query(request)
    page = parse_page(request)
    async with request.app[DB].connect() as conn:
        found = await search_items(conn, query, after_id=page.after_id, limit=page.limit + 1)
    shown = [item_json(i, show_phone=_shows_phone(principal)) for i in found]
    return web.json_response(page_body(shown, [i.id for i in found], page))


async def resolve(request: web.Request) -> web.Response:
    """No body is needed; an empty JSON object is accepted too."""
    principal = await require(request, scope="messages:write")
    message_uuid = parse_uuid(request.match_info["message"])
    if message_uuid is None:
        raise not_found("inbox item")
    if await request.read():
        await read_json(request, "InboxResolve")
    try:
        async with request.app[DB].begin() as conn:
            item = await resolve_item(conn, message_uuid, actor=principal.name, now=request.app[CLOCK].now())
    except LookupError:
        raise not_found("inbox item") from None
    except AlreadyResolved as exc:
        raise ApiError(
            409,
            "conflict",
            str(exc),
            {"resolved_at": _time(exc.item.resolved_at), "resolved_by": exc.item.resolved_by},
        ) from None
    return web.json_response(item_json(item, show_phone=_shows_phone(principal)))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/inbox", list_items)
    app.router.add_post("/api/v1/inbox/{message}/resolve", resolve)
