"""Token and login work shared by the CLI and the API: one place for each rule."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server import audit
from server.auth import tokens as jwt_tokens
from server.auth.keys import Keyring
from server.auth.passwords import hash_password, verify_password
from server.auth.scopes import TOKEN_ROLES, ScopeError, scopes_for
from server.config import Config
from server.db.schema import tokens, users

# Verifying against this when the user does not exist makes an unknown name cost as much as a wrong password.
_DUMMY_HASH = hash_password("recado-timing-equaliser")


class TokenNotFound(LookupError):
    pass


class AmbiguousToken(LookupError):
    pass


@dataclass(frozen=True)
class IssuedToken:
    jwt: str
    jti: str
    name: str
    role: str
    scopes: tuple[str, ...]
    expires_at: dt.datetime


def token_row_json(row: Any) -> dict[str, Any]:
    """How a stored token is shown (never the JWT itself: it is not stored)."""
    return {
        "id": row.jti,
        "name": row.name,
        "role": row.role,
        "scopes": list(row.scopes),
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "created_by": row.created_by,
    }


async def create_token(
    conn: AsyncConnection,
    keyring: Keyring,
    config: Config,
    *,
    role: str,
    name: str,
    scopes: list[str] | None,
    actor: str,
    now: dt.datetime,
    days: int | None = None,
) -> IssuedToken:
    if role not in TOKEN_ROLES:
        raise ScopeError(f"tokens can be made for roles {', '.join(TOKEN_ROLES)}, not {role!r}")
    granted = scopes_for(role, scopes)
    token, claims = jwt_tokens.issue(
        keyring,
        subject=name,
        role=role,
        scopes=granted,
        kind="long",
        now=now,
        ttl=dt.timedelta(days=days if days is not None else config.long_lived_token_days),
        issuer=config.token_issuer,
        audience=config.token_audience,
    )
    await conn.execute(
        tokens.insert().values(
            jti=claims.jti,
            name=name,
            role=role,
            scopes=list(granted),
            created_at=now,
            expires_at=claims.expires_at,
            created_by=actor,
        )
    )
    await audit.record(
        conn,
        at=now,
        actor=actor,
        action="token.create",
        target=claims.jti,
        detail={"name": name, "role": role},
    )
    return IssuedToken(token, claims.jti, name, role, granted, claims.expires_at)


async def list_tokens(conn: AsyncConnection, *, include_revoked: bool = True) -> list[Any]:
    query = sa.select(tokens).order_by(tokens.c.id)
    if not include_revoked:
        query = query.where(tokens.c.revoked_at.is_(None))
    return list((await conn.execute(query)).all())


async def find_token(conn: AsyncConnection, id_or_prefix: str) -> Any:
    """A token by its id (jti) or by an unambiguous prefix of at least 6 characters."""
    exact = (await conn.execute(sa.select(tokens).where(tokens.c.jti == id_or_prefix))).first()
    if exact is not None:
        return exact
    if len(id_or_prefix) < 6 or not all(c in "0123456789abcdef-" for c in id_or_prefix.lower()):
        raise TokenNotFound(f"no token {id_or_prefix!r}")
    escaped = id_or_prefix.lower()
    rows = (await conn.execute(sa.select(tokens).where(tokens.c.jti.startswith(escaped)).limit(2))).all()
    if not rows:
        raise TokenNotFound(f"no token {id_or_prefix!r}")
    if len(rows) > 1:
        raise AmbiguousToken(f"{id_or_prefix!r} matches more than one token; give more of its id")
    return rows[0]


async def revoke_token(conn: AsyncConnection, id_or_prefix: str, *, actor: str, now: dt.datetime) -> Any:
    row = await find_token(conn, id_or_prefix)
    if row.revoked_at is None:
        await conn.execute(tokens.update().where(tokens.c.id == row.id).values(revoked_at=now))
        await audit.record(
            conn, at=now, actor=actor, action="token.revoke", target=row.jti, detail={"name": row.name}
        )
    return (await conn.execute(sa.select(tokens).where(tokens.c.id == row.id))).one()


async def check_password(conn: AsyncConnection, username: str, password: str) -> Any | None:
    """The user row when the password is right and the user enabled; None otherwise, in the same time."""
    row = (await conn.execute(sa.select(users).where(users.c.username == username))).first()
    stored = row.password_hash if row is not None else _DUMMY_HASH
    # scrypt takes tens of milliseconds of CPU: keep it off the event loop.
    ok = await asyncio.to_thread(verify_password, password, stored)
    if row is None or not ok or row.disabled:
        return None
    return row


def issue_session(
    keyring: Keyring, config: Config, user: Any, now: dt.datetime
) -> tuple[str, jwt_tokens.Claims]:
    return jwt_tokens.issue(
        keyring,
        subject=user.username,
        role=user.role,
        scopes=scopes_for(user.role, None),
        kind="session",
        now=now,
        ttl=dt.timedelta(minutes=config.session_token_minutes),
        issuer=config.token_issuer,
        audience=config.token_audience,
    )
