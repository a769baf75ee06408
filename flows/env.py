"""The environment a flow runs in: timezone, date and number conventions, languages, and the current time.

Nothing in ``flows`` reads the clock: the caller puts ``now`` here (the engine gets it from the server), and
may pass a random source for the expression functions ``rand()`` and ``rand_between()``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DATE_FORMATS = ("DD-MM-YYYY", "MM-DD-YYYY", "YYYY-MM-DD")
TIME_FORMATS = ("tt:mm", "h:mm aa", "tt:mm:ss", "h:mm:ss aa")


def iso(moment: dt.datetime) -> str:
    """An aware moment as ISO 8601 text in UTC with a ``Z``: how sessions and events write times."""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@functools.lru_cache(maxsize=64)
def zone(name: str) -> dt.tzinfo:
    """The tzinfo for an IANA name; ``ValueError`` if there is no such zone."""
    if name == "UTC":
        return dt.UTC
    try:
        return ZoneInfo(name)
    # ValueError: malformed keys such as "../x"; OSError: a directory ("America") or a name too long for a path
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc


@dataclass(frozen=True)
class Environment:
    now: dt.datetime  # aware; the moment the engine is asked to act
    timezone: str = "America/Mexico_City"  # IANA
    date_format: str = "DD-MM-YYYY"  # Mexico is day-first
    time_format: str = "tt:mm"
    default_country: str = "MX"
    default_language: str = "spa"
    allowed_languages: tuple[str, ...] = ("spa",)
    decimal_symbol: str = "."  # Mexico writes 1,234.5
    digit_grouping_symbol: str = ","
    # A source of floats in [0, 1) for rand() and rand_between(); without one they are errors.
    rand: Callable[[], float] | None = None

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("Environment.now must be timezone-aware")
        zone(self.timezone)
        if self.date_format not in DATE_FORMATS:
            raise ValueError(
                f"date_format must be one of {', '.join(DATE_FORMATS)}, not {self.date_format!r}"
            )
        if self.time_format not in TIME_FORMATS:
            raise ValueError(
                f"time_format must be one of {', '.join(TIME_FORMATS)}, not {self.time_format!r}"
            )
        if not self.decimal_symbol or self.decimal_symbol == self.digit_grouping_symbol:
            raise ValueError("decimal_symbol must be set and differ from digit_grouping_symbol")

    @functools.cached_property
    def now_iso(self) -> str:
        """``now`` as :func:`iso` text (formatted once: a batch of replies writes it many times)."""
        return iso(self.now)

    @functools.cached_property
    def _later(self) -> dict[int, tuple[dt.datetime, str]]:
        return {}

    def after(self, seconds: int) -> tuple[dt.datetime, str]:
        """The moment ``seconds`` after ``now``, in UTC, and its :func:`iso` text.

        Elapsed time, not wall-clock time: a wait of a day that crosses a DST change lasts 24 hours. Kept per
        environment, since every reply in a batch sets the same waits."""
        later = self._later.get(seconds)
        if later is None:
            moment = self.now.astimezone(dt.UTC) + dt.timedelta(seconds=seconds)
            later = self._later[seconds] = (moment, iso(moment))
        return later

    @property
    def tz(self) -> dt.tzinfo:
        return zone(self.timezone)

    def local_now(self) -> dt.datetime:
        """``now`` in the environment's timezone."""
        return self.now.astimezone(self.tz)

    def with_now(self, now: dt.datetime) -> Environment:
        return dataclasses.replace(self, now=now)

    @property
    def locale(self) -> str:
        """The locale for month and day names, e.g. ``es_MX``."""
        language = {"spa": "es", "eng": "en", "por": "pt", "fra": "fr"}.get(self.default_language, "en")
        return f"{language}_{self.default_country}"
