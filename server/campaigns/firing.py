"""Firing campaign events that are due: the campaign part of the runner's tick.

A batch is one transaction: it reads up to ``BATCH`` due rows (one statement per campaign, with what deciding
needs: her status, language, timezone, membership, whether a conversation waits for her, her date values),
decides each, and writes the outcome together with the row moved on to her next event: the messages
(one multi-row insert), their ``queued`` events, the log of outcomes, and the rows. A crash before the commit
leaves every row as it was, to be taken again; after it, nothing is due twice.

Most fires are plain message events and go in the batch. A fire that needs her conversation goes through the
runner, one contact at a time in her own turn (her lock and one transaction), after the batch: flow events,
a message that interrupts a waiting conversation, and a text with expressions to render for her. The turn
reads her row again and acts only if it is still the one the batch saw.

Start modes (RapidPro's, reference §8.1): *interrupt* ends a waiting conversation and sends or starts;
*skip* does nothing for a contact with a waiting conversation; *passive* sends a message regardless. A
passive flow event would have to run beside the waiting conversation, and a contact has one conversation
at a time, so it is treated as *skip*.

Decisions on the way (each recorded in ``campaign_log`` except the reschedules):

- due longer ago than ``campaign_catch_up_hours`` (the server was down): *skipped*, and so is every later
  event that is as late;
- her status is not active: *inactive* (the opt-out normally deletes the row; this covers other paths);
- the text cannot be sent as SMS (empty, more than 10 parts): *unsendable*; the flow is not loaded: *no_flow*;
- she left the group or lost her date value without the row being recomputed: the row is deleted; her date
  changed so that the row's time is no longer her event's time: the row is recomputed from now.

Quiet hours are the gateway link's business: campaign messages are queued with bulk priority, and the link
leases bulk messages only inside the delivery window of the contact's timezone. A message due at night is
queued at once and goes out when her window opens.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flows.campaign_time import fire_time
from flows.model import CampaignEvent
from server import audit, messages
from server.campaigns import texts
from server.campaigns.plans import Bound, Value, bind
from server.campaigns.schedule import timezone_of, values_of, with_values
from server.campaigns.writes import ACTOR, Writes, write
from server.db.schema import campaign_fires, campaign_log, contacts, group_members, sessions
from server.runner import effects, inbound
from server.runner.effects import Turn
from server.runner.sessions import read_session

if TYPE_CHECKING:
    from server.runner.runner import Runner

log = logging.getLogger(__name__)

BATCH = 2000  # due rows decided and written per transaction
BUDGET_S = 20.0  # a tick stops starting new batches after this long, so the rest of the tick gets its turn
_JUST_BEFORE = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Due:
    """One due row and what deciding it needs, as the batch read it."""

    bound: Bound
    contact_id: int
    event_uuid: str
    due_at: dt.datetime
    status: str
    language: str | None
    timezone: str  # resolved: hers, else the programme's
    member: bool
    busy: bool  # a conversation waits for her
    values: tuple[Value, ...]


@dataclass
class _Batch:
    """What one batch decided, written in one go at the end."""

    now: dt.datetime
    late_before: dt.datetime  # due earlier than this: skipped
    writes: Writes = field(default_factory=Writes)
    in_turn: list[Due] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    again: bool = False  # a row moved to an event that is due already (catching up): take another batch
    # Answers shared by the batch's many contacts with the same date, timezone, event and language.
    _next: dict[tuple[Any, ...], tuple[CampaignEvent, dt.datetime] | None] = field(default_factory=dict)
    _times: dict[tuple[Any, ...], dt.datetime | None] = field(default_factory=dict)
    _texts: dict[tuple[str, str | None], messages.Text | str | None] = field(default_factory=dict)

    # --- the schedule --------------------------------------------------------------------------------------

    def next_after(
        self, due: Due, after: dt.datetime, fired: str | None
    ) -> tuple[CampaignEvent, dt.datetime] | None:
        key = (due.bound.id, due.values, due.timezone, after, fired)
        if key not in self._next:
            self._next[key] = due.bound.plan.next_fire(due.values, due.timezone, after, fired=fired)
        return self._next[key]

    def time_of(self, due: Due, event: CampaignEvent) -> dt.datetime | None:
        """The event's time for her values as they are now (None: she has no usable value)."""
        value = due.values[due.bound.plan.fields.index(event.relative_to)]
        key = (event.uuid, value, due.timezone)
        if key not in self._times:
            try:
                self._times[key] = (
                    None
                    if value is None
                    else fire_time(value, event.offset, event.unit, event.delivery_hour, due.timezone)
                )
            except ValueError:
                self._times[key] = None
        return self._times[key]

    def record(self, due: Due, event_uuid: str, due_at: dt.datetime, outcome: str) -> None:
        self.outcomes[outcome] += 1
        self.writes.log.append((due.contact_id, due.bound.uuid, event_uuid, outcome, due_at))

    def move_on(self, due: Due) -> None:
        """Consume the fire: her row goes to the next event (the late ones on the way recorded as skipped),
        or away when there is none."""
        upcoming = self.next_after(due, due.due_at, due.event_uuid)
        while upcoming is not None and upcoming[1] < self.late_before:
            event, at = upcoming
            self.record(due, event.uuid, at, "skipped")
            upcoming = self.next_after(due, at, event.uuid)
        self.put(due, upcoming)

    def put(self, due: Due, upcoming: tuple[CampaignEvent, dt.datetime] | None) -> None:
        if upcoming is None:
            self.writes.drops.append((due.contact_id, due.bound.id))
        else:
            self.again = self.again or upcoming[1] <= self.now
            self.writes.moves.append((due.contact_id, due.bound.id, upcoming[0].uuid, upcoming[1]))

    # --- deciding a fire -----------------------------------------------------------------------------------

    def decide(self, due: Due) -> None:
        event = due.bound.plan.events.get(due.event_uuid)
        if not due.member or all(value is None for value in due.values):
            self.writes.drops.append((due.contact_id, due.bound.id))  # she left or lost her date
            return
        if event is None:  # the campaign lost this event and her row was not recomputed
            self.put(due, self.next_after(due, due.due_at - _JUST_BEFORE, None))
            return
        if self.time_of(due, event) != due.due_at:  # her date changed and her row was not recomputed
            self.put(due, self.next_after(due, self.now, None))
            return
        outcome = self._outcome(due, event)
        if outcome is None:
            self.in_turn.append(due)
            return
        self.record(due, event.uuid, due.due_at, outcome)
        self.move_on(due)

    def _outcome(self, due: Due, event: CampaignEvent) -> str | None:
        """What the batch does with a valid fire; None when it needs her turn."""
        if due.due_at < self.late_before:
            return "skipped"
        if due.status != "active":
            return "inactive"
        if event.flow is not None:
            return None
        if due.busy and event.start_mode == "skip":
            return "busy"
        if due.busy and event.start_mode == "interrupt":
            return None
        text = self._text(event, due.language)
        if text is None:
            return None
        if isinstance(text, str):
            return text
        self.writes.messages.append((due.contact_id, text))
        return "fired"

    def _text(self, event: CampaignEvent, language: str | None) -> messages.Text | str | None:
        """The checked text to queue; "unsendable"; or None when it has expressions to render in her turn."""
        key = (event.uuid, language)
        if key not in self._texts:
            plain = texts.plain_text(texts.choose_text(event, language))
            checked = None if plain is None else texts.checked(plain)
            self._texts[key] = None if plain is None else (checked if checked is not None else "unsendable")
        return self._texts[key]

    # --- writing -------------------------------------------------------------------------------------------

    async def write(self, conn: AsyncConnection) -> None:
        if self.writes:
            await write(conn, self.writes, self.now)
        if self.outcomes:
            detail = dict(sorted(self.outcomes.items()))
            await audit.record(conn, at=self.now, actor=ACTOR, action="campaign.fire", detail=detail)


def _due_select(conn: AsyncConnection, bound: Bound, now: dt.datetime, limit: int) -> sa.Select[Any]:
    member: sa.ColumnElement[bool] = (
        sa.false()
        if bound.group_id is None
        else sa.exists().where(
            group_members.c.group_id == bound.group_id,
            group_members.c.contact_id == campaign_fires.c.contact_id,
        )
    )
    busy = sa.exists().where(sessions.c.contact_id == campaign_fires.c.contact_id)
    stmt = (
        sa.select(
            campaign_fires.c.contact_id,
            campaign_fires.c.event_uuid,
            campaign_fires.c.due_at,
            contacts.c.status,
            contacts.c.language,
            contacts.c.timezone,
            member,
            busy,
        )
        .select_from(campaign_fires)
        .join(contacts, contacts.c.id == campaign_fires.c.contact_id)
        .where(campaign_fires.c.campaign_id == bound.id, campaign_fires.c.due_at <= now)
        .order_by(campaign_fires.c.due_at)
        .limit(limit)
    )
    stmt = with_values(stmt, bound, campaign_fires.c.contact_id)
    if conn.dialect.name == "postgresql":
        # Another server process firing at the same time takes other rows instead of waiting for these.
        stmt = stmt.with_for_update(of=campaign_fires, skip_locked=True)
    return stmt


class CampaignFirer:
    """Fires due campaign events for the runner (which owns it and calls :meth:`fire_due` from its tick)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    @property
    def catch_up(self) -> dt.timedelta:
        return dt.timedelta(hours=self.runner.config.campaign_catch_up_hours)

    async def fire_due(self, limit: int = BATCH) -> int:
        """Fire batches until nothing is due or the tick's budget is spent; how many fires were consumed."""
        started = time.monotonic()
        total = 0
        while True:
            consumed, more = await self.fire_batch(limit)
            total += consumed
            if not more or not consumed or time.monotonic() - started > BUDGET_S:
                return total

    async def fire_batch(self, limit: int = BATCH) -> tuple[int, bool]:
        """One batch: (fires consumed, whether more may be due: the batch was full, or moved rows to events
        already due)."""
        runner = self.runner
        now = runner.clock.now()
        batch = _Batch(now=now, late_before=now - self.catch_up)
        read = 0
        async with runner.db.begin() as conn:
            snapshot = await runner.snapshots.get(conn)
            for bound in await bind(conn, snapshot.campaigns):
                if read >= limit:
                    break
                rows = (await conn.execute(_due_select(conn, bound, now, limit - read))).all()
                read += len(rows)
                for row in rows:
                    batch.decide(self._due(bound, row))
            await batch.write(conn)
        if batch.writes.messages and runner.outbox_wake is not None:
            runner.outbox_wake.notify()
        consumed = read - len(batch.in_turn)
        for due in batch.in_turn:
            try:
                consumed += await self.fire_in_turn(due)
            except Exception:
                log.exception(
                    "campaign event %s for contact %s failed; it is tried again",
                    due.event_uuid,
                    due.contact_id,
                )
        return consumed, read >= limit or batch.again

    def _due(self, bound: Bound, row: Sequence[Any]) -> Due:
        return Due(
            bound=bound,
            contact_id=row[0],
            event_uuid=row[1],
            due_at=row[2],
            status=row[3],
            language=row[4],
            timezone=timezone_of(row[5], self.runner.config.programme_timezone),
            member=bool(row[6]),
            busy=bool(row[7]),
            values=values_of(bound, row[8:]),
        )

    # --- one contact, in her turn ----------------------------------------------------------------------------

    async def fire_in_turn(self, due: Due) -> bool:
        """Fire one event that needs her conversation; True when this call consumed it."""
        consumed: list[bool] = []

        async def work(turn: Turn) -> None:
            row = await _lock_row(turn.conn, due)
            if row != (due.event_uuid, due.due_at):
                return  # fired, moved or recomputed since the batch read it
            batch = _Batch(now=turn.now, late_before=turn.now - self.catch_up)
            event = due.bound.plan.events[due.event_uuid]
            batch.move_on(due)
            await batch.write(turn.conn)
            outcome = await _act(turn, due, event)
            await turn.conn.execute(
                campaign_log.insert().values(
                    contact_id=due.contact_id,
                    campaign_uuid=due.bound.uuid,
                    event_uuid=due.event_uuid,
                    outcome=outcome,
                    due_at=due.due_at,
                    at=turn.now,
                )
            )
            consumed.append(True)

        await self.runner.in_turn(due.contact_id, "bulk", work)
        return bool(consumed)


async def _lock_row(conn: AsyncConnection, due: Due) -> tuple[str, dt.datetime] | None:
    stmt = sa.select(campaign_fires.c.event_uuid, campaign_fires.c.due_at).where(
        campaign_fires.c.contact_id == due.contact_id, campaign_fires.c.campaign_id == due.bound.id
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    return None if row is None else (row[0], row[1])


async def _act(turn: Turn, due: Due, event: CampaignEvent) -> str:
    """Send the message or start the flow as the event's start mode says; the outcome to record."""
    if turn.record.status != "active":
        return "inactive"
    waiting = await read_session(turn.conn, turn.record.id) is not None
    if waiting and event.start_mode != "interrupt" and (event.flow is not None or event.start_mode == "skip"):
        return "busy"
    if event.flow is not None:
        flow = turn.snapshot.flow(event.flow)
        if flow is None:
            log.warning(
                "campaign %r starts flow %r, which is not loaded",
                due.bound.plan.campaign.name,
                event.flow.name,
            )
            return "no_flow"
        campaign = due.bound.plan.campaign
        trigger: dict[str, object] = {
            "type": "campaign",
            "campaign": {"uuid": campaign.uuid, "name": campaign.name},
            "event": event.uuid,
        }
        await inbound.start_flow(turn, flow, None, trigger)  # ends the conversation she was in, if any
        return "fired"
    if waiting and event.start_mode == "interrupt":
        await inbound.interrupt_session(turn)
    template = texts.choose_text(event, turn.contact.language)
    plain = texts.plain_text(template)
    text = (
        plain if plain is not None else texts.render(template, turn.contact, turn.snapshot.assets, turn.env)
    )
    return "fired" if await effects.queue_reply(turn, text) else "unsendable"
