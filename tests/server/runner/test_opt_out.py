"""Opt-out and opt-in keywords: audited, confirmed, and a stopped contact gets nothing else."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.model import FlowRef, Trigger
from flows.native import load_flow_text
from server.clock import FixedClock
from server.config import Config
from server.db.schema import PRIORITIES, contacts, fires, inbox, sessions
from server.runner import Runner
from tests.server.runner import kit

PHONE = "+525598765432"
pytestmark = pytest.mark.usefixtures("loaded")


async def say(engine: AsyncEngine, runner: Runner, clock: FixedClock, text: str) -> str | None:
    return await runner.handle_inbound(await kit.receive(engine, PHONE, text, clock.now()))


async def test_baja_stops_the_contact_ends_her_conversation_and_confirms(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await say(engine, runner, clock, "hola")
    assert await say(engine, runner, clock, "¡BAJA!") == "opt_out"
    contact = await kit.contact(engine, PHONE)
    assert contact.status == "stopped"
    assert await kit.rows(engine, sessions) == []
    assert await kit.rows(engine, fires) == []
    confirmation = (await kit.outbox(engine, PHONE))[-1]
    assert confirmation.text == runner.config.opt_out_reply["spa"]
    assert (confirmation.priority, confirmation.status) == (PRIORITIES["reply"], "queued")
    assert ("contact.status", "sms:opt-out", {"from": "active", "to": "stopped"}) in await kit.audit_actions(
        engine
    )


@pytest.mark.parametrize("word", ["stop", "Alto", "BAJA."])
async def test_every_configured_word_stops(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, word: str
) -> None:
    assert await say(engine, runner, clock, word) == "opt_out"
    assert (await kit.contact(engine, PHONE)).status == "stopped"


@pytest.mark.parametrize(
    "text", ["alto riesgo", "tengo la presión alta", "baja de peso", "STOPPED", "bájale"]
)
async def test_the_words_inside_a_sentence_stop_nobody(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, text: str
) -> None:
    assert await say(engine, runner, clock, text) == "inbox"
    assert (await kit.contact(engine, PHONE)).status == "active"


async def test_a_stopped_contact_starts_nothing_and_gets_no_flow_messages(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await say(engine, runner, clock, "baja")
    sent_before = len(await kit.outbox(engine, PHONE))
    assert await say(engine, runner, clock, "hola") == "inbox"
    assert await say(engine, runner, clock, "baja") == "opt_out"  # again: no second confirmation
    assert len(await kit.outbox(engine, PHONE)) == sent_before
    reasons = [row.reason for row in await kit.rows(engine, inbox)]
    assert reasons == ["stopped"]


async def test_alta_brings_a_stopped_contact_back(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await say(engine, runner, clock, "baja")
    clock.advance(dt.timedelta(days=1))
    assert await say(engine, runner, clock, "Alta por favor") == "opt_in"
    assert (await kit.contact(engine, PHONE)).status == "active"
    assert (await kit.texts(engine, PHONE))[-1] == runner.config.opt_in_reply["spa"]
    audit = await kit.audit_actions(engine)
    assert ("contact.status", "sms:opt-in", {"from": "stopped", "to": "active"}) in audit
    assert await say(engine, runner, clock, "hola") == "trigger"


async def test_alta_from_an_active_contact_is_an_ordinary_message(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    assert await say(engine, runner, clock, "alta") == "inbox"
    assert await kit.texts(engine, PHONE) == []


async def test_a_flow_that_stops_the_contact_sends_nothing_after_it(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    baja = """
flow: Darse de baja
nodes:
  antes:
    send: "Te vamos a extrañar."
    do:
      - set_status: stopped
    go: despues
  despues:
    send: "Esto ya no sale."
    go: end
"""
    flow = load_flow_text(baja)
    base = kit.programme(
        extra_triggers=[Trigger("keyword", FlowRef(flow.uuid, flow.name), keywords=("salir",))]
    )
    await kit.load(engine, dataclasses.replace(base, flows=(*base.flows, flow)), clock.now())
    assert await say(engine, runner, clock, "salir") == "trigger"
    assert await kit.texts(engine, PHONE) == ["Te vamos a extrañar."]
    assert (await kit.contact(engine, PHONE)).status == "stopped"
    assert ("contact.status", "runner", {"from": "active", "to": "stopped"}) in await kit.audit_actions(
        engine
    )


BILINGUAL = {
    "opt_out_keywords": {"spa": "BAJA,ALTO,STOP", "eng": "STOP,UNSUBSCRIBE"},
    "opt_in_keywords": {"spa": "ALTA", "eng": "START"},
    "opt_out_reply": {"spa": "Ya no recibirás mensajes.", "eng": "You will get no more messages."},
    "opt_in_reply": {"spa": "Bienvenida de nuevo.", "eng": "Welcome back."},
}


@pytest.fixture
def runner_config(tmp_path: Path) -> Config:
    return Config(data_dir=tmp_path, **BILINGUAL).validate()  # type: ignore[arg-type]


async def _set_language(engine: AsyncEngine, language: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(contacts.update().where(contacts.c.phone == PHONE).values(language=language))


async def test_any_languages_keyword_stops_and_the_reply_is_in_that_language(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    assert await say(engine, runner, clock, "Unsubscribe") == "opt_out"
    assert (await kit.contact(engine, PHONE)).status == "stopped"
    assert await kit.texts(engine, PHONE) == ["You will get no more messages."]
    assert await say(engine, runner, clock, "start") == "opt_in"
    assert (await kit.texts(engine, PHONE))[-1] == "Welcome back."


async def test_her_language_wins_over_the_keywords(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await say(engine, runner, clock, "hola")
    await _set_language(engine, "spa")
    assert await say(engine, runner, clock, "unsubscribe") == "opt_out"
    assert (await kit.texts(engine, PHONE))[-1] == "Ya no recibirás mensajes."
    await _set_language(engine, "eng")
    assert await say(engine, runner, clock, "alta") == "opt_in"
    assert (await kit.texts(engine, PHONE))[-1] == "Welcome back."


async def test_a_word_of_several_languages_answers_in_the_programmes(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    """STOP is Spanish and English here; she has no language, so the programme's (spa) decides."""
    assert await say(engine, runner, clock, "STOP") == "opt_out"
    assert await kit.texts(engine, PHONE) == ["Ya no recibirás mensajes."]


async def test_a_language_without_its_own_reply_falls_back_to_the_programmes(
    engine: AsyncEngine, clock: FixedClock, tmp_path: Path
) -> None:
    settings = {**BILINGUAL, "opt_out_keywords": {"spa": "BAJA", "nld": "AFMELDEN"}}
    config = Config(data_dir=tmp_path, **settings).validate()  # type: ignore[arg-type]
    runner = Runner(engine, config, clock)
    try:
        assert await say(engine, runner, clock, "afmelden") == "opt_out"
    finally:
        await runner.close()
    assert await kit.texts(engine, PHONE) == ["Ya no recibirás mensajes."]
