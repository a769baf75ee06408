"""Fixtures for the message tests: contacts seeded into the storage backend or the app's database."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from server.clock import FixedClock
from server.config import Config
from server.db.engine import create_engine
from tests.server.messages.seeding import Seeded, seed_contacts


@pytest.fixture
async def seeded(engine: AsyncEngine, clock: FixedClock) -> Seeded:
    """Contacts in the parametrised storage backend."""
    return await seed_contacts(engine, clock.now())


@pytest.fixture
async def seeded_app(client: TestClient, config: Config, clock: FixedClock) -> Seeded:
    """Contacts in the database of the app under ``client``."""
    engine = create_engine(config.effective_database_url)
    try:
        return await seed_contacts(engine, clock.now())
    finally:
        await engine.dispose()
