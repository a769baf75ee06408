"""Evaluate an expression tree against a context. Evaluation never raises: problems are ``XError`` values."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from flows.env import Environment
from flows.excellent import functions
from flows.excellent.syntax import Binary, Call, Dot, Index, Lambda, Literal, Name, Negate, Node
from flows.values import numbers
from flows.values.convert import (
    XError,
    XFunction,
    arity_problem,
    describe,
    get_property,
    to_integer,
    to_number,
    to_text,
)

MAX_TEXT_LENGTH = 100_000  # no expression builds text longer than this (a message is at most 10,000)


class Scope:
    """The names an expression can see: the context, plus the parameters of enclosing anonymous functions."""

    __slots__ = ("parent", "values")

    def __init__(self, values: Mapping[str, object], parent: Scope | None = None) -> None:
        self.values = values
        self.parent = parent

    def lookup(self, name: str) -> tuple[bool, object]:
        scope: Scope | None = self
        while scope is not None:
            found, value = get_property(scope.values, name)
            if found:
                return True, value
            scope = scope.parent
        return False, None


def evaluate(node: Node, scope: Scope, env: Environment) -> object:
    return _EVALUATE[type(node)](node, scope, env)


def _literal(node: Node, scope: Scope, env: Environment) -> object:
    assert isinstance(node, Literal)
    return node.value


def _name(node: Node, scope: Scope, env: Environment) -> object:
    assert isinstance(node, Name)
    found, value = scope.lookup(node.name)
    if found:
        return value
    function = functions.lookup(node.name)
    if function is not None:
        return function
    return XError(f"context has no property '{node.name.lower()}'")


def resolve(container: object, key: object, env: Environment, *, dot: bool) -> object:
    """``container.key`` (``dot``) or ``container[key]``: an array index or an object property."""
    if isinstance(container, list | tuple):
        index = to_integer(key, env)
        if isinstance(index, XError):
            return index
        if not -len(container) <= index < len(container):
            return XError(f"index {index} out of range for {len(container)} items")
        return container[index]
    if isinstance(container, Mapping):
        name = to_text(key, env)
        if isinstance(name, XError):
            return name
        found, value = get_property(container, name)
        if not found and dot:
            return XError(f"object has no property '{name}'")
        return value
    return XError(f"{describe(container)} doesn't support lookups")


def _dot(node: Node, scope: Scope, env: Environment) -> object:
    assert isinstance(node, Dot)
    container = evaluate(node.container, scope, env)
    if isinstance(container, XError):
        return container
    return resolve(container, node.key, env, dot=True)


def _index(node: Node, scope: Scope, env: Environment) -> object:
    assert isinstance(node, Index)
    container = evaluate(node.container, scope, env)
    if isinstance(container, XError):
        return container
    key = evaluate(node.key, scope, env)
    if isinstance(key, XError):
        return key
    return resolve(container, key, env, dot=False)


def _call(node: Node, scope: Scope, env: Environment) -> object:
    assert isinstance(node, Call)
    function = evaluate(node.function, scope, env)
    if isinstance(function, XError):
        return function
    if not isinstance(function, XFunction):
        return XError(f"{_source_name(node.function)} is not a function")
    return function(env, [evaluate(arg, scope, env) for arg in node.args])


def _source_name(node: Node) -> str:
    if isinstance(node, Name):
        return node.name.lower()
    if isinstance(node, Dot):
        return f"{_source_name(node.container)}.{node.key}"
    return "value"


def _lambda(node: Node, scope: Scope, env: Environment) -> object:
    assert isinstance(node, Lambda)
    params = node.params

    def call(call_env: Environment, args: Sequence[object]) -> object:
        problem = arity_problem(len(args), len(params), len(params))
        if problem:
            return XError(problem)
        return evaluate(node.body, Scope(dict(zip(params, args, strict=True)), scope), call_env)

    return XFunction("", call)


def _negate(node: Node, scope: Scope, env: Environment) -> object:
    assert isinstance(node, Negate)
    number = to_number(evaluate(node.operand, scope, env), env)
    return number if isinstance(number, XError) else number.copy_negate()


def _concatenate(left: object, right: object, env: Environment) -> object:
    first = to_text(left, env)
    if isinstance(first, XError):
        return first
    second = to_text(right, env)
    if isinstance(second, XError):
        return second
    if len(first) + len(second) > MAX_TEXT_LENGTH:
        return XError(f"text is longer than {MAX_TEXT_LENGTH} characters")
    return first + second


def _textual(compare: Callable[[str, str], bool]) -> Callable[[object, object, Environment], object]:
    def run(left: object, right: object, env: Environment) -> object:
        first = to_text(left, env)
        if isinstance(first, XError):
            return first
        second = to_text(right, env)
        if isinstance(second, XError):
            return second
        return compare(first, second)

    return run


def _numeric(
    operate: Callable[[Decimal, Decimal], object],
) -> Callable[[object, object, Environment], object]:
    def run(left: object, right: object, env: Environment) -> object:
        first = to_number(left, env)
        if isinstance(first, XError):
            return first
        second = to_number(right, env)
        if isinstance(second, XError):
            return second
        try:
            return operate(first, second)
        except numbers.NumberError as exc:
            return XError(str(exc))

    return run


_OPERATORS: dict[str, Callable[[object, object, Environment], object]] = {
    "&": _concatenate,
    "=": _textual(lambda a, b: a == b),
    "!=": _textual(lambda a, b: a != b),
    "+": _numeric(numbers.add),
    "-": _numeric(numbers.subtract),
    "*": _numeric(numbers.multiply),
    "/": _numeric(numbers.divide),
    "^": _numeric(numbers.power),
    "<": _numeric(lambda a, b: a < b),
    "<=": _numeric(lambda a, b: a <= b),
    ">": _numeric(lambda a, b: a > b),
    ">=": _numeric(lambda a, b: a >= b),
}


def _binary(node: Node, scope: Scope, env: Environment) -> object:
    assert isinstance(node, Binary)
    return _OPERATORS[node.op](evaluate(node.left, scope, env), evaluate(node.right, scope, env), env)


_EVALUATE: dict[type, Callable[[Node, Scope, Environment], object]] = {
    Literal: _literal,
    Name: _name,
    Dot: _dot,
    Index: _index,
    Call: _call,
    Lambda: _lambda,
    Negate: _negate,
    Binary: _binary,
}
