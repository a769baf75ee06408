"""Typed reads out of the located tree: each wrong shape becomes a located problem and a None, so a loader
reads on and reports every mistake of a file at once."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Final, Literal, TypeVar, cast

from flows.errors import Problem
from flows.native.durations import parse_duration
from flows.native.yaml_node import (
    FALSE_SPELLINGS,
    KIND_NAMES,
    LIST,
    MAP,
    NULL_SPELLINGS,
    SCALAR,
    TRUE_SPELLINGS,
    YNode,
)
from flows.validate import suggestion

_INT: Final = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT: Final = re.compile(r"-?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?")
# Exactly YAML 1.1's spellings: the dumper quotes every text that YAML 1.1 would read as a number.
_SPECIAL_FLOATS: Final[Mapping[str, float]] = {
    **{spelling: float("inf") for spelling in (".inf", ".Inf", ".INF")},
    **{spelling: float("-inf") for spelling in ("-.inf", "-.Inf", "-.INF")},
    **{spelling: float("nan") for spelling in (".nan", ".NaN", ".NAN")},
}

T = TypeVar("T")
Pairs = dict[str, tuple[YNode, YNode]]


class Reader:
    """Typed reads from the located tree; each wrong shape becomes a located problem and a None."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def error(self, node: YNode | None, message: str, level: Literal["error", "warning"] = "error") -> None:
        line, column = (node.line, node.column) if node is not None else (None, None)
        self.problems.append(Problem(self.source, line, column, message, level))

    def expect(self, node: YNode, kind: int, what: str) -> bool:
        if node.kind == kind:
            return True
        self.error(node, f"{what} should be {KIND_NAMES[kind]}, not {KIND_NAMES[node.kind]}")
        return False

    def mapping(
        self, node: YNode, what: str, allowed: Collection[str], required: Sequence[str] = ()
    ) -> Pairs:
        """The keys of a mapping, each checked against ``allowed``; unknown keys are reported with the closest
        known one. A null (an empty value) reads as an empty mapping."""
        if node.kind == MAP:
            pairs: list[tuple[YNode, YNode]] = node.value
        elif node.is_null:
            pairs = []
        else:
            self.expect(node, MAP, what)
            return {}
        out: Pairs = {}
        for pair in pairs:  # each (key, value) pair is kept as the tree holds it
            name = pair[0].value
            if name not in allowed:
                self.error(pair[0], f"{what} has no setting '{name}'{suggestion(name, allowed)}")
                continue
            out[name] = pair
        for name in required:
            if name not in out:
                self.error(node, f"{what} needs `{name}:`")
        return out

    def text(self, node: YNode, what: str) -> str | None:
        if node.kind == SCALAR:
            value: str = node.value  # as written: `null` is the word, an empty value the empty text
            return value
        self.expect(node, SCALAR, what)
        return None

    def name(self, node: YNode, what: str) -> str | None:
        """A text that must not be empty (a name, a reference)."""
        value = self.text(node, what)
        if value is not None and not value.strip():
            self.error(node, f"{what} is empty")
            return None
        return value

    def texts(self, node: YNode, what: str) -> list[str] | None:
        """A list of texts; a single text is a list of one, an empty value a list of none."""
        if node.plain and node.value == "":
            return []
        if node.kind == SCALAR:
            return [node.value]
        if not self.expect(node, LIST, what):
            return None
        out = []
        for item in node.value:
            if item.kind != SCALAR:
                self.expect(item, SCALAR, f"each item of {what}")
                return None
            out.append(item.value)
        return out

    def boolean(self, node: YNode, what: str) -> bool | None:
        if node.kind == SCALAR and node.value in TRUE_SPELLINGS | {"yes", "Yes"}:
            return True
        if node.kind == SCALAR and node.value in FALSE_SPELLINGS | {"no", "No"}:
            return False
        self.error(node, f"{what} should be true or false")
        return None

    def integer(self, node: YNode, what: str) -> int | None:
        if node.kind == SCALAR and re.fullmatch(r"[-+]?[0-9]{1,12}", node.value.strip()):
            return int(node.value)
        self.error(node, f"{what} should be a whole number")
        return None

    def choice(self, node: YNode, what: str, choices: Sequence[str]) -> str | None:
        value = self.text(node, what)
        if value is None:
            return None
        if value not in choices:
            self.error(
                node, f"{what} is '{value}'; use one of: {', '.join(choices)}{suggestion(value, choices)}"
            )
            return None
        return value

    def duration(self, node: YNode, what: str) -> int | None:
        text = self.text(node, what)
        seconds = parse_duration(text) if text is not None else None
        if seconds is None and text is not None:
            self.error(node, f"{what} should be a duration such as 30m, 4h, 2d or 1w, not '{text}'")
        return seconds

    def raw(self, node: YNode) -> object:
        """A value kept as data (imported settings recado cannot run): JSON-like types, as a dumper writes them."""
        if node.kind == MAP:
            return {key.value: self.raw(value) for key, value in node.value}
        if node.kind == LIST:
            return [self.raw(item) for item in node.value]
        value = cast(str, node.value)
        if not node.plain:
            return value
        if value in NULL_SPELLINGS:
            return None
        if value in TRUE_SPELLINGS:
            return True
        if value in FALSE_SPELLINGS:
            return False
        if _INT.fullmatch(value):
            return int(value)
        if _FLOAT.fullmatch(value):
            return float(value)
        return _SPECIAL_FLOATS.get(value, value)
