"""Contact import into SQLite: 100,000 rows from CSV, then the same file again (every row an update).

Target: at least 20,000 contacts per second, through the same engine ``recado contacts import`` uses
(decoding check, row checks, phone normalisation, batched upserts of contacts, field values and groups).
Run it alone: the import uses both cores, so anything else running shows in the result (the load average
is recorded with it).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import os
import random
import tempfile
import time
import zoneinfo
from pathlib import Path

from bench.common import write_result
from server import contacts
from server.contacts_import import import_contacts, parse_mappings
from server.db import migrate
from server.db.engine import create_engine

ROWS = 100_000
TARGET_PER_SECOND = 20_000
TZ = zoneinfo.ZoneInfo("America/Mexico_City")
# Mexico City, Guadalajara, Monterrey, Oaxaca and Mérida area codes: numbers the numbering plan accepts.
AREAS = ("55", "33", "81", "951", "999")
NAMES = ("Ana", "María", "Guadalupe", "Juana", "Rosa", "Itzel", "Xóchitl", "Fernanda")


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = dt.date(2027, 1, 1)
    seen: set[str] = set()
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["Teléfono", "Nombre", "idioma", "FPP", "semanas", "grupo"])
        while len(seen) < rows:
            area = rng.choice(AREAS)
            number = area + "".join(rng.choice("0123456789") for _ in range(10 - len(area)))
            if number in seen:
                continue
            seen.add(number)
            due = start + dt.timedelta(days=rng.randrange(280))
            phone = f"+52 {number}" if len(seen) % 2 else number
            out.writerow(
                [
                    phone,
                    f"{rng.choice(NAMES)} {len(seen)}",
                    "spa",
                    due.strftime("%d/%m/%Y"),
                    rng.randrange(4, 40),
                    f"Clínica {rng.randrange(20)}",
                ]
            )


async def run(workdir: Path) -> dict[str, float]:
    source = workdir / "contacts.csv"
    write_csv(source, ROWS)
    engine = create_engine(f"sqlite+aiosqlite:///{workdir / 'recado.sqlite3'}")
    mappings = parse_mappings(["FPP=field:due_date:date", "semanas=field:weeks:number"])
    metrics: dict[str, float] = {"rows": ROWS, "file_mb": round(source.stat().st_size / 1e6, 2)}
    try:
        await migrate.upgrade(engine)
        for label in ("create", "update"):
            now = dt.datetime.now(dt.UTC)
            began, cpu_began = time.perf_counter(), time.process_time()
            with source.open("rb") as fh:
                report = await import_contacts(
                    engine,
                    fh,
                    mappings=mappings,
                    tz=TZ,
                    programme_timezone=TZ.key,
                    region="MX",
                    now=now,
                    actor="bench",
                )
            elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_began
            expected = {"create": (ROWS, 0), "update": (0, ROWS)}[label]
            if report.failed or (report.created, report.updated) != expected:
                raise RuntimeError(f"bench import went wrong: {report.as_dict(max_errors=5)}")
            metrics[f"{label}_seconds"] = round(elapsed, 3)
            metrics[f"{label}_per_second"] = round(ROWS / elapsed)
            # Reading the file and writing the database overlap on two cores: CPU time above the elapsed
            # time is that overlap, and a load average above the core count means the run shared them.
            metrics[f"{label}_cpu_seconds"] = round(cpu, 3)
            # Per row, in CPU time: the figure to compare between runs on a machine others are using.
            metrics[f"{label}_cpu_us_per_row"] = round(cpu / ROWS * 1e6, 1)
            metrics[f"{label}_load_1m"] = round(os.getloadavg()[0], 2)
        async with engine.connect() as conn:
            found = await contacts.search_contacts(conn, contacts.ContactQuery(), limit=1)
            if not found or len(found[0].fields) != 2 or len(found[0].groups) != 1:
                raise RuntimeError("imported contacts lack their fields or group")
    finally:
        await engine.dispose()
    return metrics


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        metrics = asyncio.run(run(Path(workdir)))
    write_result(
        "contact_import",
        metrics,
        {"create_per_second": f">= {TARGET_PER_SECOND}", "update_per_second": f">= {TARGET_PER_SECOND}"},
    )


if __name__ == "__main__":
    main()
