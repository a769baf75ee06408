"""The request signatures of the Android apps, as pure functions (no clock: callers pass ``now``).

SMSGate signs every webhook: ``X-Signature`` is the lowercase hex HMAC-SHA256, keyed with the signing key
(UTF-8), of the raw body followed by the ``X-Timestamp`` header (Unix seconds, as text). The app has no
replay protection of its own, so a receiver also checks that the timestamp is recent.

EnvayaSMS signs every request: ``X-Request-Signature`` is base64 of the SHA-1 (not an HMAC) of the server
URL exactly as configured in the app, then ``,name=value`` for every POST parameter sorted by name, then
``,password``.

Comparisons are constant-time, so an attacker cannot learn a signature byte by byte from response times.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

SMSGATE_WINDOW_S = 300  # the window the app's documentation recommends (±5 minutes)


def smsgate_signature(key: str, body: bytes, timestamp: str) -> str:
    return hmac.new(key.encode("utf-8"), body + timestamp.encode("utf-8"), hashlib.sha256).hexdigest()


def smsgate_check(
    key: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float,
    window_s: float = SMSGATE_WINDOW_S,
) -> str | None:
    """Why a webhook must be refused, or None when it is genuine and fresh."""
    if not signature or not timestamp:
        return "unsigned"
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return "malformed timestamp"
    if abs(now - int(timestamp)) > window_s:
        return "timestamp outside the window"
    expected = smsgate_signature(key, body, timestamp)
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode("utf-8")):
        return "bad signature"
    return None


def envaya_signature(url: str, params: Iterable[tuple[str, str]], password: str) -> str:
    pieces = [url, *(f"{name}={value}" for name, value in sorted(params, key=lambda p: p[0])), password]
    digest = hashlib.sha1(",".join(pieces).encode("utf-8")).digest()  # noqa: S324 - the app's protocol
    return base64.b64encode(digest).decode("ascii")


def envaya_check(url: str, params: Iterable[tuple[str, str]], password: str, signature: str | None) -> bool:
    if not signature:
        return False
    expected = envaya_signature(url, params, password)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8"))
