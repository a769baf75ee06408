"""The runner inside the real app: an inbound message stored by the link and signalled is handled at once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from server.app import create_app
from server.appkeys import INBOX_WAKE
from server.clock import FixedClock
from server.config import Config
from server.db.engine import create_engine
from server.runner.service import RUNNER
from tests.server.runner import kit

PHONE = "+525522221111"


@pytest.fixture
async def app_db(client: TestClient, config: Config) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(config.effective_database_url)
    yield engine
    await engine.dispose()


async def test_the_inbox_wake_up_gets_a_message_handled_without_a_tick(
    client: TestClient, app_db: AsyncEngine, clock: FixedClock
) -> None:
    await kit.load(app_db, kit.programme(), clock.now())
    await kit.receive(app_db, PHONE, "hola", clock.now())
    client.app[INBOX_WAKE].notify()
    for _ in range(200):
        if await kit.texts(app_db, PHONE):
            break
        await asyncio.sleep(0.02)
    assert await kit.texts(app_db, PHONE) == ["¡Hola! ¿Cómo te llamas?"]
    assert client.app[RUNNER].config.runner_tick_seconds == 5


async def test_the_runner_can_be_turned_off(
    aiohttp_client: Callable[..., Awaitable[TestClient]], config: Config, clock: FixedClock
) -> None:
    app = create_app(dataclasses.replace(config, runner_enabled=False), clock=clock)
    client = await aiohttp_client(app)
    assert RUNNER not in client.app
    assert (await client.get("/healthz")).status == 200


async def test_a_tick_that_starts_as_the_runner_closes_does_nothing(
    client: TestClient, app_db: AsyncEngine, clock: FixedClock
) -> None:
    """The scheduler may start a tick while the server shuts down; the loop would cancel it mid-way."""
    runner = client.app[RUNNER]
    await kit.load(app_db, kit.programme(), clock.now())
    await runner.close()
    await kit.receive(app_db, PHONE, "hola", clock.now())  # no wake-up: only a tick would handle it
    await runner.tick()
    assert await kit.texts(app_db, PHONE) == []
