"""SMSGate local-server mode in the harness: the transport against the fake phone (one SIM channel of a
dual-SIM phone, webhooks on)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from gateway.android_bridge.smsgate_local import SmsGateSettings, SmsGateTransport
from gateway.transports.base import OutboundSMS
from tests.gateway.android.fake_smsgate import FakeSmsGatePhone
from tests.gateway.android.sink import RecordingSink
from tests.gateway.harness import Rig, app, case, eventually

TO = "+529511234567"
LONG = "Recuerde su cita de control prenatal. " * 5  # 190 GSM-7 characters: two parts


@app("smsgate")
@asynccontextmanager
async def smsgate_rig(**options: Any) -> AsyncIterator[Rig]:
    phone = FakeSmsGatePhone(sims=(1, 2), auto=options.pop("auto", True))
    await phone.start()
    values: dict[str, Any] = {
        "url": phone.url,
        "user": phone.user,
        "password": phone.password,
        "sim": 1,
        "poll_interval_s": 0.05,
        "send_wait_s": 2.0,
        "request_timeout_s": 1.0,
        "webhook_listen": "127.0.0.1:0",
        "signing_key": "wH8n3RkT2pQz",
    }
    values.update(options)
    transport = SmsGateTransport("phone-a-sim1", SmsGateSettings(**values))
    sink = RecordingSink()
    await transport.start(sink)
    try:
        yield Rig(
            transport, sink, phone, secrets=(phone.password, values["signing_key"]), extra={"phone": phone}
        )
    finally:
        await transport.stop()
        await phone.stop()


def fake(rig: Rig) -> FakeSmsGatePhone:
    phone = rig.extra["phone"]
    assert isinstance(phone, FakeSmsGatePhone)
    return phone


# --- outgoing --------------------------------------------------------------------------------------------


@case("smsgate", "outgoing")
async def test_sent_with_our_id_then_delivered(rig: Rig) -> None:
    phone = fake(rig)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    outcome = await rig.transport.send(OutboundSMS("m-1", TO, "Hola Ana", "reply", expires))
    assert outcome.status == "sent"
    assert outcome.parts == 1
    message = phone.messages["m-1"]
    assert message.sim == 1
    assert message.with_delivery_report
    assert message.valid_until is not None
    assert dt.timedelta(minutes=119) < message.valid_until - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=2)
    assert ("POST", "/messages", {"skipPhoneValidation": "true"}) in phone.requests
    await eventually(lambda: "delivered" in rig.sink.status_of("m-1"))
    assert phone.radio == [("m-1", TO, 1)]


@case("smsgate", "outgoing", auto=False)
async def test_multipart_is_delivered_only_when_every_part_is(rig: Rig) -> None:
    phone = fake(rig)
    sending = asyncio.create_task(rig.transport.send(OutboundSMS("m-2", TO, LONG)))
    await eventually(lambda: "m-2" in phone.messages)
    await phone.process()  # Processed
    await phone.process()  # Sent
    outcome = await sending
    assert (outcome.status, outcome.parts) == ("sent", 2)
    await phone.report("m-2", TO, 0, 0x00)  # first part delivered
    await phone.report("m-2", TO, 1, 0x30)  # SMSC still trying: ignored
    await asyncio.sleep(0.3)
    assert rig.sink.status_of("m-2") == []
    await phone.report("m-2", TO, 1, 0x00)
    await eventually(lambda: rig.sink.status_of("m-2") == ["delivered"])


@case("smsgate", "outgoing", request_timeout_s=0.5)
async def test_a_lost_answer_is_asked_again_and_the_phone_sends_once(rig: Rig) -> None:
    phone = fake(rig)
    phone.script("POST", "/messages", "drop-answer")
    outcome = await rig.transport.send(OutboundSMS("m-3", TO, "Hola"))
    assert outcome.status == "sent"
    posts = [r for r in phone.requests if r[:2] == ("POST", "/messages")]
    assert len(posts) == 2  # the second got 409: the phone already had it
    await eventually(lambda: "delivered" in rig.sink.status_of("m-3"))
    assert [r for r in phone.radio if r[0] == "m-3"] == [("m-3", TO, 1)]


@case("smsgate", "outgoing")
async def test_a_radio_failure_is_final(rig: Rig) -> None:
    phone = fake(rig)
    phone.behaviour[TO] = "fail"
    outcome = await rig.transport.send(OutboundSMS("m-4", TO, "Hola"))
    assert outcome.status == "failed"
    assert not outcome.retryable  # Android had it: another channel must not send it again
    assert outcome.error == "RESULT_ERROR_GENERIC_FAILURE"
    assert phone.radio == []


@case("smsgate", "outgoing", send_wait_s=0.3)
async def test_a_message_the_phone_never_starts_is_cancelled_and_given_back(rig: Rig) -> None:
    phone = fake(rig)
    phone.behaviour[TO] = "stuck"
    outcome = await rig.transport.send(OutboundSMS("m-5", TO, "Hola"))
    assert (outcome.status, outcome.retryable) == ("failed", True)
    assert phone.messages["m-5"].state == "Cancelled"
    assert phone.radio == []


@case("smsgate", "outgoing")
async def test_a_refused_request_goes_elsewhere(rig: Rig) -> None:
    phone = fake(rig)
    phone.script("POST", "/messages", 500)
    outcome = await rig.transport.send(OutboundSMS("m-6", TO, "Hola"))
    assert (outcome.status, outcome.retryable) == ("failed", True)
    assert "HTTP 500" in (outcome.error or "")
    assert phone.radio == []


# --- incoming --------------------------------------------------------------------------------------------


@case("smsgate", "incoming")
async def test_sms_are_read_once_in_order_with_their_dates(rig: Rig) -> None:
    phone = fake(rig)
    first = phone.receive("+529517654321", "SI")
    await asyncio.sleep(0.002)
    phone.receive("+529517654321", "mañana a las 10")
    await eventually(lambda: len(rig.sink.inbound) == 2)
    await asyncio.sleep(0.2)  # more polls: nothing is offered twice
    assert rig.sink.texts() == ["SI", "mañana a las 10"]
    channel, sms = rig.sink.inbound[0]
    assert channel == "phone-a-sim1"
    assert sms.identity == first.id
    assert sms.sender == "+529517654321"
    assert abs(sms.received_at - first.created) < dt.timedelta(milliseconds=1)  # the app keeps milliseconds
    assert sms.received_at.utcoffset() == dt.timedelta(hours=-6)
    assert rig.sink.offers == 2


@case("smsgate", "incoming")
async def test_an_sms_on_the_other_sim_still_reaches_the_server(rig: Rig) -> None:
    phone = fake(rig)
    phone.receive("+529517654321", "por el chip 2", sim=2)
    await eventually(lambda: rig.sink.texts() == ["por el chip 2"])


@case("smsgate", "incoming")
async def test_a_failed_commit_is_offered_again_and_kept_once(rig: Rig) -> None:
    phone = fake(rig)
    rig.sink.fail_next_inbound = 1
    phone.receive("+529517654321", "NO")
    await eventually(lambda: rig.sink.texts() == ["NO"])
    assert rig.sink.offers == 2


@case("smsgate", "incoming", inbox_refresh_s=0.2)
async def test_sms_that_arrived_while_the_app_was_killed_come_back(rig: Rig) -> None:
    phone = fake(rig)
    phone.receive("+529517654321", "llegó con la app cerrada", killed=True)
    await eventually(lambda: rig.sink.texts() == ["llegó con la app cerrada"])
    assert any(r[:2] == ("POST", "/inbox/refresh") for r in phone.requests)


@case("smsgate", "incoming", poll_interval_s=30.0)
async def test_a_webhook_wakes_the_inbox_poll(rig: Rig) -> None:
    phone = fake(rig)
    await eventually(lambda: len(phone.webhooks) == 4)
    assert phone.settings["webhooks"]["signing_key"] == "wH8n3RkT2pQz"
    assert phone.settings["messages"]["processing_order"] == "FIFO"
    phone.receive("+529517654321", "SI")  # the fake signs and posts sms:received
    await eventually(lambda: rig.sink.texts() == ["SI"], timeout=3.0)  # long before the 30 s poll
    await eventually(lambda: ("sms:received", 200) in phone.webhook_deliveries)
