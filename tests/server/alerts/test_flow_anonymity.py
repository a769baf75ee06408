"""Which flows are anonymous is what the flows themselves say (``anonymous: true``), copied at every load: a
flow without the flag keeps ordinary results, a reload that sets or clears the flag takes effect at once, and a
database upgraded from the time of the ``anonymous_flows`` setting keeps the flows it named anonymous."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.model import Programme
from flows.native import flow_uuid_for
from flows.programme import load_programme
from server import ratings
from server.clock import FixedClock
from server.db import migrate
from server.db.engine import create_engine
from server.db.schema import clinic_ratings, programme_flows
from server.db.schema import results as results_table
from server.runner import Runner
from tests.server.alerts.conftest import LIBRARY, register, say
from tests.server.runner import kit

PHONE = "+525512345678"
CLINIC = "Centro de Salud Tlacolula"
RATING_FLOW = "Califica tu clínica"


def library(*, rating_anonymous: bool) -> Programme:
    loaded = load_programme(LIBRARY)
    return dataclasses.replace(
        loaded,
        flows=tuple(
            dataclasses.replace(f, anonymous=rating_anonymous) if f.name == RATING_FLOW else f
            for f in loaded.flows
        ),
    )


async def rate(engine: AsyncEngine, runner: Runner, clock: FixedClock, phone: str) -> None:
    for text in ("CALIFICAR", "5", "todo bien"):
        clock.advance(dt.timedelta(minutes=2))
        await say(engine, runner, clock, phone, text)


async def test_the_bundled_rating_flow_is_the_one_anonymous_flow(
    engine: AsyncEngine, clock: FixedClock
) -> None:
    await kit.load(engine, load_programme(LIBRARY), clock.now())
    stored = {r.name: r.anonymous for r in await kit.rows(engine, programme_flows)}
    assert [name for name, anonymous in stored.items() if anonymous] == [RATING_FLOW]
    async with engine.connect() as conn:
        assert await ratings.is_anonymous(conn, flow_uuid_for(RATING_FLOW))
        assert not await ratings.is_anonymous(conn, flow_uuid_for("Alerta"))
        assert not await ratings.is_anonymous(conn, "no-such-flow")


async def test_without_the_flag_the_answers_are_ordinary_results(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await kit.load(engine, library(rating_anonymous=False), clock.now())
    await register(engine, PHONE, name="Ana", clinic=CLINIC, now=clock.now())
    await rate(engine, runner, clock, PHONE)
    kept = await kit.rows(engine, results_table, results_table.c.flow_uuid == flow_uuid_for(RATING_FLOW))
    assert {r.value for r in kept} == {"5", "todo bien"}
    assert await kit.rows(engine, clinic_ratings) == []


async def test_a_reload_that_sets_the_flag_makes_the_next_answers_anonymous(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await kit.load(engine, library(rating_anonymous=False), clock.now())
    await register(engine, PHONE, name="Ana", clinic=CLINIC, now=clock.now())
    report = await kit.load(engine, library(rating_anonymous=True), clock.now())
    assert report.flows.changed == (RATING_FLOW,)  # the flag is part of the flow's text, so of its digest
    await rate(engine, runner, clock, PHONE)
    assert (
        await kit.rows(engine, results_table, results_table.c.flow_uuid == flow_uuid_for(RATING_FLOW)) == []
    )
    assert {(r.question, r.answer) for r in await kit.rows(engine, clinic_ratings)} == {
        ("calificacion", "5"),
        ("comentario", "todo bien"),
    }

    await kit.load(engine, library(rating_anonymous=False), clock.now())
    async with engine.connect() as conn:
        assert not await ratings.is_anonymous(conn, flow_uuid_for(RATING_FLOW))


async def test_the_upgrade_keeps_anonymous_the_flows_the_old_setting_named(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        await migrate.upgrade(engine, "0005")
        now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC).isoformat()
        async with engine.begin() as conn:
            for position, name in enumerate(("Califica tu clínica", "Registro")):
                await conn.execute(
                    sa.text(
                        "INSERT INTO programme_flows (uuid, name, position, definition, digest, updated_at)"
                        " VALUES (:uuid, :name, :position, '', '', :now)"
                    ),
                    {"uuid": f"flow-{position}", "name": name, "position": position, "now": now},
                )
            await conn.execute(sa.text("INSERT INTO anonymous_flows (name) VALUES ('Califica tu clínica')"))
        await migrate.upgrade(engine)
        assert await migrate.is_current(engine)
        async with engine.connect() as conn:
            rows = await conn.execute(sa.select(programme_flows.c.name, programme_flows.c.anonymous))
            assert {name: anonymous for name, anonymous in rows} == {
                "Califica tu clínica": True,
                "Registro": False,
            }
            tables = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        assert "anonymous_flows" not in tables
    finally:
        await engine.dispose()
