"""Who is calling: bearer token → verified claims → checked against the database (revocation, users)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from server.api.errors import ApiError
from server.appkeys import CHECKED_TOKENS, CLOCK, CONFIG, DB, KEYRING
from server.auth.scopes import grants
from server.auth.tokens import Claims, TokenError
from server.db.schema import tokens, users

# Roles that may use the area endpoints (contacts, messages, ...), subject to their scopes.
AREA_ROLES = ("admin", "operator", "api")


@dataclass(frozen=True)
class Principal:
    name: str  # "user:<username>" or "token:<name>": what the audit log records
    role: str
    scopes: frozenset[str]
    jti: str


PRINCIPAL_KEY = web.RequestKey("principal", Principal)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message)


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token")
    return token.strip()


# Every request runs one of these: built once (see server.db.statements).
_USER = sa.select(users.c.role, users.c.disabled).where(users.c.username == sa.bindparam("username"))
_TOKEN = sa.select(tokens.c.role, tokens.c.revoked_at, tokens.c.name).where(
    tokens.c.jti == sa.bindparam("jti")
)


async def check_live(conn: AsyncConnection, claims: Claims) -> str:
    """The principal's name once the database confirms the verified ``claims``: the user still has the role
    and is enabled, or the token is on record, unrevoked, with its role. 401 otherwise."""
    if claims.kind == "session":
        row = (await conn.execute(_USER, {"username": claims.subject})).first()
        if row is None or row.disabled or row.role != claims.role:
            raise _unauthorized("user no longer has this access")
        return f"user:{claims.subject}"
    token_row = (await conn.execute(_TOKEN, {"jti": claims.jti})).first()
    if token_row is None or token_row.revoked_at is not None or token_row.role != claims.role:
        raise _unauthorized("token has been revoked")
    return f"token:{token_row.name}"


def _verified(request: web.Request) -> Claims:
    config = request.app[CONFIG]
    try:
        return request.app[CHECKED_TOKENS].verify(
            _bearer(request),
            request.app[KEYRING],
            now=request.app[CLOCK].now(),
            issuer=config.token_issuer,
            audience=config.token_audience,
        )
    except TokenError as exc:
        raise _unauthorized(str(exc)) from exc


async def authenticate(request: web.Request) -> Principal:
    cached = request.get(PRINCIPAL_KEY)
    if isinstance(cached, Principal):
        return cached
    claims = _verified(request)
    async with request.app[DB].connect() as conn:
        name = await check_live(conn, claims)
    principal = Principal(name, claims.role, claims.scopes, claims.jti)
    request[PRINCIPAL_KEY] = principal
    return principal


def _allow(role: str, scopes: frozenset[str], scope: str | None, roles: tuple[str, ...]) -> None:
    if role not in roles:
        raise ApiError(403, "forbidden", f"role {role!r} may not use this endpoint")
    if scope is not None and not grants(scopes, scope):
        raise ApiError(403, "forbidden", f"token lacks the {scope!r} scope")


async def require(
    request: web.Request, *, scope: str | None = None, roles: tuple[str, ...] = AREA_ROLES
) -> Principal:
    """401 when the caller is unknown, 403 when known but not allowed."""
    principal = await authenticate(request)
    _allow(principal.role, principal.scopes, scope, roles)
    return principal


def require_signed(request: web.Request, *, scope: str, roles: tuple[str, ...]) -> Claims:
    """``require`` without the database: the token's signature, times and claims are checked (401) and its
    role and scopes (403), but not yet whether it was revoked. The caller passes the claims to
    :func:`check_live` as the first statement of the transaction that does the work, which fails and changes
    nothing if it was: one statement inside a transaction the request opens anyway, instead of a
    connection and a transaction of its own (a gateway syncs several times a second)."""
    claims = _verified(request)
    _allow(claims.role, claims.scopes, scope, roles)
    return claims
