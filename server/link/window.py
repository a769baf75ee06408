"""The delivery window: the local hours in which bulk messages may reach a contact (quiet hours outside it).

Replies and alerts ignore it. A contact's own timezone decides, the programme's when she has none, so a
message leased at 08:30 in Mexico City waits for Tijuana's 08:00. Finding the open timezones once per minute
for every zone the server knows lets one SQL condition filter a whole outbox instead of each row in Python.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from dataclasses import dataclass

_WINDOW = re.compile(r"\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*")
MINUTES_PER_DAY = 24 * 60


class InvalidWindow(ValueError):
    pass


@dataclass(frozen=True)
class DeliveryWindow:
    """Local minutes of the day ``[start, end)``; ``end`` < ``start`` wraps past midnight, and
    ``00:00-24:00`` is always open."""

    start: int
    end: int

    def contains(self, local: dt.datetime) -> bool:
        minute = local.hour * 60 + local.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    @property
    def always_open(self) -> bool:
        return self.start == 0 and self.end == MINUTES_PER_DAY


def parse_window(text: str) -> DeliveryWindow:
    """``"08:00-20:00"``: from 08:00 up to, not including, 20:00 local time."""
    match = _WINDOW.fullmatch(text)
    if match is None:
        raise InvalidWindow("write it as HH:MM-HH:MM, for example 08:00-20:00")
    start_h, start_m, end_h, end_m = (int(g) for g in match.groups())
    if start_h > 23 or end_h > 24 or start_m > 59 or end_m > 59 or (end_h == 24 and end_m):
        raise InvalidWindow("hours run from 00:00 to 24:00")
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start == end or (start, end) == (0, 0):
        raise InvalidWindow("the window is empty; use 00:00-24:00 for always")
    return DeliveryWindow(start, end)


@functools.cache
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


@functools.cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


@dataclass(frozen=True)
class OpenZones:
    """Which timezones are inside the window at one minute. ``names`` is the shorter of the open or the
    closed list, as ``inside`` says, so the SQL condition stays small either way."""

    programme_open: bool
    names: tuple[str, ...]
    inside: bool  # True: ``names`` are the open zones; False: they are the closed ones

    @property
    def none_open(self) -> bool:
        return self.inside and not self.names


@functools.lru_cache(maxsize=8)
def _open_zones(minute: dt.datetime, window: DeliveryWindow, programme: str) -> OpenZones:
    open_names = [n for n in _zone_names() if window.contains(minute.astimezone(_zone(n)))]
    programme_open = window.contains(minute.astimezone(_zone(programme)))
    if len(open_names) * 2 <= len(_zone_names()):
        return OpenZones(programme_open, tuple(open_names), inside=True)
    opened = set(open_names)
    return OpenZones(programme_open, tuple(n for n in _zone_names() if n not in opened), inside=False)


def open_zones(now: dt.datetime, window: DeliveryWindow, programme: str) -> OpenZones:
    if window.always_open:
        return OpenZones(True, (), inside=False)
    return _open_zones(now.replace(second=0, microsecond=0), window, programme)
