"""The located YAML tree that native files are read into: every node knows the line and column it starts at,
and scalars stay the text that was written (``no`` is the word "no", not False)."""

from __future__ import annotations

from typing import Any, Final

SCALAR: Final = 0
LIST: Final = 1
MAP: Final = 2
KIND_NAMES: Final = {SCALAR: "a text", LIST: "a list", MAP: "a set of `key: value` lines"}

# YAML 1.1's spellings of null and the booleans, for the places that read a plain scalar as one of them.
NULL_SPELLINGS: Final = frozenset({"", "~", "null", "Null", "NULL"})
TRUE_SPELLINGS: Final = frozenset({"true", "True", "TRUE"})
FALSE_SPELLINGS: Final = frozenset({"false", "False", "FALSE"})


class YNode:
    """A YAML node with where it starts (1-based). ``value``: str, list[YNode] or list[(key, value)]."""

    __slots__ = ("column", "kind", "line", "plain", "value")

    def __init__(self, kind: int, value: Any, line: int, column: int, plain: bool = False) -> None:
        self.kind = kind
        self.value = value
        self.line = line
        self.column = column
        self.plain = plain  # an unquoted scalar

    @property
    def is_null(self) -> bool:
        return self.kind == SCALAR and self.plain and self.value in NULL_SPELLINGS
