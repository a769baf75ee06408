"""A token's signature is checked once per server, its times at every use: what the cache remembers never lets
through a token that the full check would refuse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from server.auth.keys import Keyring, ensure_keyring
from server.auth.tokens import CheckedTokens, TokenError, issue

ISSUER, AUDIENCE = "recado-test", "recado-test-api"
NOW = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return ensure_keyring(tmp_path / "keys")


def _token(keyring: Keyring, *, now: dt.datetime = NOW, ttl: dt.timedelta = dt.timedelta(hours=1)) -> str:
    token, _ = issue(
        keyring,
        subject="gateway-1",
        role="gateway",
        scopes=[],
        kind="long",
        now=now,
        ttl=ttl,
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    return token


def _verify(cache: CheckedTokens, token: str, keyring: Keyring, now: dt.datetime = NOW) -> str:
    return cache.verify(token, keyring, now=now, issuer=ISSUER, audience=AUDIENCE).subject


def test_a_token_seen_before_is_still_refused_once_it_has_expired(keyring: Keyring) -> None:
    cache = CheckedTokens()
    token = _token(keyring)
    assert _verify(cache, token, keyring) == "gateway-1"
    assert _verify(cache, token, keyring, NOW + dt.timedelta(minutes=59)) == "gateway-1"
    with pytest.raises(TokenError, match="expired"):
        _verify(cache, token, keyring, NOW + dt.timedelta(hours=2))


def test_a_token_not_yet_valid_becomes_valid_in_its_time(keyring: Keyring) -> None:
    cache = CheckedTokens()
    token = _token(keyring, now=NOW + dt.timedelta(hours=1))
    with pytest.raises(TokenError, match="not valid yet"):
        _verify(cache, token, keyring)
    assert _verify(cache, token, keyring, NOW + dt.timedelta(hours=1)) == "gateway-1"


def test_a_tampered_copy_of_a_remembered_token_is_refused(keyring: Keyring) -> None:
    cache = CheckedTokens()
    token = _token(keyring)
    _verify(cache, token, keyring)
    head, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for forged in (f"{head}.{payload}.{flipped}", token + "x", " " + token):
        with pytest.raises(TokenError):
            _verify(cache, forged, keyring)
    assert len(cache) == 1


def test_a_refused_token_is_not_remembered(keyring: Keyring, tmp_path: Path) -> None:
    cache = CheckedTokens()
    stranger = _token(ensure_keyring(tmp_path / "other-keys"))
    for _ in range(2):
        with pytest.raises(TokenError, match="unknown key"):
            _verify(cache, stranger, keyring)
    assert len(cache) == 0


def test_the_cache_holds_at_most_its_size_and_forgets_the_oldest(keyring: Keyring) -> None:
    cache = CheckedTokens(size=2)
    first, second, third = (_token(keyring, ttl=dt.timedelta(hours=n)) for n in (1, 2, 3))
    for token in (first, second, third):
        _verify(cache, token, keyring)
    assert len(cache) == 2
    assert _verify(cache, first, keyring) == "gateway-1"  # checked in full again
    assert len(cache) == 2


def test_the_cache_keeps_no_token_text(keyring: Keyring) -> None:
    cache = CheckedTokens()
    token = _token(keyring)
    _verify(cache, token, keyring)
    kept = repr(vars(cache))
    assert token not in kept
    assert token.split(".")[2] not in kept
