"""Gateways syncing at the same time never lease the same message (SQLite: one writer at a time;
PostgreSQL: FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server import messages
from server.clock import FixedClock
from server.db.schema import contacts
from server.db.schema import messages as messages_table
from server.link import leasing
from server.link.window import OpenZones
from tests.server.link.helpers import Gateway


async def _queue_many(engine: AsyncEngine, count: int, now: dt.datetime) -> None:
    rows = [
        {"uuid": uuid.uuid4(), "phone": f"+5255{20_000_000 + i:08d}", "created_at": now, "updated_at": now}
        for i in range(count)
    ]
    async with engine.begin() as conn:
        await conn.execute(contacts.insert(), rows)
        found = await conn.execute(sa.select(contacts.c.id, contacts.c.uuid, contacts.c.status))
        recipients = [messages.Recipient(r.id, r.uuid, r.status) for r in found]
        for priority, part in zip(
            itertools.cycle(("reply", "alert", "bulk")), (recipients[i::3] for i in range(3)), strict=False
        ):
            await messages.queue_outgoing(
                conn, part, messages.check_text("hola"), priority=priority, now=now, actor="t"
            )


async def test_concurrent_syncs_never_lease_a_message_twice(
    oaxaca: Gateway, chiapas: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    await _queue_many(engine, 240, clock.now())
    takes = [gw.take(want=13) for _ in range(10) for gw in (oaxaca, chiapas)]
    results = await asyncio.gather(*takes)
    leased = [(gw, m["id"]) for gw, got in zip(itertools.cycle(("oaxaca", "chiapas")), results) for m in got]
    ids = [i for _, i in leased]
    assert len(ids) == len(set(ids)) == 240
    async with engine.connect() as conn:
        rows = dict((await conn.execute(sa.select(messages_table.c.uuid, messages_table.c.gateway))).all())
    assert all(rows[uuid.UUID(i)] == gw for gw, i in leased)


async def test_an_open_lease_transaction_does_not_hand_out_its_rows(
    engine: AsyncEngine, clock: FixedClock
) -> None:
    await _queue_many(engine, 12, clock.now())
    now = clock.now()
    kwargs = {"want": 5, "want_parts": None, "now": now, "until": now + dt.timedelta(minutes=5),
              "zones": OpenZones(True, (), inside=False), "programme_tz": "America/Mexico_City", "others": ()}  # fmt: skip
    async with engine.begin() as first:
        mine = await leasing.lease(first, "oaxaca", **kwargs)  # type: ignore[arg-type]

        async def other() -> list[leasing.Leased]:
            async with engine.begin() as second:
                return await leasing.lease(second, "chiapas", **kwargs)  # type: ignore[arg-type]

        theirs_task = asyncio.create_task(other())
        await asyncio.sleep(0.5)
        if engine.dialect.name == "postgresql":
            # Not blocked: it skipped the rows the open transaction holds.
            assert theirs_task.done()
        else:
            assert not theirs_task.done()  # SQLite: waits for the one writer to finish
    theirs = await asyncio.wait_for(theirs_task, 15)
    assert len(mine) == len(theirs) == 5
    assert not {m.uuid for m in mine} & {m.uuid for m in theirs}
