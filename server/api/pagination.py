"""Cursor pagination: ``?limit=N&cursor=C`` in, ``{"items": [...], "next_cursor": C | null}`` out.

The cursor is the last row's internal id, opaque to clients; a list ordered by id pages stably while rows
are added.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from server.api.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page:
    after_id: int
    limit: int


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        prefix, _, number = text.partition(":")
        if prefix != "id" or not number.isdigit() or len(number) > 18:
            raise ValueError(cursor)
        return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "bad_cursor", "cursor is not one this server gave out") from exc


def parse_page(request: web.Request) -> Page:
    raw_limit = request.query.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise ApiError(
            422,
            "invalid",
            f"limit must be a whole number from 1 to {MAX_LIMIT}",
            [{"field": "limit", "message": "out of range"}],
        )
    cursor = request.query.get("cursor")
    return Page(decode_cursor(cursor) if cursor else 0, int(raw_limit))


def page_body(items: Sequence[Any], last_ids: Sequence[int], page: Page) -> dict[str, Any]:
    """``items`` fetched with ``limit + 1`` rows; ``last_ids`` the matching internal ids."""
    more = len(items) > page.limit
    shown = list(items[: page.limit])
    next_cursor = encode_cursor(last_ids[page.limit - 1]) if more else None
    return {"items": shown, "next_cursor": next_cursor}
