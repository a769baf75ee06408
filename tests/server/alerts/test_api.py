"""The alerts, results and dead-letter endpoints: reading, acting, CSV export, and bad input of every kind
(malformed, unknown uuids, wrong scopes and roles) getting a 4xx and changing nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.events import AlertRaised, RunResultChanged
from server import alerts, results
from server.api.results import EXPORT_COLUMNS
from server.appkeys import DB
from server.clock import FixedClock
from server.db.schema import alerts as alerts_table
from server.db.schema import audit_log, webhook_dead_letters
from tests.conftest import TokenFactory, auth
from tests.server.alerts.conftest import load_library, register
from tests.server.runner import kit

PHONE = "+525512345678"
FLOW = "0f6d0d5e-3f7a-4b6c-9c39-6e5a4c1b2a10"


async def seed_alerts(engine: AsyncEngine, clock: FixedClock, count: int = 3) -> list[uuid.UUID]:
    await load_library(engine, clock.now())
    contact_id = await register(engine, PHONE, name="Ana López", clinic="Clínica Centro", now=clock.now())
    made = []
    async with engine.begin() as conn:
        for i in range(count):
            event = AlertRaised(reason=f"sangrado {i}", flow_uuid=FLOW, node_uuid=FLOW, input="si")
            made.append(await alerts.record_alert(conn, contact_id, event, now=clock.now(), events=True))
    return made


async def seed_results(engine: AsyncEngine, clock: FixedClock, values: list[str]) -> None:
    await load_library(engine, clock.now())
    contact_id = await register(engine, PHONE, name="Ana", clinic="Centro", now=clock.now())
    async with engine.begin() as conn:
        for i, value in enumerate(values):
            clock.advance(dt.timedelta(minutes=1))
            event = RunResultChanged(
                run_uuid=str(uuid.uuid4()),
                flow_uuid=FLOW,
                name="Semanas",
                key="semanas" if i % 2 == 0 else "otra",
                value=value,
                category="Has Text",
                category_localized="Has Text",
                input=value,
                node_uuid=FLOW,
            )
            await results.record_result(conn, contact_id, event, now=clock.now(), events=True)


@pytest.fixture
async def admin(make_token: TokenFactory) -> dict[str, str]:
    return auth(await make_token("api", name="central"))


async def _error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body["error"]


async def _state(engine: AsyncEngine) -> tuple[list[Any], int]:
    async with engine.connect() as conn:
        # What a request could change (the app that make_token starts texts staff on its own meanwhile).
        acted = [
            alerts_table.c.uuid,
            alerts_table.c.status,
            alerts_table.c.updated_at,
            alerts_table.c.acknowledged_at,
            alerts_table.c.acknowledged_by,
            alerts_table.c.resolved_at,
            alerts_table.c.resolved_by,
            alerts_table.c.resolution,
        ]
        rows = list((await conn.execute(sa.select(*acted).order_by(alerts_table.c.id))).all())
        audits = (await conn.execute(sa.select(sa.func.count()).select_from(audit_log))).scalar_one()
    return rows, audits


# --- alerts ---------------------------------------------------------------------------------------------------


async def test_list_filter_page_and_read_alerts(
    api: TestClient, clock: FixedClock, admin: dict[str, str]
) -> None:
    made = await seed_alerts(api.app[DB], clock)
    resp = await api.get("/api/v1/alerts", params={"limit": "2"}, headers=admin)
    first = await resp.json()
    assert [a["uuid"] for a in first["items"]] == [str(u) for u in made[:2]]
    resp = await api.get(
        "/api/v1/alerts", params={"limit": "2", "cursor": first["next_cursor"]}, headers=admin
    )
    second = await resp.json()
    assert [a["uuid"] for a in second["items"]] == [str(made[2])]
    assert second["next_cursor"] is None

    item = first["items"][0]
    assert item["contact"]["phone"] == PHONE
    assert (item["status"], item["clinic"], item["reason"]) == ("open", "Clínica Centro", "sangrado 0")
    resp = await api.get(
        "/api/v1/alerts", params={"clinic": "clinica centro", "status": "open"}, headers=admin
    )
    assert len((await resp.json())["items"]) == 3
    resp = await api.get("/api/v1/alerts", params={"status": "resolved"}, headers=admin)
    assert (await resp.json())["items"] == []
    resp = await api.get(f"/api/v1/alerts/{made[1]}", headers=admin)
    assert (await resp.json())["reason"] == "sangrado 1"


async def test_acknowledge_then_resolve_with_a_note_audited(
    api: TestClient, clock: FixedClock, admin: dict[str, str]
) -> None:
    [made] = await seed_alerts(api.app[DB], clock, count=1)
    resp = await api.post(f"/api/v1/alerts/{made}/acknowledge", headers=admin)
    body = await resp.json()
    assert (body["status"], body["acknowledged_by"]) == ("acknowledged", "token:central")
    resp = await api.post(f"/api/v1/alerts/{made}/acknowledge", headers=admin)
    assert (await _error(resp, 409))["details"] == {"status": "acknowledged"}
    resp = await api.post(
        f"/api/v1/alerts/{made}/resolve", json={"note": "  La llamamos; va a la clínica. "}, headers=admin
    )
    body = await resp.json()
    assert (body["status"], body["resolution"], body["resolved_by"]) == (
        "resolved",
        "La llamamos; va a la clínica.",
        "token:central",
    )
    await _error(
        await api.post(f"/api/v1/alerts/{made}/resolve", json={"note": "otra vez"}, headers=admin), 409
    )
    actions = [(a, detail) for a, _, detail in await kit.audit_actions(api.app[DB]) if a.startswith("alert.")]
    assert actions == [
        ("alert.acknowledge", {"from": "open", "to": "acknowledged"}),
        ("alert.resolve", {"from": "acknowledged", "to": "resolved"}),
    ]


async def test_an_open_alert_can_be_resolved_directly(
    api: TestClient, clock: FixedClock, admin: dict[str, str]
) -> None:
    [made] = await seed_alerts(api.app[DB], clock, count=1)
    resp = await api.post(f"/api/v1/alerts/{made}/resolve", json={"note": "falsa alarma"}, headers=admin)
    assert (await resp.json())["status"] == "resolved"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/v1/alerts/not-a-uuid", None, 404),
        ("GET", f"/api/v1/alerts/{uuid.uuid4()}", None, 404),
        ("POST", f"/api/v1/alerts/{uuid.uuid4()}/acknowledge", None, 404),
        ("POST", f"/api/v1/alerts/{uuid.uuid4()}/resolve", {"note": "x"}, 404),
        ("POST", "/api/v1/alerts/{alert}/resolve", {}, 422),
        ("POST", "/api/v1/alerts/{alert}/resolve", {"note": ""}, 422),
        ("POST", "/api/v1/alerts/{alert}/resolve", {"note": "   "}, 422),
        ("POST", "/api/v1/alerts/{alert}/resolve", {"note": "x" * 1001}, 422),
        ("POST", "/api/v1/alerts/{alert}/resolve", {"note": 5}, 422),
        ("POST", "/api/v1/alerts/{alert}/resolve", {"note": "x", "status": "open"}, 422),
        ("POST", "/api/v1/alerts/{alert}/resolve", [], 422),
        ("POST", "/api/v1/alerts/{alert}/resolve", b'{"note": ', 400),
        ("POST", "/api/v1/alerts/{alert}/resolve", b"\xff\xfe", 400),
        ("POST", "/api/v1/alerts/{alert}/resolve", b"", 400),
        ("POST", "/api/v1/alerts/{alert}/acknowledge", {"by": "me"}, 422),
        ("POST", "/api/v1/alerts/{alert}/acknowledge", b"{nope", 400),
        ("GET", "/api/v1/alerts?status=closed", None, 422),
        ("GET", "/api/v1/alerts?status=open&status=resolved", None, 422),
        ("GET", "/api/v1/alerts?colour=red", None, 422),
        ("GET", "/api/v1/alerts?clinic=" + "x" * 200, None, 422),
        ("GET", "/api/v1/alerts?cursor=garbage!", None, 400),
        ("GET", "/api/v1/alerts?limit=0", None, 422),
        ("GET", "/api/v1/alerts?limit=abc", None, 422),
    ],
)
async def test_bad_alert_requests_are_4xx_and_change_nothing(
    api: TestClient, clock: FixedClock, admin: dict[str, str], method: str, path: str, body: Any, status: int
) -> None:
    [made] = await seed_alerts(api.app[DB], clock, count=1)
    before = await _state(api.app[DB])
    kwargs: dict[str, Any] = {"headers": admin}
    if isinstance(body, bytes):
        kwargs.update(data=body, headers={**admin, "Content-Type": "application/json"})
    elif body is not None:
        kwargs["json"] = body
    resp = await api.request(method, path.format(alert=made), **kwargs)
    await _error(resp, status)
    assert await _state(api.app[DB]) == before


@pytest.mark.parametrize(
    ("role", "scopes", "method", "path", "status"),
    [
        ("gateway", None, "GET", "/api/v1/alerts", 403),
        ("gateway", None, "POST", "/api/v1/alerts/{alert}/acknowledge", 403),
        ("gateway", None, "POST", "/api/v1/alerts/{alert}/resolve", 403),
        ("gateway", None, "GET", "/api/v1/results", 403),
        ("gateway", None, "GET", "/api/v1/results/export?flow=" + FLOW, 403),
        ("gateway", None, "GET", "/api/v1/results/ratings", 403),
        ("gateway", None, "GET", "/api/v1/webhooks/dead-letters", 403),
        ("api", ["alerts:read"], "POST", "/api/v1/alerts/{alert}/acknowledge", 403),
        ("api", ["alerts:read"], "POST", "/api/v1/alerts/{alert}/resolve", 403),
        ("api", ["results:read"], "GET", "/api/v1/alerts", 403),
        ("api", ["alerts:write"], "GET", "/api/v1/results", 403),
        ("api", ["contacts:read"], "GET", "/api/v1/results/export?flow=" + FLOW, 403),
        ("api", None, "GET", "/api/v1/webhooks/dead-letters", 403),
        ("operator", None, "GET", "/api/v1/webhooks/dead-letters", 403),
    ],
)
async def test_wrong_roles_and_scopes_are_403_and_change_nothing(
    api: TestClient,
    clock: FixedClock,
    make_token: TokenFactory,
    role: str,
    scopes: list[str] | None,
    method: str,
    path: str,
    status: int,
) -> None:
    [made] = await seed_alerts(api.app[DB], clock, count=1)
    token = auth(await make_token(role, scopes=scopes, name="someone"))
    before = await _state(api.app[DB])
    resp = await api.request(method, path.format(alert=made), json={"note": "x"}, headers=token)
    await _error(resp, status)
    resp = await api.request(method, path.format(alert=made), json={"note": "x"})
    await _error(resp, 401)
    assert await _state(api.app[DB]) == before


# --- results ----------------------------------------------------------------------------------------------------


async def test_list_results_with_filters_and_cursor(
    api: TestClient, clock: FixedClock, admin: dict[str, str]
) -> None:
    start = clock.now()
    await seed_results(api.app[DB], clock, ["10", "a", "12", "b", "14"])
    resp = await api.get(
        "/api/v1/results", params={"flow": FLOW, "key": "semanas", "limit": "2"}, headers=admin
    )
    page = await resp.json()
    assert [r["value"] for r in page["items"]] == ["10", "12"]
    resp = await api.get(
        "/api/v1/results",
        params={"flow": FLOW, "key": "semanas", "cursor": page["next_cursor"]},
        headers=admin,
    )
    assert [r["value"] for r in (await resp.json())["items"]] == ["14"]
    since = (start + dt.timedelta(minutes=3)).isoformat()
    resp = await api.get("/api/v1/results", params={"since": since}, headers=admin)
    assert [r["value"] for r in (await resp.json())["items"]] == ["12", "b", "14"]
    item = page["items"][0]
    assert item["flow"] == {"uuid": FLOW, "name": None}
    assert set(item) == {"contact", "flow", "run", "key", "name", "value", "category", "input", "at"}


async def _export(api: TestClient, token: dict[str, str], **params: str) -> list[list[str]]:
    resp = await api.get("/api/v1/results/export", params=params, headers=token)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(await resp.text())))


async def test_export_streams_one_row_per_result_with_the_phone_only_for_contacts_read(
    api: TestClient, clock: FixedClock, make_token: TokenFactory
) -> None:
    values = [str(i) for i in range(2500)]  # more than one read batch
    await seed_results(api.app[DB], clock, values)
    with_contacts = auth(await make_token("api", scopes=["results:read", "contacts:read"], name="a"))
    results_only = auth(await make_token("api", scopes=["results:read"], name="b"))
    rows = await _export(api, with_contacts, flow=FLOW)
    assert rows[0] == list(EXPORT_COLUMNS)
    assert [r[7] for r in rows[1:]] == values
    assert {r[1] for r in rows[1:]} == {PHONE}
    rows = await _export(api, results_only, flow=FLOW, key="otra")
    assert len(rows) == 1 + 1250
    assert {r[1] for r in rows[1:]} == {""}


async def test_export_defuses_spreadsheet_formulas(
    api: TestClient, clock: FixedClock, admin: dict[str, str]
) -> None:
    await seed_results(api.app[DB], clock, ['=HYPERLINK("http://x","y")', "@SUM(1)", "+1", "sí, normal"])
    rows = await _export(api, admin, flow=FLOW)
    assert [r[7] for r in rows[1:]] == ['\'=HYPERLINK("http://x","y")', "'@SUM(1)", "'+1", "sí, normal"]
    assert rows[1][1] == PHONE  # the phone column is E.164 and never escaped


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?flow=",
        "?flow=not-a-uuid",
        f"?flow={uuid.uuid4()}",
        f"?flow={FLOW}&flow={FLOW}",
        f"?flow={FLOW}&since=yesterday",
        f"?flow={FLOW}&limit=5",
        f"?flow={FLOW}&colour=red",
    ],
)
async def test_bad_export_requests_are_422(
    api: TestClient, clock: FixedClock, admin: dict[str, str], query: str
) -> None:
    await seed_results(api.app[DB], clock, ["1"])
    await _error(await api.get("/api/v1/results/export" + query, headers=admin), 422)


@pytest.mark.parametrize(
    "query",
    ["?flow=nope", "?since=2027-13-45", "?key=", "?limit=501", "?cursor=%%%", "?contact=x", "?week=2027-09"],
)
async def test_bad_result_list_requests_are_4xx(api: TestClient, admin: dict[str, str], query: str) -> None:
    resp = await api.get("/api/v1/results" + query, headers=admin)
    assert resp.status in (400, 422)
    resp = await api.get("/api/v1/results/ratings?week=2027-9", headers=admin)
    await _error(resp, 422)


# --- dead letters ------------------------------------------------------------------------------------------------


async def test_admins_read_dead_letters_page_by_page(
    api: TestClient, clock: FixedClock, make_token: TokenFactory
) -> None:
    async with api.app[DB].begin() as conn:
        for i in range(3):
            await conn.execute(
                webhook_dead_letters.insert().values(
                    event_uuid=uuid.uuid4(),
                    event_type="alert.raised",
                    url="http://127.0.0.1:9/hooks",
                    body=f'{{"n": {i}}}',
                    attempts=8,
                    last_status=500 if i else None,
                    last_error="HTTP 500" if i else "ClientConnectorError: refused",
                    created_at=clock.now(),
                    failed_at=clock.now(),
                )
            )
    token = auth(await make_token("admin", name="root"))
    resp = await api.get("/api/v1/webhooks/dead-letters", params={"limit": "2"}, headers=token)
    page = await resp.json()
    assert [d["body"] for d in page["items"]] == ['{"n": 0}', '{"n": 1}']
    assert page["items"][0]["last_status"] is None
    resp = await api.get(
        "/api/v1/webhooks/dead-letters", params={"cursor": page["next_cursor"]}, headers=token
    )
    assert [d["body"] for d in (await resp.json())["items"]] == ['{"n": 2}']
    await _error(await api.get("/api/v1/webhooks/dead-letters?page=2", headers=token), 422)
