"""The runner's entry points: handle an inbound message, fire what is due, make pending webhook calls.

Fires and webhook answers work contact by contact: take the contact's lock, open one transaction, claim the
cause (consume the fire, settle the webhook request) so that a second attempt finds nothing to do, run the
engine, apply its events, commit; then wake the gateways when messages were queued and make the webhook calls
the step recorded. Anything that fails rolls the whole turn back and leaves its cause to be taken again.
Received messages are handled the same way in batches of many contacts' turns (``inbound_batch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from typing import Any, TypeVar

import aiohttp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flows import engine
from flows.env import Environment
from server import webhooks_out
from server.clock import Clock
from server.config import Config
from server.db.schema import fires, webhook_requests
from server.runner.contact_state import load_contact
from server.runner.effects import Turn, apply_step
from server.runner.inbound import new_id
from server.runner.inbound_batch import answer_in_transaction, handle_messages, handle_pending
from server.runner.locks import ContactLocks, lock_contact_in_transaction
from server.runner.sessions import consume_fire, read_session
from server.runner.snapshot import Snapshot, SnapshotCache
from server.runner.webhooks import call_webhook
from server.wakeup import Wakeup

log = logging.getLogger(__name__)

T = TypeVar("T")
BATCH = 500  # inbound messages, fires or webhook calls taken per tick
STALE_WEBHOOK = dt.timedelta(minutes=5)  # a call claimed this long ago by a process that died is made again
_random = secrets.SystemRandom()


class Runner:
    def __init__(
        self,
        db: AsyncEngine,
        config: Config,
        clock: Clock,
        *,
        outbox_wake: Wakeup | None = None,
        inbox_wake: Wakeup | None = None,
        webhooks_in_background: bool = True,
    ) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.outbox_wake = outbox_wake
        self.inbox_wake = inbox_wake
        self.webhooks_in_background = webhooks_in_background
        self.locks = ContactLocks()
        self.snapshots = SnapshotCache(config.default_language)
        self.records_events = webhooks_out.receivers_configured(config)
        self._client: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        # Imported here: the campaigns' firing uses the runner's modules, and may be imported first.
        from server.campaigns.firing import CampaignFirer

        self.campaigns = CampaignFirer(self)

    # --- turns ----------------------------------------------------------------------------------------------

    async def _turn(
        self, contact_id: int, work: Callable[[AsyncConnection], Awaitable[Turn | None]]
    ) -> Turn | None:
        """Run ``work`` for one contact under her lock in one transaction, then the post-commit effects."""
        async with self.locks.hold(contact_id), self.db.begin() as conn:
            await lock_contact_in_transaction(conn, contact_id)
            turn = await work(conn)
        if turn is not None:
            self.after_commit(turn.queued, turn.webhooks)
        return turn

    async def _open_turn(
        self, conn: AsyncConnection, contact_id: int, now: dt.datetime, priority: str
    ) -> Turn | None:
        snapshot = await self.snapshots.get(conn)
        loaded = await load_contact(conn, contact_id, snapshot.declared_groups)
        if loaded is None:
            return None
        record, contact = loaded
        env = self.environment(snapshot, now)
        return Turn(conn, now, record, contact, snapshot, env, priority, self.records_events)

    async def in_turn(
        self, contact_id: int, priority: str, work: Callable[[Turn], Awaitable[None]]
    ) -> Turn | None:
        """Run ``work`` in the contact's turn (her lock, one transaction, then the post-commit effects): how
        other schedulers (campaigns) act on a contact. None, and ``work`` not run, when she is gone."""

        async def run(conn: AsyncConnection) -> Turn | None:
            turn = await self._open_turn(conn, contact_id, self.clock.now(), priority)
            if turn is not None:
                await work(turn)
            return turn

        return await self._turn(contact_id, run)

    def environment(self, snapshot: Snapshot, now: dt.datetime) -> Environment:
        return Environment(
            now=now,
            timezone=self.config.programme_timezone,
            default_country=self.config.default_region,
            default_language=snapshot.languages[0],
            allowed_languages=snapshot.languages,
            rand=_random.random,
        )

    def after_commit(self, queued: int, webhooks: int) -> None:
        """What follows a commit that queued messages (wake the gateways) or recorded webhook calls (make them)."""
        if queued and self.outbox_wake is not None:
            self.outbox_wake.notify()
        if webhooks and self.webhooks_in_background:
            self.spawn(self.perform_webhooks())

    def look_again_when_free(self, busy: Collection[int]) -> None:
        """Their messages were left because these contacts were in another turn here: wake the inbox loop as
        soon as those turns end, rather than at the next tick."""
        if busy and self.inbox_wake is not None and not self._closing:
            self.spawn(self._wake_inbox_when_free(sorted(busy)))

    async def _wake_inbox_when_free(self, busy: list[int]) -> None:
        for contact_id in busy:
            async with self.locks.hold(contact_id):
                pass
        self.wake_inbox()

    def spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- inbound ---------------------------------------------------------------------------------------------

    async def handle_inbound(self, message_id: int) -> str | None:
        """Handle one received message; what it was handled as, or None when it was not this call's to handle
        (already handled, not inbound, gone)."""
        return (await handle_messages(self, [message_id])).handled.get(message_id)

    async def answer_inbound(
        self, conn: AsyncConnection, message_ids: Sequence[int], held: contextlib.AsyncExitStack
    ) -> Callable[[], None]:
        """Handle just-received messages in the transaction that stored them (see ``answer_in_transaction``);
        returns what to do once it has committed."""
        return await answer_in_transaction(self, conn, held, message_ids)

    def wake_inbox(self) -> None:
        if self.inbox_wake is not None:
            self.inbox_wake.notify()

    async def handle_pending_inbound(self, limit: int = BATCH) -> int:
        """Handle received messages nobody has handled yet, oldest first, as one batch (what the inbox wake-up
        and, after a crash, the tick do). Returns how many this call handled."""
        try:
            return len((await handle_pending(self, limit)).handled)
        except Exception:
            log.exception("the oldest unhandled inbound message could not be handled; it will be tried again")
            return 0

    # --- fires -----------------------------------------------------------------------------------------------

    async def fire_due(self, limit: int = BATCH) -> int:
        """Fire the wait timeouts and session expiries that are due. Returns how many fired."""
        now = self.clock.now()
        async with self.db.connect() as conn:
            due = (
                await conn.execute(
                    sa.select(fires.c.contact_id, fires.c.kind, fires.c.session_uuid)
                    .where(fires.c.due_at <= now)
                    .order_by(fires.c.due_at)
                    .limit(limit)
                )
            ).all()
        fired = 0
        for contact_id, kind, session_uuid in due:
            try:
                fired += await self.fire(contact_id, kind, session_uuid)
            except Exception:
                log.exception("a %s fire for contact %s failed; it will be tried again", kind, contact_id)
        return fired

    async def fire(self, contact_id: int, kind: str, session_uuid: str) -> bool:
        """Consume one fire and resume its session with a timeout or an expiry; True when it resumed one."""
        fired: list[bool] = []

        async def work(conn: AsyncConnection) -> Turn | None:
            now = self.clock.now()
            if not await consume_fire(conn, contact_id, kind, session_uuid, now=now):
                return None
            stored = await read_session(conn, contact_id)
            if stored is None or stored.uuid != session_uuid:
                return None  # left from a session that has ended: consumed, nothing to do
            fired.append(True)
            turn = await self._open_turn(conn, contact_id, now, "bulk")
            if turn is None:
                return None
            event = engine.TimedOut() if kind == "T" else engine.Expired()
            step = engine.resume(
                stored.data, turn.contact, event, env=turn.env, assets=turn.snapshot.assets, ids=new_id
            )
            await apply_step(turn, step)
            return turn

        await self._turn(contact_id, work)
        return bool(fired)

    # --- webhooks --------------------------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession()
        return self._client

    async def perform_webhooks(self, limit: int = BATCH) -> int:
        """Make the pending calls (and those a dead process claimed long ago), each resuming its session."""
        now = self.clock.now()
        async with self.db.connect() as conn:
            ids = list(
                (
                    await conn.execute(
                        sa.select(webhook_requests.c.id)
                        .where(_claimable(now))
                        .order_by(webhook_requests.c.id)
                        .limit(limit)
                    )
                ).scalars()
            )
        done = 0
        for request_id in ids:
            try:
                done += await self.perform_webhook(request_id)
            except Exception:
                log.exception("webhook request %s failed; it will be tried again", request_id)
        return done

    async def perform_webhook(self, request_id: int) -> bool:
        request = await self._claim_webhook(request_id)
        if request is None:
            return False
        response = await call_webhook(
            self._http(),
            request.method,
            request.url,
            request.headers,
            request.body,
            timeout_s=self.config.webhook_timeout_seconds,
        )

        async def work(conn: AsyncConnection) -> Turn | None:
            now = self.clock.now()
            settled = await conn.execute(
                webhook_requests.update()
                .where(webhook_requests.c.id == request_id, webhook_requests.c.status == "running")
                .values(status="done", response_status=response.status, done_at=now)
            )
            if not settled.rowcount:
                return None
            stored = await read_session(conn, request.contact_id)
            if stored is None or stored.uuid != request.session_uuid or stored.wait_kind != "webhook":
                return None
            turn = await self._open_turn(conn, request.contact_id, now, request.priority)
            if turn is None:
                return None
            step = engine.resume(
                stored.data, turn.contact, response, env=turn.env, assets=turn.snapshot.assets, ids=new_id
            )
            await apply_step(turn, step)
            return turn

        await self._turn(request.contact_id, work)
        return True

    async def _claim_webhook(self, request_id: int) -> Any:
        now = self.clock.now()
        async with self.db.begin() as conn:
            claimed = await conn.execute(
                webhook_requests.update()
                .where(webhook_requests.c.id == request_id, _claimable(now))
                .values(status="running", attempted_at=now)
                .returning(
                    webhook_requests.c.contact_id,
                    webhook_requests.c.session_uuid,
                    webhook_requests.c.method,
                    webhook_requests.c.url,
                    webhook_requests.c.headers,
                    webhook_requests.c.body,
                    webhook_requests.c.priority,
                )
            )
            return claimed.first()

    # --- the tick and shutting down -------------------------------------------------------------------------

    async def tick(self) -> None:
        """What the scheduler runs every few seconds: fires due (waits, expiries, campaign events), inbound left
        unhandled, webhook calls left over.
        ``close`` waits for a tick in progress, so shutting down never cuts one off mid-way, and a tick the
        scheduler started as the server was closing does nothing (the loop would cancel it mid-way)."""
        if self._closing:
            return
        current = asyncio.current_task()
        if current is not None:
            self._tasks.add(current)
        try:
            for step in (
                self.fire_due,
                self.campaigns.fire_due,
                self.handle_pending_inbound,
                self.perform_webhooks,
            ):
                try:
                    await step()
                except Exception:
                    log.exception("runner tick: %s failed", step.__name__)
        finally:
            if current is not None:
                self._tasks.discard(current)

    async def idle(self) -> None:
        """Wait for the work started in the background (webhook calls) to finish."""
        current = asyncio.current_task()
        while pending := [task for task in self._tasks if task is not current]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        self._closing = True
        await self.idle()
        if self._client is not None:
            await self._client.close()


def _claimable(now: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        webhook_requests.c.status == "pending",
        sa.and_(
            webhook_requests.c.status == "running", webhook_requests.c.attempted_at < now - STALE_WEBHOOK
        ),
    )
