"""Counting the instructions a piece of work costs, under ``valgrind --tool=callgrind``.

The timed benchmarks follow the machine: on the shared two-core machines recado is measured on, the same code
has taken from one to 2.7 times as long from one hour to the next, which hides any change smaller than that
unless old and new runs alternate many times. An instruction count does not move with the machine or its load
(nor with valgrind's own slowness), so a change's effect reads off two runs.

A benchmark runs one of its own modes twice under callgrind, side by side, doing ``small`` and ``large`` units
of the same work after the same set-up; the difference between the two counts divided by the difference in
units is what one more unit costs, set-up and start-up left out.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable

_COLLECTED = re.compile(r"Collected : (\d+)")


def available() -> bool:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: no instruction counts", file=sys.stderr)
        return False
    return True


def _start(arguments: list[str]) -> subprocess.Popen[str]:
    """``python arguments...`` under callgrind; its count is in what it writes to stderr."""
    command = [
        shutil.which("valgrind") or "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        *arguments,
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _instructions(run: subprocess.Popen[str]) -> int:
    _, err = run.communicate()
    found = _COLLECTED.search(err)
    if run.returncode != 0 or found is None:
        raise RuntimeError(f"the counted run failed (exit {run.returncode}):\n{err[-2000:]}")
    return int(found.group(1))


def marginal(arguments: Callable[[int], list[str]], small: int, large: int) -> tuple[int, int, int]:
    """The counts of the runs ``arguments(small)`` and ``arguments(large)`` (run at once, one per core) and
    the instructions one more unit costs."""
    runs = _start(arguments(small)), _start(arguments(large))
    counts = _instructions(runs[0]), _instructions(runs[1])
    return counts[0], counts[1], round((counts[1] - counts[0]) / (large - small))
