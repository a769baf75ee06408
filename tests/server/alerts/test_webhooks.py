"""Event webhooks against a real HTTP receiver on loopback: signed JSON bodies, retries with exponential
backoff, dead letters after the last try, message events behind a cursor, and the dispatcher inside the app."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.events import AlertRaised
from server import alerts, messages, webhooks_out
from server.app import create_app
from server.appkeys import DB
from server.clock import FixedClock
from server.config import Config, ConfigError
from server.db.schema import alerts as alerts_table
from server.db.schema import webhook_dead_letters, webhook_deliveries, webhook_events
from server.runner import Runner
from server.wakeup import Wakeup
from tests.server.alerts.conftest import SECRET, Receiver, load_library, register, say
from tests.server.runner import kit

PHONE = "+525512345678"
FLOW = "0f6d0d5e-3f7a-4b6c-9c39-6e5a4c1b2a10"
POLICY = webhooks_out.Policy(attempts=3, backoff=dt.timedelta(seconds=30), timeout_s=2)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def endpoints(receiver: Receiver) -> webhooks_out.Endpoints:
    return webhooks_out.parse_endpoints(receiver.url, SECRET)


async def raise_alert(engine: AsyncEngine, clock: FixedClock) -> uuid.UUID:
    contact_id = await register(engine, PHONE, name="Ana", clinic="Centro", now=clock.now())
    async with engine.begin() as conn:
        event = AlertRaised(reason="sangrado", flow_uuid=FLOW, node_uuid=FLOW, input="si")
        return await alerts.record_alert(conn, contact_id, event, now=clock.now(), events=True)


def receiver_verifies(headers: dict[str, str], body: bytes, now: int) -> bool:
    """The receiver's check as docs/alerts-results-webhooks.md shows it, written out independently."""
    timestamp = headers["Recado-Timestamp"]
    expected = "v1=" + hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    fresh = abs(now - int(timestamp)) <= 300
    return fresh and hmac.compare_digest(expected, headers["Recado-Signature"])


async def test_an_alert_event_arrives_signed(
    engine: AsyncEngine, clock: FixedClock, receiver: Receiver, http: aiohttp.ClientSession, library: None
) -> None:
    alert_uuid = await raise_alert(engine, clock)
    assert await webhooks_out.fan_out(engine, endpoints(receiver), now=clock.now()) == 1
    assert await kit.rows(engine, webhook_events) == []
    assert await webhooks_out.deliver_due(engine, http, endpoints(receiver), POLICY, now=clock.now()) == 1
    [(headers, body)] = receiver.requests
    now = int(clock.now().timestamp())
    assert receiver_verifies(headers, body, now)
    assert webhooks_out.verify(
        SECRET.encode(), headers["Recado-Timestamp"], headers["Recado-Signature"], body, now=now
    )
    event = json.loads(body)
    assert event["type"] == headers["Recado-Event"] == "alert.raised"
    assert event["id"] == headers["Recado-Delivery"]
    assert headers["Content-Type"] == "application/json"
    assert event["data"]["alert"] == str(alert_uuid)
    assert (event["data"]["status"], event["data"]["reason"], event["data"]["clinic"]) == (
        "open",
        "sangrado",
        "Centro",
    )
    assert await kit.rows(engine, webhook_deliveries) == []


async def test_a_tampered_or_stale_request_does_not_verify(
    engine: AsyncEngine, clock: FixedClock, receiver: Receiver, http: aiohttp.ClientSession, library: None
) -> None:
    await raise_alert(engine, clock)
    await webhooks_out.fan_out(engine, endpoints(receiver), now=clock.now())
    await webhooks_out.deliver_due(engine, http, endpoints(receiver), POLICY, now=clock.now())
    [(headers, body)] = receiver.requests
    now = int(clock.now().timestamp())
    stamp, signature = headers["Recado-Timestamp"], headers["Recado-Signature"]
    assert not webhooks_out.verify(
        SECRET.encode(), stamp, signature, body.replace(b"sangrado", b"nada"), now=now
    )
    assert not webhooks_out.verify(b"another secret!!", stamp, signature, body, now=now)
    assert not webhooks_out.verify(SECRET.encode(), stamp, signature, body, now=now + 301)
    assert not webhooks_out.verify(SECRET.encode(), str(int(stamp) + 1), signature, body, now=now)
    assert not webhooks_out.verify(SECRET.encode(), "soon", signature, body, now=now)
    assert not webhooks_out.verify(SECRET.encode(), stamp, "v1=ñ", body, now=now)


async def test_failures_are_retried_with_exponential_backoff(
    engine: AsyncEngine, clock: FixedClock, receiver: Receiver, http: aiohttp.ClientSession, library: None
) -> None:
    receiver.statuses = [500, 503]
    await raise_alert(engine, clock)
    await webhooks_out.fan_out(engine, endpoints(receiver), now=clock.now())
    start = clock.now()
    assert await webhooks_out.deliver_due(engine, http, endpoints(receiver), POLICY, now=clock.now()) == 0
    [pending] = await kit.rows(engine, webhook_deliveries)
    assert (pending.attempts, pending.last_status, pending.next_attempt_at) == (
        1,
        500,
        start + dt.timedelta(seconds=30),
    )

    clock.advance(dt.timedelta(seconds=29))  # not yet due
    assert await webhooks_out.deliver_due(engine, http, endpoints(receiver), POLICY, now=clock.now()) == 0
    assert len(receiver.requests) == 1
    clock.set(start + dt.timedelta(seconds=30))
    await webhooks_out.deliver_due(engine, http, endpoints(receiver), POLICY, now=clock.now())
    [pending] = await kit.rows(engine, webhook_deliveries)
    assert (pending.attempts, pending.next_attempt_at) == (2, clock.now() + dt.timedelta(seconds=60))
    clock.advance(dt.timedelta(seconds=60))
    assert await webhooks_out.deliver_due(engine, http, endpoints(receiver), POLICY, now=clock.now()) == 1
    assert await kit.rows(engine, webhook_deliveries) == []
    ids = {headers["Recado-Delivery"] for headers, _ in receiver.requests}
    assert len(receiver.requests) == 3
    assert len(ids) == 1
    assert [int(h["Recado-Timestamp"]) for h, _ in receiver.requests] == [
        int(t.timestamp())
        for t in (start, start + dt.timedelta(seconds=30), start + dt.timedelta(seconds=90))
    ]


async def test_the_last_failure_makes_a_dead_letter(
    engine: AsyncEngine, clock: FixedClock, receiver: Receiver, http: aiohttp.ClientSession, library: None
) -> None:
    receiver.statuses = [500] * 10
    await raise_alert(engine, clock)
    await webhooks_out.fan_out(engine, endpoints(receiver), now=clock.now())
    for _ in range(POLICY.attempts):
        await webhooks_out.deliver_due(engine, http, endpoints(receiver), POLICY, now=clock.now())
        clock.advance(dt.timedelta(hours=1))
    assert await kit.rows(engine, webhook_deliveries) == []
    [dead] = await kit.rows(engine, webhook_dead_letters)
    assert (dead.attempts, dead.last_status, dead.event_type) == (3, 500, "alert.raised")
    assert dead.body == receiver.requests[0][1].decode()
    clock.advance(dt.timedelta(days=1))
    await webhooks_out.deliver_due(engine, http, endpoints(receiver), POLICY, now=clock.now())
    assert len(receiver.requests) == 3


async def test_an_unreachable_receiver_is_a_failure_with_no_status(
    engine: AsyncEngine, clock: FixedClock, http: aiohttp.ClientSession, library: None
) -> None:
    nowhere = webhooks_out.parse_endpoints("http://127.0.0.1:9/hooks", SECRET)
    await raise_alert(engine, clock)
    await webhooks_out.fan_out(engine, nowhere, now=clock.now())
    assert await webhooks_out.deliver_due(engine, http, nowhere, POLICY, now=clock.now()) == 0
    [pending] = await kit.rows(engine, webhook_deliveries)
    assert pending.last_status is None
    assert pending.last_error


async def test_backoff_doubles_and_is_capped() -> None:
    now = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    waits = [POLICY.retry_at(now, n) - now for n in (1, 2, 3, 4)]
    assert waits == [dt.timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert POLICY.retry_at(now, 30) - now == webhooks_out.MAX_BACKOFF


@pytest.fixture
async def runner_with_receiver(
    engine: AsyncEngine, runner_config: Config, clock: FixedClock, receiver: Receiver
) -> AsyncIterator[Runner]:
    config = dataclasses.replace(runner_config, event_webhook_urls=receiver.url, event_webhook_secret=SECRET)
    runner = Runner(engine, config.validate(), clock, outbox_wake=Wakeup(), webhooks_in_background=False)
    yield runner
    await runner.close()


async def test_message_and_result_events_follow_a_conversation(
    engine: AsyncEngine,
    runner_with_receiver: Runner,
    clock: FixedClock,
    receiver: Receiver,
    http: aiohttp.ClientSession,
    library: None,
) -> None:
    runner = runner_with_receiver
    recipient = messages.Recipient(*(await _contact(engine, clock)))
    async with engine.begin() as conn:  # history from before the receiver was configured is not replayed
        text = messages.check_text("antes")
        await messages.queue_outgoing(conn, [recipient], text, priority="bulk", now=clock.now(), actor="t")
    await webhooks_out.reset_message_cursor(engine, endpoints(receiver))
    await say(engine, runner, clock, PHONE, "ALERTA tengo sangrado")
    await say(engine, runner, clock, PHONE, "no")
    clock.advance(dt.timedelta(minutes=1))
    collected = await webhooks_out.collect_message_events(engine, endpoints(receiver), now=clock.now())
    assert collected == 3  # the replies queued (kit.receive stores inbound without the link's event)
    assert await webhooks_out.collect_message_events(engine, endpoints(receiver), now=clock.now()) == 0
    await webhooks_out.fan_out(engine, endpoints(receiver), now=clock.now())
    while await webhooks_out.deliver_due(engine, http, endpoints(receiver), POLICY, now=clock.now()):
        pass
    events = [json.loads(body) for _, body in receiver.requests]
    statuses = sorted(
        (e["data"]["direction"], e["data"]["status"]) for e in events if e["type"] == "message.status"
    )
    assert statuses == [("out", "queued")] * 3
    assert all("text" not in e["data"] for e in events if e["type"] == "message.status")
    changed = {e["data"]["key"]: e["data"]["category"] for e in events if e["type"] == "result.changed"}
    assert changed == {"que_pasa": "Descrita", "confirmacion": "Cancelada"}


async def _contact(engine: AsyncEngine, clock: FixedClock) -> tuple[int, uuid.UUID, str]:
    contact_id = await register(engine, PHONE, name="Ana", clinic="Centro", now=clock.now())
    return contact_id, (await kit.contact(engine, PHONE)).uuid, "active"


async def test_without_receivers_a_conversation_records_no_events(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, library: None
) -> None:
    """Nobody would receive them: they are not written, and the dispatcher's round has nothing to drop."""
    await register(engine, PHONE, name="Ana", clinic="Centro", now=clock.now())
    await say(engine, runner, clock, PHONE, "ALERTA tengo sangrado")
    await say(engine, runner, clock, PHONE, "si")
    assert len(await kit.rows(engine, alerts_table)) == 1
    assert await kit.rows(engine, webhook_events) == []
    assert await webhooks_out.fan_out(engine, webhooks_out.Endpoints(), now=clock.now()) == 0


async def test_without_receivers_events_are_dropped(
    engine: AsyncEngine, clock: FixedClock, library: None
) -> None:
    await raise_alert(engine, clock)
    none = webhooks_out.Endpoints()
    assert await webhooks_out.fan_out(engine, none, now=clock.now()) == 1
    assert await kit.rows(engine, webhook_events) == []
    assert await kit.rows(engine, webhook_deliveries) == []


@pytest.mark.parametrize(
    ("urls", "secret", "problem"),
    [
        ("http://127.0.0.1/h", "", "at least 16"),
        ("http://127.0.0.1/h", "short", "at least 16"),
        ("ftp://example.org/h", SECRET, "not an http"),
        ("http:///nohost", SECRET, "not an http"),
        ("127.0.0.1:8000/h", SECRET, "not an http"),
    ],
)
def test_bad_webhook_settings_are_refused(tmp_path: Path, urls: str, secret: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        Config(data_dir=tmp_path, event_webhook_urls=urls, event_webhook_secret=secret).validate()
    with pytest.raises(ConfigError, match="event_webhook_attempts"):
        Config(data_dir=tmp_path, event_webhook_attempts=0).validate()
    with pytest.raises(ConfigError, match="alert_staff"):
        Config(data_dir=tmp_path, alert_staff="Centro=not a phone").validate()


# --- inside the app ------------------------------------------------------------------------------------------------


async def test_the_app_texts_staff_and_delivers_events_in_the_background(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    config: Config,
    clock: FixedClock,
    receiver: Receiver,
) -> None:
    nurse = "+525587654321"
    settings = dataclasses.replace(
        config, event_webhook_urls=receiver.url, event_webhook_secret=SECRET, alert_staff=f"Centro={nurse}"
    )
    client = await aiohttp_client(create_app(settings, clock=clock))
    engine = client.app[DB]
    await load_library(engine, clock.now())
    alert_uuid = await raise_alert(engine, clock)

    def raised() -> list[str]:
        events = [json.loads(body) for _, body in receiver.requests]
        return [e["data"]["alert"] for e in events if e["type"] == "alert.raised"]

    for _ in range(100):
        if raised() and await kit.outbox(engine, nurse):
            break
        await asyncio.sleep(0.05)
    assert raised() == [str(alert_uuid)]
    [staff_text] = await kit.outbox(engine, nurse)
    assert staff_text.text.startswith("ALERTA recado: Ana, ")
