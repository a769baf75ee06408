"""Shared fixtures: real databases (a SQLite file and a throw-away PostgreSQL database), real app, real tokens."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from server.app import create_app
from server.appkeys import KEYRING
from server.auth import tokens as jwt_tokens
from server.auth.keys import ensure_keyring
from server.auth.scopes import scopes_for
from server.clock import FixedClock
from server.config import Config
from server.db import migrate
from server.db.engine import create_engine
from server.db.schema import metadata
from server.db.schema import tokens as tokens_table


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="Rewrite the expected-events files of golden conversation tests instead of comparing with them.",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


PG_URL = os.environ.get("RECADO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
START = dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.UTC)


def _pg_available() -> bool:
    async def probe() -> None:
        engine = create_engine(PG_URL)
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(asyncio.wait_for(probe(), 5))
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "recado.sqlite3"

    async def build() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await migrate.upgrade(engine)
        await engine.dispose()

    asyncio.run(build())
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throw-away PostgreSQL database, migrated once, dropped at the end of the run."""
    if not _pg_available():
        if os.environ.get("RECADO_REQUIRE_PG"):
            pytest.fail(f"PostgreSQL is required (RECADO_REQUIRE_PG) but {PG_URL} is not reachable")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    name = f"recado_test_{uuid.uuid4().hex[:12]}"
    base, _, _ = PG_URL.rpartition("/")

    async def admin(statement: str) -> None:
        engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text(statement))
        finally:
            await engine.dispose()

    async def build() -> None:
        await admin(f'CREATE DATABASE "{name}"')
        engine = create_engine(f"{base}/{name}")
        await migrate.upgrade(engine)
        await engine.dispose()

    asyncio.run(build())
    yield f"{base}/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """Parametrises a test over both backends: the storage suite runs on each."""
    if request.param == "sqlite":
        target = tmp_path / "recado.sqlite3"
        shutil.copyfile(sqlite_template, target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("pg_database")
    return url


async def _empty_tables(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        return
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await _empty_tables(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """The embedded default only, for tests that are about the API rather than the backend."""
    target = tmp_path / "recado.sqlite3"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> Config:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    ensure_keyring(data_dir / "keys")
    return Config(data_dir=data_dir, database_url=sqlite_url).validate()


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[TestClient]], config: Config, clock: FixedClock
) -> TestClient:
    """The real app on a real loopback socket with a real SQLite file."""
    return await aiohttp_client(create_app(config, clock=clock))


TokenFactory = Callable[..., Awaitable[str]]


@pytest.fixture
def make_token(client: TestClient, config: Config, clock: FixedClock) -> TokenFactory:
    """Create a long-lived token the way `recado token create` does, and return the JWT."""

    async def factory(
        role: str = "api", scopes: list[str] | None = None, name: str = "test", days: int = 30
    ) -> str:
        granted = scopes_for(role, scopes)
        token, claims = jwt_tokens.issue(
            client.app[KEYRING],
            subject=name,
            role=role,
            scopes=granted,
            kind="long",
            now=clock.now(),
            ttl=dt.timedelta(days=days),
            issuer=config.token_issuer,
            audience=config.token_audience,
        )
        engine = create_engine(config.effective_database_url)
        async with engine.begin() as conn:
            await conn.execute(
                tokens_table.insert().values(
                    jti=claims.jti,
                    name=name,
                    role=role,
                    scopes=list(granted),
                    created_at=clock.now(),
                    expires_at=claims.expires_at,
                )
            )
        await engine.dispose()
        return token

    return factory


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
