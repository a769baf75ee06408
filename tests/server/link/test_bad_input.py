"""What the sync refuses, each time changing nothing: malformed and oversized batches (422 naming the
field), unreadable bodies (400), tokens of the wrong role (403) or revoked (401)."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from server.clock import FixedClock
from server.config import Config
from server.db.schema import tokens
from tests.conftest import TokenFactory, auth
from tests.server.link.helpers import HEALTHY, SYNC, Gateway, add_contact, queue, sms, snapshot

GOOD_SMS = sms("g-1", "+525512345678")
TOO_MANY = 501


def _with(field: str, value: Any) -> dict[str, Any]:
    return {**GOOD_SMS, field: value}


MALFORMED: list[tuple[Any, str]] = [
    ({"inbound": "not a list"}, "inbound"),
    ({"inbound": [GOOD_SMS], "zz": 1}, "zz"),
    ({"inbound": [{k: v for k, v in GOOD_SMS.items() if k != "from"}]}, "inbound.0.from"),
    ({"inbound": [GOOD_SMS, _with("text", 5)]}, "inbound.1.text"),
    ({"inbound": [_with("text", "x" * 4001)]}, "inbound.0.text"),
    ({"inbound": [_with("id", "")]}, "inbound.0.id"),
    ({"inbound": [_with("id", "a" * 65)]}, "inbound.0.id"),
    ({"inbound": [_with("id", "con espacio")]}, "inbound.0.id"),
    ({"inbound": [_with("channel", "m\x00")]}, "inbound.0.channel"),
    ({"inbound": [_with("received_at", "ayer")]}, "inbound.0.received_at"),
    ({"inbound": [_with("received_at", "2027-03-01T10:00:00")]}, "inbound.0.received_at"),
    ({"inbound": [GOOD_SMS] * TOO_MANY}, "inbound"),
    ({"statuses": [{"message_id": "x", "status": "queued"}]}, "statuses.0.status"),
    ({"statuses": [{"message_id": "x", "status": "sent", "parts": 0}]}, "statuses.0.parts"),
    ({"statuses": [{"message_id": "x", "status": "sent", "at": "2027-13-01T00:00:00Z"}]}, "statuses.0.at"),
    ({"statuses": [{"message_id": "x", "status": "sent", "error": "e" * 256}]}, "statuses.0.error"),
    ({"statuses": [{"message_id": "x", "status": "sent"}] * TOO_MANY}, "statuses"),
    ({"channels": [{**HEALTHY, "kind": "fax"}]}, "channels.0.kind"),
    ({"channels": [{**HEALTHY, "signal": 99}]}, "channels.0.signal"),
    ({"channels": [{**HEALTHY, "healthy": "yes"}]}, "channels.0.healthy"),
    ({"channels": [HEALTHY] * 65}, "channels"),
    ({"want": 501}, "want"),
    ({"want": -1}, "want"),
    ({"want": 1.5}, "want"),
    ({"want_parts": 0}, "want_parts"),
    ({"wait_s": -1}, "wait_s"),
    ({"wait_s": "25"}, "wait_s"),
    ([], "(body)"),
    ("sync", "(body)"),
    (True, "(body)"),
]


@pytest.fixture
async def filled(oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock) -> dict[str, Any]:
    """A database with a contact, a queued message and a gateway seen, as a refused request finds it."""
    maya = await add_contact(engine, "+529511234567", clock.now())
    await queue(engine, maya, "hola", clock.now(), priority="reply")
    await oaxaca.sync(inbound=[sms("old", "+529511234567")], channels=[HEALTHY])
    return await snapshot(engine)


async def test_a_malformed_batch_is_422_naming_the_field_and_changes_nothing(
    oaxaca: Gateway, engine: AsyncEngine, filled: dict[str, Any]
) -> None:
    for body, field in MALFORMED:  # one app for all the cases; each names its field when it fails
        sent = {**body, "want": body.get("want", 5)} if isinstance(body, dict) else body
        status, answer = await oaxaca.post(sent)
        assert status == 422, (field, answer)
        assert field in [d["field"] for d in answer["error"]["details"]], (field, answer)
        assert field in answer["error"]["message"], (field, answer)
    assert await snapshot(engine) == filled


@pytest.mark.parametrize("raw", [b'{"inbound": [', b"{'want': 1}", b"\xff\xfe{}", b""])
async def test_an_unreadable_body_is_400(client: TestClient, oaxaca: Gateway, raw: bytes) -> None:
    resp = await client.post(SYNC, data=raw, headers={**oaxaca.headers, "Content-Type": "application/json"})
    assert resp.status == 400
    assert set(await resp.json()) == {"error"}


async def test_a_body_over_the_size_limit_is_413(client: TestClient, oaxaca: Gateway, config: Config) -> None:
    raw = json.dumps({"inbound": [_with("text", "x" * 4000)] * 300}).encode()
    assert len(raw) > config.max_body_bytes
    resp = await client.post(
        SYNC, data=io.BytesIO(raw), headers={**oaxaca.headers, "Content-Type": "application/json"}
    )
    assert resp.status == 413


@pytest.mark.parametrize(
    ("role", "scopes"), [("admin", None), ("api", None), ("api", ["messages:write"]), ("operator", None)]
)
async def test_tokens_of_other_roles_may_not_sync(
    client: TestClient,
    make_token: TokenFactory,
    engine: AsyncEngine,
    filled: dict[str, Any],
    role: str,
    scopes: list[str] | None,
) -> None:
    headers = auth(await make_token(role, scopes, name="central"))
    resp = await client.post(SYNC, json={"inbound": [GOOD_SMS], "want": 5}, headers=headers)
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "forbidden"
    after = await snapshot(engine)
    assert {k: v for k, v in after.items() if k != "tokens"} == filled


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/contacts"),
        ("POST", "/api/v1/messages"),
        ("GET", "/api/v1/messages"),
        ("GET", "/api/v1/tokens"),
    ],
)
async def test_a_gateway_token_may_not_use_other_routes(
    client: TestClient, oaxaca: Gateway, engine: AsyncEngine, filled: dict[str, Any], method: str, path: str
) -> None:
    resp = await client.request(method, path, json={"text": "hola", "group": "x"}, headers=oaxaca.headers)
    assert resp.status == 403
    assert await snapshot(engine) == filled


async def test_a_revoked_or_missing_gateway_token_is_401(
    client: TestClient, oaxaca: Gateway, engine: AsyncEngine, filled: dict[str, Any], clock: FixedClock
) -> None:
    async with engine.begin() as conn:
        await conn.execute(tokens.update().where(tokens.c.name == "oaxaca").values(revoked_at=clock.now()))
    revoked = await snapshot(engine)
    status, answer = await oaxaca.post({"inbound": [GOOD_SMS], "want": 5})
    assert status == 401
    assert answer["error"]["message"] == "token has been revoked"
    for headers in ({}, {"Authorization": "Bearer not.a.token"}, {"Authorization": "Basic b2F4YWNhOg=="}):
        resp = await client.post(SYNC, json={"inbound": [GOOD_SMS]}, headers=headers)
        assert resp.status == 401
    assert await snapshot(engine) == revoked
    assert filled["messages"] == revoked["messages"]


async def test_a_token_revoked_between_two_syncs_stores_nothing_of_the_second(
    client: TestClient, oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock, admin: dict[str, str]
) -> None:
    """The revocation is read in the sync's own transaction: the first sync after it stores nothing, not even
    the gateway's last sighting, and the channels it reports are not recorded."""
    await oaxaca.sync(inbound=[GOOD_SMS], channels=[HEALTHY])
    listed = await (await client.get("/api/v1/tokens", headers=admin)).json()
    token_id = next(t["id"] for t in listed["items"] if t["name"] == "oaxaca")
    assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=admin)).status == 200
    before = await snapshot(engine)
    clock.advance(dt.timedelta(minutes=1))
    later = sms("g-2", "+525512345679")
    status, answer = await oaxaca.post(
        {"inbound": [later], "channels": [{**HEALTHY, "signal": 3}], "want": 5}
    )
    assert (status, answer["error"]["message"]) == (401, "token has been revoked")
    assert await snapshot(engine) == before


async def test_a_gateway_token_whose_record_has_another_name_is_401(
    client: TestClient, engine: AsyncEngine, make_token: TokenFactory, filled: dict[str, Any]
) -> None:
    """A gateway is the name its token was issued to: a record renamed since (by hand in the database) no
    longer vouches for it."""
    token = await make_token("gateway", name="puebla")
    async with engine.begin() as conn:
        await conn.execute(tokens.update().where(tokens.c.name == "puebla").values(name="tlaxcala"))
    before = await snapshot(engine)
    resp = await client.post(SYNC, json={"inbound": [GOOD_SMS]}, headers=auth(token))
    assert resp.status == 401
    assert (await resp.json())["error"]["message"] == "token does not match its record"
    assert await snapshot(engine) == before
