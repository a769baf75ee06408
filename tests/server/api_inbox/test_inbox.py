"""The inbox endpoints: listing with filters and a cursor, her number only for callers who may read contacts,
resolving once (who and when, audited), and bad input of every kind getting a 4xx and changing nothing."""

from __future__ import annotations

import ast
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from server.api.inbox import AlreadyResolved, ItemQuery, resolve_item, search_items
from server.appkeys import DB
from server.clock import FixedClock
from server.config import Config
from server.db.schema import INBOX_REASONS, audit_log, inbox, messages
from server.runner import Runner
from server.wakeup import Wakeup
from tests.conftest import TokenFactory, auth
from tests.server.api_inbox.seeding import Seeded, inbox_item
from tests.server.runner import kit

ANA = "+525512345678"
BERTA = "+525511112222"
INBOUND_MODULE = Path(__file__).resolve().parents[3] / "server" / "runner" / "inbound.py"


async def seed(engine: AsyncEngine, clock: FixedClock) -> list[Seeded]:
    """Five items a minute apart: Ana's three (unmatched, stopped, unmatched), then Berta's two."""
    made = []
    for phone, text, reason in (
        (ANA, "hola, ¿a qué hora abre la clínica?", "unmatched"),
        (ANA, "ya no quiero mensajes", "stopped"),
        (ANA, "gracias", "unmatched"),
        (BERTA, "mi bebé tiene fiebre", "not_expected"),
        (BERTA, "¿me pueden llamar?", "unmatched"),
    ):
        clock.advance(dt.timedelta(minutes=1))
        made.append(await inbox_item(engine, phone, text, reason, clock.now()))
    return made


@pytest.fixture
async def staff(make_token: TokenFactory) -> dict[str, str]:
    """A desk that reads and answers messages and may see contacts."""
    return auth(await make_token("api", scopes=["messages:write", "contacts:read"], name="mesa"))


async def _error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body: dict[str, Any] = await resp.json()
    assert set(body) == {"error"}
    assert body["error"]["message"]
    return body["error"]


async def _listed(client: TestClient, headers: dict[str, str], **query: str) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/inbox", params=query, headers=headers)
    assert resp.status == 200, await resp.text()
    items: list[dict[str, Any]] = (await resp.json())["items"]
    return items


async def _state(engine: AsyncEngine) -> tuple[list[Any], int]:
    async with engine.connect() as conn:
        rows = list((await conn.execute(sa.select(inbox).order_by(inbox.c.message_id))).all())
        audits = (await conn.execute(sa.select(sa.func.count()).select_from(audit_log))).scalar_one()
    return rows, audits


# --- listing --------------------------------------------------------------------------------------------------


async def test_open_items_oldest_first_with_her_number_and_a_cursor(
    client: TestClient, clock: FixedClock, staff: dict[str, str]
) -> None:
    made = await seed(client.app[DB], clock)
    resp = await client.get("/api/v1/inbox", params={"limit": "3"}, headers=staff)
    first = await resp.json()
    assert [i["message"] for i in first["items"]] == [str(s.message) for s in made[:3]]
    resp = await client.get(
        "/api/v1/inbox", params={"limit": "3", "cursor": first["next_cursor"]}, headers=staff
    )
    second = await resp.json()
    assert [i["message"] for i in second["items"]] == [str(s.message) for s in made[3:]]
    assert second["next_cursor"] is None

    item = first["items"][0]
    received = (clock.now() - dt.timedelta(minutes=4)).isoformat()
    assert item == {
        "message": str(made[0].message),
        "text": "hola, ¿a qué hora abre la clínica?",
        "received_at": received,
        "reason": "unmatched",
        "contact": {"uuid": str(made[0].contact), "phone": ANA},
        "added_at": received,
        "resolved_at": None,
        "resolved_by": None,
    }


async def test_filters_by_reason_contact_time_and_resolution(
    client: TestClient, clock: FixedClock, staff: dict[str, str]
) -> None:
    made = await seed(client.app[DB], clock)
    resp = await client.post(f"/api/v1/inbox/{made[0].message}/resolve", headers=staff)
    assert resp.status == 200

    def messages(items: list[dict[str, Any]]) -> list[str]:
        return [i["message"] for i in items]

    assert messages(await _listed(client, staff)) == [str(s.message) for s in made[1:]]
    assert messages(await _listed(client, staff, resolved="true")) == [str(made[0].message)]
    assert messages(await _listed(client, staff, resolved="all")) == [str(s.message) for s in made]
    assert messages(await _listed(client, staff, reason="unmatched", resolved="all")) == [
        str(made[0].message),
        str(made[2].message),
        str(made[4].message),
    ]
    assert messages(await _listed(client, staff, contact=str(made[3].contact))) == [
        str(made[3].message),
        str(made[4].message),
    ]
    second = (clock.now() - dt.timedelta(minutes=3)).isoformat()
    fourth = (clock.now() - dt.timedelta(minutes=1)).isoformat()
    assert messages(await _listed(client, staff, since=second, until=fourth)) == [
        str(made[1].message),
        str(made[2].message),
    ]
    assert await _listed(client, staff, contact=str(uuid.uuid4())) == []


async def test_without_contacts_read_her_number_is_hidden(
    client: TestClient, clock: FixedClock, make_token: TokenFactory
) -> None:
    made = await seed(client.app[DB], clock)
    reader = auth(await make_token("api", scopes=["messages:read"], name="lector"))
    items = await _listed(client, reader)
    assert len(items) == len(made)
    assert all(i["contact"]["phone"] is None for i in items)
    assert [i["contact"]["uuid"] for i in items] == [str(s.contact) for s in made]
    assert ANA not in str(items)
    assert BERTA not in str(items)


async def test_a_message_no_flow_takes_reaches_the_inbox_through_the_runner(
    client: TestClient, clock: FixedClock, staff: dict[str, str], tmp_path: Path
) -> None:
    engine = client.app[DB]
    runner = Runner(
        engine,
        Config(data_dir=tmp_path).validate(),
        clock,
        outbox_wake=Wakeup(),
        webhooks_in_background=False,
    )
    try:
        message_id = await kit.receive(engine, ANA, "¿dónde queda la clínica?", clock.now())
        assert await runner.handle_inbound(message_id) == "inbox"
    finally:
        await runner.close()
    [item] = await _listed(client, staff)
    assert (item["text"], item["reason"], item["contact"]["phone"]) == (
        "¿dónde queda la clínica?",
        "unmatched",
        ANA,
    )


def test_the_documented_reasons_are_the_ones_the_runner_writes() -> None:
    tree = ast.parse(INBOUND_MODULE.read_text(encoding="utf-8"))
    written = {
        call.args[3].value
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and getattr(call.func, "id", None) == "put_in_inbox"
        and isinstance(call.args[3], ast.Constant)
    }
    assert written == set(INBOX_REASONS)


# --- resolving ------------------------------------------------------------------------------------------------


async def test_resolve_records_who_and_when_once_and_a_second_time_is_a_conflict(
    client: TestClient, clock: FixedClock, staff: dict[str, str], make_token: TokenFactory
) -> None:
    made = await seed(client.app[DB], clock)
    target = made[3].message
    clock.advance(dt.timedelta(minutes=10))
    resp = await client.post(f"/api/v1/inbox/{target}/resolve", headers=staff)
    body = await resp.json()
    assert resp.status == 200
    assert (body["resolved_at"], body["resolved_by"]) == (clock.now().isoformat(), "token:mesa")
    assert body["contact"]["phone"] == BERTA

    async with client.app[DB].connect() as conn:
        [entry] = (await conn.execute(sa.select(audit_log))).all()
    assert (entry.actor, entry.action, entry.target, entry.detail) == (
        "token:mesa",
        "inbox.resolve",
        str(target),
        {"reason": "not_expected"},
    )

    before = await _state(client.app[DB])
    other = auth(await make_token("api", scopes=["messages:write"], name="otra"))
    clock.advance(dt.timedelta(minutes=1))
    resp = await client.post(f"/api/v1/inbox/{target}/resolve", json={}, headers=other)
    error = await _error(resp, 409)
    assert error["details"] == {
        "resolved_at": (clock.now() - dt.timedelta(minutes=1)).isoformat(),
        "resolved_by": "token:mesa",
    }
    assert await _state(client.app[DB]) == before


# --- hostile input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"reason": "spam"}, "reason"),
        ({"reason": ""}, "reason"),
        ({"resolved": "yes"}, "resolved"),
        ({"contact": "ana"}, "contact"),
        ({"contact": "6ba7b810-9dad-11d1-80b4-00c04fd430c"}, "contact"),
        ({"since": "ayer"}, "since"),
        ({"until": "2027-13-01"}, "until"),
        ({"since": "2" * 500}, "since"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"page": "2"}, "page"),
    ],
)
async def test_bad_query_parameters_are_422_naming_them(
    client: TestClient, staff: dict[str, str], query: dict[str, str], field: str
) -> None:
    error = await _error(await client.get("/api/v1/inbox", params=query, headers=staff), 422)
    assert field in [d["field"] for d in error["details"]]


async def test_a_parameter_given_twice_is_422(client: TestClient, staff: dict[str, str]) -> None:
    resp = await client.get("/api/v1/inbox?reason=stopped&reason=unmatched", headers=staff)
    await _error(resp, 422)


@pytest.mark.parametrize(
    "cursor", ["garbage", "aWQ6", "aWQ6LTE", "bm90OjE", "aWQ6OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "%%%"]
)
async def test_a_cursor_the_server_did_not_give_is_400(
    client: TestClient, staff: dict[str, str], cursor: str
) -> None:
    error = await _error(await client.get("/api/v1/inbox", params={"cursor": cursor}, headers=staff), 400)
    assert error["code"] == "bad_cursor"


async def test_resolving_what_is_not_an_inbox_item_is_404_and_changes_nothing(
    client: TestClient, clock: FixedClock, staff: dict[str, str]
) -> None:
    made = await seed(client.app[DB], clock)
    engine = client.app[DB]
    elsewhere = await kit.receive(engine, "+525599990000", "handled elsewhere", clock.now())
    async with engine.connect() as conn:
        not_in_inbox = (
            await conn.execute(sa.select(messages.c.uuid).where(messages.c.id == elsewhere))
        ).scalar_one()
    before = await _state(engine)
    for target in (
        str(uuid.uuid4()),
        str(not_in_inbox),
        "not-a-uuid",
        str(made[0].message).replace("-", ""),
        "%00",
        "x" * 300,
    ):
        resp = await client.post(f"/api/v1/inbox/{target}/resolve", headers=staff)
        await _error(resp, 404)
    assert await _state(engine) == before


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ('{"note": "llamé"}'.encode(), 422),
        (b"[]", 422),
        (b'"resolve"', 422),
        (b"{", 400),
        (b"\xff\xfe", 400),
    ],
)
async def test_a_bad_body_on_resolve_is_refused_and_changes_nothing(
    client: TestClient, clock: FixedClock, staff: dict[str, str], raw: bytes, status: int
) -> None:
    made = await seed(client.app[DB], clock)
    before = await _state(client.app[DB])
    resp = await client.post(
        f"/api/v1/inbox/{made[0].message}/resolve",
        data=raw,
        headers={**staff, "Content-Type": "application/json"},
    )
    await _error(resp, status)
    assert await _state(client.app[DB]) == before


async def test_wrong_tokens_and_roles_are_refused_and_change_nothing(
    client: TestClient, clock: FixedClock, make_token: TokenFactory
) -> None:
    made = await seed(client.app[DB], clock)
    before = await _state(client.app[DB])
    resolve = f"/api/v1/inbox/{made[0].message}/resolve"
    for headers in ({}, {"Authorization": "Bearer not.a.token"}, {"Authorization": "Basic YTpi"}):
        await _error(await client.get("/api/v1/inbox", headers=headers), 401)
        await _error(await client.post(resolve, headers=headers), 401)
    gateway = auth(await make_token("gateway", name="oaxaca"))
    contacts_only = auth(await make_token("api", scopes=["contacts:write"], name="padron"))
    reader = auth(await make_token("api", scopes=["messages:read"], name="lector"))
    for headers in (gateway, contacts_only):
        await _error(await client.get("/api/v1/inbox", headers=headers), 403)
    for headers in (gateway, contacts_only, reader):
        await _error(await client.post(resolve, headers=headers), 403)
    assert await _state(client.app[DB]) == before


# --- on both backends -----------------------------------------------------------------------------------------


async def test_search_and_resolve_on_each_backend(engine: AsyncEngine, clock: FixedClock) -> None:
    made = await seed(engine, clock)
    async with engine.begin() as conn:
        done = await resolve_item(conn, made[1].message, actor="user:rosa", now=clock.now())
    assert (done.resolved_at, done.resolved_by) == (clock.now(), "user:rosa")
    async with engine.begin() as conn:
        with pytest.raises(AlreadyResolved):
            await resolve_item(conn, made[1].message, actor="user:otra", now=clock.now())
        with pytest.raises(LookupError):
            await resolve_item(conn, uuid.uuid4(), actor="user:otra", now=clock.now())
    async with engine.connect() as conn:
        open_items = await search_items(conn, ItemQuery(), after_id=0, limit=10)
        stopped = await search_items(conn, ItemQuery(reason="stopped", resolved=None), after_id=0, limit=10)
        berta = await search_items(conn, ItemQuery(contact=made[4].contact), after_id=0, limit=10)
        after = await search_items(conn, ItemQuery(resolved=None), after_id=open_items[1].id, limit=2)
    assert [i.message_uuid for i in open_items] == [s.message for i, s in enumerate(made) if i != 1]
    assert [(i.message_uuid, i.resolved_by) for i in stopped] == [(made[1].message, "user:rosa")]
    assert [i.contact_phone for i in berta] == [BERTA, BERTA]
    assert [i.message_uuid for i in after] == [made[3].message, made[4].message]
