"""libyaml's syntax errors, reworded for authors who have never read the YAML spec."""

from __future__ import annotations

import yaml

from flows.native.yaml_events import MAX_DEPTH


def syntax_message(exc: yaml.MarkedYAMLError, text: str) -> str:
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
