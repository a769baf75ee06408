"""Inbound SMS through the link: stored once per gateway id, senders in E.164, unknown senders become
contacts, the runner is woken, and a replayed batch changes nothing."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from server.appkeys import INBOX_WAKE
from server.clock import FixedClock
from server.db.schema import audit_log, contact_routes, contacts, message_events, messages
from tests.server.link.helpers import Gateway, add_contact, sms, snapshot


async def _inbound_rows(engine: AsyncEngine) -> list[tuple[str, str, str, str, str, str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(
                contacts.c.phone,
                messages.c.text,
                messages.c.direction,
                messages.c.status,
                messages.c.gateway,
                messages.c.channel,
                messages.c.external_id,
            )
            .join(contacts, contacts.c.id == messages.c.contact_id)
            .order_by(messages.c.id)
        )
        return [tuple(r) for r in rows]


async def test_inbound_is_stored_acked_and_wakes_the_runner(
    client: TestClient, oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    known = await add_contact(engine, "+525512345678", clock.now())
    woken = asyncio.create_task(client.app[INBOX_WAKE].wait(10))
    await asyncio.sleep(0)
    answer = await oaxaca.sync(
        inbound=[
            sms("g-1", "+52 1 55 1234 5678", "ALTA"),  # the legacy mobile form of a known contact
            sms("g-2", "044 951 123 4567", "Hola ñandú 😀", channel="modem-2"),  # an unknown sender
        ]
    )
    assert answer["acked_inbound"] == ["g-1", "g-2"]
    assert answer["rejected"] == []
    assert answer["outbound"] == []
    assert await woken
    assert await _inbound_rows(engine) == [
        ("+525512345678", "ALTA", "in", "received", "oaxaca", "modem-1", "g-1"),
        ("+529511234567", "Hola ñandú 😀", "in", "received", "oaxaca", "modem-2", "g-2"),
    ]
    async with engine.connect() as conn:
        new = (await conn.execute(sa.select(contacts).where(contacts.c.phone == "+529511234567"))).one()
        assert new.status == "active"
        assert new.last_seen_at == clock.now()
        routes = dict(
            (await conn.execute(sa.select(contact_routes.c.contact_id, contact_routes.c.gateway))).all()
        )
        assert routes == {known: "oaxaca", new.id: "oaxaca"}
        first = (await conn.execute(sa.select(messages).order_by(messages.c.id))).first()
        assert first is not None
        assert first.created_at == clock.now().replace(minute=59, hour=14)  # the radio's time
        assert (first.segments, first.encoding) == (1, "gsm7")
        # Time-ordered (server.db.ids): each batch's rows go to the end of the uuid indexes.
        stored = (await conn.execute(sa.select(messages.c.uuid).order_by(messages.c.id))).scalars().all()
        assert [u.version for u in stored] == [7, 7]
        assert stored == sorted(stored)
        assert new.uuid.version == 7
        events = (await conn.execute(sa.select(message_events.c.status, message_events.c.detail))).all()
        assert sorted(events) == [("received", "oaxaca/modem-1"), ("received", "oaxaca/modem-2")]
        audit = (
            await conn.execute(sa.select(audit_log.c.action, audit_log.c.actor, audit_log.c.detail))
        ).all()
        assert audit == [("contact.create_from_inbound", "token:oaxaca", {"count": 1})]


async def test_a_replayed_batch_is_acked_again_and_changes_nothing(
    client: TestClient, oaxaca: Gateway, engine: AsyncEngine
) -> None:
    batch = [sms("g-1", "+525512345678", "uno"), sms("g-2", "+525512345679", "dos")]
    await oaxaca.sync(inbound=batch)
    before = await snapshot(engine)
    woken = asyncio.create_task(client.app[INBOX_WAKE].wait(0.3))
    answer = await oaxaca.sync(inbound=batch)
    assert answer["acked_inbound"] == ["g-1", "g-2"]
    assert not await woken  # nothing new for the runner
    after = await snapshot(engine)
    assert {k: v for k, v in after.items() if k != "gateways"} == {
        k: v for k, v in before.items() if k != "gateways"
    }
    # Part replayed, part new: only the new one is stored, both are acknowledged.
    answer = await oaxaca.sync(inbound=[batch[1], sms("g-3", "+525512345679", "tres")])
    assert answer["acked_inbound"] == ["g-2", "g-3"]
    assert [r[1] for r in await _inbound_rows(engine)] == ["uno", "dos", "tres"]


async def test_the_same_id_from_another_gateway_is_another_sms(
    oaxaca: Gateway, chiapas: Gateway, engine: AsyncEngine
) -> None:
    await oaxaca.sync(inbound=[sms("1", "+525512345678", "de oaxaca")])
    await chiapas.sync(inbound=[sms("1", "+525512345678", "de chiapas")])
    assert [(r[1], r[4]) for r in await _inbound_rows(engine)] == [
        ("de oaxaca", "oaxaca"),
        ("de chiapas", "chiapas"),
    ]


async def test_an_id_twice_in_one_batch_is_stored_once(oaxaca: Gateway, engine: AsyncEngine) -> None:
    answer = await oaxaca.sync(inbound=[sms("g-1", "+525512345678", "a"), sms("g-1", "+525512345678", "a")])
    assert answer["acked_inbound"] == ["g-1"]
    assert len(await _inbound_rows(engine)) == 1


async def test_senders_that_are_not_phone_numbers_are_rejected_and_the_rest_stored(
    oaxaca: Gateway, engine: AsyncEngine
) -> None:
    answer = await oaxaca.sync(
        inbound=[
            sms("op-1", "TELCEL", "Tu saldo es $10"),
            sms("ok-1", "5512345678", "hola"),
            sms("op-2", "333", "Promoción"),
        ]
    )
    assert answer["acked_inbound"] == ["ok-1"]
    assert [(r["field"], r["id"]) for r in answer["rejected"]] == [
        ("inbound.0", "op-1"),
        ("inbound.2", "op-2"),
    ]
    assert all(r["reason"].startswith("from ") for r in answer["rejected"])
    assert [r[0] for r in await _inbound_rows(engine)] == ["+525512345678"]
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(contacts))).scalar() == 1


async def test_characters_no_database_can_store_are_replaced_not_refused(
    oaxaca: Gateway, engine: AsyncEngine
) -> None:
    answer = await oaxaca.sync(inbound=[sms("g-1", "+525512345678", "si\x00 \ud800 ok\ttab")])
    assert answer["acked_inbound"] == ["g-1"]
    assert [r[1] for r in await _inbound_rows(engine)] == ["si\ufffd \ufffd ok\ttab"]


async def test_a_radio_clock_in_the_future_is_clamped_to_now(
    oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    await oaxaca.sync(inbound=[sms("g-1", "+525512345678", at="2031-01-01T00:00:00+00:00")])
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(messages.c.created_at))).scalar() == clock.now()
