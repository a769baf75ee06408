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
    once per event of every flow file, so the open container's state is kept in locals."""
    scalar_event, alias_event, end_stream = yaml.ScalarEvent, yaml.AliasEvent, yaml.StreamEndEvent
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    root: YNode | None = None
    # Per open container: (node, is_map, key waiting for its value, keys seen → line).
    stack: list[tuple[YNode, bool, YNode | None, dict[str, int]]] = []
    top: YNode | None = None
    top_is_map = False
    key: YNode | None = None
    seen: dict[str, int] = {}
    documents = 0

    def problem(event: Any, message: str) -> None:
        problems.append(Problem(source, event.start_mark.line + 1, event.start_mark.column + 1, message))

    while True:
        event = get_event()
        cls = event.__class__
        if cls is scalar_event or cls in starts:
            if event.anchor is not None or event.tag is not None:
                _refuse_anchor_or_tag(event, problem)
                return None
            mark = event.start_mark
            is_scalar = cls is scalar_event
            if is_scalar:
                node = YNode(SCALAR, event.value, mark.line + 1, mark.column + 1, event.implicit[0])
            else:
                if len(stack) + (top is not None) >= MAX_DEPTH:
                    problem(event, f"the file is nested more than {MAX_DEPTH} levels deep")
                    return None
                node = YNode(MAP if cls is starts[0] else LIST, [], mark.line + 1, mark.column + 1)
            if top is None:
                root = node
            elif not top_is_map:
                top.value.append(node)
            elif key is not None:
                top.value.append((key, node))
                key = None
            elif is_scalar:
                first = seen.get(node.value)
                if first is not None:
                    message = f"'{node.value}' is given twice here (first on line {first}); keep only one"
                    problems.append(Problem(source, node.line, node.column, message))
                seen[node.value] = node.line
                key = node
            else:
                # Read on into the container so the events stay balanced; the file is refused anyway.
                message = "a key must be a plain name, not a list or mapping"
                problems.append(Problem(source, node.line, node.column, message))
                key = YNode(SCALAR, "", node.line, node.column)
            if not is_scalar:
                if top is not None:
                    stack.append((top, top_is_map, key, seen))
                top, top_is_map, key, seen = node, cls is starts[0], None, {}
        elif cls in ends:
            if stack:
                top, top_is_map, key, seen = stack.pop()
            else:
                top = None
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
