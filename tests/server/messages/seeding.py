"""Contacts and groups written straight into the tables, so message tests need no other API."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.schema import contacts, group_members, groups


@dataclass(frozen=True)
class Seeded:
    active: list[uuid.UUID]
    stopped: uuid.UUID
    blocked: uuid.UUID
    group: uuid.UUID  # every contact above
    empty_group: uuid.UUID


async def seed_contacts(engine: AsyncEngine, now: dt.datetime, *, active: int = 3) -> Seeded:
    """``active`` active contacts, one stopped and one blocked, a group of all of them and an empty group."""
    statuses = ["active"] * active + ["stopped", "blocked"]
    rows = [
        {
            "uuid": uuid.uuid4(),
            "phone": f"+5255{10_000_000 + i:08d}",
            "status": status,
            "created_at": now,
            "updated_at": now,
        }
        for i, status in enumerate(statuses)
    ]
    group_uuid, empty_uuid = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(contacts.insert(), rows)
        ids = [
            (await conn.execute(contacts.select().where(contacts.c.uuid == r["uuid"]))).one().id for r in rows
        ]
        await conn.execute(groups.insert(), [
            {"uuid": group_uuid, "name": "todas", "created_at": now},
            {"uuid": empty_uuid, "name": "nadie", "created_at": now},
        ])  # fmt: skip
        group_id = (await conn.execute(groups.select().where(groups.c.uuid == group_uuid))).one().id
        await conn.execute(
            group_members.insert(), [{"group_id": group_id, "contact_id": i, "added_at": now} for i in ids]
        )
    return Seeded(
        active=[r["uuid"] for r in rows[:active]],
        stopped=rows[active]["uuid"],
        blocked=rows[active + 1]["uuid"],
        group=group_uuid,
        empty_group=empty_uuid,
    )
