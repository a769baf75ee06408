"""The runner inside ``recado server``: the scheduler's tick and the task that answers the inbox wake-up.

APScheduler (3.x, AsyncIOScheduler) only ticks (DESIGN decision 5): every ``runner_tick_seconds`` the runner
fires what is due, handles inbound messages left unhandled (after a crash, or a wake-up missed between two
checks) and makes webhook calls left over. Inbound messages normally do not wait for the tick: the link
raises ``INBOX_WAKE`` after storing them and the watcher handles them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from server.appkeys import CLOCK, CONFIG, DB, INBOX_WAKE, OUTBOX_WAKE
from server.runner.runner import Runner
from server.wakeup import Wakeup

log = logging.getLogger(__name__)

RUNNER = web.AppKey("runner", Runner)


def setup(app: web.Application) -> None:
    """Run the runner with the app; add after the database's cleanup context, which it needs."""
    app.cleanup_ctx.append(_runner_ctx)


async def _runner_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    if not config.runner_enabled:
        yield
        return
    runner = Runner(app[DB], config, app[CLOCK], outbox_wake=app[OUTBOX_WAKE], inbox_wake=app[INBOX_WAKE])
    app[RUNNER] = runner
    scheduler = AsyncIOScheduler(timezone=dt.UTC)
    scheduler.add_job(
        runner.tick,
        "interval",
        seconds=config.runner_tick_seconds,
        id="runner-tick",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    watcher = asyncio.create_task(watch_inbox(runner, app[INBOX_WAKE], config.runner_tick_seconds))
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        # The runner first: it lets a tick in progress finish (the scheduler's shutdown would cancel it
        # mid-way) and makes any tick that starts meanwhile do nothing; then the scheduler stops.
        await runner.close()
        scheduler.shutdown(wait=False)


async def watch_inbox(runner: Runner, wake: Wakeup, timeout_s: float) -> None:
    """Handle inbound messages as soon as the link says some arrived; keep going until none is left."""
    while True:
        await wake.wait(timeout_s)
        try:
            while await runner.handle_pending_inbound():
                pass
        except Exception:
            log.exception("handling inbound messages failed; the next wake-up or tick tries again")
