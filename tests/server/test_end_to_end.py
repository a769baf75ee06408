"""The whole server at its boundary, as a site's gateway sees it: plain HTTP to the real app on a real socket, a
real SQLite file, the bundled programme loaded, and time moved by hand.

A mother texts ALTA, registers through the conversation, and from then on the weekly campaign messages come out
of ``/gateway/sync`` at nine in the morning her time, never at night; ALERTA with a confirmation raises an alert
and texts the clinic's staff; BAJA stops every bulk message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from flows.programme import load_programme
from server.appkeys import DB
from server.auth.keys import ensure_keyring
from server.clock import FixedClock
from server.config import Config
from server.db.schema import alerts, contacts
from server.db.schema import messages as messages_table
from server.programmes import store_programme
from server.runner import inbound_batch
from server.runner.service import RUNNER
from tests.conftest import TokenFactory, auth
from tests.server.runner import kit

MEXICO = dt.timezone(dt.timedelta(hours=-6))  # Mexico City keeps UTC-6 all year since 2022
ANA = "+525512345678"
STAFF = "+525598765432"
SYNC = "/api/v1/gateway/sync"


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=MEXICO).astimezone(dt.UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(local(2027, 3, 1, 9))


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> Config:
    data_dir = tmp_path / "site"
    data_dir.mkdir()
    ensure_keyring(data_dir / "keys")
    # The scheduler's own tick is slowed right down: the test moves time and ticks by hand.
    return Config(
        data_dir=data_dir, database_url=sqlite_url, runner_tick_seconds=3600, alert_staff=f"*={STAFF}"
    ).validate()


class Phone:
    """A gateway carrying one mother's SMS: sends what she types, hands over what the server queued for her."""

    def __init__(self, client: TestClient, clock: FixedClock, headers: dict[str, str]) -> None:
        self.client = client
        self.clock = clock
        self.headers = headers
        self.ids = itertools.count(1)

    async def sync(self, **body: Any) -> dict[str, Any]:
        body.setdefault("channels", [{"id": "modem-1", "kind": "modem", "healthy": True}])
        resp = await self.client.post(SYNC, json=body, headers=self.headers)
        assert resp.status == 200, await resp.text()
        answer: dict[str, Any] = await resp.json()
        return answer

    async def settled(self) -> None:
        """Wait until the server has handled every inbound message (the runner does it in the background)."""
        runner = self.client.app[RUNNER]
        for _ in range(500):
            await runner.handle_pending_inbound()
            async with self.client.app[DB].connect() as conn:
                pending = (
                    await conn.execute(
                        sa.select(sa.func.count())
                        .select_from(messages_table)
                        .where(messages_table.c.direction == "in", messages_table.c.handled_at.is_(None))
                    )
                ).scalar_one()
            if not pending:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("inbound messages were not handled")

    async def deliver(self, want_to: str = ANA) -> list[str]:
        """Take what is queued, report it sent, and return the texts for ``want_to``."""
        outbound = (await self.sync(want=50))["outbound"]
        at = self.clock.now().isoformat()
        statuses = [{"message_id": m["id"], "status": "sent", "parts": 1, "at": at} for m in outbound]
        if statuses:
            await self.sync(statuses=statuses)
        return [m["text"] for m in outbound if m["to"] == want_to]

    async def text(self, body: str, sender: str = ANA) -> list[str]:
        """She sends ``body``; returns what the server answers her."""
        received = {"id": f"in-{next(self.ids)}", "channel": "modem-1", "from": sender, "text": body}
        received["received_at"] = self.clock.now().isoformat()
        await self.sync(inbound=[received])
        await self.settled()
        return await self.deliver()


@pytest.fixture
async def phone(client: TestClient, clock: FixedClock, config: Config, make_token: TokenFactory) -> Phone:
    """The bundled programme loaded, and a gateway with its token."""
    with as_file(files("flows") / "library") as library:
        programme = load_programme(library)
    async with client.app[DB].begin() as conn:
        await store_programme(
            conn, programme, now=clock.now(), actor="test", timezone=config.programme_timezone
        )
    return Phone(client, clock, auth(await make_token("gateway", name="sitio-1", days=365)))


async def registered(phone: Phone) -> None:
    assert any("nombre" in t for t in await phone.text("ALTA"))
    await phone.text("Ana López")
    await phone.text("1")
    assert any("15/08/2027" in t for t in await phone.text("15/08/2027"))
    await phone.text("Sí")
    await phone.text("Centro de Salud San Miguel")


async def test_a_registered_mother_gets_her_weekly_message_at_nine_her_time(phone: Phone) -> None:
    await registered(phone)
    async with phone.client.app[DB].connect() as conn:
        ana = (await conn.execute(sa.select(contacts).where(contacts.c.phone == ANA))).one()
    assert ana.name == "Ana López"

    runner = phone.client.app[RUNNER]
    # Week 22 (18 weeks before 15 August) falls on 11 April: nothing the night before or at dawn ...
    for moment in (local(2027, 4, 10, 22), local(2027, 4, 11, 3), local(2027, 4, 11, 8, 59)):
        phone.clock.set(moment)
        await runner.tick()
        assert await phone.deliver() == []
    # ... and at nine in the morning, her time, the message goes out.
    phone.clock.set(local(2027, 4, 11, 9, 1))
    await runner.tick()
    weekly = await phone.deliver()
    assert len(weekly) == 1
    # Her reply to anything later still reaches the server and is answered by the programme.
    assert await phone.text("hola") != []


async def test_alerta_with_confirmation_raises_an_alert_and_texts_staff(phone: Phone) -> None:
    await registered(phone)
    answer = await phone.text("ALERTA tengo sangrado")
    assert any("¿" in t for t in answer)  # asked to confirm: many alerts are tests or mistakes
    async with phone.client.app[DB].connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(alerts))).scalar_one() == 0
    await phone.text("Sí")
    async with phone.client.app[DB].connect() as conn:
        raised = (await conn.execute(sa.select(alerts))).one()
    assert "sangrado" in raised.reason
    for _ in range(500):  # staff are texted by a background task right after the runner's commit
        staff = await phone.deliver(want_to=STAFF)
        if staff:
            break
        await asyncio.sleep(0.02)
    assert staff
    assert "sangrado" in staff[0]


async def test_baja_stops_every_bulk_message(phone: Phone) -> None:
    await registered(phone)
    await phone.text("BAJA")
    async with phone.client.app[DB].connect() as conn:
        status = (
            await conn.execute(sa.select(contacts.c.status).where(contacts.c.phone == ANA))
        ).scalar_one()
    assert status == "stopped"
    runner = phone.client.app[RUNNER]
    for week in range(8):
        phone.clock.set(local(2027, 4, 4, 9, 30) + dt.timedelta(weeks=week))
        await runner.tick()
        assert await phone.deliver() == []


async def test_a_reply_is_answered_in_the_response_of_the_sync_that_brought_it(phone: Phone) -> None:
    """The turn runs in the sync's own transaction, before its lease: one round trip, no waiting."""
    received = {"id": "in-alta", "channel": "modem-1", "from": ANA, "text": "ALTA"}
    received["received_at"] = phone.clock.now().isoformat()
    answer = await phone.sync(inbound=[received], want=10)
    assert answer["acked_inbound"] == ["in-alta"]
    assert any("nombre" in m["text"] for m in answer["outbound"] if m["to"] == ANA)


async def test_her_earlier_unhandled_message_is_answered_first(phone: Phone) -> None:
    """A message still waiting (stored while the runner was stopped) goes before the one a sync brings now."""
    db = phone.client.app[DB]
    await kit.receive(db, ANA, "ALTA", phone.clock.now())
    received = {"id": "in-name", "channel": "modem-1", "from": ANA, "text": "Ana López"}
    received["received_at"] = phone.clock.now().isoformat()
    await phone.sync(inbound=[received])
    async with db.connect() as conn:
        handled = (
            await conn.execute(
                sa.select(messages_table.c.text, messages_table.c.handled_as)
                .where(messages_table.c.direction == "in")
                .order_by(messages_table.c.id)
            )
        ).all()
        name = (await conn.execute(sa.select(contacts.c.name).where(contacts.c.phone == ANA))).scalar_one()
    assert [tuple(row) for row in handled] == [("ALTA", "trigger"), ("Ana López", "resumed")]
    assert name == "Ana López"


async def test_a_sender_in_another_turn_is_left_to_the_runner(phone: Phone) -> None:
    """The sync never waits for a contact's lock while it holds the database: her message waits for the
    runner's own loop, which the sync wakes."""
    await registered(phone)
    runner = phone.client.app[RUNNER]
    async with phone.client.app[DB].connect() as conn:
        ana = (await conn.execute(sa.select(contacts.c.id).where(contacts.c.phone == ANA))).scalar_one()
    received = {"id": "in-busy", "channel": "modem-1", "from": ANA, "text": "hola"}
    received["received_at"] = phone.clock.now().isoformat()
    async with runner.locks.hold(ana):
        assert (await phone.sync(inbound=[received]))["acked_inbound"] == ["in-busy"]
        assert await handled_as(phone, "in-busy") is None
    # The runner's loop, woken by the sync: nobody else handles it here.
    assert await handled_as(phone, "in-busy", wait=True) == "catch_all"  # registration is over


async def handled_as(phone: Phone, external_id: str, *, wait: bool = False) -> str | None:
    """What the server handled that received SMS as; with ``wait``, once it has been (up to 5 s)."""
    for _ in range(250):
        async with phone.client.app[DB].connect() as conn:
            outcome: str | None = (
                await conn.execute(
                    sa.select(messages_table.c.handled_as).where(messages_table.c.external_id == external_id)
                )
            ).scalar_one()
        if outcome is not None or not wait:
            return outcome
        await asyncio.sleep(0.02)
    return None


async def test_a_failed_answer_keeps_the_reply_for_the_runner(
    phone: Phone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A turn that fails in the sync is rolled back alone: the reply is still acknowledged and stored, and the
    runner's loop (woken by the sync) answers it."""
    handle_locked = inbound_batch._handle_locked
    failures: list[bool] = []

    async def fails_once(*args: Any) -> Any:
        if not failures:
            failures.append(True)
            raise RuntimeError("a turn that fails")
        return await handle_locked(*args)

    monkeypatch.setattr(inbound_batch, "_handle_locked", fails_once)
    received = {"id": "in-fails", "channel": "modem-1", "from": ANA, "text": "ALTA"}
    received["received_at"] = phone.clock.now().isoformat()
    answer = await phone.sync(inbound=[received], want=10)
    assert answer["acked_inbound"] == ["in-fails"]
    assert answer["outbound"] == []
    assert failures
    assert await handled_as(phone, "in-fails", wait=True) == "trigger"
    assert any("nombre" in text for text in await phone.deliver())
