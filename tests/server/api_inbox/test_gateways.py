"""The gateway-health endpoint: each gateway healthy, unhealthy or stale by the link's own threshold, its
channels' last reports, and the callers it refuses."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from server.api.gateways import read_gateways
from server.appkeys import DB
from server.clock import FixedClock
from server.link.health import GATEWAY_FRESH, healthy_gateways
from tests.conftest import TokenFactory, auth
from tests.server.api_inbox.seeding import channel, gateway_sync

SECOND = dt.timedelta(seconds=1)


@pytest.fixture
async def reader(make_token: TokenFactory) -> dict[str, str]:
    return auth(await make_token("api", scopes=["messages:read"], name="tablero"))


async def _gateways(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    resp = await client.get("/api/v1/gateways", headers=headers)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_no_gateway_yet_is_an_empty_list(client: TestClient, reader: dict[str, str]) -> None:
    assert await _gateways(client, reader) == {
        "items": [],
        "stale_after_seconds": int(GATEWAY_FRESH.total_seconds()),
    }


async def test_each_gateway_with_its_channels_and_its_health(
    client: TestClient, clock: FixedClock, reader: dict[str, str]
) -> None:
    engine: AsyncEngine = client.app[DB]
    start = clock.now()
    # Tlacolula: first seen long ago, synced just now, one healthy modem and one phone whose SIM has no signal.
    await gateway_sync(engine, "tlacolula", [channel("modem-1")], start - dt.timedelta(days=3))
    await gateway_sync(
        engine,
        "tlacolula",
        [channel("modem-1"), channel("phone-1", kind="smsgate", healthy=False, detail="sin señal")],
        start,
    )
    # Mitla: synced just now, but only its unhealthy modem reports.
    await gateway_sync(engine, "mitla", [channel("modem-1", healthy=False, detail="SIM PIN")], start)
    # Ayutla: healthy when it last synced, past the threshold ago.
    await gateway_sync(engine, "ayutla", [channel("modem-1")], start - GATEWAY_FRESH - SECOND)

    body = await _gateways(client, reader)
    assert [(g["name"], g["status"]) for g in body["items"]] == [
        ("ayutla", "stale"),
        ("mitla", "unhealthy"),
        ("tlacolula", "healthy"),
    ]
    tlacolula = body["items"][2]
    assert tlacolula["first_seen_at"] == (start - dt.timedelta(days=3)).isoformat()
    assert tlacolula["last_seen_at"] == start.isoformat()
    assert tlacolula["channels"] == [
        {
            "id": "modem-1",
            "kind": "modem",
            "healthy": True,
            "stale": False,
            "signal": 18,
            "battery": None,
            "sent_today": 120,
            "daily_cap": 500,
            "queue": 3,
            "operator": "Telcel",
            "detail": None,
            "last_seen_at": start.isoformat(),
        },
        {
            "id": "phone-1",
            "kind": "smsgate",
            "healthy": False,
            "stale": False,
            "signal": 18,
            "battery": 80,
            "sent_today": 120,
            "daily_cap": 500,
            "queue": 3,
            "operator": "Telcel",
            "detail": "sin señal",
            "last_seen_at": start.isoformat(),
        },
    ]
    assert [c["stale"] for c in body["items"][0]["channels"]] == [True]


async def test_the_status_follows_the_links_own_definition_over_time(
    client: TestClient, clock: FixedClock, reader: dict[str, str]
) -> None:
    """What the API calls healthy is exactly what leasing treats as healthy, at every moment."""
    engine: AsyncEngine = client.app[DB]
    await gateway_sync(engine, "tlacolula", [channel("modem-1")], clock.now())
    for step, expected in ((GATEWAY_FRESH, "healthy"), (SECOND, "stale")):
        clock.advance(step)
        [gateway] = (await _gateways(client, reader))["items"]
        async with engine.connect() as conn:
            leasing_says = "tlacolula" in await healthy_gateways(conn, clock.now())
        assert gateway["status"] == expected
        assert (gateway["status"] == "healthy") == leasing_says
        assert gateway["channels"][0]["stale"] == (expected == "stale")


async def test_wrong_callers_and_parameters_are_refused(
    client: TestClient, clock: FixedClock, make_token: TokenFactory, reader: dict[str, str]
) -> None:
    await gateway_sync(client.app[DB], "tlacolula", [channel("modem-1")], clock.now())
    for headers in ({}, {"Authorization": "Bearer not.a.token"}):
        resp = await client.get("/api/v1/gateways", headers=headers)
        assert resp.status == 401
    gateway = auth(await make_token("gateway", name="tlacolula"))
    results_only = auth(await make_token("api", scopes=["results:read"], name="evaluacion"))
    for headers in (gateway, results_only):
        resp = await client.get("/api/v1/gateways", headers=headers)
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "forbidden"
    resp = await client.get("/api/v1/gateways", params={"limit": "5"}, headers=reader)
    assert resp.status == 422
    assert (await resp.json())["error"]["details"] == [
        {"field": "limit", "message": "unknown query parameter"}
    ]
    resp = await client.post("/api/v1/gateways", json={}, headers=reader)
    assert resp.status == 405


async def test_read_gateways_on_each_backend(engine: AsyncEngine, clock: FixedClock) -> None:
    await gateway_sync(engine, "mitla", [channel("sim-2", healthy=False), channel("sim-1")], clock.now())
    await gateway_sync(engine, "ayutla", [], clock.now() - GATEWAY_FRESH - SECOND)
    async with engine.connect() as conn:
        found = await read_gateways(conn, clock.now())
    assert [(g.name, g.status, [c.channel for c in g.channels]) for g in found] == [
        ("ayutla", "stale", []),
        ("mitla", "healthy", ["sim-1", "sim-2"]),
    ]
