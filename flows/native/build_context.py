"""What the parts of one flow file's loader share while they read it: the reader that collects problems, where
each item was written (for locating validation findings), the flow's language and translations, and the
node names a ``go`` may point at."""

from __future__ import annotations

from collections.abc import Callable

from flows.native.defaults import DEFAULT_LANGUAGE, END
from flows.native.reader import Pairs, Reader, T
from flows.native.yaml_node import MAP, SCALAR, YNode
from flows.validate import suggestion

Localization = dict[str, dict[str, dict[str, tuple[str, ...]]]]


class BuildContext:
    """One file's shared state; ``identity`` is (uuid, name) once the flow's name has been read."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.locations: dict[str, tuple[int, int]] = {}
        self.identity: tuple[str, str] | None = None
        self.language = DEFAULT_LANGUAGE
        self.localization: Localization = {}
        self.node_keys: dict[str, str] = {}  # key in the file → node uuid

    def here(self, uuid: str, node: YNode) -> None:
        """Remember where the item ``uuid`` was written (the first place wins)."""
        self.locations.setdefault(uuid, (node.line, node.column))

    def optional_uuid(self, keys: Pairs, key: str) -> str | None:
        if key not in keys:
            return None
        return self.reader.name(keys[key][1], key)

    def translate(self, language: str, uuid: str, prop: str, values: tuple[str, ...], at: YNode) -> None:
        """Record a translation given beside its item; giving it twice differently is a mistake."""
        item = self.localization.setdefault(language, {}).setdefault(uuid, {})
        if prop in item and item[prop] != values:
            self.reader.error(at, f"the {language} {prop} of this item is given twice, differently")
        item[prop] = values

    def destination(self, node: YNode, owner: str) -> tuple[str | None, bool]:
        """The node uuid a ``go`` names (None: the end), and whether it was understood."""
        target = node.value if node.kind == SCALAR else None
        if target is None or not target.strip():
            # Read again through the reader only to report what is wrong (its wording names the owner).
            target = self.reader.name(node, f"where {owner} goes")
            if target is None:
                return None, False
        if target == END:
            return None, True
        if target in self.node_keys:
            return self.node_keys[target], True
        hint = suggestion(target, [*self.node_keys, END])
        self.reader.error(node, f"{owner} goes to '{target}', which does not exist{hint}")
        return None, False

    def localized(
        self, node: YNode, what: str, convert: Callable[[YNode, str], T | None]
    ) -> tuple[T, dict[str, T]] | None:
        """A value given once (in the flow's language) or per language as ``{spa: ..., eng: ...}``."""
        if node.kind != MAP:
            value = convert(node, what)
            return (value, {}) if value is not None else None
        base: T | None = None
        others: dict[str, T] = {}
        ok = True
        for lang, item in node.value:
            value = convert(item, f"the {lang.value} {what}")
            if value is None:
                ok = False
            elif lang.value == self.language:
                base = value
            else:
                others[lang.value] = value
        if not ok:
            return None
        if base is None:
            self.reader.error(
                node, f"{what} has no {self.language} version, and {self.language} is the flow's language"
            )
            return None
        return base, others
