"""What an inbound message does, decided in the order people expect:

1. a blocked contact's messages do nothing;
2. a message that is only an opt-out keyword stops the contact (audited, confirmed, her conversation ended);
3. a stopped contact starting her message with an opt-in keyword is active again (audited, confirmed); any
   other message of hers goes to the inbox and starts nothing;
4. a keyword trigger starts its flow, interrupting the conversation she was in;
5. else the conversation waiting for her reply takes it;
6. else a catch-all trigger starts its flow;
7. else her very first message starts the new-contact flow, when one is configured;
8. else it lands in the inbox for staff.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from flows import engine
from flows.events import Ignored
from flows.model import Flow, Trigger
from flows.session import SessionError
from server import contacts as repository
from server.campaigns.schedule import contact_changed
from server.config import Config
from server.db.schema import messages
from server.runner import effects
from server.runner.contact_state import ContactRecord
from server.runner.effects import Turn, apply_step
from server.runner.records import put_in_inbox
from server.runner.routing import catch_all_trigger, keyword_language, keyword_trigger, words_of
from server.runner.sessions import StoredSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inbound:
    id: int
    uuid: uuid.UUID
    text: str
    msg: engine.Msg


async def route_inbound(turn: Turn, message: Inbound, config: Config) -> str:
    """Handle one inbound message in the turn; returns what it was handled as (``INBOUND_OUTCOMES``)."""
    words = words_of(message.text)
    if turn.record.status == "blocked":
        return "ignored"
    default = turn.env.default_language
    if (said := keyword_language(words, config.opt_out_words, whole=True, prefer=default)) is not None:
        return await opt_out(turn, config, said)
    if turn.record.status == "stopped":
        if (said := keyword_language(words, config.opt_in_words, whole=False, prefer=default)) is not None:
            return await opt_in(turn, config, said)
        await put_in_inbox(await turn.writer(), message.id, turn.record.id, "stopped", now=turn.now)
        return "inbox"
    group_uuids = {group.uuid for group in turn.contact.groups}
    trigger = keyword_trigger(turn.snapshot.keyword_triggers, words, group_uuids)
    if trigger is not None and await _start_trigger(turn, trigger, message, words):
        return "trigger"
    stored = await turn.read_session()
    if stored is not None:
        outcome = await _resume(turn, message, stored)
        if outcome is not None:
            return outcome
    trigger = catch_all_trigger(turn.snapshot.catch_all_triggers, group_uuids)
    if trigger is not None and await _start_trigger(turn, trigger, message, words):
        return "catch_all"
    if await _is_first_message(turn, message):
        flow = turn.snapshot.flow_named(config.new_contact_flow)
        if flow is not None:
            await start_flow(turn, flow, message.msg, {"type": "new_contact"})
            return "new_contact"
    await put_in_inbox(await turn.writer(), message.id, turn.record.id, "unmatched", now=turn.now)
    return "inbox"


async def opt_out(turn: Turn, config: Config, said: str) -> str:
    """``said``: the language of the keyword she used."""
    if turn.record.status == "stopped":
        return "opt_out"  # said again: nothing changes and nothing is sent, so auto-replies cannot loop
    await interrupt_session(turn)
    await _set_status(turn, "stopped", "sms:opt-out")
    await effects.queue_reply(turn, _in_her_language(turn, config.opt_out_reply, said), force=True)
    return "opt_out"


async def opt_in(turn: Turn, config: Config, said: str) -> str:
    await _set_status(turn, "active", "sms:opt-in")
    await effects.queue_reply(turn, _in_her_language(turn, config.opt_in_reply, said))
    return "opt_in"


def _in_her_language(turn: Turn, replies: Mapping[str, str], said: str) -> str:
    """The reply in her language, else in the language of the keyword she used, else the programme's."""
    for language in (turn.contact.language, said, turn.env.default_language):
        if language is not None and language in replies:
            return replies[language]
    return next(iter(replies.values()))  # the configuration has at least one


async def _set_status(turn: Turn, status: str, actor: str) -> None:
    """Through the contacts repository, which audits the change (from, to, who)."""
    conn = await turn.writer()
    changes = repository.ContactChanges(attributes={"status": status})
    await repository.update_contact(conn, turn.record.uuid, changes, now=turn.now, actor=actor)
    campaigns = turn.snapshot.campaigns  # stopped: out of every campaign; active again: enrolled from now
    await contact_changed(
        conn, turn.record.id, campaigns, now=turn.now, timezone=turn.env.timezone, everything=True
    )
    turn.record = ContactRecord(turn.record.id, turn.record.uuid, status)
    turn.status = status
    turn.contact = turn.contact.replace(status=status)


async def interrupt_session(turn: Turn) -> None:
    stored = await turn.read_session()
    if stored is None:
        return
    try:
        step = engine.interrupt(stored.data, turn.contact, assets=turn.snapshot.assets)
    except SessionError as exc:
        log.error("the session of contact %s cannot be read and was dropped: %s", turn.record.uuid, exc)
        await turn.drop_session()
        return
    await apply_step(turn, step)


async def start_flow(turn: Turn, flow: Flow, msg: engine.Msg | None, trigger: dict[str, object]) -> None:
    await interrupt_session(turn)
    step = engine.start(
        flow, turn.contact, env=turn.env, assets=turn.snapshot.assets, ids=new_id, msg=msg, trigger=trigger
    )
    await apply_step(turn, step)


async def _start_trigger(turn: Turn, trigger: Trigger, message: Inbound, words: list[str]) -> bool:
    flow = turn.snapshot.flow(trigger.flow)
    if flow is None:
        log.warning("the trigger for %r starts a flow that is not loaded", trigger.flow.name)
        return False
    context: dict[str, object] = {"type": "msg", "keyword": words[0] if trigger.kind == "keyword" else ""}
    await start_flow(turn, flow, message.msg, context)
    return True


async def _resume(turn: Turn, message: Inbound, stored: StoredSession) -> str | None:
    """The waiting session takes the reply; None when the stored session cannot be read (it is dropped, and
    the message is routed as if she had none)."""
    try:
        step = engine.resume(
            stored.data, turn.contact, message.msg, env=turn.env, assets=turn.snapshot.assets, ids=new_id
        )
    except SessionError as exc:
        log.error("the session of contact %s cannot be read and was dropped: %s", turn.record.uuid, exc)
        await turn.drop_session()
        return None
    if any(isinstance(event, Ignored) for event in step.events):
        # Waiting for a webhook's answer, not for her: staff see the message instead of it being lost.
        await put_in_inbox(await turn.writer(), message.id, turn.record.id, "not_expected", now=turn.now)
        return "inbox"
    await apply_step(turn, step)
    return "resumed"


async def _is_first_message(turn: Turn, message: Inbound) -> bool:
    if turn.prefetch is not None:
        return await turn.prefetch.is_first_message(turn.record.id, message.id)
    earlier = await turn.conn.execute(
        sa.select(messages.c.id)
        .where(
            messages.c.contact_id == turn.record.id, messages.c.direction == "in", messages.c.id < message.id
        )
        .limit(1)
    )
    return earlier.first() is None


def new_id() -> str:
    return str(uuid.uuid4())
