"""API area: the demo's clock. Read it, and move it forward so that a week of the programme happens in a second.

Only with the ``demo_clock`` setting (``recado demo`` turns it on); otherwise the routes answer 404 like any
route that does not exist. Moving needs an admin. Time does not jump over what was due on the way: the clock
stops at each wait timeout and campaign event in between and the runner ticks there, so a weekly message goes
out at nine in the morning of its day (inside the delivery window) rather than whenever the jump lands, and a
campaign event is not skipped as too late to catch up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from flows.simulator import parse_duration
from server import audit
from server.api.errors import ApiError, not_found, unprocessable
from server.api.openapi import read_json
from server.appkeys import CLOCK, CONFIG, DB, OUTBOX_WAKE
from server.auth.guard import require
from server.clock import MovableClock
from server.db.schema import campaign_fires, fires
from server.runner.service import RUNNER

log = logging.getLogger(__name__)

# A stop per due moment; past this many in one move the clock goes straight to the end (a huge site's schedule
# must not hold the request for minutes).
MAX_STOPS = 2000
MOVING = web.AppKey("demo_clock_moving", asyncio.Lock)


def _clock(request: web.Request) -> MovableClock:
    clock = request.app[CLOCK]
    if not request.app[CONFIG].demo_clock or not isinstance(clock, MovableClock):
        raise not_found("route")
    return clock


def _clock_json(clock: MovableClock, stops: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"now": clock.now().isoformat()}
    if stops is not None:
        body["stops"] = stops
    return body


async def read_clock(request: web.Request) -> web.Response:
    clock = _clock(request)
    await require(request, roles=("admin",))
    return web.json_response(_clock_json(clock))


def _target(body: dict[str, Any], now: dt.datetime) -> dt.datetime:
    if ("advance" in body) == ("to" in body):
        raise unprocessable(
            "give either advance or to", [{"field": "advance", "message": "give either advance or to"}]
        )
    if "advance" in body:
        try:
            return now + parse_duration(body["advance"])
        except ValueError as exc:
            raise unprocessable(str(exc), [{"field": "advance", "message": str(exc)}]) from None
    try:
        target = dt.datetime.fromisoformat(body["to"])
    except ValueError:
        target = None
    if target is None or target.tzinfo is None:
        message = "must be a time with its UTC offset, e.g. 2027-03-01T09:00:00-06:00"
        raise unprocessable(f"to {message}", [{"field": "to", "message": message}])
    if target < now:
        raise ApiError(409, "conflict", "the demo clock only moves forward", {"now": now.isoformat()})
    return target.astimezone(dt.UTC)


async def _next_due(request: web.Request, after: dt.datetime, until: dt.datetime) -> dt.datetime | None:
    async with request.app[DB].connect() as conn:
        moments = [
            (
                await conn.execute(sa.select(sa.func.min(column)).where(column > after, column <= until))
            ).scalar_one()
            for column in (fires.c.due_at, campaign_fires.c.due_at)
        ]
    found = [m for m in moments if m is not None]
    return min(found) if found else None


async def move_clock(request: web.Request) -> web.Response:
    clock = _clock(request)
    principal = await require(request, roles=("admin",))
    body = await read_json(request, "DemoClockMove")
    async with request.app[MOVING]:  # two moves at once would each stop at the other's stops
        before = clock.now()
        target = _target(body, before)
        # Audited and logged before anything is sent: a move cannot be undone, and everything due on the
        # way goes out for real.
        async with request.app[DB].begin() as conn:
            await audit.record(
                conn,
                at=before,
                actor=principal.name,
                action="demo.clock.move",
                detail={"from": before.isoformat(), "to": target.isoformat()},
            )
        log.warning("%s moves the demo clock from %s to %s", principal.name, before, target)
        stops = await _walk(request, clock, target)
    return web.json_response(_clock_json(clock, stops))


async def _walk(request: web.Request, clock: MovableClock, target: dt.datetime) -> int:
    """Move to ``target`` through every moment due on the way, ticking the runner at each; returns the stops."""
    runner = request.app.get(RUNNER)
    stops = 0
    while clock.now() < target:
        now = clock.now()
        due = await _next_due(request, now, target) if runner is not None and stops < MAX_STOPS else None
        clock.advance((due or target) - now)
        stops += 1
        if runner is not None:
            await runner.tick()
        # Moved time can open a delivery window or end a lease with nothing queued meanwhile: waiting
        # gateways look again now rather than at their next poll.
        request.app[OUTBOX_WAKE].notify()
    return stops


def setup(app: web.Application) -> None:
    app[MOVING] = asyncio.Lock()
    app.router.add_get("/api/v1/demo/clock", read_clock)
    app.router.add_post("/api/v1/demo/clock", move_clock)
