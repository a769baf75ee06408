"""GET /metrics: Prometheus text, one registry per app, counts read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from server.app import create_app
from server.appkeys import DB
from server.clock import FixedClock
from server.config import Config
from tests.conftest import TokenFactory, auth
from tests.server.messages.seeding import Seeded

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _scrape(client: TestClient) -> Samples:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(await resp.text())
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_metrics_need_no_token_and_count_requests_by_route(client: TestClient) -> None:
    for _ in range(2):
        assert (await client.get("/healthz")).status == 200
    assert (await client.get(f"/api/v1/messages/{'0' * 8}")).status == 401
    assert (await client.get("/api/v1/no/such/thing")).status == 404
    assert (await client.request("PROPFIND", "/healthz")).status == 405
    samples = await _scrape(client)
    total = "recado_http_requests_total"
    assert _value(samples, total, method="GET", route="/healthz", status="200") == 2
    assert _value(samples, total, method="GET", route="/api/v1/messages/{uuid}", status="401") == 1
    assert _value(samples, total, method="GET", route="unmatched", status="404") == 1
    assert _value(samples, total, method="other", route="unmatched", status="405") == 1
    count = "recado_http_request_duration_seconds_count"
    assert _value(samples, count, method="GET", route="/healthz") == 2
    assert not any("no/such" in str(labels) for _, labels in samples)


async def test_message_and_contact_counts_come_from_the_database(
    client: TestClient, make_token: TokenFactory, seeded_app: Seeded
) -> None:
    before = await _scrape(client)
    assert _value(before, "recado_database_up") == 1
    assert _value(before, "recado_messages", status="queued", direction="out") == 0
    assert _value(before, "recado_messages", status="received", direction="in") == 0
    assert _value(before, "recado_messages", status="received", direction="out") is None
    assert _value(before, "recado_contacts", status="active") == 3
    assert _value(before, "recado_contacts", status="stopped") == 1
    assert _value(before, "recado_contacts", status="blocked") == 1

    headers = auth(await make_token("api", ["messages:write"]))
    resp = await client.post(
        "/api/v1/messages", json={"group": str(seeded_app.group), "text": "hola"}, headers=headers
    )
    assert resp.status == 202
    after = await _scrape(client)
    assert _value(after, "recado_messages", status="queued", direction="out") == 3
    assert _value(after, "recado_messages", status="delivered", direction="out") == 0


async def test_each_app_has_its_own_registry(
    aiohttp_client: Callable[..., Awaitable[TestClient]], config: Config, clock: FixedClock
) -> None:
    one = await aiohttp_client(create_app(config, clock=clock))
    two = await aiohttp_client(create_app(config, clock=clock))
    for _ in range(3):
        await one.get("/healthz")
    await two.get("/healthz")
    total = "recado_http_requests_total"
    assert _value(await _scrape(one), total, method="GET", route="/healthz", status="200") == 3
    assert _value(await _scrape(two), total, method="GET", route="/healthz", status="200") == 1


async def test_openmetrics_when_asked(client: TestClient) -> None:
    resp = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await resp.text()).endswith("# EOF\n")


async def test_a_broken_database_still_gives_http_metrics(client: TestClient, config: Config) -> None:
    await client.get("/healthz")
    await client.app[DB].dispose()
    database = Path(config.effective_database_url.removeprefix("sqlite+aiosqlite:///"))
    for leftover in (database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        leftover.unlink(missing_ok=True)
    database.write_bytes(b"this is not a database" * 100)
    samples = await _scrape(client)
    assert _value(samples, "recado_database_up") == 0
    assert _value(samples, "recado_messages", status="queued", direction="out") is None
    assert _value(samples, "recado_http_requests_total", method="GET", route="/healthz", status="200") == 1
