"""recado's native flow format: one flow per YAML file, written by people (docs/flows.md is its guide).

Reading goes through PyYAML's event parser (libyaml when present) into a small located tree, so that every
problem names its file, line and column, and so that what YAML itself would do silently is refused instead:
duplicate keys, anchors and aliases (a few lines can expand into gigabytes), tags, several documents, very deep
nesting. Scalars are kept as written: where a text is expected, ``no`` is the word "no", not False.

Identifiers are optional. When a flow, node, action, case, category or exit has no ``uuid`` it is derived
(uuid5) from its flow, its node's name and its name or position, so loading the same file twice gives the
same model and editing a message does not orphan the contacts waiting at a node.

``dump_flow`` writes any valid model flow, including imported ones with their own uuids and translations, so
that ``load_flow_text(dump_flow(flow)) == flow``: what the format does not say by default it says explicitly
(``category_uuid``, ``exit_order``, ``translations``...), and only then.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, cast, get_args

import yaml

from flows.errors import FlowFileError, Problem, has_errors
from flows.model import (
    Action,
    AddContactGroups,
    AddInputLabels,
    CallWebhook,
    Case,
    Category,
    ContactStatus,
    EnterFlow,
    Exit,
    Flow,
    FlowRef,
    FlowType,
    GroupRef,
    Node,
    RaiseAlert,
    RemoveContactGroups,
    Router,
    SendMsg,
    SetContactField,
    SetContactLanguage,
    SetContactName,
    SetContactStatus,
    SetContactTimezone,
    SetRunResult,
    Timeout,
    UnsupportedAction,
    Wait,
)
from flows.routertests import KNOWN_TESTS
from flows.validate import Finding, arity, suggestion, validate_flow

MAX_FILE_BYTES: Final = 5 * 1024 * 1024  # a real flow is a few kilobytes; more is a mistake, refused unread
MAX_DEPTH: Final = 50
DEFAULT_LANGUAGE: Final = "spa"
DEFAULT_EXPIRE_MINUTES: Final = 7 * 24 * 60
DEFAULT_OPERAND: Final = "@input.text"
SPEC_VERSION: Final[str] = Flow(uuid="", name="", language="", nodes=()).spec_version
END: Final = "end"

# Everything derived hangs off this namespace, so recado's uuids never collide with another system's uuid5s.
_NAMESPACE: Final = bytes.fromhex("6f1d3c2a8e5b4f0d9a7c2e4b1d0f3a59")
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DURATION: Final = re.compile(r"(\d{1,9})\s*([smhdw])")
_UNIT_SECONDS: Final = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
# YAML's printable set (1.1 §5.1): anything else means the file is not text, and we say so before parsing.
_NOT_TEXT: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_TRUE: Final = frozenset({"true", "True", "TRUE"})
_FALSE: Final = frozenset({"false", "False", "FALSE"})
_NULL: Final = frozenset({"", "~", "null", "Null", "NULL"})
_INT: Final = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT: Final = re.compile(r"-?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?")
# Exactly YAML 1.1's spellings: the dumper quotes every text that YAML 1.1 would read as a number.
_SPECIAL_FLOATS: Final[Mapping[str, float]] = {
    **{spelling: float("inf") for spelling in (".inf", ".Inf", ".INF")},
    **{spelling: float("-inf") for spelling in ("-.inf", "-.Inf", "-.INF")},
    **{spelling: float("nan") for spelling in (".nan", ".NaN", ".NAN")},
}

# Default category names, as RapidPro's editor gives them. Text tests are named after their first word.
OTHER: Final = "Other"
NO_RESPONSE: Final = "No Response"
ALL_RESPONSES: Final = "All Responses"
_WORD_TESTS: Final = frozenset(
    {"has_any_word", "has_all_words", "has_phrase", "has_only_phrase", "has_beginning", "has_only_text"}
)
_NAMED_TESTS: Final = {
    "has_text": "Has Text",
    "has_value": "Has Text",
    "has_number": "Has Number",
    "has_date": "Has Date",
    "has_time": "Has Time",
    "has_phone": "Has Phone",
    "has_email": "Has Email",
    "has_error": "Has Error",
    "has_pattern": "Matches",
}
_COMPARISONS: Final = {
    "has_number_lt": "< {}",
    "has_number_lte": "≤ {}",
    "has_number_eq": "= {}",
    "has_number_gte": "≥ {}",
    "has_number_gt": "> {}",
    "has_date_lt": "Before {}",
    "has_date_eq": "{}",
    "has_date_gt": "After {}",
}

_FLOW_KEYS: Final = (
    "flow",
    "uuid",
    "language",
    "type",
    "expire_after",
    "accent_insensitive",
    "spec_version",
    "nodes",
    "translations",
)
_NODE_KEYS: Final = (
    "uuid",
    "send",
    "quick_replies",
    "do",
    "wait",
    "operand",
    "save_as",
    "routes",
    "random",
    "go",
    "exit_uuid",
    "exit_order",
)
_ROUTE_WORDS: Final = ("says", "other", "timeout")
_ROUTE_MODIFIERS: Final = ("go", "category", "case_uuid", "category_uuid", "exit_uuid")
_ROUTE_KEYS: Final = frozenset({*_ROUTE_WORDS, *KNOWN_TESTS, *_ROUTE_MODIFIERS})
_RANDOM_ROUTE_KEYS: Final = frozenset(_ROUTE_MODIFIERS)
_ACTION_MODIFIERS: Final[Mapping[str, tuple[str, ...]]] = {
    "send": ("quick_replies",),
    "set_field": ("field_name",),
    "set_name": (),
    "set_language": (),
    "set_status": (),
    "set_timezone": (),
    "set_result": ("value", "category"),
    "add_groups": (),
    "remove_groups": ("all_groups",),
    "enter_flow": ("terminal", "flow_uuid"),
    "raise_alert": (),
    "webhook": (),
    "add_labels": (),
    "unsupported": ("raw",),
}
_WEBHOOK_KEYS: Final = ("method", "url", "headers", "body", "result")
_STATUSES: Final = get_args(ContactStatus)
_FLOW_TYPES: Final = get_args(FlowType)


# --- derived identifiers ----------------------------------------------------------------------------------


def derive_uuid(*parts: str) -> str:
    """A uuid5 in recado's namespace for the joined parts (as ``uuid.uuid5`` computes it, but without building
    UUID objects: loading 700 flows derives tens of thousands of these)."""
    digest = bytearray(
        hashlib.sha1(_NAMESPACE + "/".join(parts).encode("utf-8"), usedforsecurity=False).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def flow_uuid_for(name: str) -> str:
    return derive_uuid("flow", name)


def group_uuid_for(name: str) -> str:
    return derive_uuid("group", name)


def _node_uuid(flow_uuid: str, name: str) -> str:
    return derive_uuid(flow_uuid, "node", name)


def _action_uuid(node_uuid: str, index: int) -> str:
    return derive_uuid(node_uuid, "action", str(index))


def _case_uuid(node_uuid: str, index: int) -> str:
    return derive_uuid(node_uuid, "case", str(index))


def _category_uuid(node_uuid: str, name: str) -> str:
    return derive_uuid(node_uuid, "category", name)


def _exit_uuid(owner_uuid: str) -> str:
    """A node's single exit (no router) or a category's exit."""
    return derive_uuid(owner_uuid, "exit")


def is_uuid(text: str) -> bool:
    return _UUID.fullmatch(text) is not None


def default_category_name(test: str, arguments: Sequence[str]) -> str:
    """The name a route's category gets when the author gives none (docs/flows.md, the table of tests)."""
    if test in _NAMED_TESTS:
        return _NAMED_TESTS[test]
    if not arguments:
        return "Match"
    first = arguments[0]
    if test in _WORD_TESTS or test == "has_category":
        words = first.split()
        return _capitalise(words[0]) if words else "Match"
    if test == "has_number_between" and len(arguments) == 2:
        return f"{arguments[0]} - {arguments[1]}"
    if test in _COMPARISONS:
        return _COMPARISONS[test].format(first)
    if test == "has_group":
        return arguments[1] if len(arguments) > 1 else "In Group"
    return "Match"


def _capitalise(word: str) -> str:
    return word[:1].upper() + word[1:]


def parse_duration(text: str) -> int | None:
    """Seconds in ``30s``, ``15m``, ``4h``, ``2d``, ``1w``; None when it is not a duration."""
    match = _DURATION.fullmatch(text.strip())
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)] if match else None


def format_duration(seconds: int) -> str:
    for unit, size in _UNIT_SECONDS.items():
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- located YAML -----------------------------------------------------------------------------------------

_SCALAR, _LIST, _MAP = 0, 1, 2
_KIND_NAMES: Final = {_SCALAR: "a text", _LIST: "a list", _MAP: "a set of `key: value` lines"}


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
        return self.kind == _SCALAR and self.plain and self.value in _NULL


_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _syntax_message(exc: yaml.MarkedYAMLError, text: str) -> str:
    """YAML's own words, turned into advice for someone who has never read the YAML spec."""
    problem = exc.problem or "this is not valid YAML"
    mark = exc.problem_mark
    char = ""
    if mark is not None:
        lines = text.splitlines()
        if mark.line < len(lines) and mark.column < len(lines[mark.line]):
            char = lines[mark.line][mark.column]
    if "maximum nesting depth" in problem:
        return f"the file is nested more than {MAX_DEPTH} levels deep"
    if "cannot start any token" in problem:
        if char == "\t":
            return "a tab character: indent with spaces, never tabs"
        if char in "@`":
            return f'a text cannot start with {char} unless it is in quotes: write it as "{char}..."'
        return f"the character {char!r} cannot start a value here; put the text in quotes"
    if "mapping values are not allowed" in problem:
        return "unexpected ':' here; if it is part of a text, put the whole text in quotes"
    if "could not find expected ':'" in problem:
        return "expected a `key: value` line here (is the indentation wrong, or a quote not closed?)"
    if (exc.context or "").startswith("while scanning a quoted scalar"):
        start = exc.context_mark
        where = f" (it opens at line {start.line + 1})" if start is not None else ""
        return f"a quoted text is never closed{where}"
    if (exc.context or "").startswith("while parsing a flow"):
        return "a list or mapping written with [ ] or { } is not closed properly"
    if "did not find expected key" in problem or "expected <block end>" in problem:
        return "this line does not line up with the lines above it: check its indentation"
    if "expected '-' indicator" in problem or "did not find expected '-' indicator" in problem:
        return "a list item here does not line up with the items above it: check its indentation"
    context = f" ({exc.context})" if exc.context else ""
    return f"YAML syntax error: {problem}{context}"


def read_yaml(text: str, source: str) -> tuple[YNode | None, list[Problem]]:
    """Parse ``text`` into a located tree; refusals and syntax errors come back as problems, never raised."""
    if len(text) > MAX_FILE_BYTES:
        return None, [Problem(source, None, None, _too_big(len(text)))]
    bad = _NOT_TEXT.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - text.rfind("\n", 0, bad.start())
        return None, [
            Problem(
                source,
                line,
                column,
                f"the file contains the control character U+{ord(bad.group()):04X}: it does not look like a"
                " text file",
            )
        ]
    if "\t" in text:
        tabs = _indentation_tabs(text, source)
        if tabs:
            return None, tabs
    problems: list[Problem] = []
    loader = _Loader(text)
    try:
        root = _build_tree(loader.get_event, source, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        located = (
            Problem(source, mark.line + 1, mark.column + 1, "")
            if mark is not None
            else Problem(source, None, None, "")
        )
        return None, [*problems, Problem(source, located.line, located.column, _syntax_message(exc, text))]
    except yaml.YAMLError as exc:
        return None, [*problems, Problem(source, None, None, f"this is not valid YAML: {exc}")]
    finally:
        loader.dispose()
    if problems:
        return None, problems
    if root is None or root.is_null:
        return None, [Problem(source, 1, 1, "the file is empty")]
    return root, []


def _too_big(size: int) -> str:
    return (
        f"the file is {size / 1e6:.1f} MB; a flow file may be at most {MAX_FILE_BYTES // (1024 * 1024)} MB"
        " (a real flow is a few kilobytes)"
    )


def _indentation_tabs(text: str, source: str) -> list[Problem]:
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent and line.strip():
            problems.append(
                Problem(
                    source, number, indent.index("\t") + 1, "a tab in the indentation: indent with spaces"
                )
            )
    return problems


def _build_tree(get_event: Callable[[], Any], source: str, problems: list[Problem]) -> YNode | None:
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
                node = YNode(_SCALAR, event.value, mark.line + 1, mark.column + 1, event.implicit[0])
            else:
                if len(stack) + (top is not None) >= MAX_DEPTH:
                    problem(event, f"the file is nested more than {MAX_DEPTH} levels deep")
                    return None
                node = YNode(_MAP if cls is starts[0] else _LIST, [], mark.line + 1, mark.column + 1)
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
                key = YNode(_SCALAR, "", node.line, node.column)
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


def read_source_bytes(data: bytes, source: str) -> tuple[str | None, list[Problem]]:
    """Decode a file's bytes as UTF-8 (a BOM is allowed), saying where the first bad byte is."""
    if len(data) > MAX_FILE_BYTES:
        return None, [Problem(source, None, None, _too_big(len(data)))]
    if b"\x00" in data[:8192]:
        return None, [Problem(source, None, None, "this is a binary file, not a text file")]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        return None, [
            Problem(
                source,
                line,
                column,
                f"this is not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
            )
        ]


def read_source_file(path: Path) -> tuple[str | None, list[Problem]]:
    """A file's text, refusing oversized files by their size before reading them."""
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [Problem(source, None, None, _too_big(size))]
        data = path.read_bytes()
    except IsADirectoryError:
        return None, [Problem(source, None, None, "this is a folder, not a file")]
    except OSError as exc:
        return None, [Problem(source, None, None, f"cannot read the file: {exc.strerror or exc}")]
    return read_source_bytes(data, source)


# --- reading values out of the tree -----------------------------------------------------------------------

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
        self.error(node, f"{what} should be {_KIND_NAMES[kind]}, not {_KIND_NAMES[node.kind]}")
        return False

    def mapping(
        self, node: YNode, what: str, allowed: Collection[str], required: Sequence[str] = ()
    ) -> Pairs:
        """The keys of a mapping, each checked against ``allowed``; unknown keys are reported with the closest
        known one. A null (an empty value) reads as an empty mapping."""
        if node.is_null:
            pairs: list[tuple[YNode, YNode]] = []
        elif self.expect(node, _MAP, what):
            pairs = node.value
        else:
            return {}
        out: Pairs = {}
        for key, value in pairs:
            if key.value not in allowed:
                self.error(key, f"{what} has no setting '{key.value}'{suggestion(key.value, allowed)}")
                continue
            out[key.value] = (key, value)
        for name in required:
            if name not in out:
                self.error(node, f"{what} needs `{name}:`")
        return out

    def text(self, node: YNode, what: str) -> str | None:
        if not self.expect(node, _SCALAR, what):
            return None
        return cast(str, node.value)  # as written: `null` is the word, an empty value the empty text

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
        if node.kind == _SCALAR:
            return [node.value]
        if not self.expect(node, _LIST, what):
            return None
        out = []
        for item in node.value:
            value = self.text(item, f"each item of {what}")
            if value is None:
                return None
            out.append(value)
        return out

    def boolean(self, node: YNode, what: str) -> bool | None:
        if node.kind == _SCALAR and node.value in _TRUE | {"yes", "Yes"}:
            return True
        if node.kind == _SCALAR and node.value in _FALSE | {"no", "No"}:
            return False
        self.error(node, f"{what} should be true or false")
        return None

    def integer(self, node: YNode, what: str) -> int | None:
        if node.kind == _SCALAR and re.fullmatch(r"[-+]?[0-9]{1,12}", node.value.strip()):
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
        if node.kind == _MAP:
            return {key.value: self.raw(value) for key, value in node.value}
        if node.kind == _LIST:
            return [self.raw(item) for item in node.value]
        value = cast(str, node.value)
        if not node.plain:
            return value
        if value in _NULL:
            return None
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        if _INT.fullmatch(value):
            return int(value)
        if _FLOAT.fullmatch(value):
            return float(value)
        return _SPECIAL_FLOATS.get(value, value)


# --- loading ----------------------------------------------------------------------------------------------

Localization = dict[str, dict[str, dict[str, tuple[str, ...]]]]


@dataclass
class LoadedFlow:
    """A flow file read as far as it would go: the flow (None when it has errors), every problem, where each
    item was written (uuid → line, column), and the flow's name and uuid when those at least could be read."""

    source: str
    flow: Flow | None
    problems: list[Problem]
    locations: dict[str, tuple[int, int]] = field(default_factory=dict)
    identity: tuple[str, str] | None = None  # (uuid, name)

    def locate(self, finding: Finding) -> Problem:
        for uuid in (finding.item_uuid, finding.node_uuid, finding.flow_uuid):
            if uuid is not None and uuid in self.locations:
                line, column = self.locations[uuid]
                return finding.as_problem(self.source, line, column)
        return finding.as_problem(self.source)


def read_flow(text: str, source: str = "<text>") -> LoadedFlow:
    """Load and validate a flow file's text, collecting every problem (the building block of the public API)."""
    root, problems = read_yaml(text, source)
    if root is None:
        return LoadedFlow(source, None, problems)
    builder = _FlowBuilder(Reader(source))
    flow = builder.build(root)
    loaded = LoadedFlow(source, None, builder.reader.problems, builder.locations, builder.identity)
    if flow is not None:
        loaded.problems.extend(loaded.locate(finding) for finding in validate_flow(flow))
        if not has_errors(loaded.problems):
            loaded.flow = flow
    return loaded


def check_flow_text(text: str, source: str = "<text>") -> tuple[Flow | None, list[Problem]]:
    """The flow (None when there are errors) and every problem, warnings included."""
    loaded = read_flow(text, source)
    return loaded.flow, loaded.problems


def load_flow_text(text: str, source: str = "<text>") -> Flow:
    """The flow in ``text``; raises FlowFileError with every located problem when it has errors."""
    loaded = read_flow(text, source)
    if loaded.flow is None:
        raise FlowFileError(loaded.problems)
    return loaded.flow


def read_flow_file(path: Path) -> LoadedFlow:
    text, problems = read_source_file(path)
    if text is None:
        return LoadedFlow(str(path), None, problems)
    return read_flow(text, str(path))


def load_flow(path: Path) -> Flow:
    loaded = read_flow_file(path)
    if loaded.flow is None:
        raise FlowFileError(loaded.problems)
    return loaded.flow


@dataclass
class _Category:
    """A category while a node's routes are read: routes that name the same category share it."""

    uuid: str
    name: str
    names: dict[str, str]  # translations of the name
    exit_uuid: str
    go: str | None
    go_node: YNode


class _FlowBuilder:
    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.locations: dict[str, tuple[int, int]] = {}
        self.identity: tuple[str, str] | None = None
        self.language = DEFAULT_LANGUAGE
        self.localization: Localization = {}
        self.node_keys: dict[str, str] = {}  # key in the file → node uuid
        self.flow_name = ""

    def here(self, uuid: str, node: YNode) -> None:
        self.locations.setdefault(uuid, (node.line, node.column))

    def build(self, root: YNode) -> Flow | None:
        r = self.reader
        if root.kind != _MAP:
            r.error(root, "a flow file is a set of `key: value` lines, starting with `flow: <name>`")
            return None
        keys = r.mapping(root, "the flow", _FLOW_KEYS, required=("flow", "nodes"))
        name = r.name(keys["flow"][1], "the flow's name") if "flow" in keys else None
        if name is None:
            return None
        self.flow_name = name
        uuid = self.optional_uuid(keys, "uuid") or flow_uuid_for(name)
        self.identity = (uuid, name)
        self.here(uuid, keys["flow"][0])
        if "language" in keys:
            self.language = r.name(keys["language"][1], "language") or DEFAULT_LANGUAGE
        flow_type = r.choice(keys["type"][1], "type", _FLOW_TYPES) if "type" in keys else "messaging"
        expire = DEFAULT_EXPIRE_MINUTES
        if "expire_after" in keys:
            seconds = r.duration(keys["expire_after"][1], "expire_after")
            if seconds is not None and seconds % 60:
                r.error(keys["expire_after"][1], "expire_after is counted in whole minutes")
            expire = (seconds or 0) // 60 if seconds is not None else expire
        accent = (
            r.boolean(keys["accent_insensitive"][1], "accent_insensitive")
            if "accent_insensitive" in keys
            else True
        )
        spec = r.name(keys["spec_version"][1], "spec_version") if "spec_version" in keys else SPEC_VERSION
        if "translations" in keys:
            self.read_translations(keys["translations"][1])
        nodes = self.read_nodes(keys["nodes"][1]) if "nodes" in keys else None
        if nodes is None or flow_type is None or accent is None or spec is None:
            return None
        return Flow(
            uuid=uuid,
            name=name,
            language=self.language,
            nodes=nodes,
            type=cast(FlowType, flow_type),
            expire_after_minutes=expire,
            localization=self.localization,
            accent_insensitive=accent,
            spec_version=spec,
        )

    def optional_uuid(self, keys: Pairs, key: str) -> str | None:
        if key not in keys:
            return None
        return self.reader.name(keys[key][1], key)

    def translate(self, language: str, uuid: str, prop: str, values: tuple[str, ...], at: YNode) -> None:
        item = self.localization.setdefault(language, {}).setdefault(uuid, {})
        if prop in item and item[prop] != values:
            self.reader.error(at, f"the {language} {prop} of this item is given twice, differently")
        item[prop] = values

    def read_translations(self, node: YNode) -> None:
        r = self.reader
        if node.is_null or not r.expect(node, _MAP, "translations"):
            return
        for lang, items in node.value:
            language = self.localization.setdefault(lang.value, {})
            if items.is_null or not r.expect(items, _MAP, f"the {lang.value} translations"):
                continue
            for uuid, props in items.value:
                item = language.setdefault(uuid.value, {})
                if props.is_null or not r.expect(props, _MAP, f"the translations of {uuid.value}"):
                    continue
                for prop, values in props.value:
                    texts = r.texts(values, f"the {lang.value} {prop.value}")
                    if texts is not None:
                        item[prop.value] = tuple(texts)

    # nodes

    def read_nodes(self, node: YNode) -> tuple[Node, ...] | None:
        r = self.reader
        if node.is_null or not r.expect(node, _MAP, "nodes"):
            if node.is_null:
                r.error(node, "the flow has no nodes: a flow needs at least one step")
            return None
        assert self.identity is not None
        flow_uuid = self.identity[0]
        entries = []
        for key, value in node.value:
            body = r.mapping(value, f"node '{key.value}'", _NODE_KEYS)
            explicit = self.optional_uuid(body, "uuid")
            if explicit is not None:
                name: str | None = key.value
                uuid = explicit
            elif is_uuid(key.value):
                name, uuid = None, key.value
            else:
                name, uuid = key.value, _node_uuid(flow_uuid, key.value)
            if key.value == END:
                r.error(key, "a node cannot be called 'end': `go: end` finishes the flow")
            self.node_keys[key.value] = uuid
            self.here(uuid, key)
            entries.append((key, value, body, name, uuid))
        built = []
        for key, value, body, name, uuid in entries:
            result = self.read_node(key.value, value, body, name, uuid)
            if result is not None:
                built.append(result)
        if len(built) != len(entries):
            return None
        return tuple(built)

    def destination(self, node: YNode, owner: str) -> tuple[str | None, bool]:
        """The node uuid a ``go`` names (None: the end), and whether it was understood."""
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

    def read_node(self, key: str, at: YNode, body: Pairs, name: str | None, uuid: str) -> Node | None:
        r = self.reader
        owner = f"node '{key}'"
        ok = True
        actions = self.read_node_actions(owner, at, body, uuid)
        if actions is None:
            ok = False
        routed = "routes" in body or "random" in body
        waits = "wait" in body or "save_as" in body or "operand" in body
        if "routes" in body and "random" in body:
            r.error(body["random"][0], f"{owner} has both `routes` and `random`; keep one")
            return None
        if routed and "go" in body:
            r.error(body["go"][0], f"{owner} has routes, so each route says where to go; remove this `go`")
            ok = False
        if "exit_uuid" in body and (routed or waits):
            r.error(body["exit_uuid"][0], f"{owner}: exit_uuid belongs on a node without routes")
            ok = False
        exit_order = r.texts(body["exit_order"][1], "exit_order") if "exit_order" in body else None
        router: Router | None = None
        exits: tuple[Exit, ...]
        if routed or waits:
            routed_node = self.read_router(owner, uuid, body)
            if routed_node is None:
                return None
            router, exits = routed_node
        else:
            target, understood = (None, True)
            if "go" in body:
                target, understood = self.destination(body["go"][1], owner)
            exit_uuid = self.optional_uuid(body, "exit_uuid") or _exit_uuid(uuid)
            ok = ok and understood
            exits = (Exit(exit_uuid, target),)
            self.here(exit_uuid, body["go"][1] if "go" in body else at)
        if exit_order is not None:
            by_uuid = {e.uuid: e for e in exits}
            if sorted(exit_order) != sorted(by_uuid):
                r.error(
                    body["exit_order"][1], f"{owner}: exit_order must list each exit uuid of the node once"
                )
                ok = False
            else:
                exits = tuple(by_uuid[u] for u in exit_order)
        if not ok or actions is None:
            return None
        return Node(uuid=uuid, actions=actions, router=router, exits=exits, name=name)

    # actions

    def read_node_actions(
        self, owner: str, at: YNode, body: Pairs, node_uuid: str
    ) -> tuple[Action, ...] | None:
        """``send`` and ``do`` at node level, in the order they are written."""
        order = sorted(
            (k for k in ("send", "do") if k in body), key=lambda k: (body[k][0].line, body[k][0].column)
        )
        actions: list[Action] = []
        ok = True
        if "quick_replies" in body and "send" not in body:
            self.reader.error(body["quick_replies"][0], f"{owner} has quick_replies but no `send`")
            ok = False
        for key in order:
            if key == "send":
                modifiers = {"quick_replies": body["quick_replies"]} if "quick_replies" in body else {}
                action = self.read_send(body["send"], modifiers, _action_uuid(node_uuid, len(actions)))
                if action is None:
                    ok = False
                else:
                    actions.append(action)
            else:
                items = body["do"][1]
                if items.is_null:
                    continue
                if not self.reader.expect(items, _LIST, f"`do` of {owner}"):
                    ok = False
                    continue
                for item in items.value:
                    read = self.read_action(item, node_uuid, len(actions))
                    if read is None:
                        ok = False
                    else:
                        actions.extend(read)
        return tuple(actions) if ok else None

    def read_action(self, item: YNode, node_uuid: str, index: int) -> list[Action] | None:
        r = self.reader
        if item.kind != _MAP:
            shown = item.value if item.kind == _SCALAR else "a list"
            r.error(
                item,
                f'an action is written `- verb: value`, such as `- send: "Hola"`; this is {shown!s:.40}',
            )
            return None
        verbs = [key for key, _ in item.value if key.value in _ACTION_MODIFIERS]
        if len(verbs) != 1:
            if verbs:
                r.error(verbs[1], f"one action per item: put `{verbs[1].value}` in its own `- ` line")
            else:
                unknown = item.value[0][0] if item.value else item
                r.error(
                    unknown,
                    f"'{unknown.value}' is not an action{suggestion(str(unknown.value), _ACTION_MODIFIERS)};"
                    f" actions are: {', '.join(_ACTION_MODIFIERS)}",
                )
            return None
        verb = verbs[0].value
        keys = r.mapping(item, f"the {verb} action", (verb, "uuid", *_ACTION_MODIFIERS[verb]))
        explicit = self.optional_uuid(keys, "uuid")
        verb_node = keys[verb][1]
        if verb == "set_field":
            return self.read_set_field(keys, explicit, node_uuid, index)
        uuid = explicit or _action_uuid(node_uuid, index)
        self.here(uuid, item)
        action = self.read_simple_action(verb, verb_node, keys, uuid)
        return [action] if action is not None else None

    def read_simple_action(self, verb: str, value: YNode, keys: Pairs, uuid: str) -> Action | None:
        r = self.reader
        if verb == "send":
            return self.read_send(keys["send"], keys, uuid)
        if verb in ("set_name", "set_language", "set_timezone", "raise_alert"):
            text = r.text(value, verb)
            if text is None:
                return None
            if verb == "set_name":
                return SetContactName(uuid, text)
            if verb == "set_language":
                return SetContactLanguage(uuid, text)
            if verb == "set_timezone":
                return SetContactTimezone(uuid, text)
            return RaiseAlert(uuid, text)
        if verb == "set_status":
            status = r.choice(value, "set_status", _STATUSES)
            return SetContactStatus(uuid, cast(ContactStatus, status)) if status is not None else None
        if verb == "set_result":
            return self.read_set_result(value, keys, uuid)
        if verb == "add_groups":
            groups = self.read_groups(value, "add_groups")
            return AddContactGroups(uuid, groups) if groups is not None else None
        if verb == "remove_groups":
            return self.read_remove_groups(value, keys, uuid)
        if verb == "enter_flow":
            return self.read_enter_flow(value, keys, uuid)
        if verb == "webhook":
            return self.read_webhook(value, uuid)
        if verb == "add_labels":
            labels = r.texts(value, "add_labels")
            return AddInputLabels(uuid, tuple(labels)) if labels is not None else None
        action_type = r.name(value, "unsupported")
        raw = r.raw(keys["raw"][1]) if "raw" in keys else {}
        if not isinstance(raw, dict):
            r.error(keys["raw"][1], "raw should be a set of `key: value` lines")
            return None
        return UnsupportedAction(uuid, action_type, raw) if action_type is not None else None

    def localized(
        self, node: YNode, what: str, convert: Callable[[YNode, str], T | None]
    ) -> tuple[T, dict[str, T]] | None:
        """A value given once (in the flow's language) or per language as ``{spa: ..., eng: ...}``."""
        if node.kind != _MAP:
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

    def read_send(
        self, send: tuple[YNode, YNode], keys: Mapping[str, tuple[YNode, YNode]], uuid: str
    ) -> Action | None:
        self.here(uuid, send[0])
        text = self.localized(send[1], "message", self.reader.text)
        replies: tuple[list[str], dict[str, list[str]]] | None = ([], {})
        if "quick_replies" in keys:
            replies = self.localized(keys["quick_replies"][1], "quick_replies", self.reader.texts)
        if text is None or replies is None:
            return None
        for lang, value in text[1].items():
            self.translate(lang, uuid, "text", (value,), send[1])
        for lang, values in replies[1].items():
            self.translate(lang, uuid, "quick_replies", tuple(values), keys["quick_replies"][1])
        return SendMsg(uuid, text[0], tuple(replies[0]))

    def read_set_field(
        self, keys: Pairs, explicit: str | None, node_uuid: str, index: int
    ) -> list[Action] | None:
        r = self.reader
        value = keys["set_field"][1]
        if not r.expect(value, _MAP, "set_field") or not value.value:
            if value.kind == _MAP:
                r.error(
                    value,
                    'set_field needs a field and its value: `set_field: {fecha_parto: "@results.fecha"}`',
                )
            return None
        if len(value.value) > 1 and (explicit is not None or "field_name" in keys):
            r.error(value, "with uuid or field_name, set_field sets one field; give each its own action")
            return None
        field_name = r.name(keys["field_name"][1], "field_name") if "field_name" in keys else None
        actions: list[Action] = []
        for offset, (key, template) in enumerate(value.value):
            text = r.text(template, f"the value of field '{key.value}'")
            if text is None:
                return None
            uuid = explicit or _action_uuid(node_uuid, index + offset)
            self.here(uuid, key)
            actions.append(SetContactField(uuid, key.value, field_name or key.value, text))
        return actions

    def read_set_result(self, value: YNode, keys: Pairs, uuid: str) -> Action | None:
        r = self.reader
        name = r.text(value, "set_result")
        result_value = r.text(keys["value"][1], "value") if "value" in keys else ""
        category: tuple[str, dict[str, str]] | None = ("", {})
        if "category" in keys:
            category = self.localized(keys["category"][1], "category", r.text)
        if name is None or result_value is None or category is None:
            return None
        for lang, text in category[1].items():
            self.translate(lang, uuid, "category", (text,), keys["category"][1])
        return SetRunResult(uuid, name, result_value, category[0])

    def read_groups(self, node: YNode, what: str) -> tuple[GroupRef, ...] | None:
        items = [node] if node.kind == _SCALAR and not node.is_null else [] if node.is_null else None
        if items is None:
            if not self.reader.expect(node, _LIST, what):
                return None
            items = node.value
        groups = []
        for item in items:
            ref = self.read_ref(item, what, group_uuid_for)
            if ref is None:
                return None
            groups.append(GroupRef(*ref))
        return tuple(groups)

    def read_ref(self, node: YNode, what: str, derive: Callable[[str], str]) -> tuple[str, str] | None:
        """A group or flow named by its name, or ``{name: ..., uuid: ...}`` when its uuid is not derived."""
        r = self.reader
        if node.kind == _MAP:
            keys = r.mapping(node, f"a group in {what}", ("name", "uuid"), required=("name", "uuid"))
            if "name" not in keys or "uuid" not in keys:
                return None
            name, uuid = r.text(keys["name"][1], "name"), r.name(keys["uuid"][1], "uuid")
            return (uuid, name) if name is not None and uuid is not None else None
        name = r.name(node, f"a group in {what}")
        return (derive(name), name) if name is not None else None

    def read_remove_groups(self, value: YNode, keys: Pairs, uuid: str) -> Action | None:
        r = self.reader
        all_groups = r.boolean(keys["all_groups"][1], "all_groups") if "all_groups" in keys else False
        if value.kind == _SCALAR and value.plain and value.value == "all":
            groups: tuple[GroupRef, ...] | None = ()
            all_groups = True if "all_groups" not in keys else all_groups
        else:
            groups = self.read_groups(value, "remove_groups")
        if groups is None or all_groups is None:
            return None
        return RemoveContactGroups(uuid, groups, all_groups)

    def read_enter_flow(self, value: YNode, keys: Pairs, uuid: str) -> Action | None:
        r = self.reader
        name = r.text(value, "enter_flow")
        terminal = r.boolean(keys["terminal"][1], "terminal") if "terminal" in keys else False
        flow_uuid = self.optional_uuid(keys, "flow_uuid")
        if name is None or terminal is None:
            return None
        return EnterFlow(uuid, FlowRef(flow_uuid or flow_uuid_for(name), name), terminal)

    def read_webhook(self, value: YNode, uuid: str) -> Action | None:
        r = self.reader
        keys = r.mapping(value, "webhook", _WEBHOOK_KEYS, required=("url",))
        method = r.name(keys["method"][1], "method") if "method" in keys else "GET"
        url = r.text(keys["url"][1], "url") if "url" in keys else None
        body = r.text(keys["body"][1], "body") if "body" in keys else ""
        result = r.text(keys["result"][1], "result") if "result" in keys else ""
        headers: dict[str, str] | None = {}
        if "headers" in keys and not keys["headers"][1].is_null:
            node = keys["headers"][1]
            if r.expect(node, _MAP, "headers"):
                for name, header in node.value:
                    text = r.text(header, f"the header {name.value}")
                    if text is None or headers is None:
                        headers = None
                    else:
                        headers[name.value] = text
            else:
                headers = None
        if method is None or url is None or body is None or result is None or headers is None:
            return None
        return CallWebhook(uuid, method, url, headers, body, result)

    # routers

    def read_router(self, owner: str, node_uuid: str, body: Pairs) -> tuple[Router, tuple[Exit, ...]] | None:
        r = self.reader
        operand = r.text(body["operand"][1], "operand") if "operand" in body else DEFAULT_OPERAND
        result_name = r.text(body["save_as"][1], "save_as") if "save_as" in body else None
        waits = False
        if "wait" in body:
            wait = r.choice(body["wait"][1], "wait", ("reply",))
            if wait is None:
                return None
            waits = True
        if operand is None or ("save_as" in body and result_name is None):
            return None
        categories: dict[str, _Category] = {}
        cases: list[Case] = []
        default: str | None = None
        timeout: Timeout | None = None
        kind: Literal["switch", "random"] = "switch"
        ok = True
        if "routes" in body or "random" in body:
            key = "routes" if "routes" in body else "random"
            kind = "switch" if key == "routes" else "random"
            routes = body[key][1]
            if routes.is_null or not r.expect(routes, _LIST, f"`{key}` of {owner}"):
                if routes.is_null:
                    r.error(routes, f"{owner} has no {key}")
                return None
            for route in routes.value:
                read = self.read_route(owner, node_uuid, route, kind, categories, len(cases))
                if read is None:
                    ok = False
                    continue
                role, category_uuid, extra = read
                if role == "case":
                    assert isinstance(extra, Case)
                    cases.append(extra)
                elif role == "other":
                    if default is not None:
                        r.error(route, f"{owner} has two `other` routes")
                        ok = False
                    default = category_uuid
                elif role == "timeout":
                    if timeout is not None:
                        r.error(route, f"{owner} has two `timeout` routes")
                        ok = False
                    assert isinstance(extra, int)
                    timeout = Timeout(extra, category_uuid)
                    waits = True
        else:
            # `wait`/`save_as` with `go`: any answer is taken, as RapidPro's "All Responses".
            category_uuid = _category_uuid(node_uuid, ALL_RESPONSES)
            target, understood = (None, True)
            go_node = next(body[k][1] for k in ("go", "wait", "save_as", "operand") if k in body)
            if "go" in body:
                target, understood = self.destination(body["go"][1], owner)
            ok = understood
            categories[ALL_RESPONSES] = _Category(
                category_uuid, ALL_RESPONSES, {}, _exit_uuid(category_uuid), target, go_node
            )
            self.here(category_uuid, go_node)
            default = category_uuid
        if not ok:
            return None
        exits: dict[str, Exit] = {}
        for category in categories.values():
            known = exits.get(category.exit_uuid)
            if known is not None and known.destination_uuid != category.go:
                r.error(category.go_node, f"{owner}: categories sharing an exit must go to the same node")
                return None
            exits[category.exit_uuid] = Exit(category.exit_uuid, category.go)
            self.here(category.exit_uuid, category.go_node)
        router = Router(
            kind=kind,
            categories=tuple(Category(c.uuid, c.name, c.exit_uuid) for c in categories.values()),
            operand=operand,
            cases=tuple(cases),
            default_category_uuid=default,
            result_name=result_name,
            wait=Wait(timeout) if waits else None,
        )
        return router, tuple(exits.values())

    def read_route(
        self,
        owner: str,
        node_uuid: str,
        route: YNode,
        kind: str,
        categories: dict[str, _Category],
        case_index: int,
    ) -> tuple[str, str, Case | int | None] | None:
        """One route: its role (case, other, timeout or a bare category), its category's uuid, and the case
        or the timeout's seconds."""
        r = self.reader
        allowed = _RANDOM_ROUTE_KEYS if kind == "random" else _ROUTE_KEYS
        if route.kind != _MAP:
            r.error(route, f"each route of {owner} is a set of `key: value` lines, such as `- other: {END}`")
            return None
        keys = r.mapping(route, f"a route of {owner}", allowed)
        conditions = [k for k in keys if k not in _ROUTE_MODIFIERS]
        if len(conditions) > 1:
            r.error(keys[conditions[1]][0], f"a route has one test; this one also has `{conditions[0]}`")
            return None
        condition = conditions[0] if conditions else None
        if condition is None and "category" not in keys:
            what = (
                "`category:` and `go:`"
                if kind == "random"
                else "a test (such as says or has_text), `other` or `timeout`"
            )
            if len(keys) == len(route.value):
                r.error(route, f"a route of {owner} needs {what}")
            return None
        if condition == "other":
            if "go" in keys:
                r.error(keys["go"][0], "write where `other` goes as `other: <node>`; remove this `go`")
                return None
            go_node = keys["other"][1]
        elif "go" in keys:
            go_node = keys["go"][1]
        else:
            r.error(route, f"this route of {owner} needs `go:` (a node, or {END})")
            return None
        target, understood = self.destination(go_node, owner)
        if not understood:
            return None
        seconds: int | None = None
        arguments: tuple[tuple[str, ...], dict[str, tuple[str, ...]]] | None = None
        test = ""
        if condition == "timeout":
            seconds = r.duration(keys["timeout"][1], "the timeout")
            if seconds is None:
                return None
        elif condition is not None and condition != "other":
            test = "has_any_word" if condition == "says" else condition
            arguments = self.read_arguments(keys[condition][1], condition)
            if arguments is None:
                return None
        default_name = {None: "", "other": OTHER, "timeout": NO_RESPONSE}.get(condition)
        if default_name is None:
            assert arguments is not None
            default_name = default_category_name(test, arguments[0])
        category = self.route_category(owner, node_uuid, keys, default_name, target, go_node, categories)
        if category is None:
            return None
        if condition is None:
            return "category", category.uuid, None
        if condition == "other":
            return "other", category.uuid, None
        if condition == "timeout":
            return "timeout", category.uuid, seconds
        assert arguments is not None
        case_uuid = self.optional_uuid(keys, "case_uuid") or _case_uuid(node_uuid, case_index)
        self.here(case_uuid, route)
        for lang, values in arguments[1].items():
            self.translate(lang, case_uuid, "arguments", values, keys[condition][1])
        return "case", category.uuid, Case(case_uuid, test, arguments[0], category.uuid)

    def read_arguments(
        self, node: YNode, condition: str
    ) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]] | None:
        r = self.reader
        says = condition == "says"
        zero_allowed = not says and arity(condition)[0] == 0

        def convert(item: YNode, what: str) -> tuple[str, ...] | None:
            if item.plain and (item.value == "" or (zero_allowed and item.value in _TRUE)):
                return ()
            values = r.texts(item, what)
            if values is None:
                return None
            if not says:
                return tuple(values)
            words = [word for value in values for word in value.split()]
            if item.kind == _LIST and len(words) != len(values):
                r.error(item, "each item of `says` is one word; for several words in a row use has_phrase")
                return None
            if not words:
                r.error(item, "`says` needs at least one word")
                return None
            return (" ".join(words),)

        return self.localized(node, f"the {condition} values", convert)

    def route_category(
        self,
        owner: str,
        node_uuid: str,
        keys: Pairs,
        default_name: str,
        target: str | None,
        go_node: YNode,
        categories: dict[str, _Category],
    ) -> _Category | None:
        r = self.reader
        names: tuple[str, dict[str, str]] | None = (default_name, {})
        if "category" in keys:
            names = self.localized(keys["category"][1], "category", r.text)
        explicit = self.optional_uuid(keys, "category_uuid")
        if names is None:
            return None
        name, translations = names
        identity = explicit or name
        uuid = explicit or _category_uuid(node_uuid, name)
        exit_uuid = self.optional_uuid(keys, "exit_uuid") or _exit_uuid(uuid)
        known = categories.get(identity)
        if known is None:
            known = _Category(uuid, name, translations, exit_uuid, target, go_node)
            categories[identity] = known
            at = keys["category"][1] if "category" in keys else go_node
            self.here(uuid, at)
            for lang, text in translations.items():
                self.translate(lang, uuid, "name", (text,), at)
            return known
        if known.go != target:
            r.error(
                go_node,
                f"{owner}: two routes are filed under the category '{name}' but go to different nodes;"
                " give one a different `category:`",
            )
            return None
        if known.name != name or known.names != translations or known.exit_uuid != exit_uuid:
            r.error(
                go_node,
                f"{owner}: the routes of the category '{name}' must give it the same name and translations",
            )
            return None
        return known


# --- dumping ----------------------------------------------------------------------------------------------


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


def dump_flow(flow: Flow) -> str:
    """``flow`` as native YAML; ``load_flow_text(dump_flow(flow)) == flow`` for every flow that validates."""
    return space_out(to_yaml(_FlowDumper(flow).dump()), "nodes")


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


class _FlowDumper:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.consumed: set[tuple[str, str, str]] = set()
        self.keys = {node.uuid: node.name if node.name is not None else node.uuid for node in flow.nodes}

    def dump(self) -> dict[str, Any]:
        flow = self.flow
        out: dict[str, Any] = {"flow": flow.name}
        if flow.uuid != flow_uuid_for(flow.name):
            out["uuid"] = flow.uuid
        out["language"] = flow.language
        if flow.type != "messaging":
            out["type"] = flow.type
        if flow.expire_after_minutes != DEFAULT_EXPIRE_MINUTES:
            out["expire_after"] = format_duration(flow.expire_after_minutes * 60)
        if not flow.accent_insensitive:
            out["accent_insensitive"] = False
        if flow.spec_version != SPEC_VERSION:
            out["spec_version"] = flow.spec_version
        out["nodes"] = {self.keys[node.uuid]: self.node(node) for node in flow.nodes}
        translations = self.leftover_translations()
        if translations:
            out["translations"] = translations
        return out

    # translations

    def inline(self, uuid: str, prop: str, single: bool) -> dict[str, tuple[str, ...]]:
        """The translations of ``uuid``'s ``prop`` that can be written beside it (marking them as written)."""
        found = {}
        for language, items in self.flow.localization.items():
            values = items.get(uuid, {}).get(prop)
            if language == self.flow.language or values is None or (single and len(values) != 1):
                continue
            found[language] = values
        return found

    def consume(self, uuid: str, prop: str, languages: Collection[str]) -> None:
        self.consumed.update((language, uuid, prop) for language in languages)

    def localized_text(self, uuid: str, prop: str, base: str) -> Any:
        others = self.inline(uuid, prop, single=True)
        self.consume(uuid, prop, others)
        if not others:
            return base
        return {self.flow.language: base, **{lang: values[0] for lang, values in others.items()}}

    def localized_list(self, uuid: str, prop: str, base: Sequence[str]) -> Any:
        others = self.inline(uuid, prop, single=False)
        self.consume(uuid, prop, others)
        if not others:
            return short_list(base)
        return {
            self.flow.language: short_list(base),
            **{lang: short_list(values) for lang, values in others.items()},
        }

    def leftover_translations(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for language, items in self.flow.localization.items():
            kept: dict[str, Any] = {}
            for uuid, props in items.items():
                left = {p: list(v) for p, v in props.items() if (language, uuid, p) not in self.consumed}
                if left or not props:
                    kept[uuid] = left
            if kept or not items:
                out[language] = kept
        return out

    # nodes

    def node(self, node: Node) -> dict[str, Any]:
        out: dict[str, Any] = {}
        derived = _node_uuid(self.flow.uuid, node.name) if node.name is not None else None
        if node.name is not None and (node.uuid != derived or is_uuid(node.name)):
            out["uuid"] = node.uuid
        self.actions(node, out)
        if node.router is None:
            if node.exits:
                exit_ = node.exits[0]
                if exit_.uuid != _exit_uuid(node.uuid):
                    out["exit_uuid"] = exit_.uuid
                out["go"] = self.go(exit_.destination_uuid)
            return out
        self.router(node, node.router, out)
        return out

    def go(self, destination: str | None) -> str:
        return END if destination is None else self.keys.get(destination, destination)

    def actions(self, node: Node, out: dict[str, Any]) -> None:
        actions = list(node.actions)
        first = actions[0] if actions else None
        last = actions[-1] if actions else None
        if isinstance(first, SendMsg) and first.uuid == _action_uuid(node.uuid, 0):
            self.node_send(first, out)
            if actions[1:]:
                out["do"] = [self.action(node, a, i) for i, a in enumerate(actions[1:], 1)]
        elif isinstance(last, SendMsg) and last.uuid == _action_uuid(node.uuid, len(actions) - 1):
            out["do"] = [self.action(node, a, i) for i, a in enumerate(actions[:-1])]
            self.node_send(last, out)
        elif actions:
            out["do"] = [self.action(node, a, i) for i, a in enumerate(actions)]

    def node_send(self, action: SendMsg, out: dict[str, Any]) -> None:
        out["send"] = self.localized_text(action.uuid, "text", action.text)
        replies = self.localized_list(action.uuid, "quick_replies", action.quick_replies)
        if action.quick_replies or isinstance(replies, dict):
            out["quick_replies"] = replies

    def action(self, node: Node, action: Action, index: int) -> dict[str, Any]:
        out: dict[str, Any] = self.action_body(action)
        if action.uuid != _action_uuid(node.uuid, index):
            out["uuid"] = action.uuid
        return out

    def action_body(self, action: Action) -> dict[str, Any]:
        match action:
            case SendMsg():
                out: dict[str, Any] = {}
                self.node_send(action, out)
                return out
            case SetContactField(field_key=key, field_name=name, value=value):
                out = {"set_field": InlineMap({key: value}) if "\n" not in value else {key: value}}
                if name != key:
                    out["field_name"] = name
                return out
            case SetContactName(name=name):
                return {"set_name": name}
            case SetContactLanguage(language=language):
                return {"set_language": language}
            case SetContactStatus(status=status):
                return {"set_status": status}
            case SetContactTimezone(timezone=timezone):
                return {"set_timezone": timezone}
            case SetRunResult(name=name, value=value, category=category):
                out = {"set_result": name, "value": value}
                localized = self.localized_text(action.uuid, "category", category)
                if category or isinstance(localized, dict):
                    out["category"] = localized
                return out
            case AddContactGroups(groups=groups):
                return {"add_groups": self.groups(groups)}
            case RemoveContactGroups(groups=groups, all_groups=all_groups):
                if all_groups and not groups:
                    return {"remove_groups": "all"}
                out = {"remove_groups": self.groups(groups)}
                if all_groups:
                    out["all_groups"] = True
                return out
            case EnterFlow(flow=ref, terminal=terminal):
                out = {"enter_flow": ref.name}
                if ref.uuid != flow_uuid_for(ref.name):
                    out["flow_uuid"] = ref.uuid
                if terminal:
                    out["terminal"] = True
                return out
            case RaiseAlert(reason=reason):
                return {"raise_alert": reason}
            case CallWebhook():
                hook: dict[str, Any] = {}
                if action.method != "GET":
                    hook["method"] = action.method
                hook["url"] = action.url
                if action.headers:
                    hook["headers"] = dict(action.headers)
                if action.body:
                    hook["body"] = action.body
                if action.result_name:
                    hook["result"] = action.result_name
                return {"webhook": hook}
            case AddInputLabels(labels=labels):
                return {"add_labels": short_list(labels)}
            case UnsupportedAction(action_type=action_type, raw=raw):
                out = {"unsupported": action_type}
                if raw:
                    out["raw"] = dict(raw)
                return out
        raise TypeError(f"not an action: {action!r}")  # pragma: no cover - the union above is exhaustive

    def groups(self, groups: Sequence[GroupRef]) -> Any:
        if all(g.uuid == group_uuid_for(g.name) and g.name.strip() for g in groups):
            return short_list([g.name for g in groups])
        return [
            g.name
            if g.uuid == group_uuid_for(g.name) and g.name.strip()
            else {"name": g.name, "uuid": g.uuid}
            for g in groups
        ]

    # routers

    def router(self, node: Node, router: Router, out: dict[str, Any]) -> None:
        if router.wait is not None:
            out["wait"] = "reply"
        if router.operand != DEFAULT_OPERAND:
            out["operand"] = router.operand
        if router.result_name is not None:
            out["save_as"] = router.result_name
        if self.all_responses(node, router):
            out["go"] = self.go(node.exits[0].destination_uuid)
            return
        exits = {e.uuid: e for e in node.exits}
        by_uuid = {c.uuid: c for c in router.categories}
        names = [c.name for c in router.categories]
        explicit = {
            c.uuid
            for c in router.categories
            if c.uuid != _category_uuid(node.uuid, c.name) or names.count(c.name) > 1
        }

        def route(category_uuid: str, default_name: str | None, body: dict[str, Any]) -> dict[str, Any]:
            """Finish a route with its category (named when the name is not the default) and destination.
            ``default_name`` None: a route without a test, which always names its category."""
            category = by_uuid.get(category_uuid)
            if category is None:  # an invalid flow: write what can be written
                body.setdefault("go", END)
                return body
            name = self.localized_text(category.uuid, "name", category.name)
            if name != default_name or category.uuid in explicit:
                body["category"] = name
            if category.uuid in explicit:
                body["category_uuid"] = category.uuid
            if category.exit_uuid != _exit_uuid(category.uuid):
                body["exit_uuid"] = category.exit_uuid
            exit_ = exits.get(category.exit_uuid)
            destination = self.go(exit_.destination_uuid if exit_ is not None else None)
            if "other" in body:
                body["other"] = destination
            else:
                body["go"] = destination
            return body

        routes: list[tuple[str, dict[str, Any]]] = []
        for index, case in enumerate(router.cases):
            body, default_name = self.case(case)
            if case.uuid != _case_uuid(node.uuid, index):
                body["case_uuid"] = case.uuid
            routes.append((case.category_uuid, route(case.category_uuid, default_name, body)))
        timeout = router.wait.timeout if router.wait is not None else None
        if timeout is not None:
            body = {"timeout": format_duration(timeout.seconds)}
            routes.append((timeout.category_uuid, route(timeout.category_uuid, NO_RESPONSE, body)))
        if router.default_category_uuid is not None:
            default = router.default_category_uuid
            routes.append((default, route(default, OTHER, {"other": END})))
        chosen = {uuid for uuid, _ in routes}
        routes.extend((c.uuid, route(c.uuid, None, {})) for c in router.categories if c.uuid not in chosen)
        # Categories are read back in the order they first appear; when the model's order differs, every
        # category is declared first, in its order.
        if list(dict.fromkeys(uuid for uuid, _ in routes)) != [c.uuid for c in router.categories]:
            routes = [(c.uuid, route(c.uuid, None, {})) for c in router.categories] + routes
        out["random" if router.kind == "random" else "routes"] = [body for _, body in routes]
        derived_order = list(dict.fromkeys(c.exit_uuid for c in router.categories))
        if derived_order != [e.uuid for e in node.exits]:
            out["exit_order"] = [e.uuid for e in node.exits]

    def case(self, case: Case) -> tuple[dict[str, Any], str]:
        """A case as a route body, and the category name it would get by default."""
        default_name = default_category_name(case.test, case.arguments)
        others = self.inline(case.uuid, "arguments", single=False)
        says = case.test == "has_any_word" and all(
            _says_words(a) is not None for a in (case.arguments, *others.values())
        )
        self.consume(case.uuid, "arguments", others)
        if says:
            base = short_list(cast(list[str], _says_words(case.arguments)))
            if not others:
                return {"says": base}, default_name
            return {
                "says": {
                    self.flow.language: base,
                    **{
                        lang: short_list(cast(list[str], _says_words(values)))
                        for lang, values in others.items()
                    },
                }
            }, default_name
        if others:
            value: Any = {
                self.flow.language: short_list(case.arguments),
                **{k: short_list(v) for k, v in others.items()},
            }
        elif not case.arguments and case.test in KNOWN_TESTS and arity(case.test)[0] == 0:
            value = True
        elif len(case.arguments) == 1:
            value = case.arguments[0]
        else:
            value = short_list(case.arguments)
        return {case.test: value}, default_name

    def all_responses(self, node: Node, router: Router) -> bool:
        """Whether the router is exactly what `wait`/`save_as` with `go` reads as."""
        if router.kind != "switch" or router.cases or len(router.categories) != 1 or len(node.exits) != 1:
            return False
        category = router.categories[0]
        return (
            category.name == ALL_RESPONSES
            and category.uuid == _category_uuid(node.uuid, ALL_RESPONSES)
            and category.exit_uuid == _exit_uuid(category.uuid) == node.exits[0].uuid
            and router.default_category_uuid == category.uuid
            and (router.wait is None or router.wait.timeout is None)
            and (
                router.wait is not None or router.result_name is not None or router.operand != DEFAULT_OPERAND
            )
            and not self.inline(category.uuid, "name", single=True)
        )


def _says_words(arguments: Sequence[str]) -> list[str] | None:
    """The words of a has_any_word case when it can be written as ``says: [...]`` and read back the same."""
    if len(arguments) != 1:
        return None
    words = arguments[0].split()
    return words if words and " ".join(words) == arguments[0] else None


def iter_uuids(flow: Flow) -> Iterator[str]:
    """Every uuid a flow defines (for tools that check identities across flows)."""
    yield flow.uuid
    for node in flow.nodes:
        yield node.uuid
        for action in node.actions:
            yield action.uuid
        if node.router is not None:
            yield from (case.uuid for case in node.router.cases)
            yield from (category.uuid for category in node.router.categories)
        yield from (exit_.uuid for exit_ in node.exits)
