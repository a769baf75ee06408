"""The link tests run the real app on a real socket against both backends: ``config`` here replaces the
SQLite-only one of tests/conftest.py, so ``client`` and ``make_token`` use the parametrised database."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from server.auth.keys import ensure_keyring
from server.config import Config
from tests.conftest import TokenFactory, auth
from tests.server.link.helpers import Gateway


@pytest.fixture
def config(tmp_path: Path, database_url: str, engine: AsyncEngine) -> Config:
    # ``engine`` first: on PostgreSQL it empties the tables the previous test filled.
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    ensure_keyring(data_dir / "keys")
    # The runner would answer the inbound messages these tests send; the link is tested on its own.
    return Config(data_dir=data_dir, database_url=database_url, runner_enabled=False).validate()


@pytest.fixture
async def oaxaca(client: TestClient, make_token: TokenFactory) -> Gateway:
    return Gateway(client, await make_token("gateway", name="oaxaca"), "oaxaca")


@pytest.fixture
async def chiapas(client: TestClient, make_token: TokenFactory) -> Gateway:
    return Gateway(client, await make_token("gateway", name="chiapas"), "chiapas")


@pytest.fixture
async def admin(make_token: TokenFactory) -> dict[str, str]:
    return auth(await make_token("admin", name="central"))
