"""Text facts as RapidPro computes them: words, case, whitespace.

- A word is a run of letters, marks, digits, ``_`` and ``'``; every symbol (an emoji, ``+``, ``$``) is a word of
  its own; punctuation and spaces separate words (goflow ``utils/text.go``: ``[\\pM\\pL\\pN_']+|\\pS``).
- Case is changed one character at a time, as Go's ``strings.ToLower`` does (so ``İ`` becomes ``i``, and the
  text keeps its length), and comparison is lower-case only: ``sí`` and ``si`` differ.
- Whitespace is Go's ``unicode.IsSpace`` set, which is narrower than Python's ``str.isspace``.
- Accent folding (``sí`` = ``si``) is recado's own opt-in for native flows.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from flows.values import unicode

# Go's unicode.IsSpace: Latin-1 spaces plus the White_Space property.
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"

_ASCII_SYMBOLS = "".join(chr(c) for c in range(128) if unicodedata.category(chr(c)).startswith("S"))
_ASCII_WORDS = re.compile(r"[A-Za-z0-9_']+|[" + re.escape(_ASCII_SYMBOLS) + "]")


@functools.cache
def _word_pattern() -> re.Pattern[str]:
    word = unicode.fast_class(unicode.merge([*unicode.category_ranges("MLN"), *unicode.chars("_'")]))
    symbol = unicode.fast_class(unicode.category_ranges("S"))
    return re.compile(f"{word}+|{symbol}")


def word_pattern(text: str) -> re.Pattern[str]:
    """The word pattern to use for ``text``: a tiny one for ASCII, the full Unicode one otherwise."""
    return _ASCII_WORDS if text.isascii() else _word_pattern()


def tokenize(text: str) -> list[str]:
    """The words of ``text`` in order (RapidPro's ``TokenizeString``)."""
    return word_pattern(text).findall(text)


def token_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in word_pattern(text).finditer(text)]


def tokenize_by_chars(text: str, delimiters: str) -> list[str]:
    """Split on any of ``delimiters``, dropping empty pieces (Go's ``strings.FieldsFunc``)."""
    if not delimiters:
        return [text] if text else []
    pieces = re.split("[" + re.escape(delimiters) + "]", text)
    return [p for p in pieces if p]


def trim(text: str) -> str:
    return text.strip(GO_SPACE)


def trim_left(text: str) -> str:
    return text.lstrip(GO_SPACE)


def trim_right(text: str) -> str:
    return text.rstrip(GO_SPACE)


def _one_to_one(text: str, convert: str) -> str:
    out = []
    for char in text:
        mapped = getattr(char, convert)()
        out.append(mapped if len(mapped) == 1 else _SIMPLE_CASE.get((convert, char), char))
    return "".join(out)


# Characters whose simple (one character) case mapping Go uses where Python's full mapping gives several.
_SIMPLE_CASE = {("lower", "İ"): "i"}


def lower(text: str) -> str:
    """Lower-case one character at a time, keeping the length (Go's ``strings.ToLower``)."""
    if text.isascii():
        return text.lower()
    if "İ" in text or "Σ" in text:  # Python lowers these with context; Go one character at a time
        return _one_to_one(text.replace("Σ", "σ"), "lower")
    return text.lower()


def upper(text: str) -> str:
    """Upper-case one character at a time (``ß`` stays ``ß``, as in Go)."""
    if text.isascii():
        return text.upper()
    return _one_to_one(text, "upper")


def _is_title_separator(char: str) -> bool:
    # Go's strings.Title: ASCII alphanumerics and "_" join words, other ASCII separates; beyond ASCII, letters and
    # digits join and only spaces separate.
    if char.isascii():
        return not (char.isalnum() or char == "_")
    if char.isalpha() or unicodedata.category(char) == "Nd":
        return False
    return char in GO_SPACE


def title(text: str) -> str:
    """Capitalise each word of the lower-cased text (Go's ``strings.Title(strings.ToLower(...))``)."""
    out = []
    previous_separates = True
    for char in lower(text):
        if previous_separates:
            titled = char.title()
            out.append(titled if len(titled) == 1 else char)
        else:
            out.append(char)
        previous_separates = _is_title_separator(char)
    return "".join(out)


def fold(word: str) -> str:
    """Remove accents and other combining marks: ``sí`` → ``si``, ``ñandú`` → ``nandu``."""
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFD", word)
    stripped = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
    return unicodedata.normalize("NFC", stripped)


@functools.lru_cache(maxsize=1024)
@functools.lru_cache(maxsize=4096)  # the engine snakifies a result's name each time it saves the result
def snakify(text: str) -> str:
    """A result name as a key (goflow ``Snakify``): runs of anything but letters, ASCII digits and ``_``
    become ``_``, then the ends are trimmed of ``_`` and it is lower-cased: "Favorite Color" → favorite_color."""
    out: list[str] = []
    in_gap = False
    for char in text.strip(GO_SPACE):
        if char.isalpha() or char in "0123456789_":
            out.append(char)
            in_gap = False
        elif not in_gap:
            out.append("_")
            in_gap = True
    return lower("".join(out).strip("_"))
