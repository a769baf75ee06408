"""Leasing outbound messages: priorities, parts, expiry, leases that run out, quiet hours in each contact's
timezone, and a contact's own gateway."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.clock import FixedClock
from server.db.schema import contacts
from server.link.sync import Sweeps
from server.messages import may_become
from tests.server.link.helpers import HEALTHY, Gateway, add_contact, history, message, queue, sms

MAYA = "+525512345678"
LUPE = "+529511234567"


def test_the_lifecycle_allows_what_leasing_does() -> None:
    # server.link.leasing writes these changes in bulk; the lifecycle must allow each of them.
    for before, after in (("queued", "leased"), ("leased", "queued"), ("queued", "failed")):
        assert may_become(before, after)


async def test_replies_then_alerts_then_bulk_oldest_first(
    oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    maya = await add_contact(engine, MAYA, clock.now())
    order = [
        ("bulk", "b1"),
        ("alert", "a1"),
        ("reply", "r1"),
        ("bulk", "b2"),
        ("reply", "r2"),
        ("alert", "a2"),
    ]
    for priority, text in order:
        await queue(engine, maya, text, clock.now(), priority=priority)
        clock.advance(dt.timedelta(seconds=1))
    first = await oaxaca.take(want=3)
    assert [(m["text"], m["priority"]) for m in first] == [("r1", "reply"), ("r2", "reply"), ("a1", "alert")]
    rest = await oaxaca.take(want=50)
    assert [m["text"] for m in rest] == ["a2", "b1", "b2"]
    assert await oaxaca.take(want=50) == []
    item = first[0]
    assert item["to"] == MAYA
    assert (item["segments"], item["encoding"], item["expires_at"], item["lease_s"]) == (1, "gsm7", None, 300)
    row = await message(engine, item["id"])
    assert (row.status, row.gateway, row.leased_until) == (
        "leased",
        "oaxaca",
        clock.now() + dt.timedelta(seconds=300),
    )
    assert await history(engine, item["id"]) == [("queued", "test"), ("leased", "oaxaca")]


async def test_want_zero_leases_nothing_and_want_parts_counts_segments(
    oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    maya = await add_contact(engine, MAYA, clock.now())
    long_text = "x" * 400  # three GSM-7 parts
    for text in (long_text, "corto", long_text, "otro"):
        await queue(engine, maya, text, clock.now(), priority="alert")
    assert (await oaxaca.sync(want=0, wait_s=5))["outbound"] == []  # no long poll without a want
    taken = await oaxaca.take(want=10, want_parts=4)
    assert [(m["segments"], m["text"][:5]) for m in taken] == [(3, "xxxxx"), (1, "corto")]
    taken = await oaxaca.take(want=10, want_parts=2)  # the first always fits, then it stops in order
    assert [m["segments"] for m in taken] == [3]
    assert [m["text"] for m in await oaxaca.take(want=10, want_parts=1)] == ["otro"]


async def test_a_message_past_its_expiry_fails_instead_of_going_out_late(
    oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    maya = await add_contact(engine, MAYA, clock.now())
    soon = await queue(
        engine,
        maya,
        "cita hoy",
        clock.now(),
        priority="alert",
        expires_at=clock.now() + dt.timedelta(minutes=5),
    )
    later = await queue(
        engine,
        maya,
        "cita mañana",
        clock.now(),
        priority="alert",
        expires_at=clock.now() + dt.timedelta(hours=5),
    )
    clock.advance(dt.timedelta(minutes=10))
    taken = await oaxaca.take()
    assert [m["id"] for m in taken] == [later]
    assert taken[0]["expires_at"] == (clock.now() + dt.timedelta(hours=4, minutes=50)).isoformat()
    row = await message(engine, soon)
    assert (row.status, row.error) == ("failed", "expired")
    assert await history(engine, soon) == [("queued", "test"), ("failed", "expired")]


async def test_a_lease_that_runs_out_is_leased_again_to_another_gateway(
    oaxaca: Gateway, chiapas: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    maya = await add_contact(engine, MAYA, clock.now())
    sent = await queue(engine, maya, "hola", clock.now(), priority="alert")
    assert [m["id"] for m in await oaxaca.take()] == [sent]  # ...and oaxaca is never heard from again
    assert await chiapas.take() == []  # leased: nobody else gets it
    clock.advance(dt.timedelta(seconds=299))
    assert await chiapas.take() == []
    clock.advance(dt.timedelta(seconds=1))
    again = await chiapas.take()
    assert [m["id"] for m in again] == [sent]
    row = await message(engine, sent)
    assert (row.status, row.gateway) == ("leased", "chiapas")
    assert await history(engine, sent) == [
        ("queued", "test"),
        ("leased", "oaxaca"),
        ("queued", "lease of oaxaca ran out"),
        ("leased", "chiapas"),
    ]
    # oaxaca comes back with a report for it: too late, chiapas holds it now.
    answer = await oaxaca.sync(statuses=[{"message_id": sent, "status": "sent"}])
    assert answer["acked_statuses"] == []
    assert answer["rejected"] == [
        {"field": "statuses.0", "id": sent, "reason": "the message is not leased to this gateway"}
    ]
    assert (await message(engine, sent)).status == "leased"


async def test_a_late_report_reclaims_a_message_nobody_else_took(
    oaxaca: Gateway, chiapas: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    maya = await add_contact(engine, MAYA, clock.now())
    sent = await queue(engine, maya, "hola", clock.now(), priority="alert")
    await oaxaca.take()
    clock.advance(dt.timedelta(seconds=400))
    await chiapas.sync(want=0)  # any sync puts run-out leases back in the queue
    assert (await message(engine, sent)).status == "queued"
    # chiapas never held it: its report is refused.
    answer = await chiapas.sync(statuses=[{"message_id": sent, "status": "accepted"}])
    assert answer["rejected"][0]["reason"] == "the message is not leased to this gateway"
    answer = await oaxaca.sync(statuses=[{"message_id": sent, "status": "accepted"}])
    assert answer["acked_statuses"] == [{"message_id": sent, "status": "accepted"}]
    row = await message(engine, sent)
    assert (row.status, row.gateway) == ("accepted", "oaxaca")


async def test_bulk_waits_for_the_delivery_window_in_each_contacts_timezone(
    oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    # 15:00 UTC: 09:00 in Mexico City (the programme's zone), 07:00 in Tijuana, before its window opens.
    maya = await add_contact(engine, MAYA, clock.now())
    tijuana = await add_contact(engine, "+526641234567", clock.now(), timezone="America/Tijuana")
    cancun = await add_contact(engine, "+529981234567", clock.now(), timezone="America/Cancun")
    bulk_maya = await queue(engine, maya, "semana 20", clock.now())
    bulk_tijuana = await queue(engine, tijuana, "semana 20", clock.now())
    bulk_cancun = await queue(engine, cancun, "semana 20", clock.now())
    reply_tijuana = await queue(engine, tijuana, "gracias", clock.now(), priority="reply")
    taken = await oaxaca.take()
    assert {m["id"] for m in taken} == {bulk_maya, bulk_cancun, reply_tijuana}
    await oaxaca.sync(statuses=[{"message_id": m["id"], "status": "sent"} for m in taken])
    clock.advance(dt.timedelta(hours=1))  # 08:00 in Tijuana
    assert [m["id"] for m in await oaxaca.take()] == [bulk_tijuana]


async def test_quiet_hours_hold_bulk_but_not_replies_or_alerts(
    oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    clock.set(dt.datetime(2027, 3, 2, 3, 0, tzinfo=dt.UTC))  # 21:00 in Mexico City
    maya = await add_contact(engine, MAYA, clock.now())
    bulk = await queue(engine, maya, "recordatorio", clock.now())
    alert = await queue(engine, maya, "urgente", clock.now(), priority="alert")
    reply = await queue(engine, maya, "gracias", clock.now(), priority="reply")
    taken = await oaxaca.take()
    assert [m["id"] for m in taken] == [reply, alert]
    await oaxaca.sync(statuses=[{"message_id": m["id"], "status": "sent"} for m in taken])
    clock.set(dt.datetime(2027, 3, 2, 13, 59, tzinfo=dt.UTC))  # 07:59
    assert await oaxaca.take() == []
    clock.advance(dt.timedelta(minutes=1))  # 08:00: the window opens
    assert [m["id"] for m in await oaxaca.take()] == [bulk]


async def test_a_stopped_contacts_bulk_fails_but_a_reply_goes(
    oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    maya = await add_contact(engine, MAYA, clock.now())
    bulk = await queue(engine, maya, "semana 21", clock.now())
    reply = await queue(engine, maya, "Ya no recibirás mensajes", clock.now(), priority="reply")
    async with engine.begin() as conn:  # she sent BAJA after both were queued
        await conn.execute(contacts.update().where(contacts.c.id == maya).values(status="stopped"))
    assert [m["id"] for m in await oaxaca.take()] == [reply]
    row = await message(engine, bulk)
    assert (row.status, row.error) == ("failed", "contact is not active")


async def test_a_contact_stays_with_the_gateway_that_last_carried_her_while_it_is_healthy(
    oaxaca: Gateway, chiapas: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    await oaxaca.sync(inbound=[sms("g-1", MAYA, "hola", channel="modem-2")], channels=[HEALTHY])
    await chiapas.sync(channels=[HEALTHY])
    maya = await add_contact(engine, LUPE, clock.now())  # lupe has no route: any gateway
    async with engine.connect() as conn:
        maya_id = (await conn.execute(sa.select(contacts.c.id).where(contacts.c.phone == MAYA))).scalar_one()
    for_maya = await queue(engine, maya_id, "para maya", clock.now(), priority="reply")
    for_lupe = await queue(engine, maya, "para lupe", clock.now(), priority="reply")
    taken = await chiapas.take()
    assert [m["id"] for m in taken] == [for_lupe]
    assert taken[0]["channel"] is None
    taken = await oaxaca.take()
    assert [m["id"] for m in taken] == [for_maya]
    assert taken[0]["channel"] == "modem-2"  # the number she knows


async def test_when_her_gateway_is_unhealthy_or_silent_another_takes_her_messages(
    oaxaca: Gateway, chiapas: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    await oaxaca.sync(inbound=[sms("g-1", MAYA)], channels=[HEALTHY])
    async with engine.connect() as conn:
        maya = (await conn.execute(sa.select(contacts.c.id).where(contacts.c.phone == MAYA))).scalar_one()
    first = await queue(engine, maya, "uno", clock.now(), priority="reply")
    assert await chiapas.take() == []
    # Her gateway says its only channel is down: the preference lapses at once.
    await oaxaca.sync(channels=[{**HEALTHY, "healthy": False, "detail": "no network"}])
    assert [m["id"] for m in await chiapas.take()] == [first]
    # Healthy again, then silent for longer than two minutes.
    await oaxaca.sync(channels=[HEALTHY])
    second = await queue(engine, maya, "dos", clock.now(), priority="reply")
    clock.advance(dt.timedelta(seconds=119))
    assert await chiapas.take() == []
    clock.advance(dt.timedelta(seconds=2))
    assert [m["id"] for m in await chiapas.take()] == [second]


async def test_a_delivered_message_moves_her_to_the_gateway_that_delivered_it(
    oaxaca: Gateway, chiapas: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    await oaxaca.sync(inbound=[sms("g-1", MAYA)], channels=[HEALTHY])
    async with engine.connect() as conn:
        maya = (await conn.execute(sa.select(contacts.c.id).where(contacts.c.phone == MAYA))).scalar_one()
    await oaxaca.sync(channels=[{**HEALTHY, "healthy": False}])
    sent = await queue(engine, maya, "uno", clock.now(), priority="reply")
    assert [m["id"] for m in await chiapas.take()] == [sent]
    answer = await chiapas.sync(
        statuses=[{"message_id": sent, "status": "delivered", "channel": "sim-7"}], channels=[HEALTHY]
    )
    assert answer["acked_statuses"] == [{"message_id": sent, "status": "delivered"}]
    await oaxaca.sync(channels=[HEALTHY])
    second = await queue(engine, maya, "dos", clock.now(), priority="reply")
    assert await oaxaca.take() == []
    taken = await chiapas.take()
    assert [(m["id"], m["channel"]) for m in taken] == [(second, "sim-7")]


async def test_between_sweeps_a_message_that_just_expired_is_not_leased(
    oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    """Expired messages and ran-out leases are swept at most once a second; leasing itself never takes an
    expired message, so the second between two sweeps lets nothing out late."""
    maya = await add_contact(engine, MAYA, clock.now())
    assert await oaxaca.take() == []  # swept just now
    expiring = await queue(
        engine,
        maya,
        "cita en un momento",
        clock.now(),
        priority="alert",
        expires_at=clock.now() + dt.timedelta(milliseconds=300),
    )
    clock.advance(dt.timedelta(milliseconds=500))
    assert await oaxaca.take() == []  # expired, not yet swept
    assert (await message(engine, expiring)).status == "queued"
    clock.advance(dt.timedelta(milliseconds=600))
    assert await oaxaca.take() == []
    row = await message(engine, expiring)
    assert (row.status, row.error) == ("failed", "expired")


def test_sweeps_fall_due_once_a_second_by_the_servers_clock() -> None:
    sweeps = Sweeps()
    start = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)
    assert sweeps.due(start)
    assert not sweeps.due(start + dt.timedelta(milliseconds=999))
    assert sweeps.due(start + dt.timedelta(seconds=1))
    assert sweeps.due(start - dt.timedelta(hours=1))  # a clock set back sweeps at once
