"""EnvayaSMS beyond the harness table: the signature by a hand-computed vector, and hostile requests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gateway.android_bridge.dialin import DialInSettings
from gateway.android_bridge.envaya import EnvayaTransport, _factory
from gateway.android_bridge.signatures import envaya_check, envaya_signature
from gateway.transports.base import OutboundSMS, TransportError
from tests.gateway.android.fake_envaya import FakeEnvayaPhone
from tests.gateway.android.sink import RecordingSink

PASSWORD = "clave-secreta-9"

# Computed by hand from the reference: base64(SHA1(url + ",name=value" for params sorted by name + ",password")):
#   printf '%s' 'http://192.168.1.10:8090/envaya,action=incoming,battery=87,from=+529517654321,log=,message=SI,
#   message_type=sms,network=WIFI,now=1778712557000,phone_number=+529510000001,power=2,settings_version=0,
#   timestamp=1778712550000,version=30,clave-secreta' | openssl sha1 -binary | base64
VECTOR_URL = "http://192.168.1.10:8090/envaya"
VECTOR_PARAMS = {
    "version": "30",
    "phone_number": "+529510000001",
    "log": "",
    "network": "WIFI",
    "settings_version": "0",
    "now": "1778712557000",
    "battery": "87",
    "power": "2",
    "action": "incoming",
    "from": "+529517654321",
    "message": "SI",
    "message_type": "sms",
    "timestamp": "1778712550000",
}
VECTOR_SIGNATURE = "54FLCnIS3brB2uzS8QubtV+avXI="


def test_signature_matches_the_hand_computed_vector() -> None:
    assert envaya_signature(VECTOR_URL, VECTOR_PARAMS.items(), "clave-secreta") == VECTOR_SIGNATURE
    assert envaya_check(VECTOR_URL, VECTOR_PARAMS.items(), "clave-secreta", VECTOR_SIGNATURE)
    assert not envaya_check(VECTOR_URL + "/", VECTOR_PARAMS.items(), "clave-secreta", VECTOR_SIGNATURE)
    assert not envaya_check(VECTOR_URL, VECTOR_PARAMS.items(), "clave-secreta", None)
    assert not envaya_check(VECTOR_URL, VECTOR_PARAMS.items(), "clave-secreta", "ñ" * 28)


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[EnvayaTransport, RecordingSink, FakeEnvayaPhone]]:
    settings = DialInSettings(listen="127.0.0.1:0", path="/envaya/p1", url=None, secret=PASSWORD)
    transport = EnvayaTransport("p1", settings)
    sink = RecordingSink()
    await transport.start(sink)
    phone = FakeEnvayaPhone(transport.url, PASSWORD)
    await phone.start()
    yield transport, sink, phone
    await phone.stop()
    await transport.stop()


def incoming(phone: FakeEnvayaPhone, **extra: str) -> dict[str, str]:
    return phone.params(
        "incoming",
        **{
            "from": "+529517654321",
            "message": "SI",
            "message_type": "sms",
            "timestamp": "1778712550000",
            **extra,
        },
    )


HOSTILE: list[tuple[str, Any, int]] = [
    ("no signature", lambda p: p.post(incoming(p), signature=""), 403),
    (
        "wrong password",
        lambda p: p.post(incoming(p), signature=p.sign(incoming(p), password="guess-guess")),
        403,
    ),
    (
        "signed for another URL",
        lambda p: p.post(incoming(p), signature=p.sign(incoming(p), url="http://evil/envaya")),
        403,
    ),
    (
        "a parameter changed after signing",
        lambda p: p.post({**incoming(p), "message": "NO"}, signature=p.sign(incoming(p))),
        403,
    ),
    ("an unknown action", lambda p: p.request("format_disk"), 400),
    (
        "incoming without a timestamp",
        lambda p: p.post({k: v for k, v in incoming(p).items() if k != "timestamp"}),
        400,
    ),
    ("incoming with a silly timestamp", lambda p: p.post(incoming(p, timestamp="9" * 30)), 400),
    (
        "send_status with an unknown status",
        lambda p: p.request("send_status", id="m-1", status="delivered"),
        400,
    ),
    ("oversized", lambda p: p.post(incoming(p, message="x" * 70_000)), 413),
]


@pytest.mark.parametrize(("name", "act", "status"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_hostile_requests_are_refused_logged_without_secrets_and_store_nothing(
    endpoint: tuple[EnvayaTransport, RecordingSink, FakeEnvayaPhone],
    caplog: pytest.LogCaptureFixture,
    name: str,
    act: Any,
    status: int,
) -> None:
    transport, sink, phone = endpoint
    caplog.set_level(logging.DEBUG)
    answer, _, _ = await act(phone)
    assert answer == status
    assert sink.inbound == []
    assert sink.statuses == []
    assert PASSWORD not in caplog.text
    assert "refused POST /envaya/p1" in caplog.text
    if status == 403:
        assert transport.last_seen is None  # a forged request does not even count as the phone calling in


async def test_other_methods_and_bodies_are_refused(
    endpoint: tuple[EnvayaTransport, RecordingSink, FakeEnvayaPhone],
) -> None:
    transport, sink, _ = endpoint
    async with aiohttp.ClientSession() as client:
        async with client.get(transport.url) as response:
            assert response.status == 405
        async with client.post(transport.url, json={"action": "incoming"}) as response:
            assert response.status == 403
        async with client.post(
            transport.url, data=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=x"}
        ) as response:
            assert response.status in (400, 403)
    assert sink.inbound == []


async def test_a_status_for_a_message_this_phone_was_never_given_is_ignored(
    endpoint: tuple[EnvayaTransport, RecordingSink, FakeEnvayaPhone],
) -> None:
    _, sink, phone = endpoint
    status, _, _ = await phone.request("send_status", id="someone-elses", status="sent", error="")
    assert status == 200
    assert sink.statuses == []


async def test_a_quiet_phone_is_unhealthy_and_gets_nothing(
    endpoint: tuple[EnvayaTransport, RecordingSink, FakeEnvayaPhone],
) -> None:
    transport, _, phone = endpoint
    assert not (await transport.health()).healthy
    outcome = await transport.send(OutboundSMS("m-1", "+529511234567", "Hola"))
    assert (outcome.status, outcome.retryable) == ("failed", True)
    await phone.request("device_status", status="send_limit_exceeded")
    health = await transport.health()
    assert (health.healthy, health.detail) == (False, "the phone reached Android's SMS limit")


def test_configuration_is_checked(tmp_path: Any) -> None:
    good = _factory("p1", {"listen": "0.0.0.0:8090", "password": PASSWORD})
    assert good.settings.path == "/envaya/p1"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"password": PASSWORD}, "needs `listen`"),
        ({"listen": "0.0.0.0:8090", "password": "short"}, "at least 8"),
        ({"listen": "0.0.0.0:8090", "password": PASSWORD, "pin": 1}, "unknown envaya option"),
        ({"listen": "0.0.0.0:8090", "password_file": str(tmp_path / "none")}, "cannot read"),
    ]
    for options, message in cases:
        with pytest.raises(TransportError, match=message):
            _factory("p1", options)
