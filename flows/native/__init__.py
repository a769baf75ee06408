"""recado's native flow format: one flow per YAML file, written by people (docs/flows.md is its guide).

Reading goes through libyaml (PyYAML's own parser when libyaml is missing) into a small located tree, so that
every problem names its file, line and column, and so that what YAML itself would do silently is refused
instead: duplicate keys, anchors and aliases (a few lines can expand into gigabytes), tags, several documents,
very deep nesting. Scalars are kept as written: where a text is expected, ``no`` is the word "no", not False.

Identifiers are optional. When a flow, node, action, case, category or exit has no ``uuid`` it is derived
(uuid5) from its flow, its node's name and its name or position, so loading the same file twice gives the
same model and editing a message does not orphan the contacts waiting at a node.

``dump_flow`` writes any valid model flow, including imported ones with their own uuids and translations, so
that ``load_flow_text(dump_flow(flow)) == flow``: what the format does not say by default it says explicitly
(``category_uuid``, ``exit_order``, ``translations``...), and only then.

The parts, in the order a file goes through them: ``yaml_tree`` turns bytes into text and text into the
located tree of ``yaml_node``, walking libyaml's events in ``yaml_events`` and wording its syntax errors in
``yaml_syntax``; ``reader`` makes typed reads out of the tree; ``loader`` builds the model, with ``actions``
and ``routers`` sharing a ``build_context``, then validates it; ``dumper`` and ``yaml_writer`` write a model
back. ``identifiers``, ``defaults`` and ``durations`` say what a file may leave out and how it spells time;
``collector`` holds the garbage collector back while reading.
"""

from flows.native.defaults import (
    ALL_RESPONSES,
    DEFAULT_EXPIRE_MINUTES,
    DEFAULT_LANGUAGE,
    DEFAULT_OPERAND,
    END,
    NO_RESPONSE,
    OTHER,
    SPEC_VERSION,
    default_category_name,
)
from flows.native.dumper import dump_flow
from flows.native.durations import format_duration, parse_duration
from flows.native.identifiers import derive_uuid, flow_uuid_for, group_uuid_for, is_uuid, iter_uuids
from flows.native.loader import (
    LoadedFlow,
    check_flow_text,
    load_flow,
    load_flow_text,
    read_flow,
    read_flow_file,
)
from flows.native.reader import Pairs, Reader
from flows.native.yaml_events import MAX_DEPTH
from flows.native.yaml_node import YNode
from flows.native.yaml_tree import MAX_FILE_BYTES, read_source_bytes, read_source_file, read_yaml
from flows.native.yaml_writer import InlineMap, short_list, space_out, to_yaml

__all__ = [
    "ALL_RESPONSES",
    "DEFAULT_EXPIRE_MINUTES",
    "DEFAULT_LANGUAGE",
    "DEFAULT_OPERAND",
    "END",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "NO_RESPONSE",
    "OTHER",
    "SPEC_VERSION",
    "InlineMap",
    "LoadedFlow",
    "Pairs",
    "Reader",
    "YNode",
    "check_flow_text",
    "default_category_name",
    "derive_uuid",
    "dump_flow",
    "flow_uuid_for",
    "format_duration",
    "group_uuid_for",
    "is_uuid",
    "iter_uuids",
    "load_flow",
    "load_flow_text",
    "parse_duration",
    "read_flow",
    "read_flow_file",
    "read_source_bytes",
    "read_source_file",
    "read_yaml",
    "short_list",
    "space_out",
    "to_yaml",
]
