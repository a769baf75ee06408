"""The app shell: health, keys, the OpenAPI document and the one error shape."""

from __future__ import annotations

import gc

from aiohttp.test_utils import TestClient

from server.app import settle_heap


async def test_healthz(client: TestClient) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


async def test_jwks_publishes_the_ed25519_key(client: TestClient) -> None:
    resp = await client.get("/.well-known/jwks.json")
    keys = (await resp.json())["keys"]
    assert len(keys) == 1
    assert (keys[0]["kty"], keys[0]["crv"], keys[0]["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert "d" not in keys[0]  # never the private part


async def test_openapi_document_is_served(client: TestClient) -> None:
    resp = await client.get("/api/v1/openapi.json")
    doc = await resp.json()
    assert doc["openapi"].startswith("3.")


async def test_unknown_route_gets_the_error_shape(client: TestClient) -> None:
    resp = await client.get("/api/v1/nothing-here")
    assert resp.status == 404
    body = await resp.json()
    assert body["error"]["code"] == "not_found"


async def test_wrong_method_gets_405_with_allow(client: TestClient) -> None:
    resp = await client.delete("/healthz")
    assert resp.status == 405
    assert "GET" in resp.headers["Allow"]
    assert (await resp.json())["error"]["code"] == "method_not_allowed"


def test_settling_the_heap_leaves_startup_objects_out_of_full_collections() -> None:
    assert gc.get_freeze_count() == 0
    try:
        settle_heap()
        assert gc.get_freeze_count() > 10_000  # the libraries' modules, classes and functions
    finally:
        gc.unfreeze()
