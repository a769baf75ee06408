"""The expression grammar (goflow's Excellent 3): a lexer and a precedence-climbing parser producing a small AST.

From tightest to loosest binding::

    atom        NAME, (expr), atom(args), atom.name, atom.0, atom[expr]
    -x          unary minus
    ^           exponent (left to right)
    * /
    + -
    < <= > >=
    = !=
    &           text concatenation
    (a, b) => expr   an anonymous function, for foreach() and friends

Literals are text in double quotes (with backslash escapes), numbers (``12``, ``1.5``), and ``true``, ``false``
and ``null`` in any case. Literals take no lookups: ``"abc".x`` is a syntax error, as in RapidPro.

Parsing never runs user code and is bounded: nesting deeper than ``MAX_DEPTH`` is a syntax error, so that
evaluation cannot exhaust the stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

MAX_DEPTH = 100


class ParseError(ValueError):
    pass


# --- the tree -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    value: object  # str, Decimal, bool or None


@dataclass(frozen=True, slots=True)
class Name:
    name: str


@dataclass(frozen=True, slots=True)
class Dot:
    container: Node
    key: str


@dataclass(frozen=True, slots=True)
class Index:
    container: Node
    key: Node


@dataclass(frozen=True, slots=True)
class Call:
    function: Node
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Lambda:
    params: tuple[str, ...]
    body: Node


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node


Node = Literal | Name | Dot | Index | Call | Lambda | Negate | Binary


# --- the lexer ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # NAME, TEXT, NUMBER, TRUE, FALSE, NULL, an operator or punctuation, or EOF
    text: str
    pos: int


_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\n\r]+)
    | (?P<NUMBER>[0-9]+(?:\.[0-9]+)?)
    | (?P<TEXT>"(?:[^"\\]|\\[\s\S])*")
    | (?P<op>=>|!=|<=|>=|[-+*/^=<>&,()\[\].])
    | (?P<NAME>(?:[^\W\d]|_)\w*)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"true": "TRUE", "false": "FALSE", "null": "NULL"}


def tokenize(source: str) -> list[Token]:
    tokens = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise ParseError(f"syntax error at {source[pos : pos + 10]}")
        kind = match.lastgroup
        text = match.group()
        if kind == "op":
            tokens.append(Token(text, text, pos))
        elif kind == "NAME":
            tokens.append(Token(_KEYWORDS.get(text.lower(), "NAME"), text, pos))
        elif kind != "space":
            assert kind is not None
            tokens.append(Token(kind, text, pos))
        pos = match.end()
    tokens.append(Token("EOF", "", len(source)))
    return tokens


_SIMPLE_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    '"': '"',
    "\\": "\\",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}
_ESCAPE = re.compile(
    r"\\(?:([ntr\"\\abfv])|x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|([0-7]{3}))"
)


def unquote(literal: str) -> str:
    """The value of a text literal, decoding escapes as Go's ``strconv.Unquote`` does. When the literal is not
    valid Go (a raw newline inside, an unknown escape), its content is taken as written, as RapidPro does."""
    body = literal[1:-1]
    if "\\" not in body or "\n" in body:
        return body
    out = []
    pos = 0
    while pos < len(body):
        backslash = body.find("\\", pos)
        if backslash < 0:
            out.append(body[pos:])
            break
        out.append(body[pos:backslash])
        match = _ESCAPE.match(body, backslash)
        if match is None:
            return body
        simple, hex2, hex4, hex8, octal = match.groups()
        if simple:
            out.append(_SIMPLE_ESCAPES[simple])
        else:
            code = int(octal, 8) if octal else int(hex2 or hex4 or hex8, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF or (octal and code > 0xFF):
                return body
            out.append(chr(code))
        pos = match.end()
    return "".join(out)


# --- the parser -----------------------------------------------------------------------------------------------

_PRECEDENCE = {
    "&": 1,
    "=": 2,
    "!=": 2,
    "<": 3,
    "<=": 3,
    ">": 3,
    ">=": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "^": 6,
}


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "EOF":
            self.index += 1
        return token

    def expect(self, kind: str) -> Token:
        if self.current.kind != kind:
            raise self.error()
        return self.advance()

    def error(self) -> ParseError:
        token = self.current
        return ParseError(f"syntax error at {token.text or 'end of expression'}")

    def parse(self) -> Node:
        node = self.expression(0)
        if self.current.kind != "EOF":
            raise self.error()
        return node

    def expression(self, min_precedence: int) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("expression is nested too deeply")
        left = self.unary()
        while True:
            precedence = _PRECEDENCE.get(self.current.kind)
            if precedence is None or precedence < min_precedence:
                break
            op = self.advance().kind
            right = self.expression(precedence + 1)
            left = Binary(op, left, right)
        self.depth -= 1
        return left

    def unary(self) -> Node:
        token = self.current
        if token.kind == "-":
            self.advance()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ParseError("expression is nested too deeply")
            operand = self.unary()
            self.depth -= 1
            return Negate(operand)
        if token.kind == "TEXT":
            self.advance()
            return Literal(unquote(token.text))
        if token.kind == "NUMBER":
            self.advance()
            return Literal(Decimal(token.text))
        if token.kind in ("TRUE", "FALSE"):
            self.advance()
            return Literal(token.kind == "TRUE")
        if token.kind == "NULL":
            self.advance()
            return Literal(None)
        if token.kind == "(" and self._lambda_ahead():
            return self.anonymous_function()
        return self.postfix(self.atom())

    def _lambda_ahead(self) -> bool:
        i = self.index + 1
        while self.tokens[i].kind == "NAME":
            i += 1
            if self.tokens[i].kind == ",":
                i += 1
                continue
            break
        return self.tokens[i].kind == ")" and self.tokens[i + 1].kind == "=>" and i > self.index + 1

    def anonymous_function(self) -> Node:
        self.expect("(")
        params = [self.expect("NAME").text]
        while self.current.kind == ",":
            self.advance()
            params.append(self.expect("NAME").text)
        self.expect(")")
        self.expect("=>")
        return Lambda(tuple(params), self.expression(0))

    def atom(self) -> Node:
        token = self.current
        if token.kind == "NAME":
            self.advance()
            return Name(token.text)
        if token.kind == "(":
            self.advance()
            inner = self.expression(0)
            self.expect(")")
            return inner
        raise self.error()

    def postfix(self, node: Node) -> Node:
        chain = 0
        while self.current.kind in ("(", ".", "["):
            chain += 1
            if self.depth + chain > MAX_DEPTH:
                raise ParseError("expression is nested too deeply")
            kind = self.advance().kind
            if kind == "(":
                args = []
                if self.current.kind != ")":
                    args.append(self.expression(0))
                    while self.current.kind == ",":
                        self.advance()
                        args.append(self.expression(0))
                self.expect(")")
                node = Call(node, tuple(args))
            elif kind == ".":
                key = self.current
                if key.kind not in ("NAME", "NUMBER") or "." in key.text:
                    raise self.error()
                self.advance()
                node = Dot(node, key.text)
            else:
                key_node = self.expression(0)
                self.expect("]")
                node = Index(node, key_node)
        return node


def parse(source: str) -> Node:
    """Parse an expression (the inside of ``@(...)``, or an identifier such as ``contact.name``)."""
    node = _Parser(source).parse()
    if depth(node) > MAX_DEPTH:
        raise ParseError("expression is too complex")
    return node


def depth(node: Node) -> int:
    """How deep the tree is, counted without recursion (left-leaning chains like ``1+1+...+1`` are deep)."""
    deepest = 0
    stack: list[tuple[Node, int]] = [(node, 1)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children(current))
    return deepest


def children(node: Node) -> tuple[Node, ...]:
    match node:
        case Dot(container=container):
            return (container,)
        case Index(container=container, key=key):
            return (container, key)
        case Call(function=function, args=args):
            return (function, *args)
        case Lambda(body=body):
            return (body,)
        case Negate(operand=operand):
            return (operand,)
        case Binary(left=left, right=right):
            return (left, right)
        case _:
            return ()
