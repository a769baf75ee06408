"""Typed reading of export JSON: every wrong type or missing key becomes a ``FlowFileError`` that says where.

Exports are hand-edited, truncated by mail clients and produced by many RapidPro versions, so nothing here
trusts a shape: each access names the JSON path it read (``flows[0].nodes[2].actions[1].text``) and, once inside
a flow, the flow's name and the node's uuid, so the author can find the spot in the file or in the editor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NoReturn

from flows.errors import FlowFileError, Problem


def fail(source: str, message: str, line: int | None = None, column: int | None = None) -> NoReturn:
    raise FlowFileError((Problem(source=source, line=line, column=column, message=message),))


def describe(value: object) -> str:
    """How a JSON value reads in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, Sequence):
        return "a list"
    return f"a {type(value).__name__}"


class Obj:
    """A JSON object met at ``path`` in the export read from ``source``."""

    def __init__(self, data: Mapping[str, object], path: str, source: str, context: str = "") -> None:
        self.data = data
        self.path = path
        self.source = source
        self.context = context  # e.g. 'flow "Registro", node 0b6d...': said beside the path in errors

    @classmethod
    def of(cls, value: object, path: str, source: str, context: str = "") -> Obj:
        if not isinstance(value, Mapping):
            fail(source, _located(path, context, f"expected an object, found {describe(value)}"))
        if any(not isinstance(key, str) for key in value):
            fail(source, _located(path, context, "object keys must be text"))
        return cls(value, path, source, context)

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, message: str, key: str | None = None) -> NoReturn:
        fail(self.source, _located(self.at(key) if key else self.path, self.context, message))

    def within(self, context: str) -> Obj:
        return Obj(self.data, self.path, self.source, context)

    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, required: bool) -> object:
        if key not in self.data:
            if required:
                self.error(f"missing required key {key!r}")
            return None
        return self.data[key]

    def text(self, key: str) -> str:
        value = self._get(key, True)
        if not isinstance(value, str):
            self.error(f"expected text, found {describe(value)}", key)
        return value

    def opt_text(self, key: str, default: str = "") -> str:
        """Text, or ``default`` when the key is missing or null (exports write both for 'not set')."""
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, str):
            self.error(f"expected text, found {describe(value)}", key)
        return value

    def opt_int(self, key: str, default: int | None = None) -> int | None:
        value = self._get(key, False)
        if value is None:
            return default
        return self._integer(value, key)

    def integer(self, key: str) -> int:
        return self._integer(self._get(key, True), key)

    def _integer(self, value: object, key: str) -> int:
        # A float with no fraction (15.0) is how some JSON writers spell an int; a bool is not a number here.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(f"expected a whole number, found {describe(value)}", key)
        return value

    def opt_bool(self, key: str, default: bool = False) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(f"expected true or false, found {describe(value)}", key)
        return value

    def obj(self, key: str) -> Obj:
        return Obj.of(self._get(key, True), self.at(key), self.source, self.context)

    def opt_obj(self, key: str) -> Obj | None:
        value = self._get(key, False)
        return None if value is None else Obj.of(value, self.at(key), self.source, self.context)

    def items(self, key: str, required: bool = False) -> list[tuple[str, object]]:
        """A list's elements with their paths (a missing or null list is empty unless ``required``)."""
        value = self._get(key, required)
        if value is None:
            if required:
                self.error("expected a list, found null", key)
            return []
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            self.error(f"expected a list, found {describe(value)}", key)
        return [(f"{self.at(key)}[{index}]", element) for index, element in enumerate(value)]

    def objs(self, key: str, required: bool = False) -> list[Obj]:
        return [Obj.of(value, path, self.source, self.context) for path, value in self.items(key, required)]

    def texts(self, key: str) -> tuple[str, ...]:
        values = []
        for path, value in self.items(key):
            if not isinstance(value, str):
                fail(self.source, _located(path, self.context, f"expected text, found {describe(value)}"))
            values.append(value)
        return tuple(values)


def _located(path: str, context: str, message: str) -> str:
    where = path or "the top level"
    return f"{where} ({context}): {message}" if context else f"{where}: {message}"
