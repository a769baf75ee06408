"""SMSSync in the harness: the gateway's Sync URL against the fake phone (a real HTTP client)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from gateway.android_bridge.dialin import DialInSettings
from gateway.android_bridge.smssync import SmsSyncTransport
from gateway.transports.base import OutboundSMS
from tests.gateway.android.fake_smssync import FakeSmsSyncPhone
from tests.gateway.android.sink import RecordingSink
from tests.gateway.harness import Rig, app, case, eventually

SECRET = "secreto-del-sitio-4"
TO = "+529511234567"


@app("smssync")
@asynccontextmanager
async def smssync_rig(
    results_api: bool = True, pickup_timeout_s: float = 5.0, **_: Any
) -> AsyncIterator[Rig]:
    settings = DialInSettings(
        listen="127.0.0.1:0",
        path="/smssync/old-phone",
        url=None,
        secret=SECRET,
        pickup_timeout_s=pickup_timeout_s,
    )
    transport = SmsSyncTransport("old-phone", settings, results_api=results_api)
    sink = RecordingSink()
    await transport.start(sink)
    phone = FakeSmsSyncPhone(transport.url, SECRET, results_api=results_api)
    await phone.start()
    try:
        yield Rig(transport, sink, phone, secrets=(SECRET,), extra={"phone": phone})
    finally:
        await phone.stop()
        await transport.stop()


def fake(rig: Rig) -> FakeSmsSyncPhone:
    phone = rig.extra["phone"]
    assert isinstance(phone, FakeSmsSyncPhone)
    return phone


async def send_through_sync(rig: Rig, message: OutboundSMS) -> str:
    phone = fake(rig)
    await phone.sync()  # the phone has called in: the channel is up
    sending = asyncio.create_task(rig.transport.send(message))
    await eventually(lambda: len(rig.transport.handover) == 1)  # type: ignore[attr-defined]
    await phone.sync()
    return (await sending).status


@case("smssync", "outgoing")
async def test_confirmed_then_sent_then_delivered(rig: Rig) -> None:
    phone = fake(rig)
    assert await send_through_sync(rig, OutboundSMS("m-1", TO, "Hola Ana")) == "accepted"
    assert phone.radio == [("m-1", TO, "Hola Ana")]
    await phone.report()
    assert rig.sink.status_of("m-1") == ["sent"]
    phone.delivered("m-1")
    await phone.report()
    assert rig.sink.status_of("m-1") == ["sent", "delivered"]


@case("smssync", "outgoing")
async def test_a_failure_the_phone_reports_is_final(rig: Rig) -> None:
    phone = fake(rig)
    assert await send_through_sync(rig, OutboundSMS("m-2", TO, "Hola")) == "accepted"
    phone.failed("m-2")
    await phone.report()
    assert rig.sink.status_of("m-2") == ["failed"]
    assert rig.sink.statuses[-1][1].error == "no service"


@case("smssync", "outgoing", results_api=False)
async def test_without_the_results_api_a_polled_message_is_the_phones(rig: Rig) -> None:
    phone = fake(rig)
    assert await send_through_sync(rig, OutboundSMS("m-3", TO, "Hola")) == "accepted"
    assert phone.radio == [("m-3", TO, "Hola")]


@case("smssync", "outgoing", pickup_timeout_s=0.3)
async def test_a_message_shown_but_never_confirmed_goes_back_and_a_late_confirmation_is_refused(
    rig: Rig,
) -> None:
    phone = fake(rig)
    await phone.sync()
    sending = asyncio.create_task(rig.transport.send(OutboundSMS("m-4", TO, "Hola")))
    await eventually(lambda: len(rig.transport.handover) == 1)  # type: ignore[attr-defined]
    status, answer = await phone.call("GET", {"task": "send", "secret": SECRET})
    assert [m["uuid"] for m in answer["payload"]["messages"]] == ["m-4"]
    outcome = await sending  # the phone never confirmed
    assert (outcome.status, outcome.retryable) == ("failed", True)
    status, confirmed = await phone.call("POST", {"task": "sent"}, json={"queued_messages": ["m-4"]})
    assert (status, confirmed) == (200, {"message_uuids": []})


@case("smssync", "incoming")
async def test_an_sms_is_spooled_once_even_when_forwarded_again(rig: Rig) -> None:
    phone = fake(rig)
    sms = phone.receive("+529517654321", "SI")
    await phone.sync()
    assert rig.sink.texts() == ["SI"]
    phone.pending_incoming.append(sms)  # the app did not see our answer
    await phone.sync()
    assert rig.sink.texts() == ["SI"]
    assert rig.sink.offers == 2


@case("smssync", "incoming")
async def test_a_failed_commit_is_kept_by_the_app_and_retried(rig: Rig) -> None:
    phone = fake(rig)
    rig.sink.fail_next_inbound = 1
    phone.receive("+529517654321", "NO")
    await phone.sync()
    assert ("incoming", 503) in phone.answers
    await phone.sync()
    assert rig.sink.texts() == ["NO"]
