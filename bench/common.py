"""What every benchmark shares: where results go and how they are written."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sqlite3
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")
REFERENCE_ITERATIONS = 2_000_000
REFERENCE_ROWS = 20_000


def reference_loop_ns() -> float:
    """Nanoseconds per iteration of a fixed pure-Python loop, best of 5: how fast this machine runs Python
    at the moment of the run. Results from two machines (or two hours of one shared machine) compare only
    through it and :func:`reference_sqlite_us`: the same code has measured 1.0 s, 1.8 s and 2.7 s for the
    flow load on different days."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        total = 0
        for i in range(REFERENCE_ITERATIONS):
            total += i
        best = min(best, time.process_time() - started)
    return round(best / REFERENCE_ITERATIONS * 1e9, 1)


def reference_sqlite_us() -> float:
    """Microseconds of CPU per row for a fixed SQLite write, best of 3: rows of the shape the server writes
    (an id, a phone, a status, a time) into a table with two indexes, in one transaction. The loop above stays
    in the processor's smallest cache; this walks memory and B-trees as the server does, so it may follow the
    server's slowdowns where the loop does not: between two days the loop slowed by a quarter while the
    inbound benchmark took twice the CPU."""
    rows = [
        (i, f"+5295{i:08d}", ("queued", "sent", "delivered")[i % 3], f"2027-03-01 09:{i % 60:02d}:00")
        for i in range(REFERENCE_ROWS)
    ]
    best = float("inf")
    for _ in range(3):
        db = sqlite3.connect(":memory:")
        db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, phone TEXT, status TEXT, at TEXT)")
        db.execute("CREATE INDEX m_phone ON m (phone)")
        db.execute("CREATE INDEX m_status_at ON m (status, at)")
        started = time.process_time()
        with db:
            db.executemany("INSERT INTO m VALUES (?, ?, ?, ?)", rows)
        best = min(best, time.process_time() - started)
        db.close()
    return round(best / REFERENCE_ROWS * 1e6, 2)


def write_result(name: str, metrics: dict[str, Any], targets: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the metrics, the targets and the machine they ran on."""
    RESULTS.mkdir(exist_ok=True)
    result = {
        "benchmark": name,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "reference_loop_ns": reference_loop_ns(),
            "reference_sqlite_us": reference_sqlite_us(),
        },
        "metrics": metrics,
        "targets": targets,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["metrics"], indent=2))
    return path
