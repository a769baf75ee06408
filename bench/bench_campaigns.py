"""Campaigns on SQLite: enrolling a large programme in a 700-event campaign, then turning due fires into
queued messages.

1. ``CONTACTS`` pregnant women (due dates spread over 40 weeks, all in the campaign's group) are written
   straight into the tables, as an import would leave them.
2. A programme load adds the campaign: 700 daily messages at 09:00, from 280 days before the due date to 420
   after. The load schedules every member in its transaction (``server.campaigns.schedule``): this is the
   enrolment measured, against 2 minutes for a million contacts, and the database size after it, against 1.5 GB.
3. The clock moves to the next 09:00, when every contact's next event is due at once, and the campaign tick's
   batches fire ``FIRES`` of them (each a queued message, its ``queued`` event, a log row and the row moved on
   to the next day): fires per second, against 20,000. The CPU time (``fire_cpu_s``, both threads: the event
   loop's and the SQLite driver's) is reported beside the wall time: it does not depend on what else the
   machine is doing.
4. A second database of ``PERSONALISED`` contacts, whose campaign texts start "Hola @contact.name.", is
   enrolled and fired the same way: each text rendered for its contact (``personalised_fires_per_s``).

Usage: ``python -m bench.bench_campaigns [--contacts N] [--fires N]``. A million contacts need about 2 GB of
free disk in the temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bench.common import write_result
from flows.model import Campaign, CampaignEvent, FieldDef, GroupRef, Programme
from server.campaigns.firing import BATCH
from server.clock import FixedClock
from server.config import Config
from server.db import migrate
from server.db.engine import create_engine
from server.programmes import store_programme
from server.runner import Runner

CONTACTS = 1_000_000
FIRES = 200_000
PERSONALISED = 20_000  # contacts of a second, smaller database whose texts greet each by name, all fired
EVENTS = 700
TARGET_FIRES_PER_SECOND = 20_000
TARGET_ENROL_SECONDS_PER_MILLION = 120
TARGET_DB_BYTES_PER_MILLION = 1.5e9
TZ = "America/Mexico_City"
NOW = dt.datetime(2027, 3, 1, 18, 0, tzinfo=dt.UTC)  # 12:00 in Mexico City
NEXT_NINE = dt.datetime(2027, 3, 2, 15, 0, tzinfo=dt.UTC)  # the next 09:00 there
GROUP = GroupRef(str(uuid.uuid5(uuid.NAMESPACE_URL, "bench:embarazadas")), "Embarazadas")
FIELD = FieldDef("fecha_parto", "Fecha probable de parto", "date")


def programme(with_campaign: bool, *, personalised: bool = False) -> Programme:
    events = tuple(
        CampaignEvent(
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench:event:{day}")),
            FIELD.key,
            day,
            "days",
            9,
            message={
                "spa": ("Hola @contact.name. " if personalised else "")
                + f"Día {day} de tu embarazo: un consejo para hoy."
            },
            start_mode="passive",
        )
        for day in range(-280, EVENTS - 280)
    )
    campaign = Campaign(str(uuid.uuid5(uuid.NAMESPACE_URL, "bench:campaign")), "Embarazo", GROUP, events)
    return Programme(
        name="Bench",
        flows=(),
        fields=(FIELD,),
        groups=(GROUP,),
        campaigns=(campaign,) if with_campaign else (),
    )


def fill_contacts(path: Path, count: int) -> None:
    """Contacts, their due dates and memberships, in the stored formats (setup, not measured)."""
    rng = random.Random(11)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    field_id = db.execute("SELECT id FROM fields WHERE key = ?", (FIELD.key,)).fetchone()[0]
    group_id = db.execute("SELECT id FROM groups WHERE name = ?", (GROUP.name,)).fetchone()[0]
    stamp = NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    first_due = NOW.date()
    chunk = 100_000
    for start in range(0, count, chunk):
        ids = range(start + 1, min(count, start + chunk) + 1)
        db.executemany(
            "INSERT INTO contacts (id, uuid, phone, status, created_at, updated_at) VALUES (?, ?, ?, 'active', ?, ?)",
            ((i, uuid.UUID(int=rng.getrandbits(128)).hex, f"+52155{i:08d}", stamp, stamp) for i in ids),
        )
        dues = [(first_due + dt.timedelta(days=rng.randrange(280))).isoformat() for _ in ids]
        db.executemany(
            "INSERT INTO contact_fields (contact_id, field_id, text_value, date_value) VALUES (?, ?, ?, ?)",
            ((i, field_id, due, due) for i, due in zip(ids, dues, strict=True)),
        )
        db.executemany(
            "INSERT INTO group_members (group_id, contact_id, added_at) VALUES (?, ?, ?)",
            ((group_id, i, stamp) for i in ids),
        )
        db.commit()
    db.close()


def database_bytes(path: Path) -> int:
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


@dataclass(frozen=True)
class Enrolment:
    path: Path
    setup_s: float
    enrol_s: float
    enrol_cpu_s: float
    size: int


async def enrolled_database(workdir: Path, contacts: int, *, personalised: bool = False) -> Enrolment:
    """``recado.sqlite3`` in ``workdir``: the contacts written, then the campaign loaded and every one of them
    enrolled (measured). The server memory benchmark starts a server on it."""
    path = workdir / "recado.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await migrate.upgrade(engine)
    async with engine.begin() as conn:
        await store_programme(conn, programme(False), now=NOW, actor="bench", timezone=TZ)
    await engine.dispose()

    started = time.perf_counter()
    fill_contacts(path, contacts)
    setup_s = time.perf_counter() - started

    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    started, cpu = time.perf_counter(), time.process_time()
    async with engine.begin() as conn:
        loaded = programme(True, personalised=personalised)
        report = await store_programme(conn, loaded, now=NOW, actor="bench", timezone=TZ)
    enrol_s, enrol_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    await engine.dispose()
    assert report.campaigns.added == ("Embarazo",)
    return Enrolment(path, setup_s, enrol_s, enrol_cpu_s, database_bytes(path))


async def fire(path: Path, workdir: Path, fires: int) -> tuple[int, float, float]:
    """Fire ``fires`` due events batch by batch as the tick does: (fires consumed, seconds, CPU seconds)."""
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    clock = FixedClock(NEXT_NINE)
    config = Config(data_dir=workdir, programme_timezone=TZ).validate()
    runner = Runner(engine, config, clock)
    consumed = 0
    started, cpu = time.perf_counter(), time.process_time()
    while consumed < fires:
        done, _more = await runner.campaigns.fire_batch(min(BATCH, fires - consumed))
        if not done:
            break
        consumed += done
    fire_s, fire_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    await runner.close()
    async with engine.connect() as conn:
        queued = (
            await conn.execute(sa.text("SELECT count(*) FROM messages WHERE status = 'queued'"))
        ).scalar_one()
    await engine.dispose()
    assert queued == consumed, (queued, consumed)
    return consumed, fire_s, fire_cpu_s


async def run(contacts: int, fires: int, workdir: Path) -> None:
    enrolment = await enrolled_database(workdir, contacts)
    consumed, fire_s, fire_cpu_s = await fire(enrolment.path, workdir, fires)
    named_dir = workdir / "personalised"
    named_dir.mkdir()
    named = await enrolled_database(named_dir, PERSONALISED, personalised=True)
    named_fires, named_s, named_cpu_s = await fire(named.path, named_dir, PERSONALISED)
    scale = 1_000_000 / contacts
    write_result(
        "campaigns",
        {
            "contacts": contacts,
            "events": EVENTS,
            "setup_s": round(enrolment.setup_s, 1),
            "enrol_s": round(enrolment.enrol_s, 2),
            "enrol_cpu_s": round(enrolment.enrol_cpu_s, 2),
            "enrol_contacts_per_s": round(contacts / enrolment.enrol_s),
            "enrol_s_per_million": round(enrolment.enrol_s * scale, 1),
            "database_bytes_after_enrolment": enrolment.size,
            "database_bytes_per_million": round(enrolment.size * scale),
            "fires": consumed,
            "fire_s": round(fire_s, 2),
            "fire_cpu_s": round(fire_cpu_s, 2),
            "fires_per_s": round(consumed / fire_s),
            "fires_per_cpu_s": round(consumed / fire_cpu_s),
            "fire_cpu_us_each": round(1e6 * fire_cpu_s / consumed, 1),
            "personalised_fires": named_fires,
            "personalised_fires_per_s": round(named_fires / named_s),
            "personalised_fire_cpu_us_each": round(1e6 * named_cpu_s / named_fires, 1),
            "batch": BATCH,
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        {
            "fires_per_s": f">= {TARGET_FIRES_PER_SECOND}",
            "enrol_s_per_million": f"<= {TARGET_ENROL_SECONDS_PER_MILLION}",
            "database_bytes_per_million": f"<= {TARGET_DB_BYTES_PER_MILLION:.0f}",
        },
    )


def main(argv: list[str] | None = None) -> None:
    """``argv``: the options; none when ``python -m bench`` runs every benchmark with its defaults."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=CONTACTS)
    parser.add_argument("--fires", type=int, default=FIRES)
    args = parser.parse_args(argv or [])
    with tempfile.TemporaryDirectory(prefix="recado-bench-campaigns-") as workdir:
        asyncio.run(run(args.contacts, min(args.fires, args.contacts), Path(workdir)))


if __name__ == "__main__":
    main(sys.argv[1:])
