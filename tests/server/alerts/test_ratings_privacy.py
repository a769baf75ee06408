"""The anonymous clinic rating: after a whole rating conversation, no table row, log line, webhook body or
export pairs the contact (id, uuid or phone) with what she answered. Only the counts remain."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.native import flow_uuid_for
from server import ratings, results, webhooks_out
from server.api.results import EXPORT_COLUMNS
from server.appkeys import DB
from server.clock import FixedClock
from server.config import Config
from server.db.schema import clinic_ratings, messages, metadata
from server.db.schema import results as results_table
from server.runner import Runner
from server.wakeup import Wakeup
from tests.conftest import TokenFactory, auth
from tests.server.alerts.conftest import SECRET, load_library, register, say
from tests.server.runner import kit

PHONE = "+525512345678"
CLINIC = "Centro de Salud Tlacolula"
COMMENT = "La enfermera Rocío fue muy amable"
RATING = "4"
NOT_UNDERSTOOD = "hola qué tal"
ANSWERS = (RATING, COMMENT, NOT_UNDERSTOOD)
RATING_FLOW = flow_uuid_for("Califica tu clínica")


async def rate(engine: AsyncEngine, runner: Runner, clock: FixedClock) -> int:
    """A whole rating conversation; returns the contact's id."""
    contact_id = await register(engine, PHONE, name="Ana López", clinic=CLINIC, now=clock.now())
    for text in ("CALIFICAR", NOT_UNDERSTOOD, RATING, COMMENT):
        clock.advance(dt.timedelta(minutes=3))
        assert await say(engine, runner, clock, PHONE, text) in ("trigger", "resumed")
    return contact_id


def _strings(value: Any) -> Iterator[str]:
    """Every text inside a column value, JSON documents included (numbers are ids and counts, not answers)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value
        if value[:1] in "{[":
            with contextlib.suppress(ValueError):
                yield from _strings(json.loads(value))
    elif isinstance(value, uuid.UUID):
        yield str(value)


def _contact_columns() -> dict[str, set[str]]:
    """Per table, the columns that hold a contact's id."""
    found: dict[str, set[str]] = {}
    for table in metadata.sorted_tables:
        for column in table.columns:
            if any(
                fk.column.table.name == "contacts" and fk.column.name == "id" for fk in column.foreign_keys
            ):
                found.setdefault(table.name, set()).add(column.name)
    found.setdefault("contacts", set()).add("id")
    return found


def _holds_answer(texts: list[str]) -> bool:
    return any(t in (RATING, NOT_UNDERSTOOD) or COMMENT.lower() in t.lower() for t in texts)


async def scan(
    engine: AsyncEngine, contact_id: int, contact_uuid: uuid.UUID
) -> dict[str, list[dict[str, Any]]]:
    """Rows that hold an answer, by table; fails on any row that also names the contact."""
    linked_columns = _contact_columns()
    holding: dict[str, list[dict[str, Any]]] = {}
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in (await conn.execute(sa.select(table))).mappings():
                values = dict(row)
                texts = [s for v in values.values() for s in _strings(v)]
                if not _holds_answer(texts):
                    continue
                holding.setdefault(table.name, []).append(values)
                names_her = any(
                    values.get(c) == contact_id for c in linked_columns.get(table.name, ())
                ) or any(str(contact_uuid) in t or PHONE in t for t in texts)
                assert not names_her, f"{table.name} pairs the contact with an answer: {values}"
    return holding


async def test_no_row_pairs_her_with_her_answers_and_only_counts_remain(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, library: None, caplog: pytest.LogCaptureFixture
) -> None:
    # The server's default level, and everything recado's own code says. (The database driver's DEBUG trace
    # prints every statement's parameters, every SMS text included: it is never to be on in production.)
    caplog.set_level(logging.INFO)
    for ours in ("server", "flows", "recado"):
        caplog.set_level(logging.DEBUG, logger=ours)
    # Receivers are configured: message events become deliveries, which the scan reads too.
    endpoints = webhooks_out.parse_endpoints("http://127.0.0.1:9/hooks", SECRET)
    await webhooks_out.reset_message_cursor(engine, endpoints)
    contact_id = await rate(engine, runner, clock)
    clock.advance(dt.timedelta(minutes=5))
    assert await webhooks_out.collect_message_events(engine, endpoints, now=clock.now()) > 0
    await webhooks_out.fan_out(engine, endpoints, now=clock.now())
    contact = await kit.contact(engine, PHONE)

    holding = await scan(engine, contact_id, contact.uuid)
    assert set(holding) == {"clinic_ratings"}
    counted = {
        (r.week, r.clinic, r.question, r.answer, r.times) for r in await kit.rows(engine, clinic_ratings)
    }
    week = ratings.iso_week(clock.now())
    assert counted == {(week, CLINIC, "calificacion", RATING, 1), (week, CLINIC, "comentario", COMMENT, 1)}
    assert await kit.rows(engine, results_table, results_table.c.flow_uuid == RATING_FLOW) == []
    inbound = {r.text for r in await kit.rows(engine, messages, messages.c.direction == "in")}
    assert inbound == {"CALIFICAR", ratings.REDACTED}

    for record in caplog.records:
        line = record.getMessage() + (record.exc_text or "")
        assert COMMENT not in line
        if str(contact.uuid) in line or PHONE in line or f"contact {contact_id}" in line:
            assert not any(answer in line.split() for answer in ANSWERS), line

    exported = [r async for r in results.stream_results(engine, results.ResultQuery())]
    assert all(r.flow_uuid != RATING_FLOW for r in exported)


async def test_a_second_rating_adds_to_the_count_without_a_new_row(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, library: None
) -> None:
    await rate(engine, runner, clock)
    other = "+525511112222"
    await register(engine, other, name="Berta", clinic=CLINIC, now=clock.now())
    for text in ("CALIFICAR", RATING, "no"):
        await say(engine, runner, clock, other, text)
    counted = {(r.question, r.answer): r.times for r in await kit.rows(engine, clinic_ratings)}
    assert counted == {("calificacion", RATING): 2, ("comentario", COMMENT): 1, ("comentario", "no"): 1}


async def test_other_flows_keep_their_results(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, library: None
) -> None:
    await register(engine, PHONE, name="Ana", clinic=CLINIC, now=clock.now())
    await say(engine, runner, clock, PHONE, "ALERTA tengo sangrado")
    await say(engine, runner, clock, PHONE, "no")
    keys = {r.key for r in await kit.rows(engine, results_table)}
    assert keys == {"que_pasa", "confirmacion"}
    assert await kit.rows(engine, clinic_ratings) == []


def test_iso_weeks_are_utc_and_zero_padded() -> None:
    assert ratings.iso_week(dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.UTC)) == "2027-W09"
    assert ratings.iso_week(dt.datetime(2027, 1, 1, 12, 0, tzinfo=dt.UTC)) == "2026-W53"


# --- through the API: the export and the messages list -------------------------------------------------------


async def test_the_export_and_the_messages_api_show_no_answer_of_hers(
    api: TestClient, make_token: TokenFactory, clock: FixedClock, runner_config: Config
) -> None:
    engine = api.app[DB]
    await load_library(engine, clock.now())
    runner = Runner(engine, runner_config, clock, outbox_wake=Wakeup(), webhooks_in_background=False)
    try:
        await rate(engine, runner, clock)
    finally:
        await runner.close()
    token = auth(await make_token("api", scopes=["results:read", "contacts:read", "messages:read"]))

    resp = await api.get("/api/v1/results/export", params={"flow": RATING_FLOW}, headers=token)
    assert resp.status == 200
    assert (await resp.text()).splitlines() == [",".join(EXPORT_COLUMNS)]
    listed = await api.get("/api/v1/results", headers=token)
    assert (await listed.json())["items"] == []

    contact = await kit.contact(engine, PHONE)
    resp = await api.get(
        "/api/v1/messages", params={"contact": str(contact.uuid), "direction": "in"}, headers=token
    )
    texts = [m["text"] for m in (await resp.json())["items"]]
    assert texts == ["CALIFICAR", ratings.REDACTED, ratings.REDACTED, ratings.REDACTED]

    resp = await api.get("/api/v1/results/ratings", params={"clinic": CLINIC}, headers=token)
    items = (await resp.json())["items"]
    assert [(i["question"], i["answer"], i["count"]) for i in items] == [
        ("calificacion", RATING, 1),
        ("comentario", COMMENT, 1),
    ]
    assert all(set(i) == {"week", "clinic", "question", "answer", "count"} for i in items)
