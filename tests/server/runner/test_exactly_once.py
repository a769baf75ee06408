"""Each inbound message is handled once and each fire is consumed once, however often or concurrently the
runner is asked; what a crash leaves unhandled is found and handled by the tick."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.clock import FixedClock
from server.config import Config
from server.db.schema import fires, messages
from server.runner import Runner
from server.wakeup import Wakeup
from tests.server.runner import kit

PHONE = "+525544443333"
pytestmark = pytest.mark.usefixtures("loaded")


async def test_handling_a_message_twice_does_it_once(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    message_id = await kit.receive(engine, PHONE, "hola", clock.now())
    assert await runner.handle_inbound(message_id) == "trigger"
    assert await runner.handle_inbound(message_id) is None
    assert await kit.texts(engine, PHONE) == ["¡Hola! ¿Cómo te llamas?"]


async def test_concurrent_handlers_in_separate_runners_handle_it_once(
    engine: AsyncEngine, runner_config: Config, clock: FixedClock
) -> None:
    """Separate runners share no in-process lock, as separate server processes would not: the database's
    lock (advisory on PostgreSQL, the write lock on SQLite) and the claim on the message decide."""
    runners = [Runner(engine, runner_config, clock, outbox_wake=Wakeup()) for _ in range(4)]
    message_id = await kit.receive(engine, PHONE, "hola", clock.now())
    outcomes = await asyncio.gather(*(r.handle_inbound(message_id) for r in runners))
    assert sorted(map(str, outcomes)) == ["None", "None", "None", "trigger"]
    assert await kit.texts(engine, PHONE) == ["¡Hola! ¿Cómo te llamas?"]
    for r in runners:
        await r.close()


async def test_a_burst_of_replies_resumes_in_order_one_at_a_time(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    first = await kit.receive(engine, PHONE, "hola", clock.now())
    second = await kit.receive(engine, PHONE, "Ana", clock.now())
    third = await kit.receive(engine, PHONE, "20", clock.now())
    assert await runner.handle_pending_inbound() == 3
    assert await runner.handle_pending_inbound() == 0
    assert (await kit.texts(engine, PHONE))[-1] == "¡Listo, Ana! Tienes 20 semanas."
    handled = await kit.rows(engine, messages, messages.c.id.in_([first, second, third]))
    assert [m.handled_as for m in sorted(handled, key=lambda m: m.id)] == ["trigger", "resumed", "resumed"]


async def test_the_tick_handles_what_a_crash_left_unhandled(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    """A message stored by the link whose wake-up was lost (the server died) is handled by the next tick."""
    await kit.receive(engine, PHONE, "hola", clock.now())
    await runner.tick()
    assert await kit.texts(engine, PHONE) == ["¡Hola! ¿Cómo te llamas?"]


async def test_a_failed_turn_leaves_the_message_for_later(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id = await kit.receive(engine, PHONE, "hola", clock.now())

    async def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("the engine broke mid-turn")

    monkeypatch.setattr("server.runner.inbound_batch.route_inbound", broken)
    assert await runner.handle_pending_inbound() == 0
    (message,) = await kit.rows(engine, messages, messages.c.id == message_id)
    assert message.handled_at is None  # rolled back with everything else
    monkeypatch.undo()
    assert await runner.handle_pending_inbound() == 1
    assert await kit.texts(engine, PHONE) == ["¡Hola! ¿Cómo te llamas?"]


async def test_a_fire_is_consumed_once_under_concurrent_ticks(
    engine: AsyncEngine, runner_config: Config, clock: FixedClock
) -> None:
    runners = [Runner(engine, runner_config, clock, outbox_wake=Wakeup()) for _ in range(3)]
    await runners[0].handle_inbound(await kit.receive(engine, PHONE, "hola", clock.now()))
    clock.advance(dt.timedelta(hours=1))
    fired = await asyncio.gather(*(r.fire_due() for r in runners))
    assert sum(fired) == 1
    assert (await kit.texts(engine, PHONE)).count("¿Sigues ahí? Escribe tu nombre.") == 1
    for r in runners:
        await r.close()


async def test_a_fire_left_from_an_earlier_session_is_dropped(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await runner.handle_inbound(await kit.receive(engine, PHONE, "hola", clock.now()))
    async with engine.begin() as conn:
        await conn.execute(
            fires.update()
            .where(fires.c.kind == "T")
            .values(session_uuid="00000000-dead-4000-8000-000000000000")
        )
    clock.advance(dt.timedelta(hours=1))
    assert await runner.fire_due() == 0
    async with engine.connect() as conn:
        left = (await conn.execute(sa.select(fires.c.kind))).scalars().all()
    assert left == ["E"]  # the stray one is consumed; the session's expiry stays
    assert await kit.texts(engine, PHONE) == ["¡Hola! ¿Cómo te llamas?"]
