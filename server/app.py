"""The aiohttp application factory: one ``create_app(config)``; each area adds its routes with ``setup(app)``."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator

import sqlalchemy as sa
from aiohttp import web

from server import dispatch, metrics
from server.api import openapi
from server.api.errors import error_middleware, error_response
from server.appkeys import CHECKED_TOKENS, CLOCK, CONFIG, DB, INBOX_WAKE, KEYRING, LINK_SWEEPS, OUTBOX_WAKE
from server.auth.keys import load_keyring
from server.auth.tokens import CheckedTokens
from server.clock import DEMO_CLOCK_FILE, Clock, OffsetClock, SystemClock
from server.config import Config, ConfigError
from server.db import migrate
from server.db.engine import create_engine
from server.link.sync import Sweeps
from server.runner import service as runner_service
from server.wakeup import Wakeup

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[DB].connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # the point of this endpoint is to say so instead of failing
        log.warning("health check: database unreachable: %s", type(exc).__name__)
        return error_response(503, "database_unavailable", "database is not reachable")
    return web.json_response({"status": "ok"})


async def jwks(request: web.Request) -> web.Response:
    return web.json_response(request.app[KEYRING].jwks())


def _database_ctx(config: Config) -> object:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(config.effective_database_url)
        try:
            await migrate.upgrade(engine)
            app[DB] = engine
            yield
        finally:
            await engine.dispose()

    return ctx


def _server_clock(config: Config) -> Clock:
    if not config.demo_clock:
        return SystemClock()
    try:
        return OffsetClock(config.data_dir / DEMO_CLOCK_FILE)
    except ValueError as exc:
        raise ConfigError(f"demo_clock: {exc}") from exc


def settle_heap() -> None:
    """Leave what the server has built so far (modules, classes, the app) out of the garbage collector's
    full passes. Those walk every object the process holds and stop everything while they do: with the
    libraries loaded, a pass took 60-80 ms on a small box, in the middle of answering replies. What is made
    afterwards is collected as usual. Called once, just before the server starts serving."""
    gc.collect()
    gc.freeze()


def create_app(config: Config, *, clock: Clock | None = None) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=config.max_body_bytes)
    app[CONFIG] = config
    app[CLOCK] = clock or _server_clock(config)
    app[KEYRING] = load_keyring(config.keys_dir)
    app[CHECKED_TOKENS] = CheckedTokens()
    app[LINK_SWEEPS] = Sweeps()
    app[OUTBOX_WAKE] = Wakeup()
    app[INBOX_WAKE] = Wakeup()
    app.cleanup_ctx.append(_database_ctx(config))  # type: ignore[arg-type]
    dispatch.setup(app)  # texts staff about alerts and delivers event webhooks, after the runner's commits
    runner_service.setup(app)  # after the database, which it uses

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/.well-known/jwks.json", jwks)
    app.router.add_get("/api/v1/openapi.json", openapi.serve_spec)
    metrics.setup(app)

    from server.api import setup_routes

    setup_routes(app)
    return app
