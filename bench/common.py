"""What every benchmark shares: where results go and how they are written."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")
REFERENCE_ITERATIONS = 2_000_000


def reference_loop_ns() -> float:
    """Nanoseconds per iteration of a fixed pure-Python loop, best of 5: how fast this machine runs Python
    at the moment of the run. Results from two machines (or two minutes of one shared machine) compare only
    through it: the same code measured 1.0 s and 2.6 s for the flow load on two days whose loops differed
    as much."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        total = 0
        for i in range(REFERENCE_ITERATIONS):
            total += i
        best = min(best, time.process_time() - started)
    return round(best / REFERENCE_ITERATIONS * 1e9, 1)


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
        },
        "metrics": metrics,
        "targets": targets,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["metrics"], indent=2))
    return path
