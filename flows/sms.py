"""SMS text facts: which alphabet a text needs, how many SMS parts it costs, and how it splits.

- GSM-7 (3GPP TS 23.038 §6.2.1) is the default alphabet: 128 characters in the basic table, and ten more in
  the extension table, each sent as an escape plus a character, so each costs two septets. One SMS holds 160
  septets; a multipart SMS spends 7 septets of each part on the concatenation header, leaving 153, and an
  escape sequence is never split between parts.
- Any other character makes the whole text UCS-2, counted in UTF-16 code units: 70 in one SMS, 67 per part
  of a multipart SMS. A character outside the Basic Multilingual Plane (most emoji) is a surrogate pair,
  costs two units, and is never split between parts.
- Spanish loses GSM-7 to a single "á" (doubling or tripling the cost), while ñ, é, ü, ¿ and ¡ are in GSM-7.
  :func:`transliterate` replaces what has a plain GSM-7 equivalent and reports what it changed, but only when
  that makes the whole text GSM-7: otherwise the text would stay UCS-2 anyway, and changing it would only
  lose letters.

An empty text is one (empty) SMS: sending it still takes one submit.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import Final, Literal

Encoding = Literal["gsm7", "ucs2"]

# The basic table in code order; 0x1B is the escape to the extension table, not a character of its own.
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ"  # 0x00-0x1A
    "ÆæßÉ"  # 0x1C-0x1F
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: form feed, ^ { } \ [ ~ ] | €. Each is sent as ESC + one septet.
GSM7_EXTENSION: Final = frozenset("\f^{}\\[~]|€")
GSM7: Final = GSM7_BASIC | GSM7_EXTENSION

GSM7_SINGLE: Final = 160
GSM7_PART: Final = 153
UCS2_SINGLE: Final = 70
UCS2_PART: Final = 67


@dataclass(frozen=True)
class Size:
    """What a text costs: its encoding, its length in that encoding's units, and its SMS parts."""

    encoding: Encoding
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def septets(char: str) -> int | None:
    """1 for a basic-table character, 2 for an extension-table one, None when GSM-7 cannot carry it."""
    if char in GSM7_BASIC:
        return 1
    if char in GSM7_EXTENSION:
        return 2
    return None


def is_gsm7(text: str) -> bool:
    return GSM7.issuperset(text)


def encoding_of(text: str) -> Encoding:
    return "gsm7" if is_gsm7(text) else "ucs2"


def non_gsm7(text: str) -> list[str]:
    """The distinct characters that make ``text`` UCS-2, in order of first appearance."""
    return list(dict.fromkeys(c for c in text if c not in GSM7))


def _unit_costs(text: str, encoding: Encoding) -> list[int]:
    if encoding == "gsm7":
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def _limits(encoding: Encoding) -> tuple[int, int]:
    return (GSM7_SINGLE, GSM7_PART) if encoding == "gsm7" else (UCS2_SINGLE, UCS2_PART)


def _boundaries(costs: list[int], single: int, part: int) -> list[int]:
    """Start index of every part after the first: each part takes as many whole characters as fit."""
    if sum(costs) <= single:
        return []
    starts: list[int] = []
    used = 0
    for index, cost in enumerate(costs):
        if used + cost > part:
            starts.append(index)
            used = 0
        used += cost
    return starts


def _encoding_and_units(text: str) -> tuple[Encoding, int]:
    """``encoding_of(text)`` and ``sum(_unit_costs(...))``, counted in C: every message queued is sized."""
    if GSM7_BASIC.issuperset(text):  # most texts: one septet each
        return "gsm7", len(text)
    if GSM7.issuperset(text):
        return "gsm7", len(text) + sum(text.count(char) for char in GSM7_EXTENSION)
    return "ucs2", len(text.encode("utf-16-le", "surrogatepass")) // 2


def size(text: str) -> Size:
    """Encoding, length in units and number of SMS parts of ``text``."""
    encoding, units = _encoding_and_units(text)
    single, part = _limits(encoding)
    if units <= single:
        return Size(encoding, units, 1)
    if len(text) == units:
        # Every character costs one unit, so every part but the last is full.
        return Size(encoding, units, -(-units // part))
    return Size(encoding, units, len(_boundaries(_unit_costs(text, encoding), single, part)) + 1)


def split(text: str) -> list[str]:
    """The text of each SMS part, in order; joined, they give back ``text``."""
    encoding = encoding_of(text)
    single, part = _limits(encoding)
    starts = _boundaries(_unit_costs(text, encoding), single, part)
    edges = [0, *starts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(edges)]


# Replacements that keep the meaning and make a text GSM-7. Only characters outside GSM-7 are here: é, ñ, ü,
# ¿ and ¡ are GSM-7 and never change.
TRANSLITERATIONS: Final[dict[str, str]] = {
    # Spanish and Portuguese vowels; capitals with a grave accent are not in GSM-7 either.
    "á": "a", "í": "i", "ó": "o", "ú": "u",
    "Á": "A", "Í": "I", "Ó": "O", "Ú": "U",
    "À": "A", "È": "E", "Ì": "I", "Ò": "O", "Ù": "U",
    "â": "a", "ê": "e", "î": "i", "ô": "o", "û": "u",
    "Â": "A", "Ê": "E", "Î": "I", "Ô": "O", "Û": "U",
    "ã": "a", "õ": "o", "Ã": "A", "Õ": "O",
    "ë": "e", "ï": "i", "ÿ": "y", "Ë": "E", "Ï": "I",
    "ç": "Ç",
    # Ordinals ("1º", "2ª") and the degree sign.
    "º": "o", "ª": "a", "°": "o",
    # What phones and word processors put in for plain punctuation.
    "‘": "'", "’": "'", "‚": "'", "′": "'", "´": "'", "`": "'",
    "“": '"', "”": '"', "„": '"', "″": '"', "«": '"', "»": '"',
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-",
    "…": "...",
    "\t": " ",
    "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u202f": " ",
    "\u200b": "", "\u2060": "", "\ufeff": "",
}  # fmt: skip


@dataclass(frozen=True)
class Change:
    original: str
    replacement: str
    count: int


@dataclass(frozen=True)
class Transliteration:
    """The text to send and how it differs from what was written.

    ``changes`` is empty when the text was already GSM-7, or when ``blocking`` is not: those characters have
    no GSM-7 equivalent, the text stays UCS-2 and is returned as written.
    """

    text: str
    changes: tuple[Change, ...]
    blocking: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def transliterate(text: str) -> Transliteration:
    """``text`` made GSM-7 by replacing accented vowels and typographic punctuation, when that is enough."""
    outside = non_gsm7(text)
    if not outside:
        return Transliteration(text, (), ())
    blocking = tuple(c for c in outside if c not in TRANSLITERATIONS)
    if blocking:
        return Transliteration(text, (), blocking)
    counts = Counter(c for c in text if c in TRANSLITERATIONS)
    result = "".join(TRANSLITERATIONS.get(c, c) for c in text)
    changes = tuple(Change(c, TRANSLITERATIONS[c], counts[c]) for c in outside)
    return Transliteration(result, changes, ())
