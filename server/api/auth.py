"""API area: people log in with a password and get a short-lived session token."""

from __future__ import annotations

from aiohttp import web

from server import audit
from server.api.errors import ApiError
from server.api.openapi import read_json
from server.appkeys import CLOCK, CONFIG, DB, KEYRING
from server.auth import service
from server.auth.guard import authenticate
from server.auth.ratelimit import LoginLimiter

LIMITER = web.AppKey("login_limiter", LoginLimiter)


def _limit_keys(request: web.Request, username: str) -> tuple[str, str]:
    return (f"user:{username.lower()}", f"addr:{request.remote or 'unknown'}")


async def login(request: web.Request) -> web.Response:
    body = await read_json(request, "LoginRequest")
    username, password = body["username"], body["password"]
    now = request.app[CLOCK].now()
    limiter = request.app[LIMITER]
    keys = _limit_keys(request, username)
    wait = limiter.retry_after(keys, now)
    if wait:
        raise ApiError(
            429,
            "too_many_attempts",
            f"too many login attempts; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )

    async with request.app[DB].connect() as conn:
        user = await service.check_password(conn, username, password)
    if user is None:
        limiter.failed(keys, now)
        if limiter.retry_after(keys, now):
            # Its own transaction: the refusal below must not roll the record back.
            async with request.app[DB].begin() as conn:
                await audit.record(
                    conn, at=now, actor="anonymous", action="login.locked", target=f"user:{username[:64]}"
                )
        raise ApiError(401, "unauthorized", "wrong user name or password")
    limiter.succeeded(keys[0])
    token, claims = service.issue_session(request.app[KEYRING], request.app[CONFIG], user, now)
    return web.json_response(
        {
            "token": token,
            "token_type": "Bearer",
            "expires_at": claims.expires_at.isoformat(),
            "role": claims.role,
        }
    )


async def me(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    return web.json_response(
        {"name": principal.name, "role": principal.role, "scopes": sorted(principal.scopes)}
    )


def setup(app: web.Application) -> None:
    app[LIMITER] = LoginLimiter(app[CONFIG].login_attempts_per_minute)
    app.router.add_post("/api/v1/auth/login", login)
    app.router.add_get("/api/v1/auth/me", me)
