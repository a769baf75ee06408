"""Inbound messages handled in batches: one transaction for many turns, each turn in her own savepoint, her
messages in arrival order, each message once, and never two turns of one contact at the same time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.clock import FixedClock
from server.config import Config
from server.db.schema import audit_log, messages
from server.runner import Runner, inbound_batch
from server.runner.effects import Turn
from server.wakeup import Wakeup
from tests.server.runner import kit

ANA, BEA, CARLA = "+525511110001", "+525511110002", "+525511110003"
pytestmark = pytest.mark.usefixtures("loaded")


async def _handled(engine: AsyncEngine) -> dict[int, str | None]:
    rows = await kit.rows(engine, messages, messages.c.direction == "in")
    return {row.id: row.handled_as for row in rows}


async def test_one_batch_answers_everyone_in_one_commit(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits: list[tuple[int, int]] = []
    after_commit = runner.after_commit
    monkeypatch.setattr(runner, "after_commit", lambda q, w: (commits.append((q, w)), after_commit(q, w)))
    for phone in (ANA, BEA, CARLA):
        await kit.receive(engine, phone, "hola", clock.now())
    assert await runner.handle_pending_inbound() == 3
    assert commits == [(3, 0)]
    for phone in (ANA, BEA, CARLA):
        assert await kit.texts(engine, phone) == ["¡Hola! ¿Cómo te llamas?"]


async def test_a_failing_turn_is_undone_alone_and_tried_again(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bea's turn writes (her opt-out: status, audit, the confirmation) and then fails: only her turn is
    undone; Ana's and Carla's are committed; Bea's message and the one after it wait, in order."""
    for phone in (ANA, BEA, CARLA):
        await runner.handle_inbound(await kit.receive(engine, phone, "hola", clock.now()))
    bea = (await kit.contact(engine, BEA)).uuid
    route = inbound_batch.route_inbound

    async def failing_for_bea(turn: Turn, message: Any, config: Config) -> str:
        outcome = await route(turn, message, config)
        if turn.record.uuid == bea:
            raise RuntimeError("her turn broke after writing")
        return outcome

    monkeypatch.setattr(inbound_batch, "route_inbound", failing_for_bea)
    ana_reply = await kit.receive(engine, ANA, "Ana", clock.now())
    bea_stop = await kit.receive(engine, BEA, "baja", clock.now())
    bea_later = await kit.receive(engine, BEA, "hola", clock.now())
    carla_reply = await kit.receive(engine, CARLA, "Carla", clock.now())
    assert await runner.handle_pending_inbound() == 2
    handled = await _handled(engine)
    assert (handled[ana_reply], handled[carla_reply]) == ("resumed", "resumed")
    assert (handled[bea_stop], handled[bea_later]) == (None, None)
    assert (await kit.contact(engine, BEA)).status == "active"
    assert await kit.texts(engine, BEA) == ["¡Hola! ¿Cómo te llamas?"]
    assert not [a for a in await kit.audit_actions(engine) if a[1] == "sms:opt-out"]
    assert (await kit.texts(engine, ANA))[-1] == "Gracias, Ana. ¿Cuántas semanas de embarazo tienes?"

    monkeypatch.undo()
    assert await runner.handle_pending_inbound() == 2
    handled = await _handled(engine)
    assert (handled[bea_stop], handled[bea_later]) == ("opt_out", "inbox")
    assert (await kit.contact(engine, BEA)).status == "stopped"


async def test_her_messages_are_handled_in_arrival_order_among_others(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    ids = []
    for phone, text in [
        (ANA, "hola"),
        (BEA, "hola"),
        (ANA, "Ana"),
        (BEA, "Bea"),
        (ANA, "20"),
        (BEA, "alerta"),
    ]:
        ids.append(await kit.receive(engine, phone, text, clock.now()))
    assert await runner.handle_pending_inbound() == 6
    handled = await _handled(engine)
    assert [handled[i] for i in ids] == ["trigger", "trigger", "resumed", "resumed", "resumed", "trigger"]
    assert await kit.texts(engine, ANA) == [
        "¡Hola! ¿Cómo te llamas?",
        "Gracias, Ana. ¿Cuántas semanas de embarazo tienes?",
        "¡Listo, Ana! Tienes 20 semanas.",
    ]
    assert (await kit.contact(engine, ANA)).name == "Ana"  # her contact change, read back for her next turn
    assert (await kit.texts(engine, BEA))[-1] == "¿Tienes sangrado? Responde SI o NO."


async def test_runners_racing_over_the_same_messages_handle_each_once_never_two_turns_of_one_contact(
    engine: AsyncEngine, runner_config: Config, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Separate runners share no in-process lock, as separate server processes would not: the database's
    locks (advisory on PostgreSQL, the write lock on SQLite) keep one contact's turns apart."""
    in_turn: set[str] = set()
    overlaps: list[str] = []
    route = inbound_batch.route_inbound

    async def watched(turn: Turn, message: Any, config: Config) -> str:
        who = str(turn.record.uuid)
        if who in in_turn:
            overlaps.append(who)
        in_turn.add(who)
        try:
            await asyncio.sleep(0.001)  # let another runner in, if anything would let it
            return await route(turn, message, config)
        finally:
            in_turn.discard(who)

    monkeypatch.setattr(inbound_batch, "route_inbound", watched)
    phones = [f"+5255222200{n:02d}" for n in range(6)]
    for text in ("hola", "Nombre", "20"):
        for phone in phones:
            await kit.receive(engine, phone, text, clock.now())
    runners = [Runner(engine, runner_config, clock, outbox_wake=Wakeup()) for _ in range(3)]
    try:
        rounds = await asyncio.gather(*(_drain(r) for r in runners))
    finally:
        for r in runners:
            await r.close()
    assert sum(rounds) == 18
    assert overlaps == []
    assert set((await _handled(engine)).values()) == {"trigger", "resumed"}
    for phone in phones:
        assert (await kit.texts(engine, phone))[-1] == "¡Listo, Nombre! Tienes 20 semanas."
        assert len(await kit.texts(engine, phone)) == 3


async def _drain(runner: Runner) -> int:
    total = 0
    while handled := await runner.handle_pending_inbound(limit=4):
        total += handled
    return total


async def test_a_replayed_message_is_not_handled_again(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    message_id = await kit.receive(engine, ANA, "hola", clock.now())
    assert await runner.handle_pending_inbound() == 1
    async with engine.begin() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(audit_log))).scalar_one()
    assert await runner.handle_inbound(message_id) is None
    assert await runner.handle_pending_inbound() == 0
    assert await kit.texts(engine, ANA) == ["¡Hola! ¿Cómo te llamas?"]
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(audit_log))).scalar_one() == count


async def test_a_contact_in_another_turn_here_waits_for_the_next_batch(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    """A batch holding its transaction never waits for a contact another turn of this process holds (a
    campaign's, waiting for the database): her message is left for the next batch, the others go now."""
    await runner.handle_inbound(await kit.receive(engine, ANA, "hola", clock.now()))
    ana_reply = await kit.receive(engine, ANA, "Ana", clock.now())
    bea_hola = await kit.receive(engine, BEA, "hola", clock.now())
    async with runner.locks.hold((await kit.contact(engine, ANA)).id):
        assert await runner.handle_pending_inbound() == 1
    handled = await _handled(engine)
    assert (handled[bea_hola], handled[ana_reply]) == ("trigger", None)
    assert await runner.handle_pending_inbound() == 1
    assert (await _handled(engine))[ana_reply] == "resumed"
