"""The demo's clock: an offset on the system clock kept in the data directory, moved by admins through the API,
and absent (404) from a server that is not a demo."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from importlib.resources import as_file, files
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from aiohttp.web import Application

from flows.programme import load_programme
from server.app import create_app
from server.appkeys import CLOCK, DB
from server.clock import DEMO_CLOCK_FILE, FixedClock, OffsetClock
from server.config import Config, ConfigError
from server.db.schema import audit_log
from server.programmes import store_programme
from tests.conftest import TokenFactory, auth

CLOCK_URL = "/api/v1/demo/clock"
AppClient = Callable[[Application], Awaitable[TestClient]]


def test_the_offset_survives_a_new_clock_on_the_same_file(tmp_path: Path) -> None:
    base = FixedClock(dt.datetime(2027, 3, 1, 15, tzinfo=dt.UTC))
    clock = OffsetClock(tmp_path / DEMO_CLOCK_FILE, base)
    assert clock.now() == base.now()
    clock.advance(dt.timedelta(days=7, hours=2))
    again = OffsetClock(tmp_path / DEMO_CLOCK_FILE, base)
    assert again.now() == dt.datetime(2027, 3, 8, 17, tzinfo=dt.UTC)
    assert again.offset == dt.timedelta(days=7, hours=2)


def test_the_offset_only_grows(tmp_path: Path) -> None:
    clock = OffsetClock(tmp_path / DEMO_CLOCK_FILE)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(dt.timedelta(seconds=-1))
    assert not (tmp_path / DEMO_CLOCK_FILE).exists()


@pytest.mark.parametrize("content", ["", "{}", '{"offset_seconds": "soon"}', '{"offset_seconds": -5}', "[1]"])
def test_a_damaged_clock_file_is_a_clear_error_that_keeps_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / DEMO_CLOCK_FILE
    path.write_text(content)
    with pytest.raises(ValueError, match="not a demo clock file"):
        OffsetClock(path)
    assert path.read_text() == content


def test_a_demo_server_refuses_to_start_on_a_damaged_clock_file(config: Config) -> None:
    (config.data_dir / DEMO_CLOCK_FILE).write_text("nonsense")
    with pytest.raises(ConfigError, match="demo_clock"):
        create_app(dataclasses.replace(config, demo_clock=True))


@pytest.mark.parametrize(("method", "body"), [("GET", None), ("POST", {"advance": "1d"})])
async def test_without_the_setting_there_is_no_clock_to_move(
    client: TestClient, make_token: TokenFactory, method: str, body: dict[str, str] | None
) -> None:
    headers = auth(await make_token("admin"))
    resp = await client.request(method, CLOCK_URL, json=body, headers=headers)
    assert resp.status == 404


@pytest.fixture
async def demo(aiohttp_client: AppClient, config: Config, clock: FixedClock) -> TestClient:
    """A demo server whose offset clock sits on the tests' fixed clock (the tokens are made at its time)."""
    offset_clock = OffsetClock(config.data_dir / DEMO_CLOCK_FILE, base=clock)
    return await aiohttp_client(create_app(dataclasses.replace(config, demo_clock=True), clock=offset_clock))


async def test_an_admin_moves_the_clock_and_a_restart_keeps_it(
    demo: TestClient, make_token: TokenFactory, config: Config, clock: FixedClock
) -> None:
    headers = auth(await make_token("admin"))
    assert (await (await demo.get(CLOCK_URL, headers=headers)).json()) == {"now": clock.now().isoformat()}
    resp = await demo.post(CLOCK_URL, json={"advance": "1w"}, headers=headers)
    assert resp.status == 200, await resp.text()
    moved = await resp.json()
    assert moved["now"] == (clock.now() + dt.timedelta(weeks=1)).isoformat()
    assert moved["stops"] >= 1
    assert json.loads((config.data_dir / DEMO_CLOCK_FILE).read_text()) == {"offset_seconds": 7 * 86400}
    # A server started again on the data directory makes its clock from the file: the week stays passed.
    restarted = create_app(dataclasses.replace(config, demo_clock=True))[CLOCK]
    assert isinstance(restarted, OffsetClock)
    assert restarted.offset == dt.timedelta(weeks=1)


async def test_a_move_is_audited_and_logged_before_anything_happens(
    demo: TestClient, make_token: TokenFactory, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    headers = auth(await make_token("admin", name="ana"))
    before = clock.now()
    resp = await demo.post(CLOCK_URL, json={"advance": "2d"}, headers=headers)
    assert resp.status == 200, await resp.text()
    async with demo.app[DB].connect() as conn:
        rows = (await conn.execute(sa.select(audit_log).where(audit_log.c.action == "demo.clock.move"))).all()
    assert len(rows) == 1
    assert rows[0].actor.endswith("ana")
    assert rows[0].detail == {"from": before.isoformat(), "to": (before + dt.timedelta(days=2)).isoformat()}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("moves the demo clock" in message for message in warnings)


async def test_moving_to_a_time(demo: TestClient, make_token: TokenFactory, clock: FixedClock) -> None:
    target = (clock.now() + dt.timedelta(days=40, hours=3)).astimezone(dt.timezone(dt.timedelta(hours=-6)))
    resp = await demo.post(
        CLOCK_URL, json={"to": target.isoformat()}, headers=auth(await make_token("admin"))
    )
    assert resp.status == 200, await resp.text()
    assert dt.datetime.fromisoformat((await resp.json())["now"]) == target


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"advance": "soon"}, 422, "advance"),
        ({"advance": "-3d"}, 422, "advance"),
        ({}, 422, "advance"),
        ({"advance": "1d", "to": "2030-01-01T00:00:00+00:00"}, 422, "advance"),
        ({"to": "next tuesday"}, 422, "to"),
        ({"to": "2030-01-01T09:00:00"}, 422, "to"),  # no offset: which 09:00?
        ({"to": "2001-01-01T09:00:00+00:00"}, 409, None),  # time does not go back
        ({"advance": "1d", "speed": 2}, 422, "speed"),
    ],
)
async def test_bad_moves_are_refused_and_move_nothing(
    demo: TestClient,
    make_token: TokenFactory,
    config: Config,
    body: dict[str, object],
    status: int,
    field: str | None,
) -> None:
    resp = await demo.post(CLOCK_URL, json=body, headers=auth(await make_token("admin")))
    assert resp.status == status, await resp.text()
    error = (await resp.json())["error"]
    if field is not None:
        assert field in {d["field"] for d in error["details"]}
    assert not (config.data_dir / DEMO_CLOCK_FILE).exists()


async def test_only_an_admin_moves_the_clock(
    demo: TestClient, make_token: TokenFactory, config: Config
) -> None:
    assert (await demo.post(CLOCK_URL, json={"advance": "1d"})).status == 401
    for role in ("api", "operator", "gateway"):
        headers = auth(await make_token(role, name=role))
        assert (await demo.post(CLOCK_URL, json={"advance": "1d"}, headers=headers)).status == 403
    assert not (config.data_dir / DEMO_CLOCK_FILE).exists()


async def test_a_move_stops_at_each_campaign_event_on_the_way(
    demo: TestClient, make_token: TokenFactory, config: Config, clock: FixedClock
) -> None:
    """A week's jump must not land a weekly message at the jump's end (or skip it as too late): the clock
    stops at nine on the event's day and the runner fires it there."""
    with as_file(files("flows") / "library") as library:
        programme = load_programme(library)
    async with demo.app[DB].begin() as conn:
        await store_programme(
            conn, programme, now=clock.now(), actor="test", timezone=config.programme_timezone
        )
    headers = auth(await make_token("admin"))
    mexico = ZoneInfo(config.programme_timezone)
    today = clock.now().astimezone(mexico).date()
    due = today + dt.timedelta(days=3, weeks=18)  # her week 22 (18 weeks before) starts in three days
    created = await demo.post(
        "/api/v1/contacts",
        json={"phone": "+525512345678", "name": "Ana López", "fields": {"fecha_parto": due.isoformat()}},
        headers=headers,
    )
    assert created.status == 201, await created.text()
    ana = await created.json()
    groups = (await (await demo.get("/api/v1/groups", headers=headers)).json())["items"]
    pregnant = next(g["uuid"] for g in groups if g["name"] == "Embarazadas")
    joined = await demo.post(
        f"/api/v1/groups/{pregnant}/members", json={"contacts": [ana["uuid"]]}, headers=headers
    )
    assert joined.status == 200, await joined.text()

    moved = await demo.post(CLOCK_URL, json={"advance": "7d"}, headers=headers)
    assert moved.status == 200, await moved.text()
    assert (await moved.json())["stops"] >= 2
    listed = await demo.get(f"/api/v1/messages?contact={ana['uuid']}&direction=out", headers=headers)
    weekly = (await listed.json())["items"]
    assert [dt.datetime.fromisoformat(m["created_at"]) for m in weekly] == [
        dt.datetime.combine(today + dt.timedelta(days=3), dt.time(9), tzinfo=mexico)
    ]
