"""Handling received messages in batches: one transaction, one commit and one wake-up for many turns.

The batch's transaction reads which messages are unhandled, then takes their contacts' locks: this process's
only when free (it never waits for one while holding the transaction, so a turn here that holds a contact and
waits for the database cannot deadlock with it; that contact's messages wait for the next batch), then
PostgreSQL's advisory locks, all in one statement in contact id order, so two processes' batches never hold one
contact each while waiting for the other's. On PostgreSQL the messages are read again under the locks, since
another process may have handled some meanwhile; SQLite's transaction keeps every other writer out from its
start. Each message's turn then runs in arrival order. A turn's writes wait in :class:`~server.runner.batch.Writes`,
except those that cannot (a contact change, the inbox, an alert), which go in the turn's own savepoint: when a
turn fails, its savepoint is rolled back, its gathered rows are dropped, and her later messages in the batch are
left for the next one, so her messages are still handled in order. When the batch itself cannot be written,
each of its messages is tried again in a transaction of its own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flows import engine
from server.db.schema import messages
from server.runner.batch import Prefetch, Writes
from server.runner.contact_state import load_contacts
from server.runner.effects import ACTOR, Turn
from server.runner.inbound import Inbound, route_inbound
from server.runner.locks import lock_contacts_in_transaction, try_lock_contacts_in_transaction

if TYPE_CHECKING:
    from server.runner.runner import Runner

log = logging.getLogger(__name__)


@dataclass
class BatchOutcome:
    """What a batch did: each handled message's outcome, and what its commit must set off."""

    handled: dict[int, str] = field(default_factory=dict)  # message id → handled as
    queued: int = 0
    webhooks: int = 0


async def handle_messages(runner: Runner, message_ids: Sequence[int]) -> BatchOutcome:
    """Handle these received messages (those still unhandled) in one batch."""
    return await _handle(runner, _unhandled_query(messages.c.id.in_(list(message_ids))))


async def answer_in_transaction(
    runner: Runner, conn: AsyncConnection, held: contextlib.AsyncExitStack, message_ids: Sequence[int]
) -> Callable[[], None]:
    """Handle, inside the caller's transaction (the sync that just stored them), these received messages
    together with every earlier unhandled one of their senders, so that each woman's messages are still
    handled in the order they came. Locks are only taken when free, here and on PostgreSQL: the caller's
    transaction has written already and must never wait for a turn elsewhere. ``held`` keeps this process's
    locks until the caller's transaction has ended. A failure rolls the batch back to its savepoint and leaves
    its messages to the runner's loop. Returns what to do once the caller has committed."""
    outcome, busy = BatchOutcome(), set[int]()
    try:
        async with conn.begin_nested():
            outcome, busy = await _take_batch(
                runner, conn, held, _OF_SENDERS, {"message_ids": list(message_ids)}, wait=False
            )
    except Exception:
        log.exception("answering %d received messages failed; the runner's loop will", len(message_ids))

    def committed() -> None:
        runner.after_commit(outcome.queued, outcome.webhooks)
        runner.look_again_when_free(busy)
        if any(message_id not in outcome.handled for message_id in message_ids):
            runner.wake_inbox()

    return committed


async def handle_pending(runner: Runner, limit: int) -> BatchOutcome:
    """Handle the oldest ``limit`` received messages nobody has handled yet, in one batch."""
    async with runner.db.connect() as conn:
        # A look first, outside any write transaction: the tick calls this every few seconds, mostly with
        # nothing left to do, and on SQLite even an empty write transaction holds up the syncs meanwhile.
        if (await conn.execute(_ANY_UNHANDLED)).first() is None:
            return BatchOutcome()
    return await _handle(runner, _unhandled_query(limit=limit))


async def _handle(runner: Runner, query: sa.Select[Any]) -> BatchOutcome:
    """One transaction for the batch; a batch that cannot commit is retried message by message, and a single
    message's failure is raised."""
    taken: list[int] = []
    try:
        async with contextlib.AsyncExitStack() as held, runner.db.begin() as conn:
            outcome, busy = await _take_batch(runner, conn, held, query, taken=taken)
    except Exception:
        if len(taken) <= 1:
            raise
        log.exception("a batch of %d inbound messages failed; each is tried on its own", len(taken))
        return await _one_by_one(runner, taken)
    runner.after_commit(outcome.queued, outcome.webhooks)
    runner.look_again_when_free(busy)
    return outcome


async def _take_batch(
    runner: Runner,
    conn: AsyncConnection,
    held: contextlib.AsyncExitStack,
    query: sa.Select[Any],
    params: Mapping[str, Any] | None = None,
    *,
    wait: bool = True,
    taken: list[int] | None = None,
) -> tuple[BatchOutcome, set[int]]:
    """Handle the unhandled messages ``query`` (an :func:`_unhandled_query`) finds, in ``conn``'s transaction;
    its outcome, and the contacts left because their locks were taken (``wait``: on PostgreSQL, wait for the
    database's locks of the others; otherwise take only those free). ``taken`` gets the ids of the messages
    looked at."""
    pending = list(await conn.execute(query, params))
    if taken is not None:
        taken.extend(m.id for m in pending)
    # This process's locks are only taken if free, never waited for while holding the transaction: a contact in
    # another turn here (a campaign's) has her messages left, and looked at again as soon as that turn ends.
    senders = {m.contact_id for m in pending}
    mine = await held.enter_async_context(runner.locks.hold_free(sorted(senders)))
    if wait:
        await lock_contacts_in_transaction(conn, mine)
    else:
        mine = await try_lock_contacts_in_transaction(conn, mine)
    busy = senders - mine
    if conn.dialect.name == "postgresql":
        # Another process may have handled some before its locks were released to us. (SQLite's transaction has
        # kept every other writer out since it began.)
        recheck = _unhandled_query(messages.c.id.in_([m.id for m in pending if m.contact_id in mine]))
        pending = list(await conn.execute(recheck))
    outcome = await _handle_locked(runner, conn, [m for m in pending if m.contact_id in mine])
    return outcome, busy


def _unhandled_query(*where: sa.ColumnElement[bool], limit: int | None = None) -> sa.Select[Any]:
    """The received messages nobody has handled yet, oldest first, among those ``where`` says."""
    return (
        sa.select(
            messages.c.id, messages.c.uuid, messages.c.text, messages.c.created_at, messages.c.contact_id
        )
        .where(messages.c.direction == "in", messages.c.handled_at.is_(None), *where)
        .order_by(messages.c.id)
        .limit(limit)
    )


_ANY_UNHANDLED = _unhandled_query(limit=1)
# Every sync that brings replies runs this: built once (see server.db.statements).
_OF_SENDERS = _unhandled_query(
    messages.c.contact_id.in_(
        sa.select(messages.c.contact_id)
        .where(messages.c.id.in_(sa.bindparam("message_ids", expanding=True)))
        .scalar_subquery()
    )
)


async def _one_by_one(runner: Runner, message_ids: Sequence[int]) -> BatchOutcome:
    total = BatchOutcome()
    for message_id in message_ids:
        try:
            outcome = await handle_messages(runner, [message_id])
        except Exception:
            log.exception("inbound message %s could not be handled; it will be tried again", message_id)
            continue
        total.handled.update(outcome.handled)
    return total


async def _handle_locked(runner: Runner, conn: AsyncConnection, pending: Sequence[Any]) -> BatchOutcome:
    """Every turn of the batch, in arrival order, under the locks of its contacts."""
    outcome = BatchOutcome()
    if not pending:
        return outcome
    now = runner.clock.now()
    snapshot = await runner.snapshots.get(conn)
    env = runner.environment(snapshot, now)
    contact_ids = sorted({row.contact_id for row in pending})
    contacts = await load_contacts(conn, contact_ids, snapshot.declared_groups)
    prefetch = await Prefetch.read(conn, contact_ids)
    writes = Writes(events=runner.records_events)
    failed: set[int] = set()  # her later messages wait for the next batch, to keep her order
    for message in pending:
        contact_id = message.contact_id
        if contact_id in failed:
            continue
        found = contacts.get(contact_id)
        if found is None:  # gone: the message is done with, there is nobody to answer
            writes.handled.append({"message_id": message.id, "outcome": "ignored"})
            outcome.handled[message.id] = "ignored"
            continue
        record, contact = found
        turn = Turn(conn, now, record, contact, snapshot, env, "reply", runner.records_events)
        turn.writes, turn.prefetch, turn.message_id = Writes(events=turn.events), prefetch, message.id
        handled_as = await _take_turn(runner, turn, message)
        if handled_as is None:
            failed.add(contact_id)
            continue
        if turn.savepoint is not None:  # she changed in the database: her next turn reads her again
            contacts.update(await load_contacts(conn, [contact_id], snapshot.declared_groups))
        turn.writes.handled.append({"message_id": message.id, "outcome": handled_as})
        for changed in turn.writes.sessions:
            prefetch.sessions[changed] = turn.writes.session(changed)
        writes.extend(turn.writes)
        outcome.handled[message.id] = handled_as
        outcome.queued += turn.queued
        outcome.webhooks += turn.webhooks
    await writes.flush(conn, actor=ACTOR, now=now)
    return outcome


async def _take_turn(runner: Runner, turn: Turn, message: Any) -> str | None:
    """Route the message in her turn; what it was handled as, or None when the turn failed (its savepoint is
    rolled back, and the rows it gathered are the caller's to drop)."""
    msg = engine.Msg(message.text, str(message.uuid), message.created_at)
    try:
        handled_as = await route_inbound(
            turn, Inbound(message.id, message.uuid, message.text, msg), runner.config
        )
        if turn.savepoint is not None:
            await turn.savepoint.commit()
    except Exception:
        if turn.savepoint is not None:
            await turn.savepoint.rollback()
        log.exception("inbound message %s could not be handled; it will be tried again", message.id)
        return None
    return handled_as
