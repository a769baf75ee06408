"""Durations as authors write them (``30m``, ``4h``, ``2d``, ``1w``) and as the dumper writes them back."""

from __future__ import annotations

import re
from typing import Final

_DURATION: Final = re.compile(r"(\d{1,9})\s*([smhdw])")
_UNIT_SECONDS: Final = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> int | None:
    """Seconds in ``30s``, ``15m``, ``4h``, ``2d``, ``1w``; None when it is not a duration."""
    match = _DURATION.fullmatch(text.strip())
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)] if match else None


def format_duration(seconds: int) -> str:
    """The largest whole unit: 7200 is ``2h``, 5400 is ``90m``."""
    for unit, size in _UNIT_SECONDS.items():
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
