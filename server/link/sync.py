"""One sync: ingest what the gateway brought, then lease it what to send, waiting for work when there is
none yet.

Everything a request carries commits in one transaction with the first lease, so an acknowledgement is never
sent for something not stored. The replies it brings are answered in that transaction too (the runner's
turns, each in a savepoint: a turn that fails leaves its reply to the runner's loop, never the batch
unacknowledged), so their answers can leave in the same response. A lost response is harmless because every
part is idempotent (a replayed batch is acknowledged again and changes nothing, and unclaimed leases run
out). The long poll holds no transaction while it waits: it sleeps on the outbox wake-up, and looks again
every few seconds anyway, because some work appears without one (a lease running out, a zone's delivery
window opening, a message queued by another process).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.clock import Clock
from server.link import health, inbound, leasing, statuses
from server.link.protocol import Inbound, StatusReport, SyncRequest
from server.link.sql import in_transaction
from server.link.window import DeliveryWindow, open_zones
from server.wakeup import Wakeup

LEASE = dt.timedelta(seconds=300)
RECHECK_S = 5.0
SWEEP_EVERY = dt.timedelta(seconds=1)


Answer = Callable[[AsyncConnection, Sequence[int], contextlib.AsyncExitStack], Awaitable[Callable[[], None]]]
Admit = Callable[[AsyncConnection], Awaitable[None]]


class Sweeps:
    """When this process last swept ran-out leases and expired messages. Sweeping in every sync cost two of
    the statements of a sync that carries one reply; once a second, by the server's clock, is as good: leasing
    never takes an expired message, and a lease that ran out is back in the queue a second later at most."""

    def __init__(self, every: dt.timedelta = SWEEP_EVERY) -> None:
        self.every = every
        self._last: dt.datetime | None = None

    def due(self, now: dt.datetime) -> bool:
        """Whether to sweep now; True marks it done (a sweep rolled back is made up a second later)."""
        if self._last is not None and self._last <= now < self._last + self.every:
            return False
        self._last = now
        return True


@dataclass(frozen=True)
class LinkContext:
    """What a sync needs from the server around it."""

    engine: AsyncEngine
    clock: Clock
    outbox: Wakeup
    inbox: Wakeup
    region: str
    window: DeliveryWindow
    programme_tz: str
    lease: dt.timedelta = LEASE
    recheck_s: float = RECHECK_S
    # Answers received messages in the transaction that stores them (the runner's turns), holding this
    # process's locks in the stack it is given; returns what to do after the commit. Without it, the inbox
    # wake-up hands them to the runner's own loop.
    answer: Answer | None = None
    sweeps: Sweeps | None = None  # None: sweep in every sync
    # Runs first in the first round's transaction and raises when the gateway may no longer sync (its token
    # was revoked): what the request brought is then not stored.
    admit: Admit | None = None


@dataclass
class SyncResult:
    acked_inbound: list[str] = field(default_factory=list)
    acked_statuses: list[StatusReport] = field(default_factory=list)
    rejected_inbound: list[tuple[Inbound, str]] = field(default_factory=list)
    rejected_statuses: list[tuple[StatusReport, str]] = field(default_factory=list)
    outbound: list[leasing.Leased] = field(default_factory=list)
    lease_s: int = 0
    server_time: dt.datetime | None = None


async def _lease_round(
    conn: AsyncConnection, ctx: LinkContext, gateway: str, request: SyncRequest, now: dt.datetime
) -> list[leasing.Leased]:
    if ctx.sweeps is None or ctx.sweeps.due(now):
        await leasing.release_expired_leases(conn, now)
        await leasing.fail_expired(conn, now)
    if request.want == 0:
        return []
    others = await health.healthy_gateways(conn, now) - {gateway}
    return await leasing.lease(
        conn,
        gateway,
        want=request.want,
        want_parts=request.want_parts,
        now=now,
        until=now + ctx.lease,
        zones=open_zones(now, ctx.window, ctx.programme_tz),
        programme_tz=ctx.programme_tz,
        others=others,
    )


class _Gone(Exception):
    """The gateway hung up while its messages were being leased (it had new inbound to send, and gave up
    the wait): the lease is rolled back, so the messages go out in its next round instead of waiting for
    the lease to run out."""


async def _lease_unless_gone(
    conn: AsyncConnection, ctx: LinkContext, gateway: str, request: SyncRequest, gone: Callable[[], bool]
) -> list[leasing.Leased]:
    leased = await _lease_round(conn, ctx, gateway, request, ctx.clock.now())
    if leased and gone():
        raise _Gone
    return leased


async def _first_round(
    ctx: LinkContext, gateway: str, request: SyncRequest, result: SyncResult, gone: Callable[[], bool]
) -> list[leasing.Leased]:
    """Store what the request brought, answer the replies, apply the statuses and lease: one transaction, so
    the answers to this request's replies can leave in its own response."""
    after_commit: list[Callable[[], None]] = []
    # The contacts' locks the answers take are held until the transaction has ended, whichever way.
    held = contextlib.AsyncExitStack()

    async def work(conn: AsyncConnection) -> list[leasing.Leased]:
        after_commit.clear()  # a transaction tried again starts over
        if ctx.admit is not None:
            await ctx.admit(conn)
        now = ctx.clock.now()
        await health.record_gateway(conn, gateway, now)
        await health.record_channels(conn, gateway, request.channels, now)
        stored = await inbound.ingest(
            conn, gateway, request.inbound, now=now, region=ctx.region, actor=f"token:{gateway}"
        )
        if stored.stored:
            after_commit.append(
                await ctx.answer(conn, stored.stored, held) if ctx.answer is not None else ctx.inbox.notify
            )
        reports = await statuses.apply(conn, gateway, request.statuses, now=now, lease_until=now + ctx.lease)
        outbound = await _lease_round(conn, ctx, gateway, request, now)
        if outbound and gone():
            # Nobody will read the answer: undo it all (the inbound and statuses come again, acknowledged
            # then) rather than leave the messages leased to a response that is never read.
            raise _Gone
        # Written only once the transaction is sure to be the one that commits (a retried one starts over).
        result.acked_inbound, result.rejected_inbound = stored.acked, stored.rejected
        result.acked_statuses, result.rejected_statuses = reports.acked, reports.rejected
        return outbound

    async with held:
        outbound = await in_transaction(ctx.engine, work)
    for done in after_commit:
        done()
    return outbound


async def _stop(task: asyncio.Task[bool]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def sync(
    ctx: LinkContext, gateway: str, request: SyncRequest, *, gone: Callable[[], bool] = lambda: False
) -> SyncResult:
    """``gone`` says the gateway hung up; a long poll then stops before leasing anything it cannot deliver."""
    result = SyncResult(lease_s=int(ctx.lease.total_seconds()))
    deadline = time.monotonic() + request.wait_s
    # Listening starts before each look at the outbox, so a message queued in between still wakes us.
    waiter = asyncio.create_task(ctx.outbox.wait(min(request.wait_s, ctx.recheck_s)))
    await asyncio.sleep(0)
    try:
        try:
            outbound = await _first_round(ctx, gateway, request, result, gone)
        except _Gone:
            return result
        while not outbound and request.want > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await waiter
            if gone() or time.monotonic() >= deadline:
                break
            waiter = asyncio.create_task(ctx.outbox.wait(min(deadline - time.monotonic(), ctx.recheck_s)))
            await asyncio.sleep(0)
            try:
                outbound = await in_transaction(
                    ctx.engine, lambda conn: _lease_unless_gone(conn, ctx, gateway, request, gone)
                )
            except _Gone:
                break
    finally:
        await _stop(waiter)
    result.outbound = outbound
    result.server_time = ctx.clock.now()
    return result
