"""Firing campaign events that are due: the campaign part of the runner's tick.

A batch is one transaction: it reads up to ``BATCH`` due rows (one statement per campaign, with what deciding
needs: her status, language, timezone, membership, whether a conversation waits for her, her date values),
decides each, and writes the outcome together with the row moved on to her next event: the messages
(one multi-row insert), their ``queued`` events, the log of outcomes, and the rows. A crash before the commit
leaves every row as it was, to be taken again; after it, nothing is due twice.

Message events go in the batch, a text with expressions too (``@contact.first_name``: the batch reads those
contacts in three statements and renders the text for each). A fire that needs her conversation goes through
the runner, one contact at a time in her own turn (her lock and one transaction), after the batch: flow
events, and a message that interrupts a waiting conversation. The turn reads her row again and acts only if
it is still the one the batch saw. (Rendering in her turn instead cost a transaction, and its fsync, per
message: about 120 personalised messages a second.)

How a batch stays cheap (DESIGN: 20,000 fires a second; ``bench/bench_campaigns.py``):

- *One decision per kind of row.* The contacts due at one moment share a few hundred dates, so the batch's
  rows are grouped by everything but the contact id (event, due time, status, language, timezone,
  membership, busy, values, as the driver returns them) and each group is decided once: its values converted,
  its event checked, its text chosen, its next event found. What is written is then expanded for the group's
  contacts, so each contact costs a dictionary look-up and her rows' tuples, not the deciding.
- *Plans remember.* Finding the next event is pure, so each campaign's plan keeps its answers (bounded) from
  batch to batch (``Plan.next_fire_memo``, ``Plan.event_time``).
- *Driver-level writes.* On SQLite the rows go to the driver's ``executemany`` as plain tuples
  (``server.campaigns.writes``). Sending each group's contacts as one JSON array (``json_each``) was measured
  and was no faster: the B-tree work, not the binding, is what a row costs.

``BATCH`` stays at 2,000: a batch holds SQLite's write lock while it writes (tens of milliseconds), and the
replies of contacts who answer meanwhile wait for it; larger batches would share the commit's fsync among more
fires but make those replies wait longer.

Kept on purpose, though each costs a few microseconds a fire: the ``campaign_log`` line for every fire
(a sent message included: the log alone answers "what did she get from this campaign, and when was it due",
which a trial's analysis asks; dropping the sent messages' lines saved about 4 of 30 µs of CPU a fire), and the
``queued`` event of each message (webhook receivers are told of every message's statuses from it).

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

import dataclasses
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flows.model import CampaignEvent
from server import audit, messages
from server.campaigns import texts
from server.campaigns.plans import Bound, Next, Value, as_stored, bind
from server.campaigns.schedule import timezone_of, values_of, with_values
from server.campaigns.writes import ACTOR, Contacts, Writes, write
from server.db.schema import (
    campaign_fires,
    campaign_log,
    contact_fields,
    contacts,
    group_members,
    sessions,
)
from server.runner import effects, inbound
from server.runner.contact_state import load_contacts
from server.runner.effects import Turn
from server.runner.sessions import read_session
from server.runner.snapshot import Snapshot

if TYPE_CHECKING:
    from server.runner.runner import Runner

log = logging.getLogger(__name__)

BATCH = 2000  # due rows decided and written per transaction
BUDGET_S = 20.0  # a tick stops starting new batches after this long, so the rest of the tick gets its turn
_JUST_BEFORE = dt.timedelta(microseconds=1)
_RENDER = "render"  # not an outcome: the batch renders the text for each contact, then records hers


@dataclass(frozen=True)
class Due:
    """One due row and what deciding it needs, as the batch read it. A batch decides once for all the rows
    that share everything but the contact: this is the first of them."""

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
    """What one batch decided, written in one go at the end. Each decision is for a list of contacts (``ids``)
    who share it."""

    now: dt.datetime
    late_before: dt.datetime  # due earlier than this: skipped
    writes: Writes = field(default_factory=Writes)
    in_turn: list[Due] = field(default_factory=list)
    to_render: list[tuple[Due, Contacts, CampaignEvent]] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    again: bool = False  # a row moved to an event that is due already (catching up): take another batch
    _texts: dict[tuple[str, str | None], messages.Text | str | None] = field(default_factory=dict)

    # --- the schedule --------------------------------------------------------------------------------------

    def next_after(self, due: Due, after: dt.datetime, fired: str | None) -> Next:
        return due.bound.plan.next_fire_memo(due.values, due.timezone, after, fired)

    def time_of(self, due: Due, event: CampaignEvent) -> dt.datetime | None:
        """The event's time for her values as they are now (None: she has no usable value)."""
        plan = due.bound.plan
        return plan.event_time(event, due.values[plan.fields.index(event.relative_to)], due.timezone)

    def record(self, due: Due, ids: Contacts, event_uuid: str, due_at: dt.datetime, outcome: str) -> None:
        self.outcomes[outcome] += len(ids)
        self.writes.log.append((ids, due.bound.uuid, event_uuid, outcome, due_at))

    def move_on(self, due: Due, ids: Contacts) -> None:
        """Consume the fire: the rows go to the next event (the late ones on the way recorded as skipped),
        or away when there is none."""
        upcoming = self.next_after(due, due.due_at, due.event_uuid)
        while upcoming is not None and upcoming[1] < self.late_before:
            event, at = upcoming
            self.record(due, ids, event.uuid, at, "skipped")
            upcoming = self.next_after(due, at, event.uuid)
        self.put(due, ids, upcoming)

    def put(self, due: Due, ids: Contacts, upcoming: Next) -> None:
        if upcoming is None:
            self.writes.drops.append((ids, due.bound.id))
        else:
            self.again = self.again or upcoming[1] <= self.now
            self.writes.moves.append((ids, due.bound.id, upcoming[0].uuid, upcoming[1]))

    # --- deciding a fire -----------------------------------------------------------------------------------

    def decide(self, due: Due, ids: Contacts) -> None:
        event = due.bound.plan.events.get(due.event_uuid)
        if not due.member or all(value is None for value in due.values):
            self.writes.drops.append((ids, due.bound.id))  # she left or lost her date
            return
        if event is None:  # the campaign lost this event and her row was not recomputed
            self.put(due, ids, self.next_after(due, due.due_at - _JUST_BEFORE, None))
            return
        if self.time_of(due, event) != due.due_at:  # her date changed and her row was not recomputed
            self.put(due, ids, self.next_after(due, self.now, None))
            return
        outcome = self._outcome(due, ids, event)
        if outcome is None:
            self.in_turn.extend(dataclasses.replace(due, contact_id=contact_id) for contact_id in ids)
            return
        if outcome == _RENDER:
            self.to_render.append((due, ids, event))
            return
        self.record(due, ids, event.uuid, due.due_at, outcome)
        self.move_on(due, ids)

    def _outcome(self, due: Due, ids: Contacts, event: CampaignEvent) -> str | None:
        """What the batch does with a valid fire (the message queued when it sends one); ``_RENDER`` when its
        text is rendered for each contact; None when it needs her turn."""
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
            return _RENDER
        if isinstance(text, str):
            return text
        self.writes.messages.append((ids, text))
        return "fired"

    def _text(self, event: CampaignEvent, language: str | None) -> messages.Text | str | None:
        """The checked text to queue; "unsendable"; or None when it has expressions to render in her turn."""
        key = (event.uuid, language)
        if key not in self._texts:
            plain = texts.plain_text(texts.choose_text(event, language))
            checked = None if plain is None else texts.checked(plain)
            self._texts[key] = None if plain is None else (checked if checked is not None else "unsendable")
        return self._texts[key]

    async def render(self, conn: AsyncConnection, runner: Runner, snapshot: Snapshot) -> None:
        """The texts with expressions, rendered for each of their contacts as her turn would (``@contact``,
        ``@fields``, ``@urns``): queued, or recorded as unsendable when hers is too long."""
        if not self.to_render:
            return
        wanted = [contact_id for _, ids, _ in self.to_render for contact_id in ids]
        loaded = await load_contacts(conn, wanted, snapshot.declared_groups)
        env = runner.environment(snapshot, self.now)
        for due, ids, event in self.to_render:
            template = texts.choose_text(event, due.language)
            fired: list[int] = []
            unsendable: list[int] = []
            for contact_id in ids:
                found = loaded.get(contact_id)
                if found is None:  # deleted meanwhile (another server process): her row went with her
                    continue
                try:
                    text = texts.sendable(texts.render(template, found[1], snapshot.assets, env))
                except Exception:  # one contact's data must not hold up the batch: her turn tries alone
                    log.exception("campaign text for contact %s failed to render in the batch", contact_id)
                    self.in_turn.append(dataclasses.replace(due, contact_id=contact_id))
                    continue
                if text is None:
                    unsendable.append(contact_id)
                else:
                    fired.append(contact_id)
                    self.writes.messages.append(((contact_id,), text))
            for outcome, contact_ids in (("fired", fired), ("unsendable", unsendable)):
                if contact_ids:
                    self.record(due, contact_ids, event.uuid, due.due_at, outcome)
                    self.move_on(due, contact_ids)

    # --- writing -------------------------------------------------------------------------------------------

    async def write(self, conn: AsyncConnection) -> None:
        if self.writes:
            await write(conn, self.writes, self.now)
        if self.outcomes:
            detail = dict(sorted(self.outcomes.items()))
            await audit.record(conn, at=self.now, actor=ACTOR, action="campaign.fire", detail=detail)


def _due_select(conn: AsyncConnection, bound: Bound, now: dt.datetime, limit: int) -> sa.Select[Any]:
    """The due rows: contact id first, then what deciding needs, each as the driver returns it."""
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
            as_stored(campaign_fires.c.due_at),
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
    stmt = with_values(stmt, bound, campaign_fires.c.contact_id, raw=True)
    if conn.dialect.name == "postgresql":
        # Another server process firing at the same time takes other rows instead of waiting for these.
        stmt = stmt.with_for_update(of=campaign_fires, skip_locked=True)
    return stmt


def _by_decision(rows: Iterable[tuple[Any, ...]]) -> dict[tuple[Any, ...], list[int]]:
    """The rows' contact ids, by the rest of the row: the contacts due at one moment share a few hundred
    dates, so a batch of thousands holds a few hundred distinct decisions."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        rest = row[1:]
        ids = groups.get(rest)
        if ids is None:
            groups[rest] = [row[0]]
        else:
            ids.append(row[0])
    return groups


class _Reader:
    """Turns the due select's raw columns into values with the columns' own result processors: what an
    ordinary select returns, converted once per distinct decision instead of once per row."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.moment = _result_processor(campaign_fires.c.due_at, dialect)
        self.date = _result_processor(contact_fields.c.date_value, dialect)
        self.datetime = _result_processor(contact_fields.c.datetime_value, dialect)

    def values(self, bound: Bound, cells: Sequence[Any]) -> tuple[Value, ...]:
        return values_of(
            bound,
            [
                self.date(cell) if number % 2 == 0 else self.datetime(cell)
                for number, cell in enumerate(cells)
            ],
        )


def _result_processor(column: sa.Column[Any], dialect: sa.Dialect) -> Callable[[Any], Any]:
    process = column.type.dialect_impl(dialect).result_processor(dialect, None)
    return (lambda value: value) if process is None else process


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
            reader = _Reader(conn.dialect)
            snapshot = await runner.snapshots.get(conn)
            for bound in await bind(conn, snapshot.campaigns):
                if read >= limit:
                    break
                rows = (await conn.execute(_due_select(conn, bound, now, limit - read))).all()
                read += len(rows)
                for rest, ids in _by_decision(rows).items():
                    batch.decide(self._due(bound, ids[0], rest, reader), ids)
            await batch.render(conn, runner, snapshot)
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

    def _due(self, bound: Bound, contact_id: int, rest: Sequence[Any], reader: _Reader) -> Due:
        return Due(
            bound=bound,
            contact_id=contact_id,
            event_uuid=rest[0],
            due_at=reader.moment(rest[1]),
            status=rest[2],
            language=rest[3],
            timezone=timezone_of(rest[4], self.runner.config.programme_timezone),
            member=bool(rest[5]),
            busy=bool(rest[6]),
            values=reader.values(bound, rest[7:]),
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
            batch.move_on(due, (due.contact_id,))
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
