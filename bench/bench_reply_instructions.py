"""Instructions the server executes for each reply answered in a batch: the inbound benchmark's flood, counted
by ``valgrind --tool=callgrind`` instead of timed.

The timed benchmarks follow the machine: on the shared two-core machines recado is measured on, the same code
has taken from one to 2.7 times as long from one hour to the next, which hides any change smaller than that
unless old and new runs alternate many times. An instruction count does not move with the machine or its load
(nor with valgrind's own slowness), so a change's effect on what a reply costs reads off two runs.

The server of :mod:`bench.bench_inbound` (SQLite, its runner and tick, over real HTTP) seeds ``SEEDED`` contacts
waiting in the question flow, answers a warm-up, then takes a flood of replies from its gateway (a process of
its own, not counted) in requests of ``LINK_BATCH``. It runs twice under callgrind, side by side, with the same
contacts and ``SMALL`` and ``LARGE`` replies; the difference between the two counts, divided by the difference
in replies, is what one more reply costs the server process (HTTP, link, engine, runner and the SQLite
driver's thread): everything else the two runs do is the same. The periodic tick runs more often in the longer
run (valgrind slows the server fifty times or more): about 1 % of the figure.

Usage: ``python -m bench.bench_reply_instructions`` (about five minutes on two cores; needs ``valgrind``).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

from bench import bench_inbound
from bench.bench_link import serving
from bench.common import write_result

SEEDED = 3_000
SMALL, LARGE = 1_000, 3_000
_COLLECTED = re.compile(r"Collected : (\d+)")


async def _serve_flood(seeded: int, replies: int) -> None:
    """The counted process: a server with ``seeded`` waiting contacts answers ``replies`` of them."""
    async with serving("recado-bench-instructions-") as (app, url, token):
        phones = await bench_inbound._seed(app, seeded + bench_inbound.WARM_UP)
        warm, flood = phones[: bench_inbound.WARM_UP], phones[bench_inbound.WARM_UP :][:replies]
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            warm_up = bench_inbound._replies(warm, "warm")
            await bench_inbound._phase(app, pool, url, token, warm_up, bench_inbound.WARM_UP_BATCH, None, 0)
            await bench_inbound._phase(
                app,
                pool,
                url,
                token,
                bench_inbound._replies(flood, "flood"),
                bench_inbound.LINK_BATCH,
                None,
                bench_inbound.WARM_UP,
            )


def _count(valgrind: str, seeded: int, replies: int) -> subprocess.Popen[str]:
    """Start the server's run under callgrind; its count is in what it writes to stderr."""
    command = [
        valgrind,
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "bench.bench_reply_instructions",
        "--serve",
        f"--seeded={seeded}",
        f"--replies={replies}",
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _instructions(run: subprocess.Popen[str]) -> int:
    _, err = run.communicate()
    found = _COLLECTED.search(err)
    if run.returncode != 0 or found is None:
        raise RuntimeError(f"the counted run failed (exit {run.returncode}):\n{err[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> None:
    """``argv``: the options; none when ``python -m bench`` runs every benchmark with its defaults."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeded", type=int, default=SEEDED)
    parser.add_argument("--replies", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv or [])
    if args.serve:
        asyncio.run(_serve_flood(args.seeded, args.replies))
        return
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind is not installed: no instruction counts", file=sys.stderr)
        return
    small, large = (_count(valgrind, args.seeded, n) for n in (SMALL, min(LARGE, args.seeded)))
    counts = _instructions(small), _instructions(large)
    replies = min(LARGE, args.seeded) - SMALL
    write_result(
        "reply_instructions",
        {
            "seeded_contacts": args.seeded,
            "replies": [SMALL, SMALL + replies],
            "instructions": list(counts),
            "instructions_per_reply": round((counts[1] - counts[0]) / replies),
            "replies_per_request": bench_inbound.LINK_BATCH,
        },
        {},
    )


if __name__ == "__main__":
    main(sys.argv[1:])
