"""When campaign messages go out, and how a contact's row follows what happens to her."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.clock import FixedClock
from server.db.schema import campaign_fires, contacts
from server.runner import Runner
from tests.server.campaigns import kit
from tests.server.campaigns.kit import W36, W38, W39, local
from tests.server.runner.kit import receive

pytestmark = pytest.mark.usefixtures("loaded")

STEP = dt.timedelta(hours=3)


async def test_weekly_messages_arrive_at_nine_local_on_their_day(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    ana = await kit.enrol(engine, "+525512340001", clock.now(), due="2027-04-19", name="Ana López")
    assert await kit.row_of(engine, ana) == (W36, local(2027, 3, 22, 9))
    moment = clock.now()
    fired_at = []
    while moment < local(2027, 4, 13):  # every three hours through six weeks, on the local hour 09:00 too
        moment += STEP
        if await kit.tick_at(runner, clock, moment):
            fired_at.append(moment)
    assert fired_at == [local(2027, 3, 22, 9), local(2027, 4, 5, 9), local(2027, 4, 12, 9)]
    assert await kit.sent(engine, ana) == [
        ("Semana 36: prepara tu maleta para el hospital.", local(2027, 3, 22, 9), 2),
        ("Semana 38: ten listo tu plan de traslado.", local(2027, 4, 5, 9), 2),
        ("Semana 39, Ana: ya casi conoces a tu bebé.", local(2027, 4, 12, 9), 2),
    ]
    assert await kit.log_of(engine, ana) == [(W36, "fired"), (W38, "fired"), (W39, "fired")]
    assert await kit.row_of(engine, ana) == (kit.DUE, local(2027, 4, 19, 10))


async def test_nothing_fires_before_its_minute_or_at_night(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    ana = await kit.enrol(engine, "+525512340002", clock.now(), due="2027-04-19")
    for moment in (local(2027, 3, 22, 3), local(2027, 3, 22, 8, 59)):
        assert await kit.tick_at(runner, clock, moment) == 0
    assert await kit.sent(engine, ana) == []
    assert await kit.tick_at(runner, clock, local(2027, 3, 22, 9)) == 1
    assert await kit.tick_at(runner, clock, local(2027, 3, 22, 9, 1)) == 0
    assert await kit.texts_of(engine, ana) == ["Semana 36: prepara tu maleta para el hospital."]


async def test_her_own_timezone_and_language_are_used(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    cancun = await kit.enrol(
        engine, "+529981230003", clock.now(), due="2027-04-19", language="eng", timezone="America/Cancun"
    )
    unknown_zone = await kit.enrol(
        engine, "+525512340004", clock.now(), due="2027-04-19", timezone="Mars/Base"
    )
    assert await kit.row_of(engine, cancun) == (W36, local(2027, 3, 22, 9, tz="America/Cancun"))
    assert await kit.row_of(engine, unknown_zone) == (W36, local(2027, 3, 22, 9))  # the programme's
    await kit.tick_at(runner, clock, local(2027, 3, 22, 9, tz="America/Cancun"))
    assert await kit.texts_of(engine, cancun) == ["Week 36: pack your hospital bag."]
    assert await kit.texts_of(engine, unknown_zone) == []
    await kit.tick_at(runner, clock, local(2027, 3, 22, 9))
    assert await kit.texts_of(engine, unknown_zone) == ["Semana 36: prepara tu maleta para el hospital."]


async def test_a_language_without_a_translation_gets_the_base_language(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    maya = await kit.enrol(engine, "+525512340005", clock.now(), due="2027-04-19", language="yua")
    await kit.tick_at(runner, clock, local(2027, 3, 22, 9))
    assert await kit.texts_of(engine, maya) == ["Semana 36: prepara tu maleta para el hospital."]


async def test_enrolling_late_does_not_back_fill(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    clock.set(local(2027, 4, 6, 12))  # weeks 36 and 38 are behind her
    late = await kit.enrol(engine, "+525512340006", clock.now(), due="2027-04-19", name="Berta")
    assert await kit.row_of(engine, late) == (W39, local(2027, 4, 12, 9))
    assert await runner.campaigns.fire_due() == 0
    await kit.tick_at(runner, clock, local(2027, 4, 12, 9))
    assert await kit.texts_of(engine, late) == ["Semana 39, Berta: ya casi conoces a tu bebé."]
    assert await kit.log_of(engine, late) == [(W39, "fired")]


async def test_changing_the_due_date_reschedules(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    ana = await kit.enrol(engine, "+525512340007", clock.now(), due="2027-04-19")
    await kit.tick_at(runner, clock, local(2027, 3, 22, 9))
    clock.set(local(2027, 3, 23, 12))
    await kit.change(engine, ana, clock.now(), due="2027-05-17")  # four weeks later: week 36 is ahead again
    assert await kit.row_of(engine, ana) == (W36, local(2027, 4, 19, 9))
    await kit.change(engine, ana, clock.now(), due="2027-04-05")  # earlier: weeks 36 and 38 have passed
    assert await kit.row_of(engine, ana) == (W39, local(2027, 3, 29, 9))
    await kit.change(engine, ana, clock.now(), clear_due=True)
    assert await kit.row_of(engine, ana) is None


async def test_a_date_changed_by_a_flow_reschedules_in_the_same_turn(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    phone = "+525512340008"
    await runner.handle_inbound(await receive(engine, phone, "hola", clock.now()))
    assert await runner.handle_inbound(await receive(engine, phone, "2027-04-19", clock.now())) == "resumed"
    async with engine.connect() as conn:
        contact_id = (
            await conn.execute(sa.select(contacts.c.id).where(contacts.c.phone == phone))
        ).scalar_one()
    assert await kit.row_of(engine, contact_id) == (W36, local(2027, 3, 22, 9))
    clock.set(local(2027, 3, 10, 9))
    await runner.handle_inbound(await receive(engine, phone, "hola", clock.now()))
    await runner.handle_inbound(await receive(engine, phone, "2027-04-05", clock.now()))
    assert await kit.row_of(engine, contact_id) == (W38, local(2027, 3, 22, 9))


async def test_leaving_the_group_stops_the_campaign(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    phone = "+525512340009"
    ana = await kit.enrol(engine, phone, clock.now(), due="2027-04-19")
    await runner.handle_inbound(await receive(engine, phone, "salir", clock.now()))
    assert await kit.row_of(engine, ana) is None
    await kit.tick_at(runner, clock, local(2027, 3, 22, 9))
    assert await kit.texts_of(engine, ana) == ["Ya no recibirás los consejos del embarazo."]
    # Back in the group through the API: enrolled again from that moment.
    await kit.change(engine, ana, clock.now())
    assert await kit.row_of(engine, ana) is None  # still out of the group
    bea = await kit.enrol(engine, "+525512340010", clock.now(), due="2027-04-19")
    await kit.change(engine, bea, clock.now(), leave=True)
    assert await kit.row_of(engine, bea) is None


async def test_a_stopped_contact_gets_nothing_and_opting_in_resumes_without_back_fill(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    phone = "+525512340011"
    ana = await kit.enrol(engine, phone, clock.now(), due="2027-04-19")
    assert await runner.handle_inbound(await receive(engine, phone, "BAJA", clock.now())) == "opt_out"
    assert await kit.row_of(engine, ana) is None
    await kit.tick_at(runner, clock, local(2027, 3, 22, 9))
    clock.set(local(2027, 3, 25, 10))
    assert await runner.handle_inbound(await receive(engine, phone, "ALTA", clock.now())) == "opt_in"
    assert await kit.row_of(engine, ana) == (W38, local(2027, 4, 5, 9))
    await kit.tick_at(runner, clock, local(2027, 4, 5, 9))
    campaign_texts = [t for t in await kit.texts_of(engine, ana) if t.startswith("Semana")]
    assert campaign_texts == ["Semana 38: ten listo tu plan de traslado."]


async def test_status_changed_elsewhere_is_caught_at_fire_time(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    """A status written without telling the scheduler (a path that forgot) still sends nothing."""
    ana = await kit.enrol(engine, "+525512340012", clock.now(), due="2027-04-19")
    async with engine.begin() as conn:
        await conn.execute(contacts.update().where(contacts.c.id == ana).values(status="stopped"))
    await kit.tick_at(runner, clock, local(2027, 3, 22, 9))
    assert await kit.sent(engine, ana) == []
    assert await kit.log_of(engine, ana) == [(W36, "inactive")]
    assert await kit.row_of(engine, ana) == (W38, local(2027, 4, 5, 9))


async def test_a_date_changed_elsewhere_is_recomputed_at_fire_time(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    from server.db.schema import contact_fields

    ana = await kit.enrol(engine, "+525512340013", clock.now(), due="2027-04-19")
    async with engine.begin() as conn:
        await conn.execute(
            contact_fields.update()
            .where(contact_fields.c.contact_id == ana)
            .values(text_value="2027-05-17", date_value=dt.date(2027, 5, 17))
        )
    await kit.tick_at(runner, clock, local(2027, 3, 22, 9))
    assert await kit.sent(engine, ana) == []
    assert await kit.row_of(engine, ana) == (W36, local(2027, 4, 19, 9))


async def test_datetime_fields_and_hours_without_a_delivery_hour(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    """Two hours after registering, whatever the hour (quiet hours are the link's concern)."""
    clock.set(local(2027, 3, 1, 1, 0))
    ana = await kit.enrol(engine, "+525512340014", clock.now(), registered="2027-03-01T01:00:30-06:00")
    assert await kit.row_of(engine, ana) == (kit.BIENVENIDA, local(2027, 3, 1, 3, 1))  # rounded up a minute
    assert await kit.tick_at(runner, clock, local(2027, 3, 1, 3, 1)) == 1
    assert await kit.texts_of(engine, ana) == ["Bienvenida al programa de embarazo saludable."]
    assert (
        await kit.row_of(engine, ana) is None
    )  # nothing more counts from that field, and she has no due date


async def test_dates_at_the_ends_of_the_calendar_do_no_harm(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    far = await kit.enrol(engine, "+525512340015", clock.now(), due="9999-12-31")
    early = await kit.enrol(engine, "+525512340018", clock.now(), due="0001-01-01")
    assert await kit.row_of(engine, far) == (W36, local(9999, 12, 3, 9))
    assert await kit.row_of(engine, early) is None
    assert await runner.campaigns.fire_due() == 0


async def test_contacts_outside_the_group_or_without_a_date_have_no_row(
    engine: AsyncEngine, clock: FixedClock
) -> None:
    outside = await kit.enrol(engine, "+525512340016", clock.now(), due="2027-04-19", group=False)
    undated = await kit.enrol(engine, "+525512340017", clock.now())
    assert await kit.row_of(engine, outside) is None
    assert await kit.row_of(engine, undated) is None
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(campaign_fires))).scalar() == 0
