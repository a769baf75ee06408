"""The messages API on the real app: sending, listing, filtering, history, and what it refuses."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server import messages
from server.clock import FixedClock
from server.config import Config
from server.db.engine import create_engine
from tests.conftest import TokenFactory, auth
from tests.server.messages.seeding import Seeded


@pytest.fixture
async def writer(make_token: TokenFactory) -> dict[str, str]:
    return auth(await make_token("api", ["messages:write"], name="central"))


async def _send(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/api/v1/messages", json=body, headers=headers)
    assert resp.status == 202, await resp.text()
    result: dict[str, Any] = await resp.json()
    return result


async def test_send_to_contacts(client: TestClient, writer: dict[str, str], seeded_app: Seeded) -> None:
    body = {
        "contacts": [str(u) for u in [*seeded_app.active, seeded_app.stopped, seeded_app.blocked]],
        "text": "  Hola, recuerda tu cita.\n",
    }
    result = await _send(client, writer, body)
    assert result["queued"] == 3
    assert [m["contact"] for m in result["messages"]] == [str(u) for u in seeded_app.active]
    assert {m["status"] for m in result["messages"]} == {"queued"}
    assert result["skipped"] == [
        {"contact": str(seeded_app.stopped), "status": "stopped"},
        {"contact": str(seeded_app.blocked), "status": "blocked"},
    ]
    assert (result["text"], result["encoding"], result["segments"]) == ("Hola, recuerda tu cita.", "gsm7", 1)
    assert result["transliterated"] == []


async def test_send_to_a_group(client: TestClient, writer: dict[str, str], seeded_app: Seeded) -> None:
    result = await _send(client, writer, {"group": str(seeded_app.group), "text": "¿Cómo estás? 😀"})
    assert result["queued"] == 3
    assert len(result["skipped"]) == 2
    assert (result["encoding"], result["segments"]) == ("ucs2", 1)
    empty = await _send(client, writer, {"group": str(seeded_app.empty_group), "text": "nadie"})
    assert (empty["queued"], empty["messages"], empty["skipped"]) == (0, [], [])


async def test_send_transliterated(client: TestClient, writer: dict[str, str], seeded_app: Seeded) -> None:
    text = "Mañana tu bebé cumple un mes. ¡Felicidades! Recuerda su vacuna en la clínica." * 2
    plain = await _send(client, writer, {"contacts": [str(seeded_app.active[0])], "text": text})
    made = await _send(
        client, writer, {"contacts": [str(seeded_app.active[0])], "text": text, "transliterate": True}
    )
    assert (plain["encoding"], plain["segments"]) == ("ucs2", 3)
    assert (made["encoding"], made["segments"]) == ("gsm7", 1)  # 160 characters: three parts become one
    assert made["text"] == text.replace("í", "i")
    assert made["transliterated"] == [{"from": "í", "to": "i", "count": 2}]


async def test_priority(client: TestClient, writer: dict[str, str], seeded_app: Seeded) -> None:
    target = [str(seeded_app.active[0])]
    alert = await _send(client, writer, {"contacts": target, "text": "Urgente", "priority": "alert"})
    bulk = await _send(client, writer, {"contacts": target, "text": "Aviso"})
    for sent, priority in ((alert, "alert"), (bulk, "bulk")):
        resp = await client.get(f"/api/v1/messages/{sent['messages'][0]['uuid']}", headers=writer)
        assert (await resp.json())["priority"] == priority
    resp = await client.post(
        "/api/v1/messages", json={"contacts": target, "text": "x", "priority": "reply"}, headers=writer
    )
    assert resp.status == 422  # replies come from conversations, not from the API


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"text": "hola"}, ["contacts"]),
        ({"text": "hola", "contacts": ["C"], "group": "G"}, ["contacts"]),
        ({"contacts": ["C"]}, ["text"]),
        ({"contacts": ["C"], "text": ""}, ["text"]),
        ({"contacts": ["C"], "text": " \n\t "}, ["text"]),
        ({"contacts": ["C"], "text": "a" * 1601}, ["text"]),
        ({"contacts": ["C"], "text": "a" * 1531}, ["text"]),
        ({"contacts": ["C"], "text": "hola\u0000"}, ["text"]),
        ({"contacts": [], "text": "hola"}, ["contacts"]),
        ({"contacts": ["not-a-uuid"], "text": "hola"}, ["contacts.0"]),
        ({"contacts": "C", "text": "hola"}, ["contacts"]),
        ({"group": "not-a-uuid", "text": "hola"}, ["group"]),
        ({"contacts": ["C"], "text": "hola", "transliterate": "yes"}, ["transliterate"]),
        ({"contacts": ["C"], "text": "hola", "priority": "urgent"}, ["priority"]),
        ({"contacts": ["C"], "text": "hola", "schedule": "tomorrow"}, ["schedule"]),
    ],
)
async def test_send_refuses_bad_bodies(
    client: TestClient,
    writer: dict[str, str],
    seeded_app: Seeded,
    config: Config,
    body: dict[str, Any],
    fields: list[str],
) -> None:
    known = {"C": str(seeded_app.active[0]), "G": str(seeded_app.group)}
    if isinstance(body.get("contacts"), list):
        body = {**body, "contacts": [known.get(c, c) for c in body["contacts"]]}
    if isinstance(body.get("contacts"), str):
        body = {**body, "contacts": known[body["contacts"]]}
    if "group" in body:
        body = {**body, "group": known.get(body["group"], body["group"])}
    resp = await client.post("/api/v1/messages", json=body, headers=writer)
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert [d["field"] for d in error["details"]] == fields
    assert all(d["message"] for d in error["details"])
    assert await _count_messages(config) == 0


async def _count_messages(config: Config) -> int:
    engine = create_engine(config.effective_database_url)
    try:
        async with engine.connect() as conn:
            return len(await messages.search_messages(conn, messages.MessageQuery(), limit=10_000))
    finally:
        await engine.dispose()


async def test_unknown_contacts_are_named(
    client: TestClient, writer: dict[str, str], seeded_app: Seeded, config: Config
) -> None:
    ghosts = [str(uuid.uuid4()), str(uuid.uuid4())]
    body = {"contacts": [str(seeded_app.active[0]), *ghosts], "text": "hola"}
    resp = await client.post("/api/v1/messages", json=body, headers=writer)
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert [d["message"] for d in error["details"]] == [f"no contact {g}" for g in ghosts]
    assert await _count_messages(config) == 0


async def test_unknown_group(client: TestClient, writer: dict[str, str], seeded_app: Seeded) -> None:
    ghost = str(uuid.uuid4())
    resp = await client.post("/api/v1/messages", json={"group": ghost, "text": "hola"}, headers=writer)
    assert resp.status == 422
    assert (await resp.json())["error"]["details"] == [{"field": "group", "message": f"no group {ghost}"}]


async def test_scopes(client: TestClient, make_token: TokenFactory, seeded_app: Seeded) -> None:
    reader = auth(await make_token("api", ["messages:read"], name="reader"))
    other = auth(await make_token("api", ["contacts:write"], name="other"))
    gateway = auth(await make_token("gateway", name="oaxaca"))
    body = {"contacts": [str(seeded_app.active[0])], "text": "hola"}
    assert (await client.post("/api/v1/messages", json=body, headers=reader)).status == 403
    assert (await client.get("/api/v1/messages", headers=reader)).status == 200
    for headers in (other, gateway):
        assert (await client.get("/api/v1/messages", headers=headers)).status == 403
        assert (await client.post("/api/v1/messages", json=body, headers=headers)).status == 403
    assert (await client.get("/api/v1/messages")).status == 401
    assert (await client.get(f"/api/v1/messages/{uuid.uuid4()}")).status == 401


async def test_list_filter_and_page(
    client: TestClient, writer: dict[str, str], seeded_app: Seeded, clock: FixedClock
) -> None:
    everyone = [str(u) for u in seeded_app.active]
    first = await _send(client, writer, {"contacts": everyone, "text": "uno"})
    clock.advance(dt.timedelta(hours=1))
    second = await _send(client, writer, {"contacts": everyone[:1], "text": "dos"})

    async def listed(query: str) -> list[str]:
        resp = await client.get(f"/api/v1/messages?{query}", headers=writer)
        assert resp.status == 200, await resp.text()
        return [m["uuid"] for m in (await resp.json())["items"]]

    firsts = [m["uuid"] for m in first["messages"]]
    seconds = [m["uuid"] for m in second["messages"]]
    assert await listed("") == firsts + seconds
    assert await listed(f"contact={everyone[0]}") == [firsts[0], *seconds]
    assert await listed(f"contact={uuid.uuid4()}") == []
    assert await listed("direction=out&status=queued") == firsts + seconds
    assert await listed("status=delivered") == []
    assert await listed("direction=in") == []
    since = clock.now().isoformat().replace("+00:00", "Z")
    assert await listed(f"since={since}") == seconds
    assert await listed(f"until={since}") == firsts
    # Without an offset, a time is programme time (Mexico City, UTC-6 in March 2027).
    local = (clock.now() - dt.timedelta(hours=6)).replace(tzinfo=None).isoformat()
    assert await listed(f"since={local}") == seconds

    pages, cursor = [], ""
    while True:
        resp = await client.get(f"/api/v1/messages?limit=3{cursor}", headers=writer)
        page = await resp.json()
        pages.append([m["uuid"] for m in page["items"]])
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert pages == [firsts, seconds]


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("status=lost", 422, "status"),
        ("direction=sideways", 422, "direction"),
        ("contact=12", 422, "contact"),
        ("contact={00000000-0000-0000-0000-000000000000}", 422, "contact"),
        ("since=yesterday", 422, "since"),
        ("until=2027-02-30T00:00:00Z", 422, "until"),
        ("status=queued&status=sent", 422, "status"),
        ("stauts=failed", 422, "stauts"),
        ("limit=0", 422, "limit"),
        ("limit=501", 422, "limit"),
        ("limit=ten", 422, "limit"),
        ("cursor=bm90LWEtY3Vyc29y", 400, None),
    ],
)
async def test_list_refuses_bad_queries(
    client: TestClient, writer: dict[str, str], query: str, status: int, field: str | None
) -> None:
    resp = await client.get(f"/api/v1/messages?{query}", headers=writer)
    assert resp.status == status
    error = (await resp.json())["error"]
    if field is not None:
        assert [d["field"] for d in error["details"]] == [field]


async def test_get_one_with_history(
    client: TestClient, writer: dict[str, str], seeded_app: Seeded, config: Config, clock: FixedClock
) -> None:
    sent = await _send(client, writer, {"contacts": [str(seeded_app.active[0])], "text": "hola"})
    message_uuid = sent["messages"][0]["uuid"]
    engine = create_engine(config.effective_database_url)
    try:
        clock.advance(dt.timedelta(minutes=1))
        async with engine.begin() as conn:
            await messages.transition(
                conn,
                uuid.UUID(message_uuid),
                "leased",
                now=clock.now(),
                gateway="oaxaca",
                leased_until=clock.now() + dt.timedelta(minutes=10),
            )
            await messages.transition(conn, uuid.UUID(message_uuid), "sent", now=clock.now(), channel="m1")
    finally:
        await engine.dispose()
    resp = await client.get(f"/api/v1/messages/{message_uuid}", headers=writer)
    assert resp.status == 200
    body = await resp.json()
    assert body["uuid"] == message_uuid
    assert body["contact"] == str(seeded_app.active[0])
    assert (body["direction"], body["status"], body["channel"], body["gateway"]) == (
        "out",
        "sent",
        "m1",
        "oaxaca",
    )
    assert body["sent_at"] == body["updated_at"] == clock.now().isoformat()
    assert [(h["status"], h["detail"]) for h in body["history"]] == [
        ("queued", "token:central"),
        ("leased", None),
        ("sent", None),
    ]


@pytest.mark.parametrize("path", [str(uuid.uuid4()), "not-a-uuid", "0" * 32])
async def test_get_unknown_message(client: TestClient, writer: dict[str, str], path: str) -> None:
    resp = await client.get(f"/api/v1/messages/{path}", headers=writer)
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
