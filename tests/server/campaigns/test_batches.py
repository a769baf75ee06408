"""A batch decides once for the contacts who share everything but their id: each still gets her own outcome,
text (rendered for her when it has expressions) and next row. Plans remember their answers; a recomputation writes only the rows that change; the
campaigns read back from the database are the same objects while their definitions are."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.model import CampaignEvent
from server.campaigns import firing, plans, texts
from server.campaigns.plans import plan_for, stored_campaigns
from server.campaigns.schedule import campaigns_loaded, contacts_changed
from server.clock import FixedClock
from server.db.engine import create_engine
from server.db.schema import audit_log, campaign_fires, contacts, messages
from server.runner import Runner
from tests.server.campaigns import kit
from tests.server.campaigns.kit import W36, W38, W39, local
from tests.server.runner.kit import receive

WEEK36 = "Semana 36: prepara tu maleta para el hospital."


async def _in_survey(engine: AsyncEngine, runner: Runner, phone: str, now: dt.datetime) -> None:
    await runner.handle_inbound(await receive(engine, phone, "encuesta", now))


async def test_one_batch_gives_each_contact_her_own_outcome(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await kit.load(engine, kit.programme(message_mode="skip"), clock.now())
    now = clock.now()
    same = [await kit.enrol(engine, f"+5255123405{n:02d}", now, due="2027-04-19") for n in range(5)]
    english = await kit.enrol(engine, "+525512340510", now, due="2027-04-19", language="eng")
    stopped = await kit.enrol(engine, "+525512340511", now, due="2027-04-19")
    busy_phone = "+525512340512"
    busy = await kit.enrol(engine, busy_phone, now, due="2027-04-19")
    later = await kit.enrol(engine, "+525512340513", now, due="2027-04-12")  # week 36 on 03-15: a week late
    elsewhere = await kit.enrol(engine, "+525512340514", now, due="2027-04-19", timezone="America/Tijuana")
    async with engine.begin() as conn:  # stopped some other way: her row was not recomputed
        await conn.execute(contacts.update().where(contacts.c.id == stopped).values(status="stopped"))
    await _in_survey(engine, runner, busy_phone, local(2027, 3, 22, 8))

    assert await kit.tick_at(runner, clock, local(2027, 3, 22, 9)) == 9

    for contact_id in same:
        assert await kit.texts_of(engine, contact_id) == [WEEK36]
        assert await kit.log_of(engine, contact_id) == [(W36, "fired")]
        assert await kit.row_of(engine, contact_id) == (W38, local(2027, 4, 5, 9))
    assert await kit.texts_of(engine, english) == ["Week 36: pack your hospital bag."]
    assert await kit.log_of(engine, stopped) == [(W36, "inactive")]
    assert await kit.texts_of(engine, stopped) == []
    assert await kit.log_of(engine, busy) == [(W36, "busy")]
    assert WEEK36 not in await kit.texts_of(engine, busy)
    # Due on 03-15 (the clock started on 03-01 and no tick ran since): skipped, and week 38 is next.
    assert await kit.log_of(engine, later) == [(W36, "skipped")]
    assert await kit.row_of(engine, later) == (W38, local(2027, 3, 29, 9))
    # Two hours behind Mexico City: her 09:00 has not come.
    assert await kit.row_of(engine, elsewhere) == (W36, local(2027, 3, 22, 9, tz="America/Tijuana"))
    async with engine.connect() as conn:
        detail = (
            await conn.execute(sa.select(audit_log.c.detail).where(audit_log.c.action == "campaign.fire"))
        ).scalar_one()
    assert detail == {"busy": 1, "fired": 6, "inactive": 1, "skipped": 1}


async def _fail_in_turn(*_args: Any) -> bool:
    raise AssertionError("a message event was left for her turn")


@pytest.mark.usefixtures("loaded")
async def test_a_text_with_expressions_is_rendered_in_the_batch_for_each_contact(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ("Ana", "Bea", "Cata")
    ids = [
        await kit.enrol(engine, f"+5255123406{n:02d}", clock.now(), due="2027-04-19", name=name)
        for n, name in enumerate(names)
    ]
    monkeypatch.setattr(firing.CampaignFirer, "fire_in_turn", _fail_in_turn)
    await kit.tick_at(runner, clock, local(2027, 3, 22, 9))
    await kit.tick_at(runner, clock, local(2027, 4, 5, 9))
    assert await kit.tick_at(runner, clock, local(2027, 4, 12, 9)) == 3
    for contact_id, name in zip(ids, names, strict=True):
        assert (await kit.texts_of(engine, contact_id))[
            -1
        ] == f"Semana 39, {name}: ya casi conoces a tu bebé."
        assert await kit.log_of(engine, contact_id) == [(W36, "fired"), (W38, "fired"), (W39, "fired")]
        assert await kit.row_of(engine, contact_id) == (kit.DUE, local(2027, 4, 19, 10))


async def test_a_rendered_text_too_long_for_one_contact_is_unsendable_for_her_only(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    long_text = {**kit.TEXTS, W36: {"spa": "x" * 1500 + " @contact.name"}}  # 1,530 characters fit
    await kit.load(engine, kit.programme(texts=long_text), clock.now())
    short = await kit.enrol(engine, "+525512340700", clock.now(), due="2027-04-19", name="Ana")
    long = await kit.enrol(engine, "+525512340701", clock.now(), due="2027-04-19", name="A" * 60)
    assert await kit.tick_at(runner, clock, local(2027, 3, 22, 9)) == 2
    assert await kit.texts_of(engine, short) == ["x" * 1500 + " Ana"]
    assert await kit.log_of(engine, short) == [(W36, "fired")]
    assert await kit.texts_of(engine, long) == []
    assert await kit.log_of(engine, long) == [(W36, "unsendable")]
    assert await kit.row_of(engine, long) == (W38, local(2027, 4, 5, 9))


@pytest.mark.usefixtures("loaded")
async def test_a_text_that_fails_to_render_for_one_contact_waits_for_her_alone(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana = await kit.enrol(engine, "+525512340702", clock.now(), due="2027-04-19", name="Ana")
    boom = await kit.enrol(engine, "+525512340703", clock.now(), due="2027-04-19", name="Boom")
    await kit.tick_at(runner, clock, local(2027, 3, 22, 9))
    await kit.tick_at(runner, clock, local(2027, 4, 5, 9))
    real_render = texts.render

    def render(template: str, contact: Any, *args: Any) -> str:
        if contact.name == "Boom":
            raise RuntimeError("a contact the renderer cannot take")
        return real_render(template, contact, *args)

    monkeypatch.setattr(texts, "render", render)
    assert await kit.tick_at(runner, clock, local(2027, 4, 12, 9)) == 1
    assert await kit.log_of(engine, ana) == [(W36, "fired"), (W38, "fired"), (W39, "fired")]
    assert await kit.row_of(engine, boom) == (W39, local(2027, 4, 12, 9))  # not consumed
    monkeypatch.setattr(texts, "render", real_render)
    assert await runner.campaigns.fire_due() == 1
    assert (await kit.texts_of(engine, boom))[-1] == "Semana 39, Boom: ya casi conoces a tu bebé."


# --- what plans remember ------------------------------------------------------------------------------------


def test_a_plan_remembers_answers_up_to_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    campaign = dataclasses.replace(kit.programme().campaigns[0], uuid="memo-test")
    plan = plan_for(campaign)
    values = (dt.date(2027, 4, 19), None)
    after = local(2027, 3, 1)
    first = plan.next_fire_memo(values, kit.TZ, after, None)
    assert first == plan.next_fire(values, kit.TZ, after)
    assert first is not None
    assert first[0].uuid == W36
    assert plan.next_fire_memo(values, kit.TZ, after, None) is first
    week36 = plan.events[W36]
    assert plan.event_time(week36, dt.date(2027, 4, 19), kit.TZ) == local(2027, 3, 22, 9)
    assert plan.event_time(week36, None, kit.TZ) is None
    welcome = plan.events[kit.BIENVENIDA]  # two hours after she registered
    assert plan.event_time(welcome, dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC), kit.TZ) is None
    monkeypatch.setattr(plans, "MEMO_LIMIT", 3)
    for day in range(1, 10):
        plan.next_fire_memo((dt.date(2027, 5, day), None), kit.TZ, after, None)
        assert len(plan._memo) <= 3


# --- recomputing --------------------------------------------------------------------------------------------


async def _total_changes(conn: Any) -> int:
    return int((await conn.exec_driver_sql("SELECT total_changes()")).scalar_one())


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """SQLite only: ``total_changes()`` counts the rows a connection wrote."""
    engine = create_engine(sqlite_url)
    yield engine
    await engine.dispose()


async def test_a_recomputation_writes_only_the_rows_that_change(sqlite_engine: AsyncEngine) -> None:
    engine = sqlite_engine
    now = local(2027, 3, 1, 9)
    await kit.load(engine, kit.programme(), now)
    ids = [await kit.enrol(engine, f"+5255123407{n:02d}", now, due="2027-04-19") for n in range(20)]
    later = now + dt.timedelta(days=1)
    async with engine.begin() as conn:
        before = await _total_changes(conn)
        await contacts_changed(conn, ids, now=later, timezone=kit.TZ)
        assert await _total_changes(conn) == before  # nothing changed: nothing written
        await conn.execute(
            sa.update(campaign_fires).where(campaign_fires.c.contact_id == ids[0]).values(event_uuid=W39)
        )
        before = await _total_changes(conn)
        await contacts_changed(conn, ids, now=later, timezone=kit.TZ)
        assert await _total_changes(conn) == before + 1  # the one row that was wrong
    assert await kit.row_of(engine, ids[0]) == (W36, local(2027, 3, 22, 9))
    # Unchanged rows still count as scheduled.
    async with engine.begin() as conn:
        loaded = await campaigns_loaded(conn, await stored_campaigns(conn), now=later, timezone=kit.TZ)
    assert loaded == 20


async def test_stored_campaigns_are_the_same_objects_until_their_definition_changes(
    engine: AsyncEngine, clock: FixedClock
) -> None:
    await kit.load(engine, kit.programme(), clock.now())
    async with engine.connect() as conn:
        first, again = await stored_campaigns(conn), await stored_campaigns(conn)
    assert first == again
    assert first[0] is again[0]
    extra = CampaignEvent(kit.event_uuid("w41"), kit.FECHA, 1, "weeks", 9, message={"spa": "Semana 41."})
    await kit.load(engine, kit.programme(extra_events=(extra,)), clock.now())
    async with engine.connect() as conn:
        (changed,) = await stored_campaigns(conn)
    assert changed is not first[0]
    assert extra.uuid in {event.uuid for event in changed.events}


async def test_a_batch_writes_one_message_per_fired_contact(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await kit.load(engine, kit.programme(), clock.now())
    for n in range(40):
        await kit.enrol(engine, f"+5255123408{n:02d}", clock.now(), due=f"2027-04-{19 + n % 3}")
    fired = 0
    for day in (22, 23, 24):
        clock.set(local(2027, 3, day, 9))
        fired += await runner.campaigns.fire_due(limit=5)
    assert fired == 40
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(messages.c.contact_id, messages.c.uuid))).all()
    assert len({contact_id for contact_id, _ in rows}) == len(rows) == 40
    assert len({message_uuid for _, message_uuid in rows}) == 40
