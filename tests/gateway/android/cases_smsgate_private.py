"""SMSGate private-server mode in the harness: the gateway's mobile API over real HTTPS (a certificate from
the local CA) against the fake phone (a real HTTPS client that trusts that CA)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from gateway import tls
from gateway.android_bridge.dialin import DialInSettings
from gateway.android_bridge.smsgate_private import SmsGatePrivateTransport
from gateway.android_bridge.smsgate_private_api import PrivateSettings, default_path
from gateway.transports.base import OutboundSMS
from tests.gateway.android.fake_smsgate_private import FakeSmsGatePrivatePhone
from tests.gateway.android.sink import RecordingSink
from tests.gateway.harness import Rig, app, case, eventually

PRIVATE_TOKEN = "token-privado-del-sitio-7"
TO = "+529511234567"
LONG = "Recordatorio de su cita en el centro de salud el martes a las 9. " * 5  # three parts


def channel_settings(
    directory: Path, phone: str = "recepcion", pickup_timeout_s: float = 5.0, quiet_after_s: float = 300.0
) -> tuple[DialInSettings, PrivateSettings]:
    path = default_path(phone)
    dial_in = DialInSettings(
        listen="127.0.0.1:0",
        path=path,
        url=None,
        secret=PRIVATE_TOKEN,
        pickup_timeout_s=pickup_timeout_s,
        quiet_after_s=quiet_after_s,
    )
    private = PrivateSettings(
        listen="127.0.0.1:0",
        phone=phone,
        path=path,
        url=None,
        private_token=PRIVATE_TOKEN,
        state_dir=directory / "smsgate-private",
        tls_dir=directory / "tls",
        keepalive_s=0.2,
    )
    return dial_in, private


@app("smsgate-private")
@asynccontextmanager
async def smsgate_private_rig(
    sims: tuple[int | None, ...] = (None,), auto: bool = False, **_: Any
) -> AsyncIterator[Rig]:
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        dial_in, private = channel_settings(directory)
        sink = RecordingSink()
        transports = [
            SmsGatePrivateTransport(f"recepcion-sim{s or 1}", dial_in, private, sim=s) for s in sims
        ]
        for transport in transports:
            await transport.start(sink)
        phone = FakeSmsGatePrivatePhone(
            transports[0].url,
            PRIVATE_TOKEN,
            tls.ca_paths(directory / "tls")[0],
            sims=tuple(s or 1 for s in sims),
            auto=auto,
        )
        try:
            await phone.start()
            await asyncio.wait_for(phone.stream_open.wait(), 5)
            assert phone.token is not None
            rig_secrets = (PRIVATE_TOKEN, phone.token, phone.settings["webhooks"]["signing_key"])
            yield Rig(
                transports[0],
                sink,
                phone,
                secrets=rig_secrets,
                extra={"phone": phone, "channels": transports},
            )
        finally:
            await phone.stop()
            for transport in transports:
                await transport.stop()


def fake(rig: Rig) -> FakeSmsGatePrivatePhone:
    phone = rig.extra["phone"]
    assert isinstance(phone, FakeSmsGatePrivatePhone)
    return phone


def channel(rig: Rig, index: int = 0) -> SmsGatePrivateTransport:
    found = rig.extra["channels"][index]
    assert isinstance(found, SmsGatePrivateTransport)
    return found


async def hand_over(rig: Rig, message: OutboundSMS, index: int = 0) -> str:
    """Send through the channel: the phone is woken over SSE and fetches it."""
    phone = fake(rig)
    outcome = await channel(rig, index).send(message)
    await eventually(lambda: message.id in phone.messages)
    return outcome.status


@case("smsgate-private", "outgoing")
async def test_woken_over_sse_then_processed_sent_and_delivered(rig: Rig) -> None:
    phone = fake(rig)
    assert await hand_over(rig, OutboundSMS("m-1", TO, "Hola Ana")) == "accepted"
    assert "MessageEnqueued" in phone.events
    await phone.process("m-1")
    assert phone.radio == [("m-1", TO, None)]
    assert rig.sink.status_of("m-1") == ["sent"]
    await phone.delivery_report("m-1", [0x00])
    assert rig.sink.status_of("m-1") == ["sent", "delivered"]


@case("smsgate-private", "outgoing")
async def test_a_long_message_is_delivered_when_every_part_is_and_reported_once(rig: Rig) -> None:
    phone = fake(rig)
    assert await hand_over(rig, OutboundSMS("m-2", TO, LONG)) == "accepted"
    assert phone.messages["m-2"].parts == 3
    await phone.process("m-2")
    await phone.delivery_report("m-2", [0x00, 0x30])  # part 2: the SMSC is still trying
    assert rig.sink.status_of("m-2") == ["sent"]
    await phone.delivery_report("m-2", [0x00, 0x00])
    assert phone.messages["m-2"].state == "Delivered"
    assert rig.sink.status_of("m-2") == ["sent", "delivered"]


@case("smsgate-private", "outgoing")
async def test_a_failure_the_phone_reports_is_final_with_its_reason(rig: Rig) -> None:
    phone = fake(rig)
    assert await hand_over(rig, OutboundSMS("m-3", TO, "Hola")) == "accepted"
    await phone.process("m-3", fail="RESULT_ERROR_NO_SERVICE")
    assert rig.sink.status_of("m-3") == ["failed"]
    assert rig.sink.statuses[-1][1].error == "RESULT_ERROR_NO_SERVICE"
    assert phone.radio == []


@case("smsgate-private", "outgoing")
async def test_a_message_is_served_until_the_phone_reports_on_it_and_never_sent_twice(rig: Rig) -> None:
    phone = fake(rig)
    await phone.stop_listening()  # the test says when the phone fetches
    sending = asyncio.create_task(channel(rig).send(OutboundSMS("m-4", TO, "Hola")))
    await eventually(lambda: len(channel(rig).handover) == 1)
    assert await phone.pull() == ["m-4"]
    assert (await sending).status == "accepted"
    phone.messages.pop("m-4")  # the answer that carried it was lost on the way: the phone never queued it
    assert await phone.pull() == ["m-4"]  # served again until the phone says something about it
    assert await phone.pull() == []  # the app knows the id now: it only repeats its state
    assert ("PATCH", "/message", 204) in phone.answers
    await phone.process("m-4")
    assert await phone.pull() == []
    assert phone.radio == [("m-4", TO, None)]
    assert rig.sink.status_of("m-4") == ["sent"]


@case("smsgate-private", "outgoing", sims=(1, 2))
async def test_each_sim_is_its_own_channel(rig: Rig) -> None:
    phone = fake(rig)
    assert await hand_over(rig, OutboundSMS("m-5", TO, "uno"), 0) == "accepted"
    assert await hand_over(rig, OutboundSMS("m-6", TO, "dos"), 1) == "accepted"
    await phone.process("m-5")
    await phone.process("m-6")
    assert phone.radio == [("m-5", TO, 1), ("m-6", TO, 2)]
    assert [(c, r.message_id) for c, r in rig.sink.statuses] == [
        ("recepcion-sim1", "m-5"),
        ("recepcion-sim2", "m-6"),
    ]


@case("smsgate-private", "outgoing")
async def test_a_forgotten_token_makes_the_phone_register_again_and_work_on(rig: Rig) -> None:
    phone = fake(rig)
    old = phone.token
    phone.token = "token-que-el-servidor-no-conoce"
    await phone.restart()  # PATCH /device answers 401: the app registers again
    assert ("PATCH", "/device", 401) in phone.answers
    assert phone.registrations == 2
    assert phone.token != old
    assert (await phone.call("GET", "/message", token=old))[0] == 401
    await asyncio.wait_for(phone.stream_open.wait(), 5)
    assert await hand_over(rig, OutboundSMS("m-7", TO, "Hola")) == "accepted"


@case("smsgate-private", "incoming")
async def test_an_sms_is_spooled_once_even_when_posted_again(rig: Rig) -> None:
    phone = fake(rig)
    envelope = phone.receive("+529517654321", "SI")
    assert await phone.flush() == [200]
    assert rig.sink.texts() == ["SI"]
    body, headers = phone.signed(envelope)  # the app did not see our answer and posts it again
    assert await phone.post_signed(phone.webhooks["sms:received"], body, headers) == 200
    again = dict(envelope, id="otra-entrega")  # or replays the inbox (a new event, the same SMS)
    body, headers = phone.signed(again)
    assert await phone.post_signed(phone.webhooks["sms:received"], body, headers) == 200
    assert rig.sink.texts() == ["SI"]
    assert rig.sink.inbound[0][1].identity == envelope["payload"]["messageId"]


@case("smsgate-private", "incoming")
async def test_a_failed_commit_is_kept_by_the_app_and_retried(rig: Rig) -> None:
    phone = fake(rig)
    rig.sink.fail_next_inbound = 1
    phone.receive("+529517654321", "NO")
    assert await phone.flush() == [503]
    assert await phone.flush() == [200]
    assert rig.sink.texts() == ["NO"]


@case("smsgate-private", "incoming", sims=(1, 2))
async def test_an_sms_arrives_on_the_channel_of_its_sim(rig: Rig) -> None:
    phone = fake(rig)
    phone.receive("+529517654321", "por la uno", sim=1)
    phone.receive("+529517654322", "por la dos", sim=2)
    await phone.flush()
    assert [(c, s.text) for c, s in rig.sink.inbound] == [
        ("recepcion-sim1", "por la uno"),
        ("recepcion-sim2", "por la dos"),
    ]


@case("smsgate-private", "incoming")
async def test_pings_keep_the_phone_healthy_and_report_its_battery(rig: Rig) -> None:
    phone = fake(rig)
    phone.ping()
    assert await phone.flush() == [200]
    health = await rig.transport.health()
    assert (health.healthy, health.battery) == (True, 76)
