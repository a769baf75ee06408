"""Issuing and verifying recado's JWTs (pure: no database; revocation is checked by the guard)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from server.auth.keys import Keyring

ALGORITHM = "EdDSA"  # pinned: a token that names any other algorithm is refused
LEEWAY_S = 30
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "role", "typ"]

TokenKind = Literal["session", "long"]


class TokenError(Exception):
    """The token cannot be trusted; the message says why, without echoing the token."""


@dataclass(frozen=True)
class Claims:
    subject: str
    role: str
    scopes: frozenset[str]
    jti: str
    kind: TokenKind
    expires_at: dt.datetime


def issue(
    keyring: Keyring,
    *,
    subject: str,
    role: str,
    scopes: tuple[str, ...] | list[str],
    kind: TokenKind,
    now: dt.datetime,
    ttl: dt.timedelta,
    issuer: str,
    audience: str,
    jti: str | None = None,
) -> tuple[str, Claims]:
    key = keyring.active
    jti = jti or str(uuid.uuid4())
    expires = now + ttl
    payload: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "role": role,
        "scopes": list(scopes),
        "typ": kind,
        "jti": jti,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    token = jwt.encode(payload, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
    return token, Claims(subject, role, frozenset(scopes), jti, kind, expires.replace(microsecond=0))


@dataclass(frozen=True)
class _Checked:
    """What a token's signature vouches for and no clock changes: its claims and its times."""

    claims: Claims
    exp: float
    nbf: float
    iat: float

    def at(self, now: dt.datetime) -> Claims:
        stamp = now.timestamp()
        if stamp >= self.exp + LEEWAY_S:
            raise TokenError("token has expired")
        if stamp + LEEWAY_S < self.nbf or stamp + LEEWAY_S < self.iat:
            raise TokenError("token is not valid yet")
        return self.claims


class CheckedTokens:
    """Tokens whose signature and claims have been checked, remembered by the token's SHA-256 (the token itself
    is not kept), for one keyring, issuer and audience. A gateway presents the same token at every sync, every
    few seconds, and checking its signature again cost more than the rest of the sync's Python. Only what no
    clock changes is remembered: a token's times are checked at every use, and the guard still asks the
    database at every request whether it has been revoked. The oldest entry goes when ``size`` are held."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._entries: OrderedDict[bytes, _Checked] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def verify(self, token: str, keyring: Keyring, *, now: dt.datetime, issuer: str, audience: str) -> Claims:
        """As :func:`verify`, checking the signature only the first time this token is seen."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        checked = self._entries.get(digest)
        if checked is None:
            checked = _check(token, keyring, issuer=issuer, audience=audience)
            self._entries[digest] = checked
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(digest)
        return checked.at(now)


def verify(token: str, keyring: Keyring, *, now: dt.datetime, issuer: str, audience: str) -> Claims:
    """The token's claims, once its algorithm, key, signature, issuer, audience, shape and times are checked;
    TokenError otherwise."""
    return _check(token, keyring, issuer=issuer, audience=audience).at(now)


def _check(token: str, keyring: Keyring, *, issuer: str, audience: str) -> _Checked:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenError("malformed token") from exc
    if header.get("alg") != ALGORITHM:
        raise TokenError("token algorithm not accepted")
    kid = header.get("kid")
    public_key = keyring.public_key(kid) if isinstance(kid, str) else None
    if public_key is None:
        raise TokenError("token signed by an unknown key")
    try:
        # pyjwt checks exp/nbf/iat against the wall clock; recado's clock is injected, so it checks them below.
        payload = jwt.decode(
            token,
            public_key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={
                "require": REQUIRED_CLAIMS,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidAudienceError as exc:
        raise TokenError("token is for another audience") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenError("token from another issuer") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError(f"token lacks the {exc.claim!r} claim") from exc
    except jwt.PyJWTError as exc:
        raise TokenError("invalid token signature or payload") from exc

    try:
        exp, nbf, iat = (float(payload[c]) for c in ("exp", "nbf", "iat"))
    except (TypeError, ValueError) as exc:
        raise TokenError("token times are not numbers") from exc
    scopes = payload.get("scopes", [])
    if payload["typ"] not in ("session", "long") or not isinstance(scopes, list):
        raise TokenError("token has an unknown shape")
    if not all(isinstance(v, str) for v in [payload["sub"], payload["role"], payload["jti"], *scopes]):
        raise TokenError("token has an unknown shape")
    claims = Claims(
        subject=payload["sub"],
        role=payload["role"],
        scopes=frozenset(scopes),
        jti=payload["jti"],
        kind=payload["typ"],
        expires_at=dt.datetime.fromtimestamp(exp, dt.UTC),
    )
    return _Checked(claims, exp, nbf, iat)
