"""Login attempt limits: a sliding one-minute window per user name and per client address.

Kept in memory: a restart forgives, which is acceptable for a per-minute limit and keeps a database write
off every failed guess.
"""

from __future__ import annotations

import datetime as dt
from collections import deque

WINDOW = dt.timedelta(minutes=1)


class LoginLimiter:
    def __init__(self, attempts_per_minute: int) -> None:
        self._limit = attempts_per_minute
        self._failures: dict[str, deque[dt.datetime]] = {}

    def _recent(self, key: str, now: dt.datetime) -> deque[dt.datetime]:
        window = self._failures.setdefault(key, deque())
        while window and now - window[0] >= WINDOW:
            window.popleft()
        if not window:
            del self._failures[key]
            return deque()
        return window

    def retry_after(self, keys: tuple[str, ...], now: dt.datetime) -> int:
        """Seconds to wait before another attempt is allowed for any of ``keys``; 0 when allowed now."""
        wait = dt.timedelta(0)
        for key in keys:
            window = self._recent(key, now)
            if len(window) >= self._limit:
                wait = max(wait, window[0] + WINDOW - now)
        return int(wait.total_seconds() + 0.999) if wait else 0

    def failed(self, keys: tuple[str, ...], now: dt.datetime) -> None:
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, user_key: str) -> None:
        self._failures.pop(user_key, None)
