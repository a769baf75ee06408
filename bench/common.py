"""What every benchmark shares: where results go and how they are written."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")


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
        },
        "metrics": metrics,
        "targets": targets,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["metrics"], indent=2))
    return path
