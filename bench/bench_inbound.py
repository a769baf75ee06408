"""Inbound replies through the link, the engine and the runner, on SQLite, over real HTTP: DESIGN.md's
"≥ 2,000 replies queued per second, p99 < 50 ms".

``CONTACTS`` women each wait in a prenatal-care question flow (a question with a wait and a switch router
whose answer is saved as a result, then the next question). A gateway client posts their replies through
``POST /api/v1/gateway/sync``; the server's own runner (started by the app, woken by the link) resumes each
session, records the result, queues the next question and stores the session waiting again.

After a warm-up (``WARM_UP`` replies from contacts of their own, which the server answers once in its life with
statements and validators still to compile), two phases on separate halves of the contacts:

- **paced**: replies reach the gateway at the target rate, and it sends them as its link does: one request at a
  time, each carrying every reply that has arrived since the last one left (at most ``LINK_BATCH``). The
  latency of each reply is from the moment it reached the gateway to the commit that queued its answer (per
  message, not a batch average): the wait for the request before it is included, as a woman would feel it;
- **flood**: every reply is posted as fast as the link takes them, ``LINK_BATCH`` per sync: replies queued per
  second from the first request to the last commit (the runner's capacity); the latency here is from the
  start of the request that carried the reply.

The gateway runs in a process of its own, as on a site, so that the server's process time is the server's
alone. A commit's moment is when the runner wakes the gateways after it (the outbox wake-up, which it raises after
every commit that queued something); a message belongs to the first wake-up after the moment it was marked
handled inside that transaction. CPU seconds are the server process's (HTTP, link, runner and their SQLite
threads): compare those while the machine is shared, wall-clock rates and latencies only on a quiet one.

Usage: ``python -m bench.bench_inbound [--contacts N] [--rate R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import datetime as dt
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from bench.bench_link import serving
from bench.common import write_result
from flows import engine
from flows.contact import Contact
from flows.env import Environment
from flows.events import SessionWaiting
from flows.model import FieldDef, Programme
from flows.native import load_flow_text
from gateway.link import MAX_ITEMS
from server.appkeys import DB, OUTBOX_WAKE
from server.db.schema import contacts, messages
from server.programmes import read_programme, store_programme
from server.runner.sessions import save_session
from server.runner.snapshot import build_snapshot

CONTACTS = 10_000
TARGET_PER_SECOND = 2_000
TARGET_P99_MS = 50
LINK_BATCH = MAX_ITEMS  # the most replies the gateway's link puts in one request
WARM_UP_BATCH = 50
WARM_UP = 2 * WARM_UP_BATCH  # replies answered before measuring, from contacts of their own

CONTROL = """
flow: Control prenatal
nodes:
  preguntar:
    send: "¿Fuiste a tu control prenatal este mes? Responde SI o NO."
    wait: reply
    save_as: control
    routes:
      - says: [si]
        go: semanas
      - says: [no]
        go: recordar
      - other: preguntar
  recordar:
    send: "Es importante ir cada mes. Tu clínica te espera."
    go: semanas
  semanas:
    send: "¿Cuántas semanas de embarazo tienes?"
    wait: reply
    save_as: semanas
    routes:
      - has_number_between: [1, 42]
        go: gracias
      - other: semanas
  gracias:
    send: "¡Gracias! Te escribimos pronto."
    go: end
"""


def _programme() -> Programme:
    return Programme(
        name="Bench",
        flows=(load_flow_text(CONTROL),),
        fields=(FieldDef("semanas", "Semanas de embarazo", "number"),),
        languages=("spa",),
    )


async def _seed(app: web.Application, count: int) -> list[str]:
    """Contacts, each waiting at the flow's first question (setup, not measured)."""
    db = app[DB]
    now = dt.datetime.now(dt.UTC)
    phones = [f"+5295{10_000_000 + i:08d}" for i in range(count)]
    async with db.begin() as conn:
        await store_programme(conn, _programme(), now=now, actor="bench")
        await conn.execute(
            contacts.insert(),
            [{"uuid": uuid.uuid4(), "phone": p, "created_at": now, "updated_at": now} for p in phones],
        )
        snapshot = build_snapshot(await read_programme(conn), "spa")
        (flow,) = snapshot.assets.flows.values()
        env = Environment(now=now)
        rows = await conn.execute(sa.select(contacts.c.id, contacts.c.uuid, contacts.c.phone))
        for contact_id, contact_uuid, phone in rows.all():
            contact = Contact(uuid=str(contact_uuid), phone=phone)
            step = engine.start(flow, contact, env=env, assets=snapshot.assets, ids=lambda: str(uuid.uuid4()))
            waiting = next(e for e in step.events if isinstance(e, SessionWaiting))
            assert step.session is not None
            await save_session(conn, contact_id, step.session, waiting, now=now)
    return phones


class Commits:
    """When the runner woke the gateways, i.e. right after each of its commits that queued something."""

    def __init__(self, app: web.Application) -> None:
        self.at: list[float] = []
        wake = app[OUTBOX_WAKE]
        notify = wake.notify

        def recorded() -> None:
            self.at.append(time.time())
            notify()

        wake.notify = recorded  # type: ignore[method-assign]


async def _post(http: aiohttp.ClientSession, url: str, batch: list[dict[str, str]]) -> None:
    async with http.post(url, json={"inbound": batch, "want": 0}) as resp:
        assert resp.status == 200, await resp.text()
        assert len((await resp.json())["acked_inbound"]) == len(batch)


def gateway(
    url: str, token: str, items: list[dict[str, str]], per_sync: int, rate: int | None
) -> tuple[dict[str, float], int]:
    """The gateway, in a process of its own as on a site: posts ``items``, at most ``per_sync`` to a request.
    With a ``rate``, reply ``n`` reaches the gateway ``n / rate`` seconds after the start and, as the gateway's
    link does, each request carries every reply that has arrived and not yet gone, one request at a time (a
    reply that arrives during a request waits for it to end). Without a rate, all have arrived at the start.
    Returns when each reply reached the gateway (with a rate) or when the request that carried it started
    (without), and how many requests there were."""
    return asyncio.run(_post_all(url, token, items, per_sync, rate))


async def _post_all(
    url: str, token: str, items: list[dict[str, str]], per_sync: int, rate: int | None
) -> tuple[dict[str, float], int]:
    sent: dict[str, float] = {}
    requests = 0
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        if rate is None:
            for first in range(0, len(items), per_sync):
                at = time.time()
                batch = items[first : first + per_sync]
                sent.update((item["id"], at) for item in batch)
                await _post(http, url, batch)
                requests += 1
            return sent, requests
        started, started_wall = time.perf_counter(), time.time()
        first = 0
        while first < len(items):
            arrived = min(len(items), int((time.perf_counter() - started) * rate) + 1)
            if arrived <= first:
                await asyncio.sleep(started + first / rate - time.perf_counter())
                continue
            batch = items[first : min(arrived, first + per_sync)]
            sent.update((item["id"], started_wall + (first + i) / rate) for i, item in enumerate(batch))
            await _post(http, url, batch)
            requests += 1
            first += len(batch)
    return sent, requests


async def _phase(
    app: web.Application,
    pool: ProcessPoolExecutor,
    url: str,
    token: str,
    items: list[dict[str, str]],
    per_sync: int,
    rate: int | None,
    handled_before: int,
) -> tuple[dict[str, float], int, float]:
    """Run the gateway over ``items`` and wait for the runner to handle them; the gateway's times (see
    :func:`gateway`), its number of requests, and this (the server's) process's CPU seconds meanwhile."""
    cpu0 = time.process_time()
    loop = asyncio.get_running_loop()
    sent, requests = await loop.run_in_executor(pool, gateway, url, token, items, per_sync, rate)
    await _wait_handled(app, handled_before + len(items))
    return sent, requests, time.process_time() - cpu0


def _replies(phones: list[str], tag: str) -> list[dict[str, str]]:
    received = dt.datetime.now(dt.UTC).isoformat()
    return [
        {"id": f"{tag}-{n}", "channel": "modem-1", "from": phone, "text": "SI", "received_at": received}
        for n, phone in enumerate(phones)
    ]


async def _wait_handled(app: web.Application, count: int, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with app[DB].connect() as conn:
            handled = (
                await conn.execute(
                    sa.select(sa.func.count()).where(
                        messages.c.direction == "in", messages.c.handled_at.is_not(None)
                    )
                )
            ).scalar_one()
        if handled >= count:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the runner handled fewer than {count} messages in {timeout_s} s")


async def _latencies(app: web.Application, sent: dict[str, float], commits: list[float]) -> list[float]:
    async with app[DB].connect() as conn:
        rows = await conn.execute(
            sa.select(messages.c.external_id, messages.c.handled_at, messages.c.handled_as).where(
                messages.c.external_id.in_(list(sent))
            )
        )
        handled = rows.all()
    assert all(row.handled_as == "resumed" for row in handled), {row.handled_as for row in handled}
    latencies = []
    for external_id, handled_at, _ in handled:
        stamp = (
            handled_at.replace(tzinfo=dt.UTC).timestamp()
            if handled_at.tzinfo is None
            else handled_at.timestamp()
        )
        committed = commits[bisect.bisect_left(commits, stamp)]
        latencies.append(committed - sent[external_id])
    return latencies


def _ms(values: list[float], q: int) -> float:
    return round(statistics.quantiles(values, n=100)[q - 1] * 1000, 1)


async def run(count: int, rate: int) -> dict[str, object]:
    # The server as shipped: its runner, its tick.
    async with serving("recado-bench-inbound-") as (app, url, token):
        commits = Commits(app)
        phones = await _seed(app, count + WARM_UP)
        warm, paced, flood = (
            phones[:WARM_UP],
            phones[WARM_UP : WARM_UP + count // 2],
            phones[WARM_UP + count // 2 :],
        )
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            # A server that has answered a few replies has compiled its statements and validators and read
            # its programme: once in its life, not part of any reply's cost.
            await _phase(app, pool, url, token, _replies(warm, "warm"), WARM_UP_BATCH, None, 0)
            sent, paced_requests, paced_cpu = await _phase(
                app, pool, url, token, _replies(paced, "paced"), LINK_BATCH, rate, WARM_UP
            )
            paced_wall = max(commits.at) - min(sent.values())
            paced_latency = await _latencies(app, sent, commits.at)
            flood_sent, _, flood_cpu = await _phase(
                app, pool, url, token, _replies(flood, "flood"), LINK_BATCH, None, WARM_UP + len(paced)
            )
            flood_wall = max(commits.at) - min(flood_sent.values())
            flood_latency = await _latencies(app, flood_sent, commits.at)
        async with app[DB].connect() as conn:
            queued = (
                await conn.execute(
                    sa.select(sa.func.count()).where(
                        messages.c.direction == "out", messages.c.status == "queued"
                    )
                )
            ).scalar_one()
        assert queued == count + WARM_UP, (queued, count)
    return {
        "contacts": count,
        "paced_rate_per_s": rate,
        "paced_replies": len(paced),
        "paced_wall_s": round(paced_wall, 2),
        "paced_cpu_s": round(paced_cpu, 2),
        "paced_cpu_us_per_reply": round(paced_cpu / len(paced) * 1e6),
        "paced_replies_per_request": round(len(paced) / paced_requests, 1),
        "paced_latency_p50_ms": _ms(paced_latency, 50),
        "paced_latency_p95_ms": _ms(paced_latency, 95),
        "paced_latency_p99_ms": _ms(paced_latency, 99),
        "paced_latency_max_ms": round(max(paced_latency) * 1000, 1),
        "flood_replies": len(flood),
        "flood_wall_s": round(flood_wall, 2),
        "flood_replies_queued_per_s": round(len(flood) / flood_wall),
        "flood_cpu_s": round(flood_cpu, 2),
        "flood_cpu_us_per_reply": round(flood_cpu / len(flood) * 1e6),
        "flood_replies_per_cpu_s": round(len(flood) / flood_cpu),
        "flood_latency_p50_ms": _ms(flood_latency, 50),
        "flood_latency_p99_ms": _ms(flood_latency, 99),
        "commits": len(commits.at),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> None:
    """``argv``: the options; none when ``python -m bench`` runs every benchmark with its defaults."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=CONTACTS)
    parser.add_argument("--rate", type=int, default=TARGET_PER_SECOND, help="replies per second, paced phase")
    args = parser.parse_args(argv or [])
    metrics = asyncio.run(run(args.contacts, args.rate))
    write_result(
        "inbound",
        metrics,
        {
            "flood_replies_queued_per_s": f">= {TARGET_PER_SECOND}",
            "paced_latency_p99_ms": f"< {TARGET_P99_MS}",
        },
    )


if __name__ == "__main__":
    main(sys.argv[1:])
