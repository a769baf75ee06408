"""Applying an engine step inside the turn's transaction: the database half of DESIGN decision 1.

Messages are queued as they come; the contact's changes (name, language, status, timezone, fields) are
gathered and written once through the contacts repository, and so are group changes; results, alerts and
webhook calls are recorded; the session is stored with its fires, or dropped when it ended. What must wait
for the commit (waking the gateways, making the webhook calls) is counted on the turn for the caller.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncTransaction

from flows.contact import Contact
from flows.engine import Step
from flows.env import Environment
from flows.events import (
    AlertRaised,
    ContactFieldChanged,
    ContactGroupsChanged,
    ContactLanguageChanged,
    ContactNameChanged,
    ContactStatusChanged,
    ContactTimezoneChanged,
    ErrorEvent,
    Event,
    FailureEvent,
    MsgCreated,
    RunResultChanged,
    SessionWaiting,
    WebhookCalled,
)
from flows.model import GroupRef
from server import contacts as repository
from server import messages
from server.campaigns import schedule as campaign_schedule
from server.contact_values import InvalidValue, TypedValue, check_status, parse_value
from server.db.schema import groups
from server.db.schema import messages as messages_table
from server.runner.batch import Prefetch, Writes
from server.runner.contact_state import ContactRecord
from server.runner.records import record_alert, record_result, record_webhook_request
from server.runner.sessions import StoredSession, drop_session, read_session, save_session
from server.runner.snapshot import Snapshot

log = logging.getLogger(__name__)

ACTOR = "runner"


@dataclass
class Turn:
    """One contact's turn: the transaction, who she is, and what the steps so far asked for."""

    conn: AsyncConnection
    now: dt.datetime
    record: ContactRecord
    contact: Contact  # the engine's view, as the last step left it
    snapshot: Snapshot
    env: Environment
    priority: str  # of the messages queued: "reply" when answering her, "bulk" otherwise
    events: bool  # whether webhook events are recorded (server.webhooks_out.receivers_configured)
    queued: int = 0
    webhooks: int = 0
    attributes: dict[str, str | None] = field(default_factory=dict)
    values: dict[str, object] = field(default_factory=dict)  # field key → typed value, None clears
    joined: dict[str, None] = field(default_factory=dict)  # group names, in order
    left: dict[str, None] = field(default_factory=dict)
    status: str = ""  # her status as the events so far leave it: a message after "stopped" is not sent
    # In a batch of inbound turns: the rows this turn leaves for the batch to write (kept only if the turn
    # succeeds), what the batch read for all its contacts, and the turn's savepoint once it wrote directly.
    writes: Writes | None = None
    prefetch: Prefetch | None = None
    savepoint: AsyncTransaction | None = None
    message_id: int | None = None  # the received message the batch's turn handles

    def __post_init__(self) -> None:
        self.status = self.status or self.record.status

    async def writer(self) -> AsyncConnection:
        """The connection for writes that cannot wait for the batch's end. In a batch they go inside the
        turn's own savepoint (opened on the first), so that a failing turn undoes only itself."""
        if self.writes is not None and self.savepoint is None:
            self.savepoint = await self.conn.begin_nested()
            if self.message_id is not None:
                # Marked handled at the turn's time now rather than with the batch: what the turn writes may
                # look for "the message handled at the turn's time" (an alert's message, an anonymous answer).
                await self.conn.execute(
                    messages_table.update()
                    .where(messages_table.c.id == self.message_id, messages_table.c.handled_at.is_(None))
                    .values(handled_at=self.now)
                )
        return self.conn

    async def read_session(self) -> StoredSession | None:
        if self.writes is not None and self.record.id in self.writes.sessions:
            return self.writes.session(self.record.id)
        if self.prefetch is not None and self.record.id in self.prefetch.sessions:
            return self.prefetch.sessions[self.record.id]
        return await read_session(self.conn, self.record.id)

    async def save_session(self, data: Mapping[str, Any], waiting: SessionWaiting) -> None:
        if self.writes is not None:
            self.writes.sessions[self.record.id] = (data, waiting)
        else:
            await save_session(self.conn, self.record.id, data, waiting, now=self.now)

    async def drop_session(self) -> None:
        if self.writes is not None:
            self.writes.sessions[self.record.id] = None
        else:
            await drop_session(self.conn, self.record.id)


Handler = Callable[[Turn, Any], Awaitable[None]]


async def apply_step(turn: Turn, step: Step, *, session_uuid: str | None = None) -> None:
    """Apply every event of ``step``, then store or drop the session it leaves."""
    current_session = str(step.session["uuid"]) if step.session is not None else session_uuid
    for event in step.events:
        if isinstance(event, WebhookCalled):
            await _webhook(turn, event, current_session)
            continue
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            await handler(turn, event)
    turn.contact = step.contact
    await _write_contact_changes(turn)
    waiting = next((e for e in reversed(step.events) if isinstance(e, SessionWaiting)), None)
    if step.session is not None and waiting is not None:
        await turn.save_session(step.session, waiting)
    elif step.session is None:
        await turn.drop_session()


async def queue_reply(turn: Turn, raw: str, *, force: bool = False) -> bool:
    """Queue ``raw`` for the contact at the turn's priority; ``force`` sends it even if she is not active
    (the confirmation of an opt-out). False when the text cannot be sent as SMS."""
    try:
        text = messages.check_text(raw)
    except messages.Invalid as exc:
        log.warning("a message for contact %s was not queued: %s", turn.record.uuid, exc)
        return False
    if not force and turn.status != messages.SENDABLE_CONTACT_STATUS:
        return False
    # Not audited one by one: each message's ``queued`` event already names the runner.
    rows = messages.outgoing_rows([turn.record.id], text, priority=turn.priority, now=turn.now)
    if turn.writes is not None:
        turn.writes.messages.extend(rows)
    else:
        await messages.insert_outgoing(turn.conn, rows, actor=ACTOR)
    turn.queued += 1
    return True


# --- events -----------------------------------------------------------------------------------------------


async def _msg(turn: Turn, event: MsgCreated) -> None:
    await queue_reply(turn, event.text)


async def _field(turn: Turn, event: ContactFieldChanged) -> None:
    turn.values[event.key] = event.value


async def _name(turn: Turn, event: ContactNameChanged) -> None:
    turn.attributes["name"] = event.name or None


async def _language(turn: Turn, event: ContactLanguageChanged) -> None:
    turn.attributes["language"] = event.language or None


async def _status(turn: Turn, event: ContactStatusChanged) -> None:
    try:
        turn.attributes["status"] = check_status(event.status)
    except InvalidValue:
        log.warning("a flow set an unknown status %r; ignored", event.status[:20])
        return
    turn.status = event.status


async def _timezone(turn: Turn, event: ContactTimezoneChanged) -> None:
    turn.attributes["timezone"] = event.timezone or None


async def _groups(turn: Turn, event: ContactGroupsChanged) -> None:
    for group in event.added:
        name = _group_name(turn, group)
        turn.left.pop(name, None)
        turn.joined[name] = None
    for group in event.removed:
        name = _group_name(turn, group)
        turn.joined.pop(name, None)
        turn.left[name] = None


def _group_name(turn: Turn, group: GroupRef) -> str:
    """The server's name for a group a flow names by uuid (the programme's declaration wins over the flow's
    copy of the name, which may be stale)."""
    return turn.snapshot.group_names.get(group.uuid, group.name)


async def _result(turn: Turn, event: RunResultChanged) -> None:
    if (
        turn.writes is not None
        and turn.prefetch is not None
        and not await turn.prefetch.is_anonymous(event.flow_uuid)
    ):
        turn.writes.result(turn.record.id, turn.record.uuid, event, turn.now)
        return
    await record_result(await turn.writer(), turn.record.id, event, now=turn.now, events=turn.events)


async def _alert(turn: Turn, event: AlertRaised) -> None:
    await record_alert(await turn.writer(), turn.record.id, event, now=turn.now, events=turn.events)


async def _webhook(turn: Turn, event: WebhookCalled, session_uuid: str | None) -> None:
    if session_uuid is None:
        log.warning("a webhook call without a session to answer was dropped (flow %s)", event.flow_uuid)
        return
    await record_webhook_request(
        await turn.writer(), turn.record.id, session_uuid, event, priority=turn.priority, now=turn.now
    )
    turn.webhooks += 1


async def _problem(turn: Turn, event: ErrorEvent | FailureEvent) -> None:
    level = logging.WARNING if isinstance(event, FailureEvent) else logging.INFO
    log.log(level, "flow %s node %s: %s", event.flow_uuid, event.node_uuid, event.text)


_HANDLERS: Mapping[type[Event], Handler] = {
    MsgCreated: _msg,
    ContactFieldChanged: _field,
    ContactNameChanged: _name,
    ContactLanguageChanged: _language,
    ContactStatusChanged: _status,
    ContactTimezoneChanged: _timezone,
    ContactGroupsChanged: _groups,
    RunResultChanged: _result,
    AlertRaised: _alert,
    ErrorEvent: _problem,
    FailureEvent: _problem,
}


# --- writing the contact ----------------------------------------------------------------------------------


async def _write_contact_changes(turn: Turn) -> None:
    if not (turn.attributes or turn.values or turn.joined or turn.left):
        return
    conn = await turn.writer()
    if turn.attributes or turn.values:
        changes = repository.ContactChanges(
            attributes=dict(turn.attributes), values=await _typed_values(turn, turn.values)
        )
        updated = await repository.update_contact(conn, turn.record.uuid, changes, now=turn.now, actor=ACTOR)
        turn.record = ContactRecord(turn.record.id, turn.record.uuid, updated.status)
    await _write_group_changes(turn)
    # Her campaign rows follow what was just written, in the same transaction.
    await campaign_schedule.contact_changed(
        turn.conn,
        turn.record.id,
        turn.snapshot.campaigns,
        now=turn.now,
        timezone=turn.env.timezone,
        fields=turn.values,
        groups=[*turn.joined, *turn.left],
        everything="status" in turn.attributes or "timezone" in turn.attributes,
    )
    turn.attributes, turn.values, turn.joined, turn.left = {}, {}, {}, {}


async def _typed_values(
    turn: Turn, values: Mapping[str, object]
) -> dict[repository.Field, TypedValue | None]:
    known = await repository.load_fields(turn.conn)
    typed: dict[repository.Field, TypedValue | None] = {}
    for key, value in values.items():
        definition = known.get(key)
        if definition is None:
            log.warning("a flow set the field %r, which the server does not have; ignored", key)
            continue
        try:
            typed[definition] = (
                None if value is None else stored_value(definition.value_type, value, turn.env)
            )
        except InvalidValue as exc:
            log.warning("the value a flow gave the field %r cannot be stored (%s); ignored", key, exc.reason)
    return typed


def stored_value(value_type: str, value: object, env: Environment) -> TypedValue:
    """An engine value (text, ``Decimal``, ``date``, aware ``datetime``) as the contact tables keep it."""
    if isinstance(value, dt.datetime):
        return TypedValue(value.astimezone(env.tz).isoformat(), datetime=value.astimezone(dt.UTC))
    if isinstance(value, dt.date):
        return TypedValue(value.isoformat(), date=value)
    if isinstance(value, Decimal):
        return parse_value("number", value, env.tz)
    return parse_value(value_type, str(value), env.tz)


async def _write_group_changes(turn: Turn) -> None:
    if turn.joined:
        await repository.ensure_groups(turn.conn, turn.joined, now=turn.now)
        for group_uuid in await _group_uuids(turn.conn, turn.joined):
            await repository.add_members(turn.conn, group_uuid, [turn.record.uuid], now=turn.now)
    if turn.left:
        for group_uuid in await _group_uuids(turn.conn, turn.left):
            await repository.remove_members(turn.conn, group_uuid, [turn.record.uuid])


async def _group_uuids(conn: AsyncConnection, names: Mapping[str, None]) -> list[Any]:
    rows = await conn.execute(sa.select(groups.c.uuid).where(groups.c.name.in_(list(names))))
    return list(rows.scalars())
