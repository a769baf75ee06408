"""An import keeps campaign rows right for the contacts it writes, and only for them: each batch recomputes its
own contacts' rows in the transaction that writes them, so a failure between batches leaves nobody stale."""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from collections.abc import Collection
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server import contacts_import
from server.campaigns import schedule
from server.contacts_import import ImportReport, import_contacts, parse_mappings
from server.db.schema import campaign_fires
from server.db.schema import contacts as contacts_table
from tests.server.campaigns import kit

NOW = dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.UTC)  # Monday 09:00 in Mexico City
LATER = NOW + dt.timedelta(days=7)
MEXICO = zoneinfo.ZoneInfo(kit.TZ)
# Due on 2027-06-01: week 36 (four weeks before) is sent on 2027-05-04 at 09:00 local.
DUE = "2027-06-01"
W36_AT = kit.local(2027, 5, 4, 9)
# What an untouched row keeps: no recomputation would ever produce it.
SENTINEL = (kit.W39, dt.datetime(2031, 1, 1, tzinfo=dt.UTC))


class Crash(Exception):
    """Stands for the process dying at that point."""


def phone(i: int) -> str:
    return f"+5255{12_000_000 + i:08d}"


def csv_of(numbers: Collection[int], due: str = DUE) -> str:
    return f"phone,{kit.FECHA},group\n" + "".join(f"{phone(i)},{due},Embarazadas\n" for i in numbers)


async def run(engine: AsyncEngine, data: str, now: dt.datetime) -> ImportReport:
    return await import_contacts(
        engine,
        io.BytesIO(data.encode()),
        mappings=parse_mappings(["group=group"]),
        tz=MEXICO,
        programme_timezone=kit.TZ,
        region="MX",
        now=now,
        actor="cli",
    )


async def rows(engine: AsyncEngine) -> dict[str, tuple[str, dt.datetime]]:
    """Every campaign row, by the contact's phone."""
    async with engine.connect() as conn:
        found = await conn.execute(
            sa.select(contacts_table.c.phone, campaign_fires.c.event_uuid, campaign_fires.c.due_at).join(
                campaign_fires, campaign_fires.c.contact_id == contacts_table.c.id
            )
        )
        return {p: (event, due) for p, event, due in found}


async def phones(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(sa.select(contacts_table.c.phone))).scalars())


async def test_an_import_recomputes_the_rows_of_its_contacts_and_leaves_every_other_member_alone(
    engine: AsyncEngine,
) -> None:
    await kit.load(engine, kit.programme(), NOW)
    report = await run(engine, csv_of(range(1000)), NOW)
    assert (report.created, report.failed) == (1000, 0)
    assert set((await rows(engine)).values()) == {(kit.W36, W36_AT)}
    async with engine.begin() as conn:  # a value only a recomputation can replace
        await conn.execute(campaign_fires.update().values(event_uuid=SENTINEL[0], due_at=SENTINEL[1]))

    # One member moves her due date a week later; two women are new. The clock has moved on too.
    data = csv_of([7], due="2027-06-08") + "".join(f"{phone(i)},{DUE},Embarazadas\n" for i in (1000, 1001))
    report = await run(engine, data, LATER)

    assert (report.created, report.updated, report.failed) == (2, 1, 0)
    after = await rows(engine)
    assert after.pop(phone(7)) == (kit.W36, W36_AT + dt.timedelta(days=7))
    assert after.pop(phone(1000)) == after.pop(phone(1001)) == (kit.W36, W36_AT)
    assert len(after) == 999
    assert set(after.values()) == {SENTINEL}


@pytest.mark.parametrize("fails", ["inside the second batch", "between the batches"])
async def test_a_failure_after_a_batch_leaves_its_contacts_with_their_rows_and_writes_nothing_of_the_next(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, fails: str
) -> None:
    await kit.load(engine, kit.programme(), NOW)
    monkeypatch.setattr(contacts_import, "BATCH_ROWS", 2)
    recompute = schedule.contacts_changed
    batches = 0

    async def recompute_then_fail(conn: AsyncConnection, ids: Collection[int], **kwargs: Any) -> None:
        nonlocal batches
        batches += 1
        await recompute(conn, ids, **kwargs)
        if batches == 2 and fails == "inside the second batch":
            raise Crash  # after the rows are written, before the commit

    def progress(done: int, total: int) -> None:
        if fails == "between the batches":
            raise Crash  # after the first batch's commit

    monkeypatch.setattr(schedule, "contacts_changed", recompute_then_fail)
    with pytest.raises(Crash):
        await import_contacts(
            engine,
            io.BytesIO(csv_of(range(5)).encode()),
            mappings=parse_mappings(["group=group"]),
            tz=MEXICO,
            programme_timezone=kit.TZ,
            region="MX",
            now=NOW,
            actor="cli",
            progress=progress,
        )

    first_batch = {phone(0), phone(1)}
    assert await phones(engine) == first_batch
    assert await rows(engine) == {p: (kit.W36, W36_AT) for p in first_batch}


async def test_a_contact_the_import_takes_out_of_reach_of_a_campaign_loses_her_row(
    engine: AsyncEngine,
) -> None:
    await kit.load(engine, kit.programme(), NOW)
    await run(engine, csv_of([1, 2]), NOW)
    # Her due date moves into the past: every event is behind her, so she has no row; the other keeps hers.
    await run(engine, csv_of([1], due="2027-02-01"), LATER)
    assert await rows(engine) == {phone(2): (kit.W36, W36_AT)}
