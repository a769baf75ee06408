"""EnvayaSMS in the harness: the gateway's endpoint against the fake phone (a real HTTP client)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from gateway.android_bridge.dialin import DialInSettings
from gateway.android_bridge.envaya import EnvayaTransport
from gateway.transports.base import OutboundSMS
from tests.gateway.android.fake_envaya import FakeEnvayaPhone
from tests.gateway.android.sink import RecordingSink
from tests.gateway.harness import Rig, app, case, eventually

PASSWORD = "clave-secreta-9"
TO = "+529511234567"


@app("envaya")
@asynccontextmanager
async def envaya_rig(version: int = 30, pickup_timeout_s: float = 5.0, **_: Any) -> AsyncIterator[Rig]:
    settings = DialInSettings(
        listen="127.0.0.1:0",
        path="/envaya/old-phone",
        url=None,
        secret=PASSWORD,
        pickup_timeout_s=pickup_timeout_s,
    )
    transport = EnvayaTransport("old-phone", settings)
    sink = RecordingSink()
    await transport.start(sink)
    phone = FakeEnvayaPhone(transport.url, PASSWORD, version=version)
    await phone.start()
    try:
        yield Rig(transport, sink, phone, secrets=(PASSWORD,), extra={"phone": phone})
    finally:
        await phone.stop()
        await transport.stop()


def fake(rig: Rig) -> FakeEnvayaPhone:
    phone = rig.extra["phone"]
    assert isinstance(phone, FakeEnvayaPhone)
    return phone


async def send_through_sync(rig: Rig, message: OutboundSMS) -> tuple[str, list[dict[str, str]]]:
    phone = fake(rig)
    assert (await phone.request("test"))[0] == 200  # the phone has called in: the channel is up
    sending = asyncio.create_task(rig.transport.send(message))
    await eventually(lambda: len(rig.transport.handover) == 1)  # type: ignore[attr-defined]
    got = await phone.sync()
    outcome = await sending
    return outcome.status, got


@case("envaya", "outgoing")
async def test_a_message_waits_for_the_poll_then_is_reported_sent(rig: Rig) -> None:
    status, got = await send_through_sync(rig, OutboundSMS("m-1", TO, "Hola Ana & <familia>"))
    assert status == "accepted"
    assert got == [{"id": "m-1", "to": TO, "message": "Hola Ana & <familia>"}]
    assert rig.sink.status_of("m-1") == ["sent"]
    assert (await rig.transport.health()).battery == 76


@case("envaya", "outgoing", version=27)
async def test_an_app_before_version_28_gets_xml(rig: Rig) -> None:
    status, got = await send_through_sync(rig, OutboundSMS("m-2", TO, "Hola Ana & <familia>"))
    assert status == "accepted"
    assert got == [{"id": "m-2", "to": TO, "message": "Hola Ana & <familia>"}]
    assert rig.sink.status_of("m-2") == ["sent"]


@case("envaya", "outgoing")
async def test_a_failure_the_phone_reports_is_final(rig: Rig) -> None:
    fake(rig).behaviour[TO] = "failed"
    status, _ = await send_through_sync(rig, OutboundSMS("m-3", TO, "Hola"))
    assert status == "accepted"
    assert rig.sink.status_of("m-3") == ["failed"]
    assert rig.sink.statuses[0][1].error == "generic failure"


@case("envaya", "outgoing", pickup_timeout_s=0.2)
async def test_a_message_the_phone_never_fetches_goes_back_and_is_not_handed_later(rig: Rig) -> None:
    phone = fake(rig)
    await phone.request("test")
    outcome = await rig.transport.send(OutboundSMS("m-4", TO, "Hola"))
    assert (outcome.status, outcome.retryable) == ("failed", True)
    assert await phone.sync() == []  # a late poll gets nothing: another channel has it now
    assert phone.radio == []


@case("envaya", "incoming")
async def test_an_sms_is_spooled_once_with_the_phone_timestamp(rig: Rig) -> None:
    phone = fake(rig)
    sms = phone.receive("+529517654321", "SI, gracias", timestamp_ms=1_778_712_550_000)
    await phone.sync()
    assert rig.sink.texts() == ["SI, gracias"]
    _, spooled = rig.sink.inbound[0]
    assert spooled.sender == "+529517654321"
    assert spooled.received_at == dt.datetime(2026, 5, 13, 22, 49, 10, tzinfo=dt.UTC)
    phone.pending_incoming.append(sms)  # the app did not see our answer and forwards it again
    await phone.sync()
    assert rig.sink.texts() == ["SI, gracias"]


@case("envaya", "incoming", version=27)
async def test_a_failed_commit_is_answered_503_and_the_retry_is_kept(rig: Rig) -> None:
    phone = fake(rig)
    rig.sink.fail_next_inbound = 1
    phone.receive("+529517654321", "NO")
    await phone.sync()
    assert ("incoming", 503) in phone.answers
    assert rig.sink.texts() == []
    await phone.sync()
    assert rig.sink.texts() == ["NO"]
