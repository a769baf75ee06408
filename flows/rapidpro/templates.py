"""Rewrites of expressions inside templates, for the flow spec migrations that change what a name means.

Two migrations touch templates (goflow ``flows/definition/migrations/13.x.go``):

- 13.3.0: ``@webhook`` was the webhook's JSON body and became an object holding ``status`` and ``json``, so
  every reference to ``webhook`` becomes ``webhook.json`` (``@webhook.id`` → ``@webhook.json.id``);
- 13.6.1: result names were cut to 64 characters, so ``@results.<key>`` lookups longer than that are cut too.

Only the expression parts of a template are touched; text, quoted strings inside expressions, ``@@`` and
anything that does not parse stay exactly as written.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from flows.excellent import KNOWN_TOP_LEVELS
from flows.excellent.syntax import ParseError, Token, tokenize
from flows.excellent.template import is_name_char, scan_expression, scan_identifier

MAX_RESULT_KEY = 64

TokenRewrite = Callable[[list[Token], int], str | None]


def rewrite_template(template: str, rewrite: TokenRewrite) -> str:
    """Apply ``rewrite`` to each expression of ``template``: it sees the expression's tokens and the index of
    one token, and returns that token's new text or None to keep it."""
    if "@" not in template:
        return template
    out: list[str] = []
    i = 0
    while i < len(template):
        at = template.find("@", i)
        if at < 0:
            out.append(template[i:])
            break
        out.append(template[i:at])
        following = template[at + 1] if at + 1 < len(template) else ""
        if following == "@":
            out.append("@@")
            i = at + 2
        elif following == "(":
            _, end, closed = scan_expression(template, at + 2)
            if not closed:
                out.append(template[at:])
                break
            out.append("@(" + _rewrite_expression(template[at + 2 : end - 1], rewrite) + ")")
            i = end
        elif following and is_name_char(following):
            end = scan_identifier(template, at + 1)[1]
            identifier = template[at + 1 : end]
            if identifier.split(".", 1)[0].lower() in KNOWN_TOP_LEVELS:
                identifier = _rewrite_expression(identifier, rewrite)
            out.append("@" + identifier)
            i = end
        else:
            out.append("@")
            i = at + 1
    return "".join(out)


def _rewrite_expression(body: str, rewrite: TokenRewrite) -> str:
    try:
        tokens = tokenize(body)
    except ParseError:
        return body
    out: list[str] = []
    position = 0
    for index, token in enumerate(tokens):
        replacement = rewrite(tokens, index)
        if replacement is not None:
            out.append(body[position : token.pos])
            out.append(replacement)
            position = token.pos + len(token.text)
    out.append(body[position:])
    return "".join(out)


def _is_context_reference(tokens: list[Token], index: int, name: str) -> bool:
    """Whether tokens[index] is the top-level name ``name``: not a property (``x.name``), a function call
    (``name(``) or a lambda parameter (``(name, other) => ...``)."""
    token = tokens[index]
    if token.kind != "NAME" or token.text.lower() != name:
        return False
    if index > 0 and tokens[index - 1].kind == ".":
        return False
    following = index + 1
    if following < len(tokens) and tokens[following].kind in {"(", "=>"}:
        return False
    while (
        following + 1 < len(tokens) and tokens[following].kind == "," and tokens[following + 1].kind == "NAME"
    ):
        following += 2
    is_parameter = (
        following + 1 < len(tokens) and tokens[following].kind == ")" and tokens[following + 1].kind == "=>"
    )
    return not is_parameter


def webhook_to_json(template: str) -> str:
    """Spec 13.3.0: ``@webhook`` → ``@webhook.json``."""

    def rewrite(tokens: list[Token], index: int) -> str | None:
        return "webhook.json" if _is_context_reference(tokens, index, "webhook") else None

    return rewrite_template(template, rewrite)


def truncate_result_lookups(template: str, result_keys: Collection[str]) -> str:
    """Spec 13.6.1: ``@results.<key>`` lookups longer than 64 characters are cut as the names were.

    A cut lookup may keep a trailing ``_`` that the cut and trimmed result name lost; goflow then prefers the
    trimmed lookup when only that one names a result of the flow, and so does this.
    """

    def truncate(lookup: str) -> str:
        cut = lookup[:MAX_RESULT_KEY]
        trimmed = cut.rstrip("_")
        if trimmed != cut and cut.lower() not in result_keys and trimmed.lower() in result_keys:
            return trimmed
        return cut

    def rewrite(tokens: list[Token], index: int) -> str | None:
        token = tokens[index]
        if token.kind != "NAME" or len(token.text) <= MAX_RESULT_KEY or index < 2:
            return None
        if tokens[index - 1].kind == "." and _is_context_reference(tokens, index - 2, "results"):
            return truncate(token.text)
        return None

    return rewrite_template(template, rewrite)
