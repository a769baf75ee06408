"""Time is injected so that tests and the demo can move it."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

DEMO_CLOCK_FILE = "demo-clock.json"  # in the data directory


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that only moves when told to (tests, the demo's ``/advance``)."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware start")
        self._now = start.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, delta: dt.timedelta) -> None:
        self._now += delta

    def set(self, when: dt.datetime) -> None:
        self._now = when.astimezone(dt.UTC)


@runtime_checkable
class MovableClock(Clock, Protocol):
    """A clock that can be moved forward on request (the demo's clock endpoint)."""

    def advance(self, delta: dt.timedelta) -> None: ...


class OffsetClock:
    """The system clock plus an offset kept in a file: the demo's time, which moves on request and stays where
    it was moved across restarts. It only moves forward: tokens, leases and schedules all assume time does."""

    def __init__(self, path: Path, base: Clock | None = None) -> None:
        self.path = path
        self._base = base or SystemClock()
        self._offset = _read_offset(path)

    @property
    def offset(self) -> dt.timedelta:
        return self._offset

    def now(self) -> dt.datetime:
        return self._base.now() + self._offset

    def advance(self, delta: dt.timedelta) -> None:
        if delta < dt.timedelta(0):
            raise ValueError("the demo clock only moves forward")
        self._offset += delta
        # Written aside and renamed so that a crash mid-write leaves the previous offset, never half a file.
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps({"offset_seconds": self._offset.total_seconds()}), encoding="utf-8")
        os.replace(partial, self.path)


def _read_offset(path: Path) -> dt.timedelta:
    if not path.exists():
        return dt.timedelta(0)
    try:
        seconds = json.loads(path.read_text(encoding="utf-8"))["offset_seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(seconds)
        return dt.timedelta(seconds=seconds)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f'{path}: not a demo clock file ({{"offset_seconds": <seconds>}})') from exc
