"""Fixtures for alerts, results, ratings and event webhooks: the runner with the bundled programme, contacts
registered with a clinic, and a real HTTP receiver on loopback."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.programme import load_programme
from server import contacts as repository
from server.app import create_app
from server.clock import FixedClock
from server.config import Config
from server.contact_values import parse_value
from server.runner import Runner
from server.wakeup import Wakeup
from tests.server.runner import kit

LIBRARY = Path(__file__).resolve().parents[3] / "flows" / "library"
TZ = zoneinfo.ZoneInfo("America/Mexico_City")
SECRET = "s3cr3t-for-the-receivers-only"


@pytest.fixture
def runner_config(tmp_path: Path) -> Config:
    return Config(data_dir=tmp_path, webhook_timeout_seconds=2).validate()


@pytest.fixture
async def runner(engine: AsyncEngine, runner_config: Config, clock: FixedClock) -> AsyncIterator[Runner]:
    runner = Runner(engine, runner_config, clock, outbox_wake=Wakeup(), webhooks_in_background=False)
    yield runner
    await runner.close()


async def load_library(engine: AsyncEngine, now: dt.datetime) -> None:
    """The bundled programme, whose rating flow is anonymous by its own flag (``anonymous: true``)."""
    await kit.load(engine, load_programme(LIBRARY), now)


@pytest.fixture
async def library(engine: AsyncEngine, clock: FixedClock) -> None:
    await load_library(engine, clock.now())


async def register(engine: AsyncEngine, phone: str, *, name: str, clinic: str, now: dt.datetime) -> int:
    """A registered participant (as the registration flow leaves her), returning her id."""
    async with engine.begin() as conn:
        known = await repository.load_fields(conn)
        values = {
            known["clinica"]: parse_value("text", clinic, TZ),
            known["fecha_parto"]: parse_value("date", "2027-06-01", TZ),
        }
        changes = repository.ContactChanges(attributes={"phone": phone, "name": name}, values=values)
        return (await repository.create_contact(conn, changes, now=now)).id


async def say(engine: AsyncEngine, runner: Runner, clock: FixedClock, phone: str, text: str) -> str | None:
    message_id = await kit.receive(engine, phone, text, clock.now())
    return await runner.handle_inbound(message_id)


@dataclass
class Receiver:
    """An HTTP server on loopback that records each request and answers with the next planned status."""

    url: str = ""
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order; 200 once they run out

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"
    yield found
    await runner.cleanup()


@pytest.fixture
async def api(
    aiohttp_client: Callable[..., Awaitable[TestClient]], config: Config, clock: FixedClock
) -> TestClient:
    """The app without its own runner and dispatcher, so that each test says when they run."""
    return await aiohttp_client(create_app(dataclasses.replace(config, runner_enabled=False), clock=clock))
