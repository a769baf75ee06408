"""Who is calling: bearer token → verified claims → checked against the database (revocation, users)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from aiohttp import web

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


async def _check_live(request: web.Request, claims: Claims) -> str:
    async with request.app[DB].connect() as conn:
        if claims.kind == "session":
            row = (await conn.execute(_USER, {"username": claims.subject})).first()
            if row is None or row.disabled or row.role != claims.role:
                raise _unauthorized("user no longer has this access")
            return f"user:{claims.subject}"
        token_row = (await conn.execute(_TOKEN, {"jti": claims.jti})).first()
        if token_row is None or token_row.revoked_at is not None or token_row.role != claims.role:
            raise _unauthorized("token has been revoked")
        return f"token:{token_row.name}"


async def authenticate(request: web.Request) -> Principal:
    cached = request.get(PRINCIPAL_KEY)
    if isinstance(cached, Principal):
        return cached
    config = request.app[CONFIG]
    try:
        claims = request.app[CHECKED_TOKENS].verify(
            _bearer(request),
            request.app[KEYRING],
            now=request.app[CLOCK].now(),
            issuer=config.token_issuer,
            audience=config.token_audience,
        )
    except TokenError as exc:
        raise _unauthorized(str(exc)) from exc
    name = await _check_live(request, claims)
    principal = Principal(name, claims.role, claims.scopes, claims.jti)
    request[PRINCIPAL_KEY] = principal
    return principal


async def require(
    request: web.Request, *, scope: str | None = None, roles: tuple[str, ...] = AREA_ROLES
) -> Principal:
    """401 when the caller is unknown, 403 when known but not allowed."""
    principal = await authenticate(request)
    if principal.role not in roles:
        raise ApiError(403, "forbidden", f"role {principal.role!r} may not use this endpoint")
    if scope is not None and not grants(principal.scopes, scope):
        raise ApiError(403, "forbidden", f"token lacks the {scope!r} scope")
    return principal
