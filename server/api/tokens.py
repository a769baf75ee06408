"""API area: long-lived tokens for gateways and integrations (admins only)."""

from __future__ import annotations

from aiohttp import web

from server.api.errors import ApiError, not_found, unprocessable
from server.api.openapi import read_json
from server.appkeys import CLOCK, CONFIG, DB, KEYRING
from server.auth import service
from server.auth.guard import require
from server.auth.scopes import ScopeError

ADMIN = ("admin",)


async def list_tokens(request: web.Request) -> web.Response:
    await require(request, roles=ADMIN)
    async with request.app[DB].connect() as conn:
        rows = await service.list_tokens(conn)
    return web.json_response({"items": [service.token_row_json(r) for r in rows]})


async def create_token(request: web.Request) -> web.Response:
    principal = await require(request, roles=ADMIN)
    body = await read_json(request, "TokenCreate")
    try:
        async with request.app[DB].begin() as conn:
            issued = await service.create_token(
                conn,
                request.app[KEYRING],
                request.app[CONFIG],
                role=body["role"],
                name=body["name"],
                scopes=body.get("scopes"),
                actor=principal.name,
                now=request.app[CLOCK].now(),
                days=body.get("days"),
            )
    except ScopeError as exc:
        raise unprocessable(str(exc), [{"field": "scopes", "message": str(exc)}]) from exc
    return web.json_response(
        {
            "id": issued.jti,
            "name": issued.name,
            "role": issued.role,
            "scopes": list(issued.scopes),
            "expires_at": issued.expires_at.isoformat(),
            "token": issued.jwt,
        },
        status=201,
    )


async def revoke_token(request: web.Request) -> web.Response:
    principal = await require(request, roles=ADMIN)
    try:
        async with request.app[DB].begin() as conn:
            row = await service.revoke_token(
                conn, request.match_info["id"], actor=principal.name, now=request.app[CLOCK].now()
            )
    except service.TokenNotFound as exc:
        raise not_found("token") from exc
    except service.AmbiguousToken as exc:
        raise ApiError(409, "ambiguous", str(exc)) from exc
    return web.json_response(service.token_row_json(row))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/tokens", list_tokens)
    app.router.add_post("/api/v1/tokens", create_token)
    app.router.add_delete("/api/v1/tokens/{id}", revoke_token)
