"""Instructions the server executes for each reply answered in a batch: the inbound benchmark's flood, counted
by ``valgrind --tool=callgrind`` instead of timed (:mod:`bench.callgrind` says why).

The server of :mod:`bench.bench_inbound` (SQLite, its runner and tick, over real HTTP) seeds ``SEEDED`` contacts
waiting in the question flow, answers a warm-up, then takes a flood of replies from its gateway (a process of
its own, not counted) in requests of ``LINK_BATCH``. It runs twice under callgrind, side by side, with the same
contacts and ``SMALL`` and ``LARGE`` replies; the difference between the two counts, divided by the difference
in replies, is what one more reply costs the server process (HTTP, link, engine, runner and the SQLite
driver's thread): everything else the two runs do is the same. The periodic tick runs more often in the longer
run (valgrind slows the server fifty times or more): about 1 % of the figure.

Usage: ``python -m bench.bench_reply_instructions`` (about five minutes on two cores; needs ``valgrind``).
``--per-request 1 --seeded 600`` counts a reply that comes alone in its request, as at a quiet site: the
fixed cost of a request (authentication, the transaction, the statements every batch runs) and one reply.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor

from bench import bench_inbound, callgrind
from bench.bench_link import serving
from bench.common import write_result

SEEDED = 3_000
SMALL, LARGE = 1_000, 3_000


async def _serve_flood(seeded: int, replies: int, per_request: int) -> None:
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
                per_request,
                None,
                bench_inbound.WARM_UP,
            )


def main(argv: list[str] | None = None) -> None:
    """``argv``: the options; none when ``python -m bench`` runs every benchmark with its defaults."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeded", type=int, default=SEEDED)
    parser.add_argument(
        "--per-request",
        type=int,
        default=bench_inbound.LINK_BATCH,
        help="replies in each request (1: what a reply costs when each comes alone, as at a quiet site)",
    )
    parser.add_argument("--replies", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv or [])
    if args.serve:
        asyncio.run(_serve_flood(args.seeded, args.replies, args.per_request))
        return
    if not callgrind.available():
        return
    small, large = min(SMALL, args.seeded // 3), min(LARGE, args.seeded)
    counts = callgrind.marginal(
        lambda replies: [
            "-m",
            "bench.bench_reply_instructions",
            "--serve",
            f"--seeded={args.seeded}",
            f"--replies={replies}",
            f"--per-request={args.per_request}",
        ],
        small,
        large,
    )
    default = args.per_request == bench_inbound.LINK_BATCH
    write_result(
        "reply_instructions" if default else f"reply_instructions_per_request_{args.per_request}",
        {
            "seeded_contacts": args.seeded,
            "replies": [small, large],
            "instructions": list(counts[:2]),
            "instructions_per_reply": counts[2],
            "replies_per_request": args.per_request,
        },
        {},
    )


if __name__ == "__main__":
    main(sys.argv[1:])
