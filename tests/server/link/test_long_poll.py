"""The long poll: a sync with nothing to send waits, holds no transaction while it waits, and returns as soon
as something is queued."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from server.api.gateway import _context
from server.appkeys import INBOX_WAKE, OUTBOX_WAKE
from server.clock import FixedClock
from server.db.schema import contacts, messages
from server.link.protocol import MAX_WAIT_S, read_request
from server.link.sync import RECHECK_S, sync
from tests.server.link.helpers import HEALTHY, Gateway, add_contact, message, queue, sms

MAYA = "+525512345678"


async def _waiting(gateway: Gateway, **body: Any) -> asyncio.Task[dict[str, Any]]:
    task = asyncio.create_task(gateway.sync(channels=[HEALTHY], **body))
    await asyncio.sleep(0.3)  # the request is in, its first look found nothing, it waits
    assert not task.done()
    return task


async def test_nothing_to_send_returns_empty_after_the_wait(oaxaca: Gateway) -> None:
    started = time.monotonic()
    answer = await oaxaca.sync(want=10, wait_s=0.5)
    assert answer["outbound"] == []
    assert 0.5 <= time.monotonic() - started < 0.5 + RECHECK_S


async def test_a_queued_message_wakes_a_waiting_sync_at_once(
    client: TestClient, oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    maya = await add_contact(engine, MAYA, clock.now())
    task = await _waiting(oaxaca, want=10, wait_s=25)
    started = time.monotonic()
    sent = await queue(engine, maya, "gracias", clock.now(), priority="reply")
    client.app[OUTBOX_WAKE].notify()  # as everything that queues does after its commit
    answer = await asyncio.wait_for(task, 10)
    assert [m["id"] for m in answer["outbound"]] == [sent]
    assert time.monotonic() - started < RECHECK_S / 2  # the signal, not the periodic look


async def test_a_message_sent_through_the_api_reaches_a_waiting_sync(
    client: TestClient, oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock, admin: dict[str, str]
) -> None:
    maya = await add_contact(engine, MAYA, clock.now())
    async with engine.connect() as conn:
        maya_uuid = (await conn.execute(sa.select(contacts.c.uuid).where(contacts.c.id == maya))).scalar_one()
    task = await _waiting(oaxaca, want=10, wait_s=25)
    started = time.monotonic()
    resp = await client.post(
        "/api/v1/messages",
        json={"contacts": [str(maya_uuid)], "text": "Urgente", "priority": "alert"},
        headers=admin,
    )
    assert resp.status == 202
    queued = (await resp.json())["messages"][0]["uuid"]
    answer = await asyncio.wait_for(task, 20)
    assert [m["id"] for m in answer["outbound"]] == [queued]
    assert time.monotonic() - started < RECHECK_S / 2  # woken by the API's signal, not the periodic look


async def test_a_lease_that_runs_out_reaches_a_gateway_already_waiting(
    oaxaca: Gateway, chiapas: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    maya = await add_contact(engine, MAYA, clock.now())
    sent = await queue(engine, maya, "hola", clock.now(), priority="alert")
    assert [m["id"] for m in await oaxaca.take()] == [sent]  # oaxaca vanishes with it
    task = await _waiting(chiapas, want=10, wait_s=25)
    clock.advance(dt.timedelta(seconds=301))  # no wake-up for this: the periodic look finds it
    answer = await asyncio.wait_for(task, RECHECK_S + 5)
    assert [m["id"] for m in answer["outbound"]] == [sent]


async def test_no_transaction_is_held_while_waiting(
    client: TestClient, oaxaca: Gateway, chiapas: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    woken = asyncio.create_task(client.app[INBOX_WAKE].wait(5))
    task = await _waiting(oaxaca, want=10, wait_s=25, inbound=[sms("g-1", MAYA, "uno")])
    # oaxaca's inbound is committed and handed to the runner while oaxaca is still waiting...
    assert await woken
    async with engine.connect() as conn:
        stored = await conn.execute(sa.select(messages.c.text).where(messages.c.gateway == "oaxaca"))
        assert list(stored.scalars()) == ["uno"]
    # ...and another gateway writes without waiting for oaxaca's long poll (SQLite would block it).
    started = time.monotonic()
    answer = await chiapas.sync(inbound=[sms("g-1", MAYA, "dos")])
    assert answer["acked_inbound"] == ["g-1"]
    assert time.monotonic() - started < 5  # not held up by the 25 s wait
    assert not task.done()
    client.app[OUTBOX_WAKE].notify()  # a wake-up with nothing to send: the poll goes on waiting
    await asyncio.sleep(0.3)
    assert not task.done()
    maya = await add_contact(engine, "+529511234567", clock.now())
    sent = await queue(engine, maya, "hola", clock.now(), priority="reply")
    client.app[OUTBOX_WAKE].notify()
    answer = await asyncio.wait_for(task, 5)
    assert answer["acked_inbound"] == ["g-1"]
    assert [m["id"] for m in answer["outbound"]] == [sent]


async def test_a_gateway_that_hangs_up_while_waiting_leases_nothing(
    client: TestClient, oaxaca: Gateway, chiapas: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    maya = await add_contact(engine, MAYA, clock.now())
    task = await _waiting(oaxaca, want=10, wait_s=25)
    task.cancel()  # the client gives up and closes its connection
    await asyncio.sleep(0.2)
    sent = await queue(engine, maya, "hola", clock.now(), priority="reply")
    client.app[OUTBOX_WAKE].notify()
    await asyncio.sleep(0.3)
    assert (await message(engine, sent)).status == "queued"
    assert [m["id"] for m in await chiapas.take()] == [sent]


def test_wait_is_capped() -> None:
    assert read_request({"wait_s": 3600}).wait_s == MAX_WAIT_S == 30
    assert read_request({}).wait_s == 0


async def test_a_gateway_that_hangs_up_while_its_messages_are_leased_gets_them_next_round(
    client: TestClient, oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    """A gateway gives up a long poll when new inbound arrives; if that happens as the poll leases, the lease
    is rolled back, so the messages are not stuck on a response nobody reads until the lease runs out."""
    maya = await add_contact(engine, MAYA, clock.now())
    answers = iter([False, True])  # still there when woken; gone by the time the lease is written

    async def queue_soon() -> str:
        await asyncio.sleep(0.2)
        sent = await queue(engine, maya, "hola", clock.now(), priority="reply")
        client.app[OUTBOX_WAKE].notify()
        return sent

    queued = asyncio.create_task(queue_soon())
    result = await sync(
        _context(client.app), "oaxaca", read_request({"want": 10, "wait_s": 5}), gone=lambda: next(answers)
    )
    sent = await queued
    assert result.outbound == []
    assert (await message(engine, sent)).status == "queued"
    assert [m["id"] for m in await oaxaca.take()] == [sent]


async def test_a_gateway_gone_before_its_first_round_commits_finds_everything_undone(
    oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock, client: TestClient
) -> None:
    """Messages already queued are leased in the first round; if the gateway hung up by then, that round
    (its inbound included, which it sends again) is rolled back rather than leased to nobody."""
    maya = await add_contact(engine, MAYA, clock.now())
    sent = await queue(engine, maya, "hola", clock.now(), priority="reply")
    request = read_request({"want": 10, "wait_s": 5, "inbound": [sms("g-9", MAYA, "SI")]})
    result = await sync(_context(client.app), "oaxaca", request, gone=lambda: True)
    assert (result.outbound, result.acked_inbound) == ([], [])
    assert (await message(engine, sent)).status == "queued"
    answer = await oaxaca.sync(inbound=[sms("g-9", MAYA, "SI")], want=10)
    assert answer["acked_inbound"] == ["g-9"]
    assert [m["id"] for m in answer["outbound"]] == [sent]
