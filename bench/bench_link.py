"""The gateway link alone, on SQLite, over real HTTP: inbound SMS stored and acknowledged, and outbound
messages leased and reported, in full batches of 500.

No target of its own: DESIGN.md's 2,000 inbound replies per second (p99 < 50 ms) is for link + engine +
runner together, so the link's share must stay well above it. The runner is off here so that only the
link is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.common import write_result
from server import messages
from server.app import create_app, settle_heap
from server.appkeys import DB, KEYRING
from server.auth import tokens as jwt_tokens
from server.auth.keys import ensure_keyring
from server.clock import SystemClock
from server.config import Config
from server.db.schema import contacts
from server.db.schema import tokens as tokens_table

CONTACTS = 5_000
INBOUND = 20_000
OUTBOUND = 20_000
BATCH = 500


@contextlib.asynccontextmanager
async def serving(
    prefix: str, *, runner_enabled: bool = True
) -> AsyncIterator[tuple[web.Application, str, str]]:
    """A server as `recado server` runs it, in a temporary data directory, on a loopback port: the app, its
    gateway sync URL and a gateway token for it."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        data = Path(tmp)
        ensure_keyring(data / "keys")
        config = Config(data_dir=data, runner_enabled=runner_enabled).validate()
        app = create_app(config)
        settle_heap()  # as `recado server` does before serving
        web_runner = web.AppRunner(app, access_log=None)
        await web_runner.setup()
        site = web.TCPSite(web_runner, "127.0.0.1", 0)
        await site.start()
        try:
            url = f"http://127.0.0.1:{web_runner.addresses[0][1]}/api/v1/gateway/sync"
            yield app, url, await _token(app, config)
        finally:
            await web_runner.cleanup()


async def _token(app: web.Application, config: Config) -> str:
    now = SystemClock().now()
    token, claims = jwt_tokens.issue(
        app[KEYRING], subject="bench", role="gateway", scopes=("gateway:sync",), kind="long", now=now,
        ttl=dt.timedelta(days=1), issuer=config.token_issuer, audience=config.token_audience,
    )  # fmt: skip
    async with app[DB].begin() as conn:
        await conn.execute(
            tokens_table.insert().values(
                jti=claims.jti, name="bench", role="gateway", scopes=["gateway:sync"], created_at=now,
                expires_at=claims.expires_at,
            )
        )  # fmt: skip
    return token


async def _seed(app: web.Application) -> list[str]:
    now = SystemClock().now()
    phones = [f"+5295{10_000_000 + i:08d}" for i in range(CONTACTS)]
    async with app[DB].begin() as conn:
        await conn.execute(
            contacts.insert(),
            [{"uuid": uuid.uuid4(), "phone": p, "created_at": now, "updated_at": now} for p in phones],
        )
    return phones


async def _queue(app: web.Application) -> None:
    now = SystemClock().now()
    async with app[DB].begin() as conn:
        rows = await conn.execute(contacts.select())
        recipients = [messages.Recipient(r.id, r.uuid, r.status) for r in rows]
        text = messages.check_text("Gracias, tu cita quedó registrada.")
        for _ in range(OUTBOUND // CONTACTS):
            await messages.queue_outgoing(conn, recipients, text, priority="reply", now=now, actor="bench")


async def run() -> dict[str, object]:
    async with serving("recado-bench-link-", runner_enabled=False) as (app, url, token):
        headers = {"Authorization": f"Bearer {token}"}
        phones = await _seed(app)
        async with aiohttp.ClientSession(headers=headers) as http:
            inbound_latency: list[float] = []
            started = time.perf_counter()
            for first in range(0, INBOUND, BATCH):
                batch = [
                    {"id": f"in-{n}", "channel": "modem-1", "from": phones[n % CONTACTS], "text": "SI",
                     "received_at": "2027-03-01T15:00:00Z"}
                    for n in range(first, first + BATCH)
                ]  # fmt: skip
                t0 = time.perf_counter()
                async with http.post(url, json={"inbound": batch}) as resp:
                    assert resp.status == 200
                    assert len((await resp.json())["acked_inbound"]) == BATCH
                inbound_latency.append(time.perf_counter() - t0)
            inbound_s = time.perf_counter() - started

            await _queue(app)
            lease_latency: list[float] = []
            leased = 0
            previous: list[str] = []
            started = time.perf_counter()
            while True:
                statuses = [{"message_id": i, "status": "accepted"} for i in previous]
                t0 = time.perf_counter()
                async with http.post(url, json={"statuses": statuses, "want": BATCH}) as resp:
                    answer = await resp.json()
                lease_latency.append(time.perf_counter() - t0)
                previous = [m["id"] for m in answer["outbound"]]
                leased += len(previous)
                if not previous and not statuses:
                    break
            outbound_s = time.perf_counter() - started
    return {
        "inbound_per_second": round(INBOUND / inbound_s),
        "inbound_batch_of_500_p50_ms": round(statistics.median(inbound_latency) * 1000, 1),
        "inbound_batch_of_500_p99_ms": round(statistics.quantiles(inbound_latency, n=100)[98] * 1000, 1),
        "outbound_leased_and_accepted_per_second": round(leased / outbound_s),
        "outbound_sync_of_500_p50_ms": round(statistics.median(lease_latency) * 1000, 1),
        "inbound": INBOUND,
        "outbound": leased,
    }


def main() -> None:
    metrics = asyncio.run(run())
    write_result("link", metrics, {"note": "no target of its own; see DESIGN.md (link + engine + runner)"})


if __name__ == "__main__":
    main()
