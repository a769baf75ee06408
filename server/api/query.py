"""Reading query parameters the same way in every area: each at most once, unknown ones refused by name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from aiohttp import web

from server.api.errors import unprocessable
from server.appkeys import CONFIG
from server.contact_values import InvalidValue, parse_datetime

TEXT_PARAMETER_MAX = 128


def reject_unknown(request: web.Request, allowed: Iterable[str]) -> None:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise unprocessable(
            f"unknown query parameter(s): {', '.join(unknown)}",
            [{"field": name, "message": "unknown query parameter"} for name in unknown],
        )


def one(request: web.Request, name: str, *, max_length: int | None = None) -> str | None:
    """The parameter's value (None when absent); 422 when it is given twice or is empty or too long."""
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise unprocessable(f"give {name} once", [{"field": name, "message": "given more than once"}])
    if values and max_length is not None and not 1 <= len(values[0]) <= max_length:
        raise unprocessable(
            f"{name} must have 1 to {max_length} characters",
            [{"field": name, "message": f"must have 1 to {max_length} characters"}],
        )
    return values[0] if values else None


def text(request: web.Request, name: str) -> str | None:
    """A short text parameter (a name, a key, a status)."""
    return one(request, name, max_length=TEXT_PARAMETER_MAX)


def moment(request: web.Request, name: str, *, max_length: int | None = None) -> dt.datetime | None:
    """A date or datetime parameter, read in the programme timezone unless it says otherwise."""
    value = one(request, name, max_length=max_length)
    if value is None:
        return None
    try:
        return parse_datetime(value, request.app[CONFIG].tz)
    except InvalidValue as exc:
        raise unprocessable(f"{name} {exc.reason}", [{"field": name, "message": exc.reason}]) from None
