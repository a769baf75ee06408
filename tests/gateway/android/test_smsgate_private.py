"""SMSGate private-server mode beyond the harness table: hostile requests on every endpoint the gateway
serves, the registration across restarts, health, a phone taken offline mid-batch, configuration."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway import tls
from gateway.android_bridge import phones as phone_book
from gateway.android_bridge import smsgate_private_device as device
from gateway.android_bridge.smsgate_private import SmsGatePrivateTransport, _factory
from gateway.config import load_config
from gateway.dispatcher import ChannelLimits, Dispatcher, DispatchSettings
from gateway.spool import Leased, Spool
from gateway.transports.base import OutboundSMS, TransportError
from tests.gateway.android.cases_smsgate_private import (
    PRIVATE_TOKEN,
    TO,
    channel_settings,
    smsgate_private_rig,
)
from tests.gateway.android.fake_smsgate_private import FakeSmsGatePrivatePhone
from tests.gateway.android.sink import RecordingSink
from tests.gateway.harness import Rig, eventually

GUESS = "adivinanza-de-un-intruso"


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with smsgate_private_rig() as made:
        yield made


def phone_of(rig: Rig) -> FakeSmsGatePrivatePhone:
    phone = rig.extra["phone"]
    assert isinstance(phone, FakeSmsGatePrivatePhone)
    return phone


def envelope(phone: FakeSmsGatePrivatePhone, **changes: Any) -> dict[str, Any]:
    sms = {
        "messageId": "abc123",
        "message": "SI",
        "sender": "+529517654321",
        "receivedAt": "2026-12-02T10:00:00.000-06:00",
    }
    return {"id": "ev-1", "event": "sms:received", "deviceId": phone.device_id, "payload": sms, **changes}


async def callback(phone: FakeSmsGatePrivatePhone, body: bytes, headers: dict[str, str]) -> int:
    return await phone.post_signed(phone.api_url + "/callback", body, headers)


async def signed_callback(phone: FakeSmsGatePrivatePhone, data: Any, **how: Any) -> int:
    body, headers = phone.signed(data, **how)
    return await callback(phone, body, headers)


async def raw_signed(phone: FakeSmsGatePrivatePhone, raw: bytes) -> int:
    return await callback(phone, raw, phone.sign(raw))


Act = Callable[[FakeSmsGatePrivatePhone], Awaitable[Any]]


async def status_of(call: Awaitable[tuple[int, Any]]) -> int:
    return (await call)[0]


HOSTILE: list[tuple[str, Act, int]] = [
    (
        "register with a wrong private token",
        lambda p: status_of(p.call("POST", "/device", token=GUESS, body={"simCards": []})),
        401,
    ),
    (
        "register without a token",
        lambda p: status_of(p.call("POST", "/device", token="", body={"simCards": []})),
        401,
    ),
    (
        "register with a device token",
        lambda p: status_of(p.call("POST", "/device", body={"simCards": []})),
        401,
    ),
    (
        "register with malformed JSON",
        lambda p: status_of(p.call("POST", "/device", token=PRIVATE_TOKEN, raw=b"{")),
        400,
    ),
    (
        "register with a list",
        lambda p: status_of(p.call("POST", "/device", token=PRIVATE_TOKEN, body=[1])),
        400,
    ),
    (
        "register with bad SIM cards",
        lambda p: status_of(p.call("POST", "/device", token=PRIVATE_TOKEN, body={"simCards": "1"})),
        400,
    ),
    (
        "register oversized",
        lambda p: status_of(p.call("POST", "/device", token=PRIVATE_TOKEN, body={"name": "x" * 70_000})),
        413,
    ),
    (
        "update with a wrong token",
        lambda p: status_of(p.call("PATCH", "/device", token=GUESS, body={"id": p.device_id})),
        401,
    ),
    (
        "update another device",
        lambda p: status_of(p.call("PATCH", "/device", body={"id": "otro", "simCards": []})),
        403,
    ),
    ("update with malformed JSON", lambda p: status_of(p.call("PATCH", "/device", raw=b"[")), 400),
    ("delete the device", lambda p: status_of(p.call("DELETE", "/device")), 405),
    ("fetch messages without a token", lambda p: status_of(p.call("GET", "/message", token="")), 401),
    ("fetch messages with a wrong token", lambda p: status_of(p.call("GET", "/message", token=GUESS)), 401),
    (
        "report states with a wrong token",
        lambda p: status_of(p.call("PATCH", "/message", token=GUESS, body=[])),
        401,
    ),
    (
        "report states as an object",
        lambda p: status_of(p.call("PATCH", "/message", body={"id": "m", "state": "Sent"})),
        400,
    ),
    (
        "report an unknown state",
        lambda p: status_of(p.call("PATCH", "/message", body=[{"id": "m", "state": "Gone"}])),
        400,
    ),
    ("report malformed JSON", lambda p: status_of(p.call("PATCH", "/message", raw=b"[{")), 400),
    (
        "report too many states",
        lambda p: status_of(p.call("PATCH", "/message", body=[{"id": "m", "state": "Sent"}] * 101)),
        400,
    ),
    (
        "report oversized",
        lambda p: status_of(
            p.call("PATCH", "/message", body=[{"id": "m", "state": "Sent", "x": "y" * 70_000}])
        ),
        413,
    ),
    ("post a message", lambda p: status_of(p.call("POST", "/message", body=[])), 405),
    ("webhooks with a wrong token", lambda p: status_of(p.call("GET", "/webhooks", token=GUESS)), 401),
    ("settings with a wrong token", lambda p: status_of(p.call("GET", "/settings", token=GUESS)), 401),
    ("settings changed by the phone", lambda p: status_of(p.call("PATCH", "/settings", body={})), 405),
    ("events with a wrong token", lambda p: status_of(p.call("GET", "/events", token=GUESS)), 401),
    ("an account code", lambda p: status_of(p.call("GET", "/user/code", token=GUESS)), 404),
    (
        "a password change",
        lambda p: status_of(p.call("PATCH", "/user/password", body={"newPassword": GUESS})),
        404,
    ),
    ("an unknown path", lambda p: status_of(p.call("GET", "/admin")), 404),
    (
        "an unsigned webhook",
        lambda p: callback(p, json.dumps(envelope(p)).encode(), {"Content-Type": "application/json"}),
        401,
    ),
    ("a webhook signed with a guessed key", lambda p: signed_callback(p, envelope(p), key=GUESS), 401),
    (
        "a webhook replayed outside the window",
        lambda p: signed_callback(p, envelope(p), at=time.time() - 3600),
        401,
    ),
    ("a webhook from the future", lambda p: signed_callback(p, envelope(p), at=time.time() + 3600), 401),
    ("a signed webhook that is not JSON", lambda p: raw_signed(p, b"{not json"), 400),
    (
        "a signed webhook without a payload",
        lambda p: signed_callback(p, {"id": "e", "event": "sms:received"}),
        400,
    ),
    (
        "a signed SMS without a sender",
        lambda p: signed_callback(p, envelope(p, payload={"messageId": "x", "message": "SI"})),
        400,
    ),
    ("a signed webhook of another device", lambda p: signed_callback(p, envelope(p, deviceId="otro")), 403),
    ("a webhook fetched", lambda p: status_of(p.call("GET", "/callback")), 405),
    ("an oversized webhook", lambda p: signed_callback(p, envelope(p, padding="x" * 70_000)), 413),
]


@pytest.mark.parametrize(("name", "act", "status"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_hostile_requests_are_refused_logged_without_secrets_and_store_nothing(
    rig: Rig, caplog: pytest.LogCaptureFixture, name: str, act: Act, status: int
) -> None:
    phone = phone_of(rig)
    await phone.stop_listening()  # only the hostile request reaches the gateway
    transport = rig.transport
    assert isinstance(transport, SmsGatePrivateTransport)
    registration_file = device.path_for(transport.private.state_dir, transport.private.phone)
    before = registration_file.read_bytes()
    seen_before = transport.last_seen
    caplog.set_level(logging.DEBUG)
    assert await act(phone) == status
    assert rig.sink.inbound == []
    assert rig.sink.statuses == []
    assert registration_file.read_bytes() == before
    assert phone.registrations == 1
    assert transport.last_seen == seen_before
    assert "refused" in caplog.text
    for secret in (*rig.secrets, GUESS):
        assert secret not in caplog.text
    assert (await phone.call("GET", "/message"))[0] == 200  # the real phone still works


async def test_the_settings_never_re_point_the_phone_and_carry_its_signing_key(rig: Rig) -> None:
    phone = phone_of(rig)
    assert "gateway" not in phone.settings
    assert phone.settings["webhooks"]["internet_required"] is False
    assert phone.settings["messages"] == {"processing_order": "FIFO", "limit_period": "Disabled"}
    assert set(phone.webhooks) >= {"sms:received", "sms:delivered", "system:ping"}
    assert all(url == phone.api_url + "/callback" for url in phone.webhooks.values())


async def test_the_event_stream_speaks_the_apps_format_and_a_new_stream_replaces_the_old(rig: Rig) -> None:
    phone = phone_of(rig)
    await phone.stop_listening()
    transport = rig.transport
    assert isinstance(transport, SmsGatePrivateTransport)
    assert transport.phone is not None
    headers = {"Authorization": f"Bearer {phone.token}"}

    async def next_event(stream: aiohttp.ClientResponse) -> bytes:
        while (frame := await stream.content.readuntil(b"\n\n")) == b":keepalive\n\n":
            pass
        return frame

    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=phone.ssl)) as session,
        session.get(phone.api_url + "/events", headers=headers) as first,
    ):
        assert (first.status, first.headers["Content-Type"]) == (200, "text/event-stream")
        assert first.headers["Cache-Control"] == "no-cache"
        assert await first.content.readuntil(b"\n\n") == b":keepalive\n\n"
        transport.phone.notify("MessageEnqueued")
        assert await next_event(first) == b"event: MessageEnqueued\ndata: null\n\n"
        async with session.get(phone.api_url + "/events", headers=headers) as second:
            assert second.status == 200
            rest = await asyncio.wait_for(first.content.read(), 5)  # the old stream has ended
            assert rest.replace(b":keepalive\n\n", b"") == b""
            transport.phone.notify("SettingsUpdated")
            assert await next_event(second) == b"event: SettingsUpdated\ndata: null\n\n"


async def test_a_status_for_a_message_this_phone_was_never_given_is_ignored(rig: Rig) -> None:
    phone = phone_of(rig)
    status, _ = await phone.call("PATCH", "/message", body=[{"id": "de-otro", "state": "Delivered"}])
    assert status == 204
    forged = phone.post_event(
        "sms:delivered", None, {"messageId": "de-otro", "deliveredAt": "2026-12-02T10:00:00.000-06:00"}
    )
    assert forged["event"] == "sms:delivered"
    assert await phone.flush() == [200]
    assert rig.sink.statuses == []


async def test_the_registration_survives_a_restart_and_keeps_only_a_hash(tmp_path: Path) -> None:
    dial_in, private = channel_settings(tmp_path)
    first = SmsGatePrivateTransport("p", dial_in, private)
    await first.start(sink := RecordingSink())
    phone = FakeSmsGatePrivatePhone(first.url, PRIVATE_TOKEN, tls.ca_paths(tmp_path / "tls")[0])
    try:
        await phone.start(listen=False)
        assert phone.token is not None
        await first.stop()
        saved = device.path_for(private.state_dir, "recepcion")
        assert os.stat(saved).st_mode & 0o777 == 0o600
        assert phone.token not in saved.read_text()
        second = SmsGatePrivateTransport("p", dial_in, private)
        await second.start(sink)
        try:
            # Port 0 gave the restarted gateway another port; a real one keeps its address.
            phone.api_url = second.url
            phone.webhooks = {event: second.url + "/callback" for event in phone.webhooks}
            await phone.restart()
            assert phone.registrations == 1  # the old token still works: no new registration
            phone.receive("+529517654321", "SI")
            assert await phone.flush() == [200]  # and the signing key is the one the phone has
        finally:
            await second.stop()
    finally:
        await phone.stop()


async def test_after_a_restart_what_the_phone_fetched_is_still_followed_and_served(tmp_path: Path) -> None:
    dial_in, private = channel_settings(tmp_path)
    before = SmsGatePrivateTransport("p", dial_in, private)
    await before.start(RecordingSink())
    phone = FakeSmsGatePrivatePhone(before.url, PRIVATE_TOKEN, tls.ca_paths(tmp_path / "tls")[0])
    try:
        await phone.start(listen=False)
        sending = [asyncio.create_task(before.send(OutboundSMS(i, TO, "Hola"))) for i in ("m-1", "m-2")]
        await eventually(lambda: len(before.handover) == 2)
        assert await phone.pull() == ["m-1", "m-2"]
        assert [(await s).status for s in sending] == ["accepted", "accepted"]
        phone.messages.pop("m-2")  # the phone never got it: the answer was cut short
        await phone.process("m-1")
        await before.stop()  # the gateway restarts before the delivery report
        after = SmsGatePrivateTransport("p", dial_in, private)
        sink = RecordingSink()
        await after.start(sink)
        try:
            phone.api_url = after.url  # port 0 again: a real gateway keeps its address
            phone.webhooks = {event: after.url + "/callback" for event in phone.webhooks}
            await phone.delivery_report("m-1", [0x00])
            assert sink.status_of("m-1") == ["delivered"]  # "sent" was reported before the restart
            assert await phone.pull() == ["m-2"]  # never confirmed, so served again
            await phone.process("m-2")
            assert sink.status_of("m-2") == ["sent"]
            assert [r[0] for r in phone.radio] == ["m-1", "m-2"]
            left = device.load_messages(device.messages_path_for(private.state_dir, private.phone))
            assert [e["id"] for e in left] == ["m-2"]  # waiting for its delivery report
        finally:
            await after.stop()
    finally:
        await phone.stop()


async def test_health_says_what_the_technician_must_do(tmp_path: Path) -> None:
    dial_in, private = channel_settings(tmp_path, quiet_after_s=0.3)
    transport = SmsGatePrivateTransport("p", dial_in, private, sim=2)
    await transport.start(RecordingSink())
    try:
        health = await transport.health()
        assert not health.healthy
        assert "has not registered" in str(health.detail)
        phone = FakeSmsGatePrivatePhone(
            transport.url, PRIVATE_TOKEN, tls.ca_paths(tmp_path / "tls")[0], sims=(1,)
        )
        await phone.start(listen=False)
        health = await transport.health()
        assert (health.healthy, health.detail) == (False, "SIM 2 is not in the phone")
        phone.sims = (1, 2)
        phone.push_token = "fcm-token"
        await phone.restart()
        await phone.stop_listening()
        health = await transport.health()
        assert health.healthy
        assert "SSE only" in str(health.detail)
        await asyncio.sleep(0.4)
        health = await transport.health()
        assert not health.healthy
        assert "quiet" in str(health.detail)
        outcome = await transport.send(OutboundSMS("m-1", TO, "Hola"))
        assert (outcome.status, outcome.retryable) == ("failed", True)
        await phone.stop()
    finally:
        await transport.stop()


async def test_a_phone_that_does_not_trust_the_ca_cannot_talk_to_the_gateway(tmp_path: Path) -> None:
    dial_in, private = channel_settings(tmp_path)
    transport = SmsGatePrivateTransport("p", dial_in, private)
    await transport.start(RecordingSink())
    try:
        other = tmp_path / "other-ca"
        tls.ensure_ca(other)
        phone = FakeSmsGatePrivatePhone(transport.url, PRIVATE_TOKEN, tls.ca_paths(other)[0])
        with pytest.raises(Exception, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await phone.start(listen=False)
        await phone.stop()
    finally:
        await transport.stop()


async def test_a_technicians_own_certificate_is_served(tmp_path: Path) -> None:
    own = tmp_path / "own"
    cert, key, _ = tls.ensure_server(own, ["127.0.0.1"])
    dial_in, private = channel_settings(tmp_path)
    private = type(private)(**{**private.__dict__, "tls_cert": cert, "tls_key": key})
    transport = SmsGatePrivateTransport("p", dial_in, private)
    await transport.start(RecordingSink())
    try:
        phone = FakeSmsGatePrivatePhone(transport.url, PRIVATE_TOKEN, tls.ca_paths(own)[0])
        await phone.start(listen=False)
        await phone.stop()
        assert not (tmp_path / "tls").exists()  # no local CA was made
    finally:
        await transport.stop()


# --- a phone goes away in the middle of a batch ------------------------------------------------------------


async def test_a_phone_taken_offline_mid_batch_hands_its_messages_to_another_channel_none_twice(
    tmp_path: Path,
) -> None:
    spool = await Spool.open(tmp_path / "spool.sqlite3")
    sink = RecordingSink()
    channels: dict[str, SmsGatePrivateTransport] = {}
    fakes: dict[str, FakeSmsGatePrivatePhone] = {}
    for name in ("phone-a", "phone-b"):
        dial_in, private = channel_settings(tmp_path, phone=name, pickup_timeout_s=0.5, quiet_after_s=1.0)
        channels[name] = SmsGatePrivateTransport(name, dial_in, private)
        await channels[name].start(sink)
        fakes[name] = FakeSmsGatePrivatePhone(
            channels[name].url, PRIVATE_TOKEN, tls.ca_paths(tmp_path / "tls")[0], auto=True
        )
        await fakes[name].start()
    first, second = fakes["phone-a"], fakes["phone-b"]
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
        fetched_by_a = channels["phone-a"].phone.handed.tracked  # type: ignore[union-attr]

        def radio() -> list[str]:
            return [r[0] for r in first.radio + second.radio]

        await eventually(
            lambda: dispatcher.inflight == 0 and set(radio()) | set(fetched_by_a) >= set(ids), 20
        )
        await asyncio.sleep(0.3)  # a message the dead phone still held would surface here
        sent = radio()
        assert len(sent) == len(set(sent))  # none twice
        assert second.radio  # the rest went through the other phone
        states = {i: (await spool.outbound_state(i) or ("?",))[0] for i in ids}
        assert set(states.values()) <= {"sent", "delivered", "accepted"}, states
        # A message phone A had fetched when it went away stays "accepted": it has it, and nobody can say
        # more until it comes back. It is never given to another channel.
        held = [i for i in ids if i not in sent]
        assert all(states[i] == "accepted" and i in fetched_by_a for i in held), (held, states)
    finally:
        await dispatcher.stop()
        await second.stop()
        for transport in channels.values():
            await transport.stop()
        await spool.close()


# --- configuration -----------------------------------------------------------------------------------------


def test_configuration_is_checked(tmp_path: Path) -> None:
    book = tmp_path / "phones.json"
    phone_book.save(
        book, {"recepcion": phone_book.Phone(key="recepcion", app="smsgate-cloud", password=PRIVATE_TOKEN)}
    )
    phone_book.save(
        book,
        {
            **phone_book.load(book),
            "viejo": phone_book.Phone(key="viejo", app="envaya", password="clave-secreta-9"),
        },
    )
    good = _factory(
        "recepcion-sim1",
        {
            "listen": "0.0.0.0:8443",
            "url": "https://192.168.1.2:8443/smsgate-private/recepcion",
            "phone": "recepcion",
            "phones_file": str(book),
            "sim": 1,
        },
    )
    assert (good.private.private_token, good.sim, good.private.path) == (
        PRIVATE_TOKEN,
        1,
        "/smsgate-private/recepcion",
    )
    assert (good.private.tls_dir, good.private.state_dir) == (tmp_path / "tls", tmp_path / "smsgate-private")
    assert good.link_kind == "smsgate"
    spaced = _factory(
        "p", {"listen": "127.0.0.1:8443", "phone": "centro norte/2", "private_token": PRIVATE_TOKEN}
    )
    assert spaced.private.path == "/smsgate-private/centro-norte-2"  # the URL and the matched path agree
    base = {"listen": "0.0.0.0:8443", "phones_file": str(book)}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base}, "needs `phone`"),
        ({**base, "phone": "nadie"}, "no phone 'nadie'"),
        ({**base, "phone": "viejo"}, "not paired for SMSGate private-server"),
        ({**base, "phone": "x", "private_token": "corto"}, "at least 8"),
        ({**base, "phone": "recepcion", "url": "http://192.168.1.2:8443/x"}, "must be https"),
        ({**base, "phone": "recepcion", "sim": 0}, "sim must be"),
        ({**base, "phone": "recepcion", "tls_cert": "/x.crt"}, "both `tls_cert` and `tls_key`"),
        ({**base, "phone": "recepcion", "ping_interval_s": 5}, "ping_interval_s"),
        ({**base, "phone": "recepcion", "webhook_url": "x"}, "unknown smsgate-private option"),
        ({**base, "phone": "recepcion", "link_kind": "envaya"}, "reported to the server as smsgate"),
    ]
    for options, message in cases:
        with pytest.raises(TransportError, match=message):
            _factory("p", options)


def test_a_private_channel_gets_androids_limit_by_default(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        'server = "http://127.0.0.1:1"\ntoken = "t"\n[[channels]]\nid = "recepcion-sim1"\nkind = "smsgate-private"\n'
        'listen = "0.0.0.0:8443"\nphone = "recepcion"\n'
    )
    channel = load_config(config).channels[0]
    assert (channel.limits.window_max, channel.limits.window_s) == (30, 1800)
