"""Run every benchmark in bench/ and write each result as JSON to bench/results/."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import bench


def main() -> int:
    names = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(bench.__file__).parent)])
        if m.name.startswith("bench_")
    )
    wanted = set(sys.argv[1:])
    for name in names:
        if wanted and name not in wanted:
            continue
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
