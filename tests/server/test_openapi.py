"""The OpenAPI document and the app agree: same routes, and every response the API gives conforms.

- Every route the app registers is documented with the same method, and every documented operation exists.
- A property-based run (schemathesis) over the area operations (contacts, fields, groups, messages, inbox,
  gateways, alerts, results, webhooks), against the real app on a loopback port with an admin token: no 500s,
  and every status code, content type and body is one the document declares. It reads the document, so new area endpoints are covered when they land.
- The same over the gateway's sync, with a gateway's token and more examples: it takes whatever a site's
  radios hand over.
- Hostile bodies on every documented JSON write under the areas: malformed JSON, unknown fields, wrong types,
  oversized bodies, no token, a gateway's token.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import io
import json
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server import messages
from server.api import openapi
from server.app import create_app
from server.appkeys import DB, KEYRING
from server.auth import tokens as jwt_tokens
from server.auth.keys import ensure_keyring
from server.auth.scopes import scopes_for
from server.clock import FixedClock
from server.config import Config
from server.db.schema import tokens as tokens_table
from tests.conftest import START, TokenFactory, auth
from tests.server.api_inbox.seeding import channel, gateway_sync, inbox_item
from tests.server.messages.seeding import seed_contacts

AREAS = re.compile(r"^/api/v1/(contacts|fields|groups|messages|inbox|gateways|alerts|results|webhooks)(/|$)")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _documented() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in openapi.spec()["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def _registered(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        resource = route.resource
        if resource is None:
            continue
        # aiohttp writes a constrained variable as {name:regex}; the document writes {name}.
        path = re.sub(r"\{([^}:]+):[^}]*\}", r"{\1}", resource.canonical)
        found.add((route.method, path))
    # aiohttp answers HEAD for every GET route on its own; only a HEAD without a GET is a route of its own.
    return {(m, p) for m, p in found if not (m == "HEAD" and ("GET", p) in found)}


def test_every_route_is_documented_and_every_operation_exists(config: Config) -> None:
    registered = _registered(create_app(config))
    documented = _documented()
    assert sorted(registered - documented) == [], "routes missing from the OpenAPI document"
    assert sorted(documented - registered) == [], "documented operations the app does not have"


def test_document_is_valid_openapi() -> None:
    schemathesis.openapi.from_dict(copy.deepcopy(openapi.spec())).validate()


# --- the property-based run --------------------------------------------------------------------------------


class LiveServer:
    """The app on a real loopback port, served by its own event loop in a thread, so that synchronous
    clients (schemathesis uses requests) can call it."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="live-api", daemon=True)
        self._runner = web.AppRunner(app)
        self.url = ""

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def start(self) -> None:
        self._thread.start()

        async def up() -> int:
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            return int(self._runner.addresses[0][1])

        self.url = f"http://127.0.0.1:{self.run(up())}"

    def stop(self) -> None:
        self.run(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


async def _token(app: web.Application, config: Config, clock: FixedClock, role: str, name: str) -> str:
    token, claims = jwt_tokens.issue(
        app[KEYRING],
        subject=name,
        role=role,
        scopes=scopes_for(role, None),
        kind="long",
        now=clock.now(),
        ttl=dt.timedelta(days=1),
        issuer=config.token_issuer,
        audience=config.token_audience,
    )
    async with app[DB].begin() as conn:
        await conn.execute(
            tokens_table.insert().values(
                jti=claims.jti,
                name=name,
                role=role,
                scopes=list(claims.scopes),
                created_at=clock.now(),
                expires_at=claims.expires_at,
            )
        )
    return token


async def _seed(app: web.Application, clock: FixedClock) -> None:
    """Contacts, groups, messages, an inbox item and a gateway's report, so that reads and writes find something
    to work on."""
    seeded = await seed_contacts(app[DB], clock.now())
    async with app[DB].begin() as conn:
        recipients = await messages.group_recipients(conn, seeded.group)
        await messages.queue_outgoing(
            conn, recipients, messages.check_text("hola"), priority="bulk", now=clock.now(), actor="seed"
        )
    await inbox_item(app[DB], "+525512349999", "¿a qué hora abren?", "unmatched", clock.now())
    await gateway_sync(
        app[DB], "tlacolula", [channel("modem-1"), channel("phone-1", kind="smsgate")], clock.now()
    )


@pytest.fixture(scope="module")
def live_api(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[str, str, str]]:
    """(base URL, admin token, gateway token) of a seeded app on a loopback port."""
    data_dir = tmp_path_factory.mktemp("live") / "data"
    data_dir.mkdir()
    ensure_keyring(data_dir / "keys")
    database = data_dir / "recado.sqlite3"
    shutil.copyfile(sqlite_template, database)
    config = Config(data_dir=data_dir, database_url=f"sqlite+aiosqlite:///{database}").validate()
    clock = FixedClock(START)
    server = LiveServer(create_app(config, clock=clock))
    server.start()
    try:
        server.run(_seed(server.app, clock))
        admin = server.run(_token(server.app, config, clock, "admin", "conformance"))
        yield server.url, admin, server.run(_token(server.app, config, clock, "gateway", "tlacolula"))
    finally:
        server.stop()


def _schema(paths: re.Pattern[str], examples: int) -> Any:
    schema = schemathesis.openapi.from_dict(copy.deepcopy(openapi.spec()))
    schema.config.generation.update(max_examples=examples, database="none")
    return schema.include(path_regex=paths.pattern)


area_schema = _schema(AREAS, 25)
gateway_schema = _schema(re.compile(r"^/api/v1/gateway/sync$"), 150)


@area_schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_area_operations_conform_to_the_document(
    case: schemathesis.Case, live_api: tuple[str, str, str]
) -> None:
    url, token, _ = live_api
    case.call_and_validate(base_url=url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)


@gateway_schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_gateway_syncs_conform_to_the_document(
    case: schemathesis.Case, live_api: tuple[str, str, str]
) -> None:
    """Whatever a gateway sends that the document allows (any phone, text, id, time, status, channel report)
    is stored, acknowledged or refused as documented: never a 500."""
    url, _, token = live_api
    if isinstance(case.body, dict) and case.body.get("wait_s"):
        case.body["wait_s"] = 0  # with nothing to send, a long poll would only wait
    case.call_and_validate(base_url=url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)


# --- hostile bodies ----------------------------------------------------------------------------------------


def _json_writes() -> list[tuple[str, str]]:
    """Documented area operations that take a JSON body and no path parameters."""
    found = []
    for path, item in openapi.spec()["paths"].items():
        if not AREAS.match(path) or "{" in path:
            continue
        for method, operation in item.items():
            body = operation.get("requestBody", {}) if isinstance(operation, dict) else {}
            if "application/json" in body.get("content", {}):
                found.append((method.upper(), path))
    return sorted(found)


JSON_WRITES = _json_writes()


def test_messages_post_is_among_the_json_writes() -> None:
    assert ("POST", "/api/v1/messages") in JSON_WRITES


async def _error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body: dict[str, Any] = await resp.json()
    assert set(body) == {"error"}
    assert body["error"]["message"]
    return body["error"]


@pytest.fixture
async def admin(make_token: TokenFactory) -> dict[str, str]:
    return auth(await make_token("admin", name="hostile"))


@pytest.mark.parametrize(("method", "path"), JSON_WRITES)
async def test_malformed_json_is_400(
    client: TestClient, admin: dict[str, str], method: str, path: str
) -> None:
    for raw in (b'{"text": "hola",', b"{'text': 'hola'}", b"\xff\xfe{}", b""):
        resp = await client.request(
            method, path, data=raw, headers={**admin, "Content-Type": "application/json"}
        )
        await _error(resp, 400)


@pytest.mark.parametrize(("method", "path"), JSON_WRITES)
async def test_unknown_field_is_422_naming_it(
    client: TestClient, admin: dict[str, str], method: str, path: str
) -> None:
    resp = await client.request(method, path, json={"zz_not_a_field": 1}, headers=admin)
    error = await _error(resp, 422)
    assert {"field": "zz_not_a_field", "message": "unknown field"} in error["details"]
    assert "zz_not_a_field" in error["message"]


@pytest.mark.parametrize(("method", "path"), JSON_WRITES)
@pytest.mark.parametrize("body", [[], "text", 12, None, True])
async def test_a_body_that_is_not_an_object_is_422(
    client: TestClient, admin: dict[str, str], method: str, path: str, body: Any
) -> None:
    resp = await client.request(
        method, path, data=json.dumps(body), headers={**admin, "Content-Type": "application/json"}
    )
    await _error(resp, 422)


async def test_wrong_types_on_messages_are_422_naming_the_field(
    client: TestClient, admin: dict[str, str]
) -> None:
    contact = str(uuid.uuid4())
    for field, value in (("text", 5), ("text", ["hola"]), ("contacts", {"a": contact}), ("group", 7)):
        body: dict[str, Any] = {"text": "hola", "contacts": [contact], field: value}
        if field == "group":
            del body["contacts"]
        resp = await client.post("/api/v1/messages", json=body, headers=admin)
        error = await _error(resp, 422)
        assert [d["field"] for d in error["details"]] == [field]


@pytest.mark.parametrize(("method", "path"), JSON_WRITES)
async def test_an_oversized_body_is_413(
    client: TestClient, admin: dict[str, str], config: Config, method: str, path: str
) -> None:
    raw = b'{"text": "' + b"a" * config.max_body_bytes + b'"}'
    resp = await client.request(
        method, path, data=io.BytesIO(raw), headers={**admin, "Content-Type": "application/json"}
    )
    await _error(resp, 413)


@pytest.mark.parametrize(("method", "path"), JSON_WRITES)
async def test_no_token_is_401_and_a_gateway_token_is_403(
    client: TestClient, make_token: TokenFactory, method: str, path: str
) -> None:
    resp = await client.request(method, path, json={})
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    await _error(resp, 401)
    resp = await client.request(method, path, json={}, headers={"Authorization": "Bearer not.a.token"})
    await _error(resp, 401)
    gateway = auth(await make_token("gateway", name="oaxaca"))
    resp = await client.request(method, path, json={}, headers=gateway)
    await _error(resp, 403)
