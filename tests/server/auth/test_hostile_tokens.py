"""Every way a token can be wrong is refused: 401 for an untrusted token, 403 for a trusted one not allowed."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.appkeys import KEYRING
from server.auth import tokens as jwt_tokens
from server.clock import FixedClock
from server.config import Config
from tests.conftest import TokenFactory, auth

ROUTE = "/test/contacts-read"


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(config: Config, now: dt.datetime, **changes: Any) -> dict[str, Any]:
    base = {
        "iss": config.token_issuer,
        "aud": config.token_audience,
        "sub": "central",
        "role": "api",
        "scopes": ["contacts:read"],
        "typ": "long",
        "jti": str(uuid.uuid4()),
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + dt.timedelta(hours=1)).timestamp()),
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def _sign(client: TestClient, payload: dict[str, Any]) -> str:
    key = client.app[KEYRING].active
    return jwt.encode(payload, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


async def _status(client: TestClient, token: str) -> tuple[int, dict[str, Any]]:
    resp = await client.get(ROUTE, headers=auth(token))
    return resp.status, await resp.json()


async def test_a_valid_token_passes(guarded: TestClient, make_token: TokenFactory) -> None:
    token = await make_token("api", ["contacts:read"], name="central")
    assert await _status(guarded, token) == (200, {"name": "token:central"})


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", "Token abc"])
async def test_missing_or_malformed_header(guarded: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    resp = await guarded.get(ROUTE, headers=headers)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await resp.json())["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": int(dt.datetime(2027, 3, 1, 14, 0, tzinfo=dt.UTC).timestamp())}, "expired"),
        ({"nbf": int(dt.datetime(2027, 3, 1, 16, 0, tzinfo=dt.UTC).timestamp())}, "not valid yet"),
        ({"iat": int(dt.datetime(2027, 3, 2, 0, 0, tzinfo=dt.UTC).timestamp())}, "not valid yet"),
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "evil"}, "issuer"),
        ({"exp": None}, "exp"),
        ({"jti": None}, "jti"),
        ({"role": None}, "role"),
        ({"typ": "forever"}, "shape"),
        ({"scopes": "contacts:read"}, "shape"),
        ({"exp": "tomorrow"}, ""),
    ],
)
async def test_bad_claims_are_refused(
    guarded: TestClient, config: Config, clock: FixedClock, changes: dict[str, Any], reason: str
) -> None:
    token = _sign(guarded, _claims(config, clock.now(), **changes))
    status, body = await _status(guarded, token)
    assert status == 401
    assert reason in body["error"]["message"]


async def test_alg_none_is_refused(guarded: TestClient, config: Config, clock: FixedClock) -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(config, clock.now()))}."
    status, body = await _status(guarded, token)
    assert status == 401
    assert "algorithm" in body["error"]["message"]


async def test_hs256_signed_with_the_public_key_is_refused(
    guarded: TestClient, config: Config, clock: FixedClock
) -> None:
    """The classic key-confusion attack: the public key used as an HMAC secret."""
    key = guarded.app[KEYRING].active
    for public in (
        key.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        key.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
    ):
        header = _b64({"alg": "HS256", "typ": "JWT", "kid": key.kid})
        payload = _b64(_claims(config, clock.now()))
        import hashlib
        import hmac

        signature = hmac.new(public, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        status, _ = await _status(guarded, f"{header}.{payload}.{_b64(signature)}")
        assert status == 401


async def test_tampered_payload_is_refused(guarded: TestClient, make_token: TokenFactory) -> None:
    token = await make_token("api", ["contacts:read"])
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    claims["scopes"] = ["contacts:write"]
    status, body = await _status(guarded, f"{header}.{_b64(claims)}.{signature}")
    assert status == 401
    assert "signature" in body["error"]["message"]


async def test_a_token_signed_by_another_key_is_refused(
    guarded: TestClient, config: Config, clock: FixedClock
) -> None:
    stranger = Ed25519PrivateKey.generate()
    kid = guarded.app[KEYRING].active.kid
    token = jwt.encode(_claims(config, clock.now()), stranger, algorithm="EdDSA", headers={"kid": kid})
    assert (await _status(guarded, token))[0] == 401


async def test_an_unknown_kid_is_refused(guarded: TestClient, config: Config, clock: FixedClock) -> None:
    key = guarded.app[KEYRING].active
    token = jwt.encode(
        _claims(config, clock.now()), key.private_key, algorithm="EdDSA", headers={"kid": "nope"}
    )
    status, body = await _status(guarded, token)
    assert status == 401
    assert "unknown key" in body["error"]["message"]


async def test_garbage_is_refused(guarded: TestClient) -> None:
    for token in ("x", "a.b.c", "eyJ.eyJ.", "💥.💥.💥", "a" * 4_000):
        assert (await _status(guarded, token))[0] == 401


async def test_a_well_signed_token_not_in_the_database_is_refused(
    guarded: TestClient, config: Config, clock: FixedClock
) -> None:
    """Signed by our key but never issued (or deleted): the jti must be on record."""
    assert (await _status(guarded, _sign(guarded, _claims(config, clock.now()))))[0] == 401


async def test_revoked_token_is_refused(guarded: TestClient, make_token: TokenFactory) -> None:
    admin = await make_token("api", ["contacts:read"], name="central")
    token_id = jwt.decode(admin, options={"verify_signature": False})["jti"]
    assert (await _status(guarded, admin))[0] == 200
    from server.appkeys import DB
    from server.auth import service

    async with guarded.app[DB].begin() as conn:
        await service.revoke_token(conn, token_id, actor="test", now=dt.datetime.now(dt.UTC))
    status, body = await _status(guarded, admin)
    assert status == 401
    assert "revoked" in body["error"]["message"]


async def test_wrong_scope_is_forbidden(guarded: TestClient, make_token: TokenFactory) -> None:
    token = await make_token("api", ["messages:read"])
    status, body = await _status(guarded, token)
    assert status == 403
    assert "contacts:read" in body["error"]["message"]


async def test_write_scope_implies_read(guarded: TestClient, make_token: TokenFactory) -> None:
    token = await make_token("api", ["contacts:write"])
    assert (await _status(guarded, token))[0] == 200


async def test_gateway_token_is_forbidden_on_area_routes(
    guarded: TestClient, make_token: TokenFactory
) -> None:
    status, body = await _status(guarded, await make_token("gateway"))
    assert status == 403
    assert "gateway" in body["error"]["message"]


async def test_non_admin_is_forbidden_on_admin_routes(guarded: TestClient, make_token: TokenFactory) -> None:
    for role in ("api", "operator", "gateway"):
        resp = await guarded.get("/api/v1/tokens", headers=auth(await make_token(role, name=f"t-{role}")))
        assert resp.status == 403


async def test_role_changed_in_the_token_but_not_in_the_record_is_refused(
    guarded: TestClient, config: Config, clock: FixedClock, make_token: TokenFactory
) -> None:
    """A jti issued for the api role cannot be replayed with role admin, even if signed (say, by an old key)."""
    token = await make_token("api", ["contacts:read"])
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    forged = _sign(guarded, _claims(config, clock.now(), jti=jti, role="admin"))
    assert (await _status(guarded, forged))[0] == 401


def test_issue_then_verify_round_trip(config: Config, clock: FixedClock, client: TestClient) -> None:
    keyring = client.app[KEYRING]
    token, claims = jwt_tokens.issue(
        keyring,
        subject="x",
        role="api",
        scopes=("contacts:read",),
        kind="long",
        now=clock.now(),
        ttl=dt.timedelta(days=1),
        issuer=config.token_issuer,
        audience=config.token_audience,
    )
    verified = jwt_tokens.verify(
        token, keyring, now=clock.now(), issuer=config.token_issuer, audience=config.token_audience
    )
    assert verified == claims
