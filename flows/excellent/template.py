"""Templates: text with ``@identifier`` and ``@(expression)`` parts (goflow ``excellent/scanner.go``).

- ``@contact.name`` inserts a value; only the known top-level names count, so ``user@example.com`` stays as it
  is. A period that is not followed by a name character ends the identifier (``Hi @contact.name.``).
- ``@(...)`` evaluates an expression; parentheses nest and quoted text may hold parentheses.
- ``@@`` is a literal ``@``; an ``@`` followed by anything else stays as it is; an unclosed ``@(`` is text.
- An expression that fails renders as nothing and its error is reported as
  ``error evaluating @(...): <why>``, as RapidPro reports it.

Parsed templates are cached by their text, and a template without ``@`` is returned untouched at once. A
plain ``@contact.first_name`` keeps its names as a path, looked up directly while every name is a key of the
object it is looked up in; anything else (a missing name, a name in other case, an index into a list) goes
through the evaluator, which says what went wrong.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from flows.env import Environment
from flows.excellent import evaluator, syntax
from flows.values.convert import XError, to_text

# The top-level names a bare @name may use (everything else is left as text).
KNOWN_TOP_LEVELS = frozenset(
    {
        "contact",
        "fields",
        "results",
        "input",
        "run",
        "node",
        "child",
        "parent",
        "urns",
        "webhook",
        "locals",
        "trigger",
        "globals",
    }
)


@dataclass(frozen=True, slots=True)
class Text:
    value: str


@dataclass(frozen=True, slots=True)
class Expression:
    source: str  # as written, e.g. "@contact.name" or "@(1 + 2)"
    top_level: str | None  # for @identifier: its first name, lower-cased; None for @(...)
    tree: syntax.Node | syntax.ParseError
    path: tuple[str, ...] | None = field(init=False)  # the names of a plain @a.b.c, else None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", _path_of(self.tree))


def _path_of(tree: syntax.Node | syntax.ParseError) -> tuple[str, ...] | None:
    names: list[str] = []
    while isinstance(tree, syntax.Dot):
        names.append(tree.key)
        tree = tree.container
    if not isinstance(tree, syntax.Name):
        return None
    names.append(tree.name)
    return tuple(reversed(names))


Segment = Text | Expression


def is_name_char(char: str) -> bool:
    return char.isalpha() or char.isnumeric() or char == "_"


def scan_expression(source: str, start: int) -> tuple[str, int, bool]:
    """Read an ``@(...)`` body from ``start`` (after the parenthesis): (body, end, closed)."""
    depth = 1
    i = start
    while i < len(source):
        char = source[i]
        if char == '"':
            i = _skip_text_literal(source, i + 1)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return source[start:i], i + 1, True
        i += 1
    return source[start:], len(source), False


def _skip_text_literal(source: str, start: int) -> int:
    """The position after a quoted text's closing quote. As in RapidPro's scanner, a quote right after any
    backslash does not close the text (so ``"a\\"`` is still open)."""
    escaped = False
    i = start
    while i < len(source):
        char = source[i]
        i += 1
        if char == '"' and not escaped:
            break
        escaped = char == "\\"
    return i


def scan_identifier(source: str, start: int) -> tuple[str, int]:
    i = start
    while i < len(source):
        char = source[i]
        if char == "." and i + 1 < len(source) and is_name_char(source[i + 1]):
            i += 2
        elif is_name_char(char):
            i += 1
        else:
            break
    return source[start:i], i


# A programme of hundreds of flows has tens of thousands of distinct templates; each parsed one is small.
@functools.lru_cache(maxsize=1 << 15)
def parse_template(source: str) -> tuple[Segment, ...]:
    segments: list[Segment] = []
    text: list[str] = []

    def flush() -> None:
        if text:
            segments.append(Text("".join(text)))
            text.clear()

    i = 0
    while i < len(source):
        char = source[i]
        following = source[i + 1] if i + 1 < len(source) else ""
        if char != "@":
            j = source.find("@", i)
            j = len(source) if j < 0 else j
            text.append(source[i:j])
            i = j
        elif following == "(":
            body, end, closed = scan_expression(source, i + 2)
            if closed:
                flush()
                segments.append(Expression(source[i:end], None, _parse(body)))
            else:
                text.append(source[i:end])
            i = end
        elif following == "@":
            text.append("@")
            i += 2
        elif following and is_name_char(following):
            identifier, end = scan_identifier(source, i + 1)
            top_level = identifier.split(".", 1)[0].lower()
            if top_level in KNOWN_TOP_LEVELS:
                flush()
                segments.append(Expression(source[i:end], top_level, _parse(identifier)))
            else:
                text.append(source[i:end])
            i = end
        else:
            text.append("@")
            i += 1
    flush()
    return tuple(segments)


def _parse(source: str) -> syntax.Node | syntax.ParseError:
    try:
        return syntax.parse(source)
    except syntax.ParseError as exc:
        return exc


@functools.lru_cache(maxsize=4096)
def parse_expression(source: str) -> syntax.Node | syntax.ParseError:
    return _parse(source)


_NOT_DIRECT = object()


def _direct_lookup(path: tuple[str, ...], context: Mapping[str, object]) -> object:
    """The value at ``path`` when each name is a key of the object before it (what the evaluator would find
    too), else ``_NOT_DIRECT``."""
    value: object = context
    for name in path:
        if not (type(value) is dict or isinstance(value, Mapping)) or name not in value:
            return _NOT_DIRECT
        value = value[name]
    return value


def _evaluate_segment(segment: Expression, context: Mapping[str, object], env: Environment) -> object:
    if segment.path is not None:
        value = _direct_lookup(segment.path, context)
        if value is not _NOT_DIRECT:
            return value
    if isinstance(segment.tree, syntax.ParseError):
        return XError(str(segment.tree))
    return evaluator.evaluate(segment.tree, evaluator.Scope(context), env)


def _error_message(segment: Expression, error: XError) -> str:
    return f"error evaluating {segment.source}: {error.message}"


def evaluate_template(
    template: str,
    context: Mapping[str, object],
    env: Environment,
    *,
    escaping: Callable[[str], str] | None = None,
) -> tuple[str, list[str]]:
    """Render ``template``; returns the text and the errors of the parts that failed (each rendered as nothing).

    ``escaping`` is applied to each inserted value (e.g. URL-quoting the values put into a webhook URL)."""
    if "@" not in template:
        return template, []
    out: list[str] = []
    errors: list[str] = []
    for segment in parse_template(template):
        if type(segment) is Text:
            out.append(segment.value)
            continue
        assert type(segment) is Expression
        value = _evaluate_segment(segment, context, env)
        rendered = value if type(value) is str or isinstance(value, XError) else to_text(value, env)
        if isinstance(rendered, XError):
            errors.append(_error_message(segment, rendered))
            continue
        out.append(escaping(rendered) if escaping else rendered)
    return "".join(out), errors


def evaluate_template_value(
    template: str, context: Mapping[str, object], env: Environment
) -> tuple[object, list[str]]:
    """Like ``evaluate_template``, but a template that is one expression (``@contact.groups``,
    ``@(results.age + 1)``) gives its value with its type: this is how a router reads its operand.
    The value is an ``XError`` when that expression failed."""
    stripped = template.strip()
    segments = parse_template(stripped) if "@" in stripped else ()
    if len(segments) == 1 and isinstance(segments[0], Expression):
        segment = segments[0]
        value = _evaluate_segment(segment, context, env)
        if isinstance(value, XError):
            return value, [_error_message(segment, value)]
        return value, []
    return evaluate_template(stripped, context, env)


def evaluate_expression(expression: str, context: Mapping[str, object], env: Environment) -> object:
    """Evaluate an expression written without ``@`` (``results.age + 1``); an ``XError`` when it fails."""
    tree = parse_expression(expression)
    if isinstance(tree, syntax.ParseError):
        return XError(str(tree))
    return evaluator.evaluate(tree, evaluator.Scope(context), env)
