"""``GET /metrics`` in the Prometheus text format.

Each app has its own registry (not prometheus-client's global one), so several apps can run in one process.
HTTP traffic is counted as it happens; message and contact counts are read from the database at scrape time,
so they are right after a restart and whatever process wrote the rows.

Labels never carry what a client chose freely: the route is the pattern that matched (``/api/v1/messages/{uuid}``,
or ``unmatched``) and an unusual method is ``other``, so nobody can make the series grow without bound. No
label or value holds a phone number, a name or a message text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import sqlalchemy as sa
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from server.api.errors import Handler
from server.appkeys import DB
from server.db.schema import CONTACT_STATUSES, MESSAGE_STATUSES, contacts, messages

log = logging.getLogger(__name__)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The statuses a message of each direction can have: these series exist, at zero, from the first scrape.
DIRECTION_STATUSES = {"out": tuple(s for s in MESSAGE_STATUSES if s != "received"), "in": ("received",)}


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    messages: Gauge
    contacts: Gauge
    database_up: Gauge


METRICS = web.AppKey("metrics", Metrics)


def _new_metrics() -> Metrics:
    registry = CollectorRegistry(auto_describe=True)
    return Metrics(
        registry=registry,
        requests=Counter(
            "recado_http_requests",
            "HTTP requests answered, by method, route pattern and status code.",
            ["method", "route", "status"],
            registry=registry,
        ),
        latency=Histogram(
            "recado_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route pattern.",
            ["method", "route"],
            registry=registry,
        ),
        messages=Gauge(
            "recado_messages",
            "Messages in the database, by status and direction.",
            ["status", "direction"],
            registry=registry,
        ),
        contacts=Gauge(
            "recado_contacts", "Contacts in the database, by status.", ["status"], registry=registry
        ),
        database_up=Gauge(
            "recado_database_up",
            "1 when the last scrape could read the database, else 0 (and no message or contact counts).",
            registry=registry,
        ),
    )


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away before the answer (nginx's code for it)
        raise
    finally:
        metrics = request.app[METRICS]
        method = request.method if request.method in METHODS else "other"
        route = _route(request)
        metrics.requests.labels(method, route, str(status)).inc()
        metrics.latency.labels(method, route).observe(time.perf_counter() - started)


async def _read_counts(request: web.Request, metrics: Metrics) -> None:
    async with request.app[DB].connect() as conn:
        message_rows = (
            await conn.execute(
                sa.select(messages.c.status, messages.c.direction, sa.func.count()).group_by(
                    messages.c.status, messages.c.direction
                )
            )
        ).all()
        contact_rows = (
            await conn.execute(sa.select(contacts.c.status, sa.func.count()).group_by(contacts.c.status))
        ).all()
    metrics.messages.clear()
    for direction, statuses in DIRECTION_STATUSES.items():
        for status in statuses:
            metrics.messages.labels(status, direction).set(0)
    for status, direction, count in message_rows:
        metrics.messages.labels(status, direction).set(count)
    metrics.contacts.clear()
    for status in CONTACT_STATUSES:
        metrics.contacts.labels(status).set(0)
    for status, count in contact_rows:
        metrics.contacts.labels(status).set(count)


async def serve_metrics(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    try:
        await _read_counts(request, metrics)
        metrics.database_up.set(1)
    except Exception as exc:  # the HTTP counters are still worth a scrape when the database is down
        log.warning("metrics: database unreachable: %s", type(exc).__name__)
        metrics.messages.clear()
        metrics.contacts.clear()
        metrics.database_up.set(0)
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encoder(metrics.registry), headers={"Content-Type": content_type})


def setup(app: web.Application) -> None:
    """Add ``/metrics`` and the request-counting middleware. The middleware goes outermost, so it sees the
    status the error middleware answered with, and the time that took too."""
    app[METRICS] = _new_metrics()
    app.middlewares.insert(0, middleware)
    app.router.add_get("/metrics", serve_metrics)
