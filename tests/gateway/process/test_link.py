"""The whole gateway in-process (spool file, dispatcher, fake channels, link) against the fake server."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time

from gateway.dispatcher import ChannelLimits
from gateway.link import LinkClient
from gateway.spool import Spool
from gateway.transports.base import StatusReport
from tests.gateway.process.conftest import GatewayFactory, eventually, eventually_async, fast_link
from tests.gateway.process.fakeserver import FakeServer

T0 = dt.datetime(2027, 3, 1, 8, 0, tzinfo=dt.UTC)


async def _nothing_pending(spool: Spool | None) -> bool:
    assert spool is not None
    pending: int = (await spool.counts())["inbound_pending"]
    return pending == 0


async def test_inbound_reaches_the_server_in_order_and_leaves_the_spool(
    server: FakeServer, make_gateway: GatewayFactory
) -> None:
    gateway, fakes = await make_gateway()
    for n in range(20):
        await fakes["modem-1"].receive(
            "+529511234567", f"mensaje {n}", received_at=T0 + dt.timedelta(seconds=n)
        )
    await eventually(lambda: len(server.inbound) == 20)
    assert [item["text"] for item in server.inbound.values()] == [f"mensaje {n}" for n in range(20)]
    assert fakes["modem-1"].stored == {}  # every copy deleted, each after its commit
    assert gateway.spool is not None
    # The server has them all; the gateway forgets each once a later round brings its acknowledgement.
    await eventually_async(lambda: _nothing_pending(gateway.spool))


async def test_a_leased_message_is_sent_and_every_status_reaches_the_server(
    server: FakeServer, make_gateway: GatewayFactory
) -> None:
    _, fakes = await make_gateway()
    message = server.queue("+529511234567", "¡Bienvenida!")
    await eventually(lambda: server.statuses_of(message.id) == ["accepted", "sent"])
    assert [m.id for m in fakes["modem-1"].sent] == [message.id]
    await fakes["modem-1"].report(message.id, "delivered")
    await eventually(lambda: server.statuses_of(message.id)[-1:] == ["delivered"])
    assert server.channels["modem-1"]["sent_today"] == 1


async def test_a_long_poll_is_cut_short_by_new_inbound(
    server: FakeServer, make_gateway: GatewayFactory
) -> None:
    _, fakes = await make_gateway(link={"wait_s": 25.0})
    await eventually(lambda: len(server.requests) >= 1)
    await asyncio.sleep(0.2)  # now waiting in a 25 s long poll
    started = time.monotonic()
    await fakes["modem-1"].receive("+529511234567", "ALTA")
    await eventually(lambda: len(server.inbound) == 1, timeout=5)
    assert time.monotonic() - started < 2
    message = server.queue("+529511234567", "hola")  # and the long poll returns as soon as one is queued
    await eventually(lambda: server.statuses_of(message.id) == ["accepted", "sent"], timeout=5)


async def test_lost_responses_are_retried_with_the_same_ids(
    server: FakeServer, make_gateway: GatewayFactory
) -> None:
    server.lose_responses = 3
    gateway, fakes = await make_gateway()
    for n in range(5):
        await fakes["modem-1"].receive("+529511234567", f"m{n}")
    await eventually(lambda: len(server.inbound) == 5 and server.lose_responses == 0)
    assert gateway.spool is not None
    await eventually(lambda: gateway.link is not None and gateway.link.failures == 0)
    await asyncio.sleep(0.2)
    assert (await gateway.spool.counts())["inbound_pending"] == 0
    carried = [item["id"] for body in server.requests for item in body.get("inbound", [])]
    assert len(carried) > 5  # sent again after each lost answer...
    assert set(carried) == set(server.inbound)  # ...always under the same ids, so stored once


async def test_radios_keep_working_while_the_server_is_down(
    server: FakeServer, make_gateway: GatewayFactory
) -> None:
    queued = [server.queue(f"+52951123450{n}", f"aviso {n}") for n in range(3)]
    gateway, fakes = await make_gateway()
    await eventually(lambda: all(server.statuses_of(m.id)[:1] == ["accepted"] for m in queued))
    fakes["modem-1"].send_delay = 0.0
    await server.stop()  # the server goes away between the lease and the sends
    for n in range(10):
        await fakes["modem-1"].receive("+529511234567", f"durante {n}")
    await eventually(lambda: len(fakes["modem-1"].sent) == 3)  # sending never waited for the server
    assert gateway.link is not None
    await eventually(lambda: gateway.link is not None and gateway.link.failures >= 3)
    await server.start()
    await eventually(lambda: len(server.inbound) == 10)
    assert [i["text"] for i in server.inbound.values()] == [f"durante {n}" for n in range(10)]
    await eventually(lambda: all(server.statuses_of(m.id) == ["accepted", "sent"] for m in queued))


async def test_a_rejected_sms_is_dropped_and_does_not_block_the_rest(
    server: FakeServer, make_gateway: GatewayFactory
) -> None:
    gateway, fakes = await make_gateway()
    await fakes["modem-1"].receive("TELCEL", "Tu saldo es $10")
    await fakes["modem-1"].receive("+529511234567", "hola")
    await eventually(lambda: len(server.inbound) == 1)
    assert gateway.spool is not None
    await eventually_async(lambda: _nothing_pending(gateway.spool))


async def test_a_batch_the_server_finds_too_large_is_halved(
    server: FakeServer, make_gateway: GatewayFactory
) -> None:
    server.too_large_above = 30
    gateway, fakes = await make_gateway()
    assert gateway.link is not None
    await server.stop()
    for n in range(100):
        await fakes["modem-1"].receive("+529511234567", f"m{n}")
    await server.start()
    await eventually(lambda: len(server.inbound) == 100)
    assert [i["text"] for i in server.inbound.values()] == [f"m{n}" for n in range(100)]
    assert max(len(b.get("inbound", [])) for b in server.requests) <= 30


async def test_what_the_schema_would_refuse_is_made_to_fit(
    server: FakeServer, make_gateway: GatewayFactory
) -> None:
    _, fakes = await make_gateway()
    await fakes["modem-1"].receive("+529511234567", "ñ" * 4500)  # longer than a sync item may be
    await fakes["modem-1"].receive("+52" + "9" * 80, "a sender longer than the schema allows")
    await eventually(lambda: len(server.inbound) == 2)
    first = next(iter(server.inbound.values()))
    assert len(first["text"]) == 4000


async def test_a_refused_token_is_retried_slowly_and_nothing_is_lost(
    server: FakeServer, make_gateway: GatewayFactory
) -> None:
    server.token = "another-token"
    gateway, fakes = await make_gateway(link={"backoff_max_s": 0.2})
    await fakes["modem-1"].receive("+529511234567", "hola")
    await eventually(lambda: gateway.link is not None and gateway.link.failures >= 2)
    assert gateway.link is not None
    assert "401" in (gateway.link.last_error or "")
    server.token = "fake-gateway-token"  # a technician fixed it
    await eventually(lambda: len(server.inbound) == 1)


async def test_channel_health_goes_up_with_each_sync(
    server: FakeServer, make_gateway: GatewayFactory
) -> None:
    _, fakes = await make_gateway({"modem-1": ChannelLimits(daily_cap=100), "modem-2": ChannelLimits()})
    await eventually(lambda: set(server.channels) == {"modem-1", "modem-2"})
    assert server.channels["modem-1"]["daily_cap"] == 100
    assert server.channels["modem-1"]["kind"] == "modem"
    fakes["modem-2"].healthy = False
    await eventually(lambda: server.channels["modem-2"]["healthy"] is False)
    assert server.channels["modem-2"]["detail"] == "switched off"


async def test_statuses_for_messages_the_server_does_not_know_are_dropped(
    server: FakeServer, make_gateway: GatewayFactory
) -> None:
    gateway, _ = await make_gateway()
    assert gateway.spool is not None
    message = server.queue("+529511234567", "hola")
    await eventually(lambda: server.statuses_of(message.id) == ["accepted", "sent"])
    del server.messages[message.id]  # the server forgot it (restored from a backup)
    await gateway.on_status("modem-1", StatusReport(message.id, "delivered"))
    await eventually(lambda: len(server.requests[-1].get("statuses", [])) == 0 and gateway.link is not None)
    await asyncio.sleep(0.2)
    assert (await gateway.spool.counts())["statuses_pending"] == 0


def test_backoff_is_jittered_exponential_and_capped() -> None:
    link = LinkClient(
        fast_link("http://127.0.0.1:9", backoff_min_s=1.0, backoff_max_s=60.0),
        spool=None,  # type: ignore[arg-type]
        dispatcher=None,  # type: ignore[arg-type]
        rng=random.Random(7),
    )
    ceilings = []
    for failures in range(12):
        link.failures = failures
        waits = [link._backoff() for _ in range(200)]
        assert all(1.0 <= w <= 60.0 for w in waits)
        ceilings.append(max(waits))
        if failures >= 2:
            assert len({round(w, 3) for w in waits}) > 100  # spread, not one value for every gateway
    assert ceilings[0] <= 1.0 + 1e-9
    assert ceilings[3] <= 8.0
    assert ceilings[-1] > 50.0
    assert link._backoff(auth=True) == 60.0
