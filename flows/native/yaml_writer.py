"""YAML as people write it, for native flows and programme.yaml: block style, unicode as written, no aliases,
short lists and mappings on one line, multi-line texts as ``|`` blocks, long lines kept whole."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

import yaml

_UNICODE_BREAKS: Final = re.compile("[\x85\u2028\u2029]")


class _Inline(list[Any]):
    """A short list written on one line: ``[Sí, "No"]``."""


class InlineMap(dict[str, Any]):
    """A short mapping written on one line: ``{fecha_parto: "@results.fecha"}``."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # List items indented under their key, as people write them.
        super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style: str | None = None
    if _UNICODE_BREAKS.search(data):
        style = '"'  # PyYAML writes these raw in other styles, where YAML reads them as line breaks
    elif "\n" in data.rstrip("\n") and not data.startswith((" ", "\n")):
        style = "|"
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _represent_inline(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


def _represent_inline_map(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


def _represent_tuple(dumper: yaml.SafeDumper, data: tuple[Any, ...]) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", list(data))


_Dumper.add_representer(str, _represent_text)
_Dumper.add_representer(_Inline, _represent_inline)
_Dumper.add_representer(InlineMap, _represent_inline_map)
_Dumper.add_representer(tuple, _represent_tuple)


def to_yaml(data: object) -> str:
    """Block-style YAML, unicode as written, no aliases, long lines kept whole (diffs stay one line per text)."""
    return yaml.dump(
        data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, default_flow_style=False, width=1_000_000
    )


def short_list(values: Sequence[str]) -> list[str]:
    """A list on one line when its items are short single lines, else one item per line."""
    items = list(values)
    if all("\n" not in v and len(v) <= 60 for v in items) and sum(len(v) for v in items) <= 80:
        return _Inline(items)
    return items


def space_out(text: str, section: str) -> str:
    """A blank line between the entries of a top-level section, so each node reads as a paragraph. Safe for
    block texts: their lines are indented deeper than the entries."""
    out: list[str] = []
    inside = False
    for line in text.split("\n"):
        if not line.startswith(" "):
            inside = line.rstrip() == f"{section}:"
        elif (
            inside and line.startswith("  ") and line[2:3] not in (" ", "-", ":") and out[-1] != f"{section}:"
        ):
            out.append("")
        out.append(line)
    return "\n".join(out)
