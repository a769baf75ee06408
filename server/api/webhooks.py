"""API area: outgoing event webhooks. Admins read the dead letters: deliveries that failed their last try."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server import webhooks_out
from server.api.pagination import page_body, parse_page
from server.api.query import reject_unknown
from server.appkeys import DB
from server.auth.guard import require


def dead_letter_json(letter: webhooks_out.DeadLetter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "event": str(letter.event_uuid),
        "type": letter.event_type,
        "url": letter.url,
        "body": letter.body,
        "attempts": letter.attempts,
        "last_status": letter.last_status,
        "last_error": letter.last_error,
        "created_at": letter.created_at.isoformat(),
        "failed_at": letter.failed_at.isoformat(),
    }


async def list_dead_letters(request: web.Request) -> web.Response:
    """Admins only: the bodies hold contacts' results and alert reasons."""
    await require(request, roles=("admin",))
    reject_unknown(request, ("limit", "cursor"))
    page = parse_page(request)
    async with request.app[DB].connect() as conn:
        found = await webhooks_out.dead_letters(conn, after_id=page.after_id, limit=page.limit + 1)
    return web.json_response(page_body([dead_letter_json(d) for d in found], [d.id for d in found], page))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/webhooks/dead-letters", list_dead_letters)
