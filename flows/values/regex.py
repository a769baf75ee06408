"""Go (RE2) regular expressions, as flow authors write them for ``has_pattern`` and ``regex_match``, run with ``re``.

RapidPro compiles patterns with Go's RE2, which guarantees linear-time matching. Python's ``re`` backtracks,
so a careless pattern could take exponential time on a hostile reply. We translate the RE2 syntax to ``re``
and refuse what could make matching slow, so that every accepted pattern stays fast on any input:

- Constructs RE2 itself rejects are errors here too, as in RapidPro: backreferences, lookaround, atomic groups,
  possessive quantifiers, repeat counts over 1000.
- Nested repetition (a repeated group that itself repeats or alternates, such as ``(a+)+`` or ``(a|ab)*``) is
  refused: RE2 runs it safely, ``re`` may not. This is the one deliberate difference from RapidPro; such
  patterns are rare in SMS flows and are reported by the flow checker as errors on every evaluation.
- The text matched is cut to its first ``MAX_TEXT`` characters, which bounds the polynomial worst cases
  (``.*a.*b``) that remain.

RE2's ASCII-only ``\\d``, ``\\w``, ``\\s`` and ``\\b``, its Unicode classes ``\\pL``/``\\p{Lu}``, POSIX classes
``[[:alpha:]]``, ``\\Q...\\E`` quoting, ``\\z``, ``(?<name>...)`` and flag groups that start mid-pattern are
translated to their ``re`` equivalents.
"""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import dataclass, field

from flows.values import unicode

MAX_TEXT = 4096
MAX_REPEAT = 1000

_ASCII_WORD = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
_PERL = {
    "d": [(0x30, 0x39)],
    "w": _ASCII_WORD,
    "s": [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)],
}
_POSIX = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)],
    "blank": [(0x09, 0x09), (0x20, 0x20)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": [(0x30, 0x39)],
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "word": _ASCII_WORD,
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}
_CATEGORIES = frozenset(
    [
        "C",
        "Cc",
        "Cf",
        "Co",
        "Cs",
        "L",
        "Ll",
        "Lm",
        "Lo",
        "Lt",
        "Lu",
        "M",
        "Mc",
        "Me",
        "Mn",
        "N",
        "Nd",
        "Nl",
        "No",
        "P",
        "Pc",
        "Pd",
        "Pe",
        "Pf",
        "Pi",
        "Po",
        "Ps",
        "S",
        "Sc",
        "Sk",
        "Sm",
        "So",
        "Z",
        "Zl",
        "Zp",
        "Zs",
    ]
)
_WORD = "[0-9A-Za-z_]"
_BOUNDARY = f"(?:(?<={_WORD})(?!{_WORD})|(?<!{_WORD})(?={_WORD}))"
_NOT_BOUNDARY = f"(?:(?<={_WORD})(?={_WORD})|(?<!{_WORD})(?!{_WORD}))"
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_FLAGS = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?(\)|:)")
_NAMED = re.compile(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>")


class PatternError(ValueError):
    pass


@dataclass
class _Group:
    scoped_flags: list[str] = field(default_factory=list)  # flag groups opened at this level, to re-close
    repeats: bool = False  # holds a repeating quantifier or an alternation


@dataclass
class _Translator:
    source: str
    out: list[str] = field(default_factory=list)
    groups: list[_Group] = field(default_factory=lambda: [_Group()])
    pos: int = 0
    last_atom_repeats: bool = False  # the atom just emitted is a group that repeats inside
    can_quantify: bool = False

    def fail(self, message: str) -> PatternError:
        return PatternError(message)

    def translate(self) -> str:
        while self.pos < len(self.source):
            char = self.source[self.pos]
            if char == "\\":
                self._escape()
            elif char == "(":
                self._open_group()
            elif char == ")":
                self._close_group()
            elif char == "|":
                self._alternate()
            elif char == "[":
                self._class()
            elif char in "*+?{":
                self._quantifier()
            else:
                self.pos += 1
                self._atom(re.escape(char) if char not in "^$." else char, char not in "^$")
        if len(self.groups) > 1:
            raise self.fail("missing closing )")
        self.out.extend(")" * len(self.groups[0].scoped_flags))
        return "".join(self.out)

    def _atom(self, text: str, quantifiable: bool, repeats: bool = False) -> None:
        self.out.append(text)
        self.can_quantify = quantifiable
        self.last_atom_repeats = repeats

    def _escape(self) -> None:
        if self.pos + 1 >= len(self.source):
            raise self.fail("trailing backslash at end of expression")
        char = self.source[self.pos + 1]
        self.pos += 2
        if char in _PERL:
            self._atom(f"[{unicode.class_body(_PERL[char])}]", True)
        elif char.lower() in _PERL:
            self._atom(f"[{unicode.class_body(unicode.complement(_PERL[char.lower()]))}]", True)
        elif char == "b":
            self._atom(_BOUNDARY, False)
        elif char == "B":
            self._atom(_NOT_BOUNDARY, False)
        elif char == "A":
            self._atom(r"\A", False)
        elif char == "z":
            self._atom(r"\Z", False)
        elif char in "pP":
            self._atom(f"[{unicode.class_body(self._unicode_class(char == 'P'))}]", True)
        elif char == "Q":
            end = self.source.find("\\E", self.pos)
            literal = self.source[self.pos :] if end < 0 else self.source[self.pos : end]
            self.pos = len(self.source) if end < 0 else end + 2
            if literal:
                self._atom("(?:" + re.escape(literal) + ")", True)
        elif char == "x":
            self._atom(re.escape(self._hex()), True)
        elif char in "aftnrv" or (char.isascii() and not char.isalnum()):
            self._atom("\\" + char, True)
        else:
            raise self.fail(f"invalid escape sequence \\{char}")

    def _hex(self) -> str:
        if self.source.startswith("{", self.pos):
            end = self.source.find("}", self.pos)
            digits = self.source[self.pos + 1 : end] if end > 0 else ""
            self.pos = end + 1
        else:
            digits = self.source[self.pos : self.pos + 2]
            self.pos += 2
        try:
            return chr(int(digits, 16))
        except (ValueError, OverflowError) as exc:
            raise self.fail("invalid escape sequence \\x") from exc

    def _unicode_class(self, negated: bool) -> unicode.Ranges:
        if self.source.startswith("{", self.pos):
            end = self.source.find("}", self.pos)
            if end < 0:
                raise self.fail("invalid character class range")
            name = self.source[self.pos + 1 : end]
            self.pos = end + 1
        else:
            name = self.source[self.pos : self.pos + 1]
            self.pos += 1
        if name.startswith("^"):
            negated, name = not negated, name[1:]
        if name == "Any":
            ranges: unicode.Ranges = [(0, 0x10FFFF)]
        elif name in _CATEGORIES:
            ranges = unicode.category_ranges([name])
        else:
            raise self.fail(f"unsupported Unicode class \\p{{{name}}}")
        return unicode.complement(ranges) if negated else ranges

    def _open_group(self) -> None:
        rest = self.source[self.pos :]
        flags = _FLAGS.match(rest)
        named = _NAMED.match(rest)
        if flags:
            on, off, end = flags.group(1), flags.group(2) or "", flags.group(3)
            if "U" in on + off:
                raise self.fail("the U (ungreedy) flag is not supported")
            self.pos += flags.end()
            spec = on + ("-" + off if off else "")
            if end == ")":
                # Go applies a flag group to the rest of the enclosing group; re only has scoped groups.
                if spec:
                    self.out.append(f"(?{spec}:")
                    self.groups[-1].scoped_flags.append(spec)
                self.can_quantify = False
                return
            self.out.append(f"(?{spec}:" if spec else "(?:")
        elif named:
            self.pos += named.end()
            self.out.append(f"(?P<{named.group(1)}>")
        elif rest.startswith("(?:"):
            self.pos += 3
            self.out.append("(?:")
        elif rest.startswith("(?"):
            raise self.fail(
                "invalid or unsupported Perl syntax: lookaround, backreferences and atomic groups"
            )
        else:
            self.pos += 1
            self.out.append("(")
        self.groups.append(_Group())
        self.can_quantify = False

    def _close_group(self) -> None:
        if len(self.groups) == 1:
            raise self.fail("unexpected )")
        group = self.groups.pop()
        self.out.extend(")" * len(group.scoped_flags))
        self.pos += 1
        self._atom(")", True, repeats=group.repeats)
        if group.repeats:
            self.groups[-1].repeats = True

    def _alternate(self) -> None:
        group = self.groups[-1]
        self.out.extend(")" * len(group.scoped_flags))
        self.out.append("|")
        self.out.extend(f"(?{spec}:" for spec in group.scoped_flags)
        group.repeats = True
        self.pos += 1
        self.can_quantify = False

    def _quantifier(self) -> None:
        char = self.source[self.pos]
        repeats = char in "*+"
        if char == "{":
            match = _REPEAT.match(self.source, self.pos)
            if not match:
                self._atom(r"\{", True)
                self.pos += 1
                return
            low = int(match.group(1))
            high = low if match.group(2) is None else (int(match.group(3)) if match.group(3) else None)
            if low > MAX_REPEAT or (high is not None and (high > MAX_REPEAT or high < low)):
                raise self.fail(f"invalid repeat count {match.group()}")
            repeats = high is None or high > 1
            text, end = match.group(), match.end()
        else:
            text, end = char, self.pos + 1
        if not self.can_quantify:
            raise self.fail(f"missing argument to repetition operator {text}")
        if self.last_atom_repeats and repeats:
            raise self.fail("nested repetition is not supported (a repeated group that repeats inside)")
        if self.source.startswith("?", end):
            text, end = text + "?", end + 1
        if self.source.startswith(("+", "*", "?", "{"), end):
            raise self.fail("invalid nested repetition operator")
        self.out.append(text)
        self.pos = end
        self.can_quantify = False
        if repeats:
            self.groups[-1].repeats = True

    def _class(self) -> None:
        self.pos += 1
        negated = self.source.startswith("^", self.pos)
        if negated:
            self.pos += 1
        parts: list[str] = []
        first = True
        while True:
            if self.pos >= len(self.source):
                raise self.fail("missing closing ]")
            char = self.source[self.pos]
            if char == "]" and not first:
                self.pos += 1
                break
            first = False
            if self.source.startswith("[:", self.pos):
                end = self.source.find(":]", self.pos + 2)
                name = self.source[self.pos + 2 : end] if end > 0 else ""
                negate_posix = name.startswith("^")
                ranges = _POSIX.get(name.lstrip("^"))
                if ranges is None:
                    raise self.fail(f"invalid character class range [:{name}:]")
                parts.append(unicode.class_body(unicode.complement(ranges) if negate_posix else ranges))
                self.pos = end + 2
            elif char == "\\":
                parts.append(self._class_escape())
            elif char in "[&~|":
                parts.append("\\" + char)  # literal in RE2; re would warn of set operations
                self.pos += 1
            else:
                parts.append(char)
                self.pos += 1
        self._atom("[" + ("^" if negated else "") + "".join(parts) + "]", True)

    def _class_escape(self) -> str:
        if self.pos + 1 >= len(self.source):
            raise self.fail("missing closing ]")
        char = self.source[self.pos + 1]
        self.pos += 2
        if char in _PERL:
            return unicode.class_body(_PERL[char])
        if char.lower() in _PERL:
            return unicode.class_body(unicode.complement(_PERL[char.lower()]))
        if char in "pP":
            return unicode.class_body(self._unicode_class(char == "P"))
        if char == "x":
            return re.escape(self._hex())
        if char in "aftnrv" or (char.isascii() and not char.isalnum()):
            return "\\" + char
        raise self.fail(f"invalid escape sequence \\{char}")


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile an RE2 pattern case-insensitively in multi-line mode (RapidPro's ``(?mi)``)."""
    compiled = _compile(pattern)
    if isinstance(compiled, PatternError):
        raise compiled
    return compiled


@functools.lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str] | PatternError:
    try:
        translated = _Translator(pattern).translate()
    except PatternError as exc:
        return exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return re.compile(translated, re.IGNORECASE | re.MULTILINE)
        except (re.error, OverflowError, RecursionError) as exc:
            return PatternError(str(exc))


def search(pattern: str, text: str) -> re.Match[str] | None:
    """The leftmost match of ``pattern`` in (the first ``MAX_TEXT`` characters of) ``text``."""
    return compile_pattern(pattern).search(text[:MAX_TEXT])
