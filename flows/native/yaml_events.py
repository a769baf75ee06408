"""The located tree built from libyaml's events (or PyYAML's, without libyaml), refusing on the way what YAML
would otherwise do silently: duplicate keys, anchors and aliases (a few lines can expand into gigabytes), tags,
several documents, very deep nesting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import yaml

from flows.errors import Problem
from flows.native.yaml_node import LIST, MAP, SCALAR, YNode

MAX_DEPTH: Final = 50


def build_tree(get_event: Callable[[], Any], source: str, problems: list[Problem]) -> YNode | None:
    """Assemble events into YNodes with an explicit stack (no recursion, whatever the nesting). This loop runs
    once per event of every flow file, so the open container's state is kept in locals, scalars (most
    events) take the first branch, and nodes are filled in here rather than through ``YNode.__init__``: a call
    to a Python ``__init__`` costs more than the rest of the branch."""
    new = object.__new__
    scalar_event, alias_event, end_stream = yaml.ScalarEvent, yaml.AliasEvent, yaml.StreamEndEvent
    map_start, list_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    root: YNode | None = None
    # Per open container: (its items, is_map, key waiting for its value, keys seen → line).
    stack: list[tuple[list[Any], bool, YNode | None, dict[str, int]]] = []
    items: list[Any] | None = None  # the open container's items (pairs for a map); None outside any
    is_map = False
    key: YNode | None = None
    seen: dict[str, int] = {}
    documents = 0

    def problem(event: Any, message: str) -> None:
        problems.append(Problem(source, event.start_mark.line + 1, event.start_mark.column + 1, message))

    while True:
        event = get_event()
        cls = event.__class__
        if cls is scalar_event:
            if event.anchor is not None or event.tag is not None:
                _refuse_anchor_or_tag(event, problem)
                return None
            mark = event.start_mark
            node = new(YNode)
            node.kind = SCALAR
            node.value = event.value
            node.line = mark.line + 1
            node.column = mark.column + 1
            node.plain = event.implicit[0]
            if key is not None:
                items.append((key, node))  # type: ignore[union-attr]  # a key waits only inside a map
                key = None
            elif is_map:
                first = seen.get(node.value)
                if first is not None:
                    message = f"'{node.value}' is given twice here (first on line {first}); keep only one"
                    problems.append(Problem(source, node.line, node.column, message))
                seen[node.value] = node.line
                key = node
            elif items is not None:
                items.append(node)
            else:
                root = node
        elif cls is map_start or cls is list_start:
            if event.anchor is not None or event.tag is not None:
                _refuse_anchor_or_tag(event, problem)
                return None
            if len(stack) + (items is not None) >= MAX_DEPTH:
                problem(event, f"the file is nested more than {MAX_DEPTH} levels deep")
                return None
            mark = event.start_mark
            opened: list[Any] = []
            node = new(YNode)
            node.kind = MAP if cls is map_start else LIST
            node.value = opened
            node.line = mark.line + 1
            node.column = mark.column + 1
            node.plain = False
            if key is not None:
                items.append((key, node))  # type: ignore[union-attr]  # a key waits only inside a map
                key = None
            elif is_map:
                # Read on into the container so the events stay balanced; the file is refused anyway.
                message = "a key must be a plain name, not a list or mapping"
                problems.append(Problem(source, node.line, node.column, message))
                key = YNode(SCALAR, "", node.line, node.column)
            elif items is not None:
                items.append(node)
            else:
                root = node
            if items is not None:
                stack.append((items, is_map, key, seen))
            items, is_map, key, seen = opened, cls is map_start, None, {}
        elif cls in ends:
            if stack:
                items, is_map, key, seen = stack.pop()
            else:
                items, is_map = None, False
        elif cls is alias_event:
            problem(event, f"aliases (*{event.anchor}) are not allowed: write the text out in full")
            return None
        elif cls is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                problem(event, "a second document (---) in one file: put each flow in its own file")
                return None
        elif cls is end_stream:
            return root


def _refuse_anchor_or_tag(event: Any, problem: Callable[[Any, str], None]) -> None:
    if event.anchor is not None:
        problem(event, f"anchors (&{event.anchor}) are not allowed: write the text out in full")
    else:
        problem(event, f"tags ({event.tag}) are not allowed")
