"""The dispatcher: what follows a commit and needs the server's settings, run every second in the background.

- texting the clinic's staff about alerts the runner has recorded (:func:`server.alerts.text_staff`);
- turning events into deliveries for the webhook receivers, and making the deliveries that are due
  (:mod:`server.webhooks_out`).

It runs in the process that runs the runner (``runner_enabled``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from server import alerts, webhooks_out
from server.appkeys import CLOCK, CONFIG, DB, OUTBOX_WAKE
from server.clock import Clock
from server.config import Config
from server.wakeup import Wakeup

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 1.0


class Dispatcher:
    def __init__(
        self, db: AsyncEngine, config: Config, clock: Clock, *, outbox_wake: Wakeup | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.outbox_wake = outbox_wake
        self.staff = alerts.parse_staff(config.alert_staff, region=config.default_region)
        self.endpoints = webhooks_out.parse_endpoints(config.event_webhook_urls, config.event_webhook_secret)
        self.policy = webhooks_out.Policy(
            attempts=config.event_webhook_attempts,
            backoff=dt.timedelta(seconds=config.event_webhook_backoff_seconds),
            timeout_s=config.webhook_timeout_seconds,
        )
        self._client: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Place the message-event cursor; before the first run."""
        await webhooks_out.reset_message_cursor(self.db, self.endpoints)

    def _http(self) -> aiohttp.ClientSession:
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession()
        return self._client

    async def run_once(self) -> None:
        """One round of every step; a step that fails is logged and the others still run."""
        steps = (self._text_staff, self._collect, self._fan_out, self._deliver)
        for step in steps:
            try:
                await step()
            except Exception:
                log.exception("dispatcher: %s failed; the next round tries again", step.__name__)

    async def _text_staff(self) -> None:
        queued = await alerts.text_staff(self.db, self.staff, now=self.clock.now())
        if queued and self.outbox_wake is not None:
            self.outbox_wake.notify()

    async def _collect(self) -> None:
        await webhooks_out.collect_message_events(self.db, self.endpoints, now=self.clock.now())

    async def _fan_out(self) -> None:
        await webhooks_out.fan_out(self.db, self.endpoints, now=self.clock.now())

    async def _deliver(self) -> None:
        if self.endpoints.urls:
            await webhooks_out.deliver_due(
                self.db, self._http(), self.endpoints, self.policy, now=self.clock.now()
            )

    async def run_forever(self, interval_s: float = INTERVAL_SECONDS) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(interval_s)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


DISPATCHER = web.AppKey("dispatcher", Dispatcher)


def setup(app: web.Application) -> None:
    """Run the dispatcher with the app; add after the database's cleanup context, which it needs."""
    app.cleanup_ctx.append(_dispatcher_ctx)


async def _dispatcher_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    if not config.runner_enabled:
        yield
        return
    dispatcher = Dispatcher(app[DB], config, app[CLOCK], outbox_wake=app[OUTBOX_WAKE])
    await dispatcher.start()
    app[DISPATCHER] = dispatcher
    task = asyncio.create_task(dispatcher.run_forever())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await dispatcher.close()
