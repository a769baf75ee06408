"""SMSSync beyond the harness table: hostile requests on the Sync URL, basic auth, configuration."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.android_bridge.dialin import DialInSettings
from gateway.android_bridge.smssync import SmsSyncTransport, _factory
from gateway.transports.base import TransportError
from tests.gateway.android.fake_smssync import FakeSmsSyncPhone
from tests.gateway.android.sink import RecordingSink

SECRET = "secreto-del-sitio-4"


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[SmsSyncTransport, RecordingSink, FakeSmsSyncPhone]]:
    settings = DialInSettings(listen="127.0.0.1:0", path="/smssync/p1", url=None, secret=SECRET)
    transport = SmsSyncTransport("p1", settings, results_api=True)
    sink = RecordingSink()
    await transport.start(sink)
    phone = FakeSmsSyncPhone(transport.url, SECRET)
    await phone.start()
    yield transport, sink, phone
    await phone.stop()
    await transport.stop()


def sms(**extra: str) -> dict[str, str]:
    return {
        "secret": SECRET,
        "from": "+529517654321",
        "message": "SI",
        "message_id": "u-1",
        "sent_timestamp": "1778712550000",
        **extra,
    }


HOSTILE: list[tuple[str, Any, int]] = [
    (
        "incoming without the secret",
        lambda p: p.call("POST", data={k: v for k, v in sms().items() if k != "secret"}),
        403,
    ),
    ("incoming with a wrong secret", lambda p: p.call("POST", data=sms(secret="secreto-adivinado")), 403),
    ("incoming as JSON with a wrong secret", lambda p: p.call("POST", json=sms(secret="x")), 403),
    (
        "incoming without a timestamp",
        lambda p: p.call("POST", data={k: v for k, v in sms().items() if k != "sent_timestamp"}),
        400,
    ),
    ("incoming with a huge sender", lambda p: p.call("POST", data=sms(**{"from": "9" * 100})), 400),
    (
        "incoming as broken JSON",
        lambda p: p.call("POST", data=b"{", headers={"Content-Type": "application/json"}),
        400,
    ),
    ("incoming as a JSON list", lambda p: p.call("POST", json=[sms()]), 400),
    ("oversized", lambda p: p.call("POST", data=sms(message="x" * 70_000)), 413),
    (
        "poll with a wrong secret",
        lambda p: p.call("GET", {"task": "send", "secret": "secreto-adivinado"}),
        403,
    ),
    ("poll without a secret", lambda p: p.call("GET", {"task": "send"}), 403),
    ("results asked with a wrong secret", lambda p: p.call("GET", {"task": "result", "secret": "no"}), 403),
    (
        "results posted with a wrong secret",
        lambda p: p.call("POST", {"task": "result", "secret": "no"}, json={"message_result": []}),
        403,
    ),
    (
        "results that are not a list",
        lambda p: p.call("POST", {"task": "result", "secret": SECRET}, json={"message_result": "{"}),
        400,
    ),
    (
        "confirmation without a list",
        lambda p: p.call("POST", {"task": "sent"}, json={"queued_messages": "m-1"}),
        400,
    ),
    ("an unknown task", lambda p: p.call("GET", {"task": "wipe", "secret": SECRET}), 400),
]


@pytest.mark.parametrize(("name", "act", "status"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_hostile_requests_are_refused_logged_without_secrets_and_store_nothing(
    endpoint: tuple[SmsSyncTransport, RecordingSink, FakeSmsSyncPhone],
    caplog: pytest.LogCaptureFixture,
    name: str,
    act: Any,
    status: int,
) -> None:
    transport, sink, phone = endpoint
    caplog.set_level(logging.DEBUG)
    answer, body = await act(phone)
    assert answer == status
    assert sink.inbound == []
    assert sink.statuses == []
    assert SECRET not in caplog.text
    assert "secreto-adivinado" not in caplog.text
    assert "refused" in caplog.text
    if status == 403:
        assert transport.last_seen is None
        assert SECRET not in str(body)


async def test_results_for_messages_this_phone_never_had_are_ignored(
    endpoint: tuple[SmsSyncTransport, RecordingSink, FakeSmsSyncPhone],
) -> None:
    _, sink, phone = endpoint
    forged = [
        {
            "uuid": "someone-elses",
            "sent_result_code": -1,
            "delivered_result_code": -1,
            "delivered_timestamp": 1,
        }
    ]
    status, _ = await phone.call(
        "POST", {"task": "result", "secret": SECRET}, json={"message_result": forged}
    )
    assert status == 200
    assert sink.statuses == []
    status, confirmed = await phone.call(
        "POST", {"task": "sent"}, json={"queued_messages": ["someone-elses"]}
    )
    assert (status, confirmed) == (200, {"message_uuids": []})


async def test_basic_auth_when_configured_is_required_everywhere() -> None:
    settings = DialInSettings(listen="127.0.0.1:0", path="/smssync/p2", url=None, secret=SECRET)
    transport = SmsSyncTransport("p2", settings, results_api=True, user="sitio", password="clave-larga-77")
    sink = RecordingSink()
    await transport.start(sink)
    try:
        without = FakeSmsSyncPhone(transport.url, SECRET)
        wrong = FakeSmsSyncPhone(transport.url, SECRET, auth=("sitio", "adivinada"))
        right = FakeSmsSyncPhone(transport.url, SECRET, auth=("sitio", "clave-larga-77"))
        for phone, expected in ((without, 401), (wrong, 401), (right, 200)):
            await phone.start()
            phone.receive("+529517654321", "SI")
            status, _ = await phone.call("POST", data=phone.pending_incoming.pop())
            assert status == expected
            assert (await phone.call("POST", {"task": "sent"}, json={"queued_messages": []}))[0] == expected
            await phone.stop()
        assert len(sink.inbound) == 1
    finally:
        await transport.stop()


def test_configuration_is_checked() -> None:
    good = _factory("p1", {"listen": "0.0.0.0:8091", "secret": SECRET, "results_api": True})
    assert (good.settings.path, good.results_api) == ("/smssync/p1", True)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"listen": "0.0.0.0:8091"}, "at least 8"),
        ({"listen": "0.0.0.0:8091", "secret": SECRET, "results_api": "yes"}, "true or false"),
        ({"listen": "0.0.0.0:8091", "secret": SECRET, "user": "u"}, "both `user` and `password`"),
        ({"listen": "0.0.0.0:8091", "secret": SECRET, "format": "xml"}, "unknown smssync option"),
        ({"listen": "0.0.0.0:8091", "secret": SECRET, "path": "no-slash"}, "must start with /"),
    ]
    for options, message in cases:
        with pytest.raises(TransportError, match=message):
            _factory("p1", options)
