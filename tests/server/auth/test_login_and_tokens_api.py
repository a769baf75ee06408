"""Logging in, the rate limit on it, and the admin-only tokens API."""

from __future__ import annotations

import logging

import jwt
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from server.appkeys import DB
from server.clock import FixedClock
from server.db.schema import audit_log
from tests.conftest import TokenFactory, auth
from tests.server.auth.conftest import ONE_MINUTE, UserFactory, login_body

PASSWORD = "correct horse battery staple"


async def _login(client: TestClient, username: str, password: str) -> tuple[int, dict[str, object]]:
    resp = await client.post("/api/v1/auth/login", json=login_body(username, password))
    return resp.status, await resp.json()


async def test_login_gives_a_short_lived_token_that_works(client: TestClient, add_user: UserFactory) -> None:
    await add_user("ana", PASSWORD, role="operator")
    status, body = await _login(client, "ana", PASSWORD)
    assert status == 200
    token = str(body["token"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["typ"] == "session"
    assert claims["exp"] - claims["iat"] == 15 * 60
    me = await client.get("/api/v1/auth/me", headers=auth(token))
    assert await me.json() == {"name": "user:ana", "role": "operator", "scopes": sorted(claims["scopes"])}


async def test_session_token_expires(client: TestClient, add_user: UserFactory, clock: FixedClock) -> None:
    await add_user("ana", PASSWORD)
    _, body = await _login(client, "ana", PASSWORD)
    clock.advance(16 * ONE_MINUTE)
    resp = await client.get("/api/v1/auth/me", headers=auth(str(body["token"])))
    assert resp.status == 401


@pytest.mark.parametrize(
    ("username", "password", "disabled"),
    [("ana", "wrong", False), ("nobody", PASSWORD, False), ("ana", PASSWORD, True)],
)
async def test_login_refusals_do_not_say_which_part_was_wrong(
    client: TestClient, add_user: UserFactory, username: str, password: str, disabled: bool
) -> None:
    await add_user("ana", PASSWORD, disabled=disabled)
    status, body = await _login(client, username, password)
    assert status == 401
    assert body["error"] == {
        "code": "unauthorized",
        "message": "wrong user name or password",
        "details": None,
    }


async def test_disabling_a_user_ends_their_sessions(client: TestClient, add_user: UserFactory) -> None:
    from server.db.schema import users

    await add_user("ana", PASSWORD)
    _, body = await _login(client, "ana", PASSWORD)
    async with client.app[DB].begin() as conn:
        await conn.execute(users.update().values(disabled=True))
    assert (await client.get("/api/v1/auth/me", headers=auth(str(body["token"])))).status == 401


async def test_login_is_rate_limited_per_user(
    client: TestClient, add_user: UserFactory, clock: FixedClock
) -> None:
    await add_user("ana", PASSWORD)
    for _ in range(5):
        assert (await _login(client, "ana", "wrong"))[0] == 401
    resp = await client.post("/api/v1/auth/login", json=login_body("ana", PASSWORD))
    assert resp.status == 429
    assert 0 < int(resp.headers["Retry-After"]) <= 60
    clock.advance(ONE_MINUTE)
    assert (await _login(client, "ana", PASSWORD))[0] == 200
    async with client.app[DB].connect() as conn:
        actions = (await conn.execute(sa.select(audit_log.c.action))).scalars().all()
    assert "login.locked" in actions


async def test_login_is_rate_limited_per_address(client: TestClient, add_user: UserFactory) -> None:
    """Guessing across many user names from one address is stopped too."""
    await add_user("ana", PASSWORD)
    for i in range(5):
        assert (await _login(client, f"user{i}", "guess"))[0] == 401
    assert (await _login(client, "ana", PASSWORD))[0] == 429


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{", 400),
        (b"[]", 422),
        (b'{"username": "ana"}', 422),
        (b'{"username": "ana", "password": "x", "admin": true}', 422),
        (b'{"username": 5, "password": "x"}', 422),
        (b"\xff\xfe", 400),
    ],
)
async def test_malformed_login_bodies(client: TestClient, body: bytes, status: int) -> None:
    resp = await client.post("/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == status


async def test_no_password_or_token_reaches_the_log(
    client: TestClient, add_user: UserFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await add_user("ana", PASSWORD)
    await _login(client, "ana", "wrong-secret-guess")
    _, body = await _login(client, "ana", PASSWORD)
    await client.get("/api/v1/auth/me", headers=auth(str(body["token"])))
    text = caplog.text
    assert PASSWORD not in text
    assert "wrong-secret-guess" not in text
    assert str(body["token"]) not in text


async def _admin(client: TestClient, add_user: UserFactory) -> str:
    await add_user("boss", PASSWORD, role="admin")
    return str((await _login(client, "boss", PASSWORD))[1]["token"])


async def test_admin_creates_lists_and_revokes_tokens(client: TestClient, add_user: UserFactory) -> None:
    admin = await _admin(client, add_user)
    resp = await client.post(
        "/api/v1/tokens",
        json={"role": "api", "name": "central", "scopes": ["contacts:read"]},
        headers=auth(admin),
    )
    assert resp.status == 201
    created = await resp.json()
    assert created["scopes"] == ["contacts:read"]
    new_token = created["token"]
    assert (await client.get("/api/v1/auth/me", headers=auth(new_token))).status == 200

    listed = await (await client.get("/api/v1/tokens", headers=auth(admin))).json()
    assert [t["name"] for t in listed["items"]] == ["central"]
    assert "token" not in listed["items"][0]
    assert listed["items"][0]["created_by"] == "user:boss"

    revoked = await client.delete(f"/api/v1/tokens/{created['id'][:8]}", headers=auth(admin))
    assert revoked.status == 200
    assert (await revoked.json())["revoked_at"] is not None
    assert (await client.get("/api/v1/auth/me", headers=auth(new_token))).status == 401

    async with client.app[DB].connect() as conn:
        rows = (await conn.execute(sa.select(audit_log.c.action, audit_log.c.detail))).all()
    assert [r.action for r in rows] == ["token.create", "token.revoke"]
    assert new_token not in str(rows)


async def test_token_without_scopes_gets_every_scope_of_its_role(
    client: TestClient, add_user: UserFactory
) -> None:
    admin = await _admin(client, add_user)
    resp = await client.post(
        "/api/v1/tokens", json={"role": "gateway", "name": "site-1"}, headers=auth(admin)
    )
    assert (await resp.json())["scopes"] == ["gateway:sync"]


@pytest.mark.parametrize(
    "body",
    [
        {"role": "admin", "name": "x"},
        {"role": "api", "name": "x", "scopes": ["gateway:sync"]},
        {"role": "gateway", "name": "x", "scopes": ["contacts:read"]},
        {"role": "api", "name": ""},
        {"role": "api", "name": "x", "colour": "blue"},
    ],
)
async def test_bad_token_requests(client: TestClient, add_user: UserFactory, body: dict[str, object]) -> None:
    admin = await _admin(client, add_user)
    resp = await client.post("/api/v1/tokens", json=body, headers=auth(admin))
    assert resp.status == 422


async def test_revoking_an_unknown_token(client: TestClient, add_user: UserFactory) -> None:
    admin = await _admin(client, add_user)
    assert (await client.delete("/api/v1/tokens/nothing", headers=auth(admin))).status == 404


async def test_api_tokens_cannot_manage_tokens(client: TestClient, make_token: TokenFactory) -> None:
    token = await make_token("api")
    assert (
        await client.post("/api/v1/tokens", json={"role": "api", "name": "x"}, headers=auth(token))
    ).status == 403


async def test_jwks_verifies_the_tokens_the_server_issues(
    client: TestClient, make_token: TokenFactory
) -> None:
    """A central system can check recado's tokens with nothing but the published key set."""
    token = await make_token("api")
    jwks = await (await client.get("/.well-known/jwks.json")).json()
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == kid]
    claims = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["EdDSA"],
        audience="recado-api",
        # The test clock is in 2027; only the signature and the claims' shape are being checked here.
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["role"] == "api"
