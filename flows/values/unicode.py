"""Unicode general categories as regular-expression character classes.

RapidPro's matching is written with Go regular expressions that use Unicode classes (``\\pL``, ``\\pN``,
``\\pS``...), which Python's ``re`` does not have. We build equivalent classes from ``unicodedata`` once per
process, on first use (about a quarter of a second), so that plain-ASCII work never pays for it.

``re`` checks a character class quickly only when it stays within the Basic Multilingual Plane, so each class
is emitted as a BMP class plus a separately guarded class for the astral planes (emoji live there).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

Ranges = list[tuple[int, int]]

_ASTRAL = 0x10000
_ASTRAL_GUARD = "(?=[\U00010000-\U0010ffff])"


@functools.cache
def _category_ranges() -> dict[str, Ranges]:
    """Every two-letter general category mapped to its sorted code point ranges."""
    ranges: dict[str, Ranges] = {}
    category = unicodedata.category
    previous = category("\x00")
    start = 0
    for cp in range(1, 0x110000):
        current = category(chr(cp))
        if current != previous:
            ranges.setdefault(previous, []).append((start, cp - 1))
            previous, start = current, cp
    ranges.setdefault(previous, []).append((start, 0x10FFFF))
    return ranges


def category_ranges(categories: Iterable[str]) -> Ranges:
    """The merged ranges of the given categories; one letter (``L``) means all of that major class."""
    wanted = tuple(categories)
    picked: Ranges = []
    for name, ranges in _category_ranges().items():
        if any(name == c or (len(c) == 1 and name[0] == c) for c in wanted):
            picked.extend(ranges)
    return merge(picked)


def merge(ranges: Iterable[tuple[int, int]]) -> Ranges:
    merged: Ranges = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def complement(ranges: Ranges) -> Ranges:
    out: Ranges = []
    cursor = 0
    for lo, hi in merge(ranges):
        if lo > cursor:
            out.append((cursor, lo - 1))
        cursor = hi + 1
    if cursor <= 0x10FFFF:
        out.append((cursor, 0x10FFFF))
    return out


def class_body(ranges: Ranges) -> str:
    """The inside of a ``[...]`` class matching exactly these ranges."""
    parts = []
    for lo, hi in ranges:
        if lo == hi:
            parts.append(_escape(lo))
        else:
            parts.append(f"{_escape(lo)}-{_escape(hi)}")
    return "".join(parts)


def _escape(cp: int) -> str:
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def fast_class(ranges: Ranges) -> str:
    """A pattern matching one character in ``ranges``, split at the BMP boundary so that ``re`` is quick."""
    bmp = [(lo, min(hi, _ASTRAL - 1)) for lo, hi in ranges if lo < _ASTRAL]
    astral = [(max(lo, _ASTRAL), hi) for lo, hi in ranges if hi >= _ASTRAL]
    options = []
    if bmp:
        options.append(f"[{class_body(bmp)}]")
    if astral:
        options.append(f"{_ASTRAL_GUARD}[{class_body(astral)}]")
    if not options:
        return "(?!)"
    return options[0] if len(options) == 1 else "(?:" + "|".join(options) + ")"


def chars(text: str) -> Ranges:
    return merge((ord(c), ord(c)) for c in text)


@functools.cache
def compiled(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)
