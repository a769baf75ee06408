"""SMSGate local-server mode beyond the harness table: webhook signatures and hostile webhooks, health, dual
SIM, configuration, and a phone that goes away in the middle of a batch."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.android_bridge import phones as phone_book
from gateway.android_bridge.signatures import smsgate_check, smsgate_signature
from gateway.android_bridge.smsgate_local import SmsGateSettings, SmsGateTransport, settings_from
from gateway.dispatcher import ChannelLimits, Dispatcher, DispatchSettings
from gateway.spool import Leased, Spool
from gateway.transports.base import OutboundSMS, TransportError
from tests.gateway.android.fake_smsgate import FakeSmsGatePhone
from tests.gateway.android.sink import RecordingSink
from tests.gateway.harness import eventually

KEY = "wH8n3RkT2pQz"
TO = "+529511234567"

# Computed by hand from the reference (HMAC-SHA256, key = signing key, message = raw body + X-Timestamp):
#   printf '%s%s' "$BODY" 1778712557 | openssl dgst -sha256 -hmac 'wH8n3RkT2pQz'
VECTOR_BODY = (
    b'{"id":"Ey3XxFq1","event":"sms:received","deviceId":"ffffffffc2a1e3b4d5","payload":{"messageId":"a1b2",'
    b'"message":"SI","sender":"+529517654321","simNumber":1,"receivedAt":"2026-05-13T16:49:17.357-06:00"}}'
)
VECTOR_TIMESTAMP = "1778712557"
VECTOR_SIGNATURE = "aba69f2bb1d34f2d3ef8bad6dee327f094b1519771d48dc469f3fc7ffded9a83"


def test_signature_matches_the_hand_computed_vector() -> None:
    assert smsgate_signature(KEY, VECTOR_BODY, VECTOR_TIMESTAMP) == VECTOR_SIGNATURE
    now = float(VECTOR_TIMESTAMP) + 10
    assert smsgate_check(KEY, VECTOR_BODY, VECTOR_TIMESTAMP, VECTOR_SIGNATURE, now) is None
    assert smsgate_check(KEY, VECTOR_BODY, VECTOR_TIMESTAMP, VECTOR_SIGNATURE.upper(), now) is None


@pytest.mark.parametrize(
    ("body", "timestamp", "signature", "now", "why"),
    [
        (VECTOR_BODY, VECTOR_TIMESTAMP, None, 1778712557, "unsigned"),
        (VECTOR_BODY, None, VECTOR_SIGNATURE, 1778712557, "unsigned"),
        (VECTOR_BODY + b" ", VECTOR_TIMESTAMP, VECTOR_SIGNATURE, 1778712557, "bad signature"),
        (VECTOR_BODY, "1778712558", VECTOR_SIGNATURE, 1778712557, "bad signature"),
        (VECTOR_BODY, VECTOR_TIMESTAMP, VECTOR_SIGNATURE, 1778712557 + 301, "timestamp outside the window"),
        (VECTOR_BODY, VECTOR_TIMESTAMP, VECTOR_SIGNATURE, 1778712557 - 301, "timestamp outside the window"),
        (VECTOR_BODY, "-1", VECTOR_SIGNATURE, 1778712557, "malformed timestamp"),
        (VECTOR_BODY, "1e9", VECTOR_SIGNATURE, 1778712557, "malformed timestamp"),
        (VECTOR_BODY, "١٧٧٨٧١٢٥٥٧", VECTOR_SIGNATURE, 1778712557, "malformed timestamp"),  # non-ASCII digits
        (VECTOR_BODY, VECTOR_TIMESTAMP, "é" * 64, 1778712557, "bad signature"),
    ],
)
def test_signature_refusals(
    body: bytes, timestamp: str | None, signature: str | None, now: float, why: str
) -> None:
    assert smsgate_check(KEY, body, timestamp, signature, now) == why


# --- webhooks the gateway serves --------------------------------------------------------------------------


@pytest.fixture
async def phone() -> AsyncIterator[FakeSmsGatePhone]:
    fake = FakeSmsGatePhone(sims=(1, 2), auto=True)
    await fake.start()
    yield fake
    await fake.stop()


def settings(phone: FakeSmsGatePhone, **extra: Any) -> SmsGateSettings:
    values: dict[str, Any] = {
        "url": phone.url,
        "user": phone.user,
        "password": phone.password,
        "sim": 1,
        "poll_interval_s": 0.05,
        "send_wait_s": 2.0,
        "request_timeout_s": 1.0,
    }
    values.update(extra)
    return SmsGateSettings(**values)


@pytest.fixture
async def hooked(phone: FakeSmsGatePhone) -> AsyncIterator[tuple[SmsGateTransport, RecordingSink]]:
    transport = SmsGateTransport(
        "sim1", settings(phone, webhook_listen="127.0.0.1:0", signing_key=KEY, poll_interval_s=30.0)
    )
    sink = RecordingSink()
    await transport.start(sink)
    await eventually(lambda: len(phone.webhooks) == 4)
    await eventually(lambda: any(r[1] == "/inbox" for r in phone.requests))  # the first round is over
    yield transport, sink
    await transport.stop()


def signed(body: bytes, *, key: str = KEY, at: float | None = None) -> dict[str, str]:
    timestamp = str(int(at if at is not None else time.time()))
    return {"X-Timestamp": timestamp, "X-Signature": smsgate_signature(key, body, timestamp)}


def envelope(event_id: str = "Ev1", event: str = "sms:received") -> bytes:
    return json.dumps(
        {"id": event_id, "event": event, "deviceId": "d", "payload": {"messageId": "x"}}
    ).encode()


HOSTILE: list[tuple[str, Any, Any, int]] = [
    ("missing signature", envelope(), lambda body: {}, 401),
    ("forged signature", envelope(), lambda body: signed(body, key="guessed-key"), 401),
    ("replayed after the window", envelope(), lambda body: signed(body, at=time.time() - 3600), 401),
    ("from the future", envelope(), lambda body: signed(body, at=time.time() + 3600), 401),
    ("signature of another body", envelope(), lambda body: signed(envelope("Ev2")), 401),
    ("signed but not JSON", b"{not json", signed, 400),
    ("signed but not an object", b"[1, 2]", signed, 400),
    ("signed without an event id", json.dumps({"event": "sms:received"}).encode(), signed, 400),
    ("signed with a huge event id", envelope("x" * 500), signed, 400),
    ("oversized", b'{"id": "' + b"x" * 70_000 + b'"}', signed, 413),
]


@pytest.mark.parametrize(("name", "body", "headers", "status"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_hostile_webhooks_are_refused_logged_without_secrets_and_change_nothing(
    hooked: tuple[SmsGateTransport, RecordingSink],
    phone: FakeSmsGatePhone,
    caplog: pytest.LogCaptureFixture,
    name: str,
    body: bytes,
    headers: Any,
    status: int,
) -> None:
    transport, sink = hooked
    assert transport.phone is not None
    url = transport.phone.webhook_url
    assert url is not None
    polls = sum(1 for r in phone.requests if r[1] == "/inbox")
    caplog.set_level(logging.DEBUG)
    async with (
        aiohttp.ClientSession() as client,
        client.post(url, data=body, headers=headers(body)) as response,
    ):
        assert response.status == status
    await asyncio.sleep(0.1)
    assert sum(1 for r in phone.requests if r[1] == "/inbox") == polls  # no poll was woken
    assert sink.inbound == []
    assert sink.statuses == []
    assert not transport.phone._seen_events  # nothing remembered either
    assert KEY not in caplog.text
    assert "refused POST /smsgate/" in caplog.text


async def test_other_methods_and_paths_are_refused(hooked: tuple[SmsGateTransport, RecordingSink]) -> None:
    transport, _ = hooked
    assert transport.phone is not None
    assert transport.phone.webhook_url is not None
    url = transport.phone.webhook_url
    async with aiohttp.ClientSession() as client:
        async with client.get(url) as response:
            assert response.status == 405
        async with client.post(url + "x", data=b"{}") as response:
            assert response.status == 404


async def test_a_genuine_webhook_wakes_the_poll_once_per_event_id(
    hooked: tuple[SmsGateTransport, RecordingSink], phone: FakeSmsGatePhone
) -> None:
    transport, _ = hooked
    assert transport.phone is not None
    assert transport.phone.webhook_url is not None
    await asyncio.sleep(0.1)
    before = sum(1 for r in phone.requests if r[1] == "/inbox")
    body = envelope("Ev9")
    async with aiohttp.ClientSession() as client:
        for expected in ("ok", "duplicate"):
            async with client.post(transport.phone.webhook_url, data=body, headers=signed(body)) as response:
                assert response.status == 200
                assert (await response.json())["status"] == expected
    await eventually(lambda: sum(1 for r in phone.requests if r[1] == "/inbox") == before + 1)
    await asyncio.sleep(0.2)
    assert sum(1 for r in phone.requests if r[1] == "/inbox") == before + 1


# --- health, identity, SIMs ---------------------------------------------------------------------------------


async def test_health_reports_battery_and_the_phone_verdict(phone: FakeSmsGatePhone) -> None:
    transport = SmsGateTransport("sim1", settings(phone))
    await transport.start(RecordingSink())
    try:
        health = await transport.health()
        assert (health.healthy, health.battery, health.detail) == (True, 87, None)
        phone.health_status = "fail"
        await asyncio.sleep(2.1)  # past the shared cache
        health = await transport.health()
        assert not health.healthy
        assert health.detail == "phone reports: connection:status"
        await phone.stop()
        await asyncio.sleep(2.1)
        health = await transport.health()
        assert not health.healthy
        assert "cannot reach the phone" in (health.detail or "")
    finally:
        await transport.stop()


async def test_a_wrong_password_makes_the_channel_unhealthy_without_showing_it(
    phone: FakeSmsGatePhone, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = SmsGateTransport("sim1", settings(phone, password="wrong-password-7"))
    await transport.start(RecordingSink())
    try:
        outcome = await transport.send(OutboundSMS("m-1", TO, "Hola"))
        assert (outcome.status, outcome.retryable) == ("failed", True)
        health = await transport.health()
        assert not health.healthy
        assert health.detail == "the phone refused the user or password"
    finally:
        await transport.stop()
    assert "wrong-password-7" not in caplog.text
    assert phone.messages == {}


async def test_another_phone_at_the_paired_address_is_refused(phone: FakeSmsGatePhone) -> None:
    transport = SmsGateTransport("sim1", settings(phone, device_id="the-phone-we-paired"))
    await transport.start(RecordingSink())
    try:
        outcome = await transport.send(OutboundSMS("m-1", TO, "Hola"))
        assert (outcome.status, outcome.retryable) == ("failed", True)
        assert "different phone" in (outcome.error or "")
        assert not (await transport.health()).healthy
        assert phone.messages == {}
    finally:
        await transport.stop()


async def test_a_sim_the_phone_does_not_have_is_unhealthy(phone: FakeSmsGatePhone) -> None:
    transport = SmsGateTransport("sim3", settings(phone, sim=3))
    await transport.start(RecordingSink())
    try:
        health = await transport.health()
        assert (health.healthy, health.detail) == (False, "SIM 3 is not in the phone")
    finally:
        await transport.stop()


async def test_each_sim_of_a_dual_sim_phone_is_its_own_channel(phone: FakeSmsGatePhone) -> None:
    sim1 = SmsGateTransport("sim1", settings(phone, sim=1))
    sim2 = SmsGateTransport("sim2", settings(phone, sim=2))
    sink = RecordingSink()
    await sim1.start(sink)
    await sim2.start(sink)
    try:
        assert sim1.phone is sim2.phone  # one client and one set of pollers for the phone
        assert (await sim1.send(OutboundSMS("a", TO, "uno"))).status == "sent"
        assert (await sim2.send(OutboundSMS("b", TO, "dos"))).status == "sent"
        assert sorted(phone.radio) == [("a", TO, 1), ("b", TO, 2)]
        phone.receive("+529517654321", "al chip 2", sim=2)
        phone.receive("+529517654321", "al chip 1", sim=1)
        await eventually(lambda: len(sink.inbound) == 2)
        assert sorted((c, s.text) for c, s in sink.inbound) == [("sim1", "al chip 1"), ("sim2", "al chip 2")]
        with pytest.raises(TransportError, match="already has a channel"):
            await SmsGateTransport("again", settings(phone, sim=2)).start(sink)
    finally:
        await sim2.stop()
        await sim1.stop()


async def test_an_expired_message_is_not_sent(phone: FakeSmsGatePhone) -> None:
    transport = SmsGateTransport("sim1", settings(phone))
    await transport.start(RecordingSink())
    try:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
        outcome = await transport.send(OutboundSMS("m-1", TO, "Hola", expires_at=past))
        assert (outcome.status, outcome.error) == ("failed", "expired before sending")
        assert phone.messages == {}
    finally:
        await transport.stop()


# --- a phone goes away in the middle of a batch ------------------------------------------------------------


async def test_a_phone_taken_offline_mid_batch_hands_its_messages_to_another_channel_none_twice(
    tmp_path: Path,
) -> None:
    first, second = FakeSmsGatePhone(auto=True, device_id="a"), FakeSmsGatePhone(auto=True, device_id="b")
    await first.start()
    await second.start()
    spool = await Spool.open(tmp_path / "spool.sqlite3")
    channels = {
        name: SmsGateTransport(name, settings(fake, poll_interval_s=0.05))
        for name, fake in (("phone-a", first), ("phone-b", second))
    }
    sink = RecordingSink()
    for transport in channels.values():
        await transport.start(sink)
    dispatcher = Dispatcher(
        spool,
        {name: (transport, ChannelLimits()) for name, transport in channels.items()},
        DispatchSettings(timezone="UTC", idle_s=0.02, failure_threshold=1, failure_cooldown_s=3600),
    )
    ids = [f"m{n:02d}" for n in range(12)]
    try:
        await spool.store_leased(
            [Leased(i, f"+5295112345{n:02d}", "Hola", "bulk", 1, None, None) for n, i in enumerate(ids)],
            time.time() + 3600,
        )
        await dispatcher.start()
        await eventually(lambda: len(first.radio) >= 3)
        await first.stop()  # switched off mid-batch
        await eventually(lambda: len(first.radio) + len(second.radio) == len(ids), timeout=15)
        await eventually(lambda: dispatcher.inflight == 0)
        await asyncio.sleep(0.3)  # a message the dead phone might still be holding would surface here
        sent = [r[0] for r in first.radio + second.radio]
        assert sorted(sent) == ids  # every message once, none twice
        assert second.radio  # the rest went through the other phone
        states = {i: (await spool.outbound_state(i) or ("?",))[0] for i in ids}
        # At most the one message phone A had taken when it went away is "accepted": it has it, and nobody
        # can say more until it comes back. It is never given to another channel.
        held = [i for i, state in states.items() if state == "accepted"]
        assert set(states.values()) <= {"sent", "delivered", "accepted"}, states
        assert len(held) <= 1
        assert all(i in first.messages for i in held)
    finally:
        await dispatcher.stop()
        for transport in channels.values():
            await transport.stop()
        await spool.close()
        await second.stop()


# --- configuration -----------------------------------------------------------------------------------------


def test_configuration_is_checked() -> None:
    good = settings_from("c", {"url": "http://10.0.0.5:8080", "password": "p", "sim": 2})
    assert (good.url, good.sim, good.user) == ("http://10.0.0.5:8080", 2, "sms")
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "needs `url`"),
        ({"url": "ftp://x"}, "needs `url`"),
        ({"url": "http://x:8080", "sim": 0}, "sim must be"),
        ({"url": "http://x:8080", "sim": True}, "sim must be"),
        ({"url": "http://x:8080", "colour": "red"}, "unknown smsgate option"),
        ({"url": "http://x:8080", "poll_interval_s": -1}, "positive number"),
        ({"url": "http://x:8080", "password": 5}, "must be a string"),
        ({"url": "http://x:8080", "webhook_listen": "nowhere"}, "HOST:PORT"),
        ({"url": "http://x:8080", "link_kind": "modem"}, "reported to the server as smsgate"),
    ]
    for options, message in cases:
        with pytest.raises(TransportError, match=message):
            settings_from("c", options)


def test_a_paired_phone_supplies_address_and_credentials(tmp_path: Path) -> None:
    book = tmp_path / "phones.json"
    phone_book.save(
        book,
        {
            "dev-1": phone_book.Phone(
                key="dev-1", app="smsgate-local", url="http://10.0.0.7:8080", user="sms", password="s3cr3t"
            )
        },
    )
    assert (book.stat().st_mode & 0o777) == 0o600
    found = settings_from("c", {"phone": "dev-1", "phones_file": str(book), "sim": 1})
    assert (found.url, found.password, found.device_id) == ("http://10.0.0.7:8080", "s3cr3t", "dev-1")
    with pytest.raises(TransportError, match="no phone 'dev-2'"):
        settings_from("c", {"phone": "dev-2", "phones_file": str(book)})


# --- a gateway that restarts -------------------------------------------------------------------------------


async def test_after_a_restart_what_the_phone_took_is_still_reported(phone: FakeSmsGatePhone) -> None:
    """Delivery reports that come while the gateway is down, or after it restarts, are not lost; nor is the
    fate of a message the phone took just as the gateway died (which the spool settled as ``unknown``)."""
    phone.auto = False
    before = SmsGateTransport("sim1", settings(phone, send_wait_s=0.2))
    await before.start(RecordingSink())
    sending = asyncio.create_task(before.send(OutboundSMS("m-sent", TO, "Hola")))
    await eventually(lambda: "m-sent" in phone.messages)
    await phone.process()  # Processed
    await phone.process()  # Sent
    assert (await sending).status == "sent"
    await before.stop()  # the gateway dies: it was waiting for the delivery report
    await phone.process()  # delivered while nobody was following it
    assert phone.messages["m-sent"].state == "Delivered"
    # The gateway had posted this one but died before it learned the phone took it.
    assert phone._client is not None
    async with phone._client.post(
        phone.url + "/messages?skipPhoneValidation=true",
        json={"id": "m-lost", "textMessage": {"text": "Hola"}, "phoneNumbers": [TO], "simNumber": 1},
        headers={"Authorization": aiohttp.encode_basic_auth(phone.user, phone.password)},
    ) as answer:
        assert answer.status == 202

    def listings() -> list[dict[str, str]]:
        return [q for method, path, q in phone.requests if (method, path) == ("GET", "/messages")]

    listed_before = len(listings())
    after = SmsGateTransport("sim1", settings(phone))
    sink = RecordingSink()
    await after.start(sink)
    try:
        await eventually(lambda: sink.status_of("m-sent") == ["sent", "delivered"])
        await phone.process()  # Processed
        await phone.process()  # Sent
        await phone.process()  # Delivered
        await eventually(lambda: sink.status_of("m-lost") == ["sent", "delivered"])
        assert len(listings()) == listed_before + 1, "the phone's messages are listed once, after the start"
        since = dt.datetime.fromisoformat(listings()[-1]["from"])
        assert since < dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    finally:
        await after.stop()


async def test_a_phone_that_cannot_list_its_messages_is_asked_again(phone: FakeSmsGatePhone) -> None:
    phone.script("GET", "/messages", 500)
    transport = SmsGateTransport("sim1", settings(phone))
    await transport.start(RecordingSink())
    try:
        await eventually(
            lambda: [p for m, p, _ in phone.requests if (m, p) == ("GET", "/messages")] == ["/messages"] * 2
        )
        assert phone.unused() == []
    finally:
        await transport.stop()
