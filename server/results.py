"""Run results: what flows saved (``save_as``, ``set_result``), kept per run and key, queried and exported.

:func:`record_result` is where the runner's ``run_result_changed`` lands, inside its transaction: a run's latest
answer per key replaces the earlier one, and a ``result.changed`` event goes to the webhook receivers. Results of
an anonymous flow are not kept here at all: :mod:`server.ratings` counts them without the contact.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flows.events import RunResultChanged
from server import ratings, webhooks_out
from server.db.driver_rows import execute_rows
from server.db.schema import contacts, programme_flows, results
from server.db.statements import insert_on_conflict, per_dialect

RESULT_COLUMNS = ("flow_uuid", "name", "value", "category", "input", "node_uuid", "at")
EXPORT_BATCH = 1000


async def record_result(
    conn: AsyncConnection, contact_id: int, event: RunResultChanged, *, now: dt.datetime, events: bool
) -> None:
    """Keep a run's latest value for each result (an answer given again replaces the earlier one)."""
    if await ratings.is_anonymous(conn, event.flow_uuid):
        await ratings.record_answer(conn, contact_id, event, now=now)
        return
    contact_uuid = (
        await conn.execute(sa.select(contacts.c.uuid).where(contacts.c.id == contact_id))
    ).scalar_one()
    await store_results(conn, [result_row(contact_id, event, now)])
    await webhooks_out.enqueue(
        conn, "result.changed", result_event(contact_uuid, event, now), now=now, wanted=events
    )


def result_row(contact_id: int, event: RunResultChanged, now: dt.datetime) -> dict[str, Any]:
    """The ``results`` row a result becomes."""
    return {
        "run_uuid": event.run_uuid,
        "flow_uuid": event.flow_uuid,
        "contact_id": contact_id,
        "key": event.key,
        "name": event.name,
        "value": event.value,
        "category": event.category,
        "input": event.input,
        "node_uuid": event.node_uuid,
        "at": now,
    }


def result_event(contact_uuid: uuid.UUID, event: RunResultChanged, now: dt.datetime) -> dict[str, Any]:
    """The data of the ``result.changed`` event the webhook receivers get."""
    return {
        "contact": str(contact_uuid),
        "flow": event.flow_uuid,
        "run": event.run_uuid,
        "key": event.key,
        "name": event.name,
        "value": event.value,
        "category": event.category,
        "input": event.input,
        "at": now.isoformat(),
    }


async def store_results(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert rows made by :func:`result_row`; a run's later value for a key replaces the earlier one."""
    await execute_rows(conn, _result_upsert(conn), rows)


@per_dialect
def _result_upsert(dialect: str) -> sqlite.Insert | postgresql.Insert:
    insert = insert_on_conflict(dialect, results)
    return insert.on_conflict_do_update(
        index_elements=[results.c.run_uuid, results.c.key],
        set_={name: insert.excluded[name] for name in RESULT_COLUMNS},
    )


# --- reading ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    id: int
    run_uuid: str
    flow_uuid: str
    flow_name: str | None  # None when the flow is no longer in the programme
    contact_uuid: uuid.UUID
    contact_phone: str
    key: str
    name: str
    value: str
    category: str
    input: str
    at: dt.datetime


@dataclass(frozen=True)
class ResultQuery:
    """All given conditions hold; ``since`` is inclusive (the time the result was last set)."""

    flow: str | None = None  # flow uuid
    key: str | None = None
    since: dt.datetime | None = None


def _select(query: ResultQuery) -> sa.Select[Any]:
    stmt = (
        sa.select(
            results.c.id,
            results.c.run_uuid,
            results.c.flow_uuid,
            programme_flows.c.name.label("flow_name"),
            contacts.c.uuid.label("contact_uuid"),
            contacts.c.phone.label("contact_phone"),
            results.c.key,
            results.c.name,
            results.c.value,
            results.c.category,
            results.c.input,
            results.c.at,
        )
        .join(contacts, contacts.c.id == results.c.contact_id)
        .outerjoin(programme_flows, programme_flows.c.uuid == results.c.flow_uuid)
        .order_by(results.c.id)
    )
    if query.flow is not None:
        stmt = stmt.where(results.c.flow_uuid == query.flow)
    if query.key is not None:
        stmt = stmt.where(results.c.key == query.key)
    if query.since is not None:
        stmt = stmt.where(results.c.at >= query.since)
    return stmt


async def search_results(
    conn: AsyncConnection, query: ResultQuery, *, after_id: int = 0, limit: int = 50
) -> list[Result]:
    """Results with ``id > after_id`` in id order, at most ``limit`` (a page of a cursor)."""
    rows = await conn.execute(_select(query).where(results.c.id > after_id).limit(limit))
    return [Result(**row._asdict()) for row in rows]


async def flow_exists(conn: AsyncConnection, flow_uuid: str) -> bool:
    """A flow of the programme, or one that has results (a flow since removed keeps its results)."""
    for table in (programme_flows, results):
        column = table.c.uuid if table is programme_flows else table.c.flow_uuid
        if (await conn.execute(sa.select(sa.literal(1)).where(column == flow_uuid).limit(1))).first():
            return True
    return False


async def stream_results(
    db: AsyncEngine, query: ResultQuery, *, batch: int = EXPORT_BATCH
) -> AsyncIterator[Result]:
    """Every matching result in id order, read a batch at a time on a short connection each, so a slow client
    holds no transaction open while it downloads."""
    after_id = 0
    while True:
        async with db.connect() as conn:
            page = await search_results(conn, query, after_id=after_id, limit=batch)
        for result in page:
            yield result
        if len(page) < batch:
            return
        after_id = page[-1].id
