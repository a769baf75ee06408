"""Fixtures for the auth tests: people with passwords, and an app with one scope-protected route."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.auth.guard import require
from server.auth.passwords import hash_password
from server.clock import FixedClock
from server.config import Config
from server.db.engine import create_engine
from server.db.schema import users

UserFactory = Callable[..., Awaitable[None]]


@pytest.fixture
def add_user(config: Config, clock: FixedClock) -> UserFactory:
    async def factory(username: str, password: str, role: str = "admin", disabled: bool = False) -> None:
        engine = create_engine(config.effective_database_url)
        async with engine.begin() as conn:
            await conn.execute(
                users.insert().values(
                    uuid=uuid.uuid4(),
                    username=username,
                    password_hash=hash_password(password),
                    role=role,
                    disabled=disabled,
                    created_at=clock.now(),
                )
            )
        await engine.dispose()

    return factory


async def _contacts_read(request: web.Request) -> web.Response:
    principal = await require(request, scope="contacts:read")
    return web.json_response({"name": principal.name})


@pytest.fixture
async def guarded(
    aiohttp_client: Callable[..., Awaitable[TestClient]], config: Config, clock: FixedClock
) -> TestClient:
    """The real app plus one route that needs `contacts:read`, to test the guard on its own."""
    app = create_app(config, clock=clock)
    app.router.add_get("/test/contacts-read", _contacts_read)
    return await aiohttp_client(app)


def login_body(username: str, password: str) -> dict[str, str]:
    return {"username": username, "password": password}


ONE_MINUTE = dt.timedelta(minutes=1)
