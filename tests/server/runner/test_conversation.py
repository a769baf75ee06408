"""A contact's conversation through the runner: keywords, replies, timeouts, expiry, results, alerts."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server import contacts as repository
from server.clock import FixedClock
from server.config import Config
from server.db.schema import INBOUND_OUTCOMES, PRIORITIES, alerts, fires, inbox, messages, results, sessions
from server.runner import Runner
from server.wakeup import Wakeup
from tests.server.runner import kit

PHONE = "+525512345678"
pytestmark = pytest.mark.usefixtures("loaded")


async def say(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, text: str, phone: str = PHONE
) -> str | None:
    message_id = await kit.receive(engine, phone, text, clock.now())
    return await runner.handle_inbound(message_id)


async def test_keyword_starts_the_flow_and_replies_carry_it_to_the_end(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    assert await say(engine, runner, clock, "Hola quiero registrarme") == "trigger"
    assert await kit.texts(engine, PHONE) == ["¡Hola! ¿Cómo te llamas?"]
    assert await say(engine, runner, clock, "Ana María") == "resumed"
    assert await say(engine, runner, clock, "tengo 12") == "resumed"

    sent = await kit.outbox(engine, PHONE)
    assert [s.text for s in sent] == [
        "¡Hola! ¿Cómo te llamas?",
        "Gracias, Ana María. ¿Cuántas semanas de embarazo tienes?",
        "¡Listo, Ana! Tienes 12 semanas.",
    ]
    assert {s.priority for s in sent} == {PRIORITIES["reply"]}
    assert {s.status for s in sent} == {"queued"}
    contact = await kit.contact(engine, PHONE)
    assert contact.name == "Ana María"
    assert contact.fields == {"semanas": "12"}
    assert [g.name for g in contact.groups] == ["Embarazadas"]
    stored = {(r.key, r.value, r.category) for r in await kit.rows(engine, results)}
    assert stored == {("nombre", "Ana María", "Has Text"), ("semanas", "12", "1 - 42")}
    assert await kit.rows(engine, sessions) == []
    assert await kit.rows(engine, fires) == []


async def test_each_inbound_is_marked_with_what_it_did(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await say(engine, runner, clock, "hola")
    await say(engine, runner, clock, "Ana")
    handled = await kit.rows(engine, messages, messages.c.direction == "in")
    assert [(m.handled_as, m.handled_at) for m in handled] == [
        ("trigger", clock.now()),
        ("resumed", clock.now()),
    ]
    assert {m.handled_as for m in handled} <= set(INBOUND_OUTCOMES)


async def test_a_waiting_session_is_stored_with_its_timeout_and_expiry(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await say(engine, runner, clock, "hola")
    (session,) = await kit.rows(engine, sessions)
    assert session.wait_kind == "msg"
    assert session.timeout_on == clock.now() + dt.timedelta(hours=1)
    assert session.expires_on == clock.now() + dt.timedelta(days=7)
    due = {(f.kind, f.due_at, f.session_uuid) for f in await kit.rows(engine, fires)}
    assert due == {("T", session.timeout_on, session.uuid), ("E", session.expires_on, session.uuid)}


async def test_a_timeout_fires_at_its_time_with_bulk_priority(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await say(engine, runner, clock, "hola")
    clock.advance(dt.timedelta(minutes=59))
    assert await runner.fire_due() == 0
    clock.advance(dt.timedelta(minutes=1))
    assert await runner.fire_due() == 1
    reminder = (await kit.outbox(engine, PHONE))[-1]
    assert (reminder.text, reminder.priority) == ("¿Sigues ahí? Escribe tu nombre.", PRIORITIES["bulk"])
    # Now waiting at a step without a timeout: only the expiry is left, and a second tick fires nothing.
    assert {f.kind for f in await kit.rows(engine, fires)} == {"E"}
    assert await runner.fire_due() == 0
    assert await say(engine, runner, clock, "Ana") == "resumed"
    assert (await kit.texts(engine, PHONE))[-1].startswith("Gracias, Ana.")


async def test_expiry_ends_the_session_and_a_late_reply_goes_to_the_inbox(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await say(engine, runner, clock, "hola")
    await say(engine, runner, clock, "Ana")  # now at pedir_semanas: no timeout, expires in 7 days
    clock.advance(dt.timedelta(days=7))
    assert await runner.fire_due() == 1
    assert await kit.rows(engine, sessions) == []
    assert await kit.rows(engine, fires) == []
    assert await say(engine, runner, clock, "12") == "inbox"
    (item,) = await kit.rows(engine, inbox)
    assert item.reason == "unmatched"


async def test_a_keyword_interrupts_the_waiting_session(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await say(engine, runner, clock, "hola")
    (before,) = await kit.rows(engine, sessions)
    assert await say(engine, runner, clock, "ALERTA") == "trigger"
    (after,) = await kit.rows(engine, sessions)
    assert after.uuid != before.uuid
    assert (await kit.texts(engine, PHONE))[-1] == "¿Tienes sangrado? Responde SI o NO."
    # Only the new session's fires remain (Alerta's wait has no timeout).
    assert {(f.kind, f.session_uuid) for f in await kit.rows(engine, fires)} == {("E", after.uuid)}


async def test_only_word_keyword_inside_a_sentence_is_a_reply(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await say(engine, runner, clock, "hola")
    assert await say(engine, runner, clock, "alerta roja") == "resumed"  # her name, not the Alerta keyword
    assert (await kit.texts(engine, PHONE))[-1].startswith("Gracias, alerta roja.")


async def test_a_confirmed_alert_is_recorded(engine: AsyncEngine, runner: Runner, clock: FixedClock) -> None:
    await say(engine, runner, clock, "alerta")
    await say(engine, runner, clock, "si, mucho")
    (alert,) = await kit.rows(engine, alerts)
    assert (alert.reason, alert.input, alert.status) == ("Sangrado: si, mucho", "si, mucho", "open")
    assert (await kit.texts(engine, PHONE))[-1] == "Avisamos a tu clínica. Te llamarán pronto."


async def test_unmatched_message_goes_to_the_inbox(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    assert await say(engine, runner, clock, "buenos días") == "inbox"
    assert await kit.texts(engine, PHONE) == []
    (item,) = await kit.rows(engine, inbox)
    assert item.resolved_at is None


async def test_catch_all_answers_when_no_session_waits(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await kit.load(engine, kit.programme(catch_all=True), clock.now())
    assert await say(engine, runner, clock, "buenos días") == "catch_all"
    assert await kit.texts(engine, PHONE) == ["No entendí. Escribe HOLA para registrarte."]
    await say(engine, runner, clock, "hola")
    assert await say(engine, runner, clock, "Ana") == "resumed"  # the waiting session comes before catch-all


async def test_a_first_message_can_start_the_new_contact_flow(
    engine: AsyncEngine, clock: FixedClock, runner_config: Config
) -> None:
    config = Config(data_dir=runner_config.data_dir, new_contact_flow="Registro").validate()
    runner = Runner(engine, config, clock, outbox_wake=Wakeup(), webhooks_in_background=False)
    assert await say(engine, runner, clock, "buenas") == "new_contact"
    assert await say(engine, runner, clock, "Ana") == "resumed"
    assert await say(engine, runner, clock, "¿qué es esto?", phone="+525511112222") == "new_contact"
    assert await say(engine, runner, clock, "xyz", phone="+525511112222") == "resumed"
    await runner.close()


async def test_outbox_is_woken_after_commit(engine: AsyncEngine, runner: Runner, clock: FixedClock) -> None:
    assert runner.outbox_wake is not None
    message_id = await kit.receive(engine, PHONE, "hola", clock.now())
    waiter = asyncio.ensure_future(runner.outbox_wake.wait(5))
    await asyncio.sleep(0)
    await runner.handle_inbound(message_id)
    assert await waiter is True


async def test_a_contact_deleted_mid_conversation_leaves_nothing_behind(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await say(engine, runner, clock, "hola")
    contact = await kit.contact(engine, PHONE)
    async with engine.begin() as conn:
        await repository.delete_contact(conn, contact.uuid, now=clock.now(), actor="test")
    clock.advance(dt.timedelta(hours=2))
    assert await runner.fire_due() == 0
    assert await kit.rows(engine, sessions) == []
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(fires))).scalar() == 0
