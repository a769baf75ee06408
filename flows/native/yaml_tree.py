"""Reading a native file into a located tree: its bytes decoded as UTF-8, its text checked for what is not a
text file or is indented with tabs, then parsed, so that every problem names its file, line and column and
comes back as a problem, never raised."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import yaml

from flows.errors import Problem
from flows.native.yaml_events import build_tree
from flows.native.yaml_node import YNode
from flows.native.yaml_syntax import syntax_message

MAX_FILE_BYTES: Final = 5 * 1024 * 1024  # a real flow is a few kilobytes; more is a mistake, refused unread
# YAML's printable set (1.1 §5.1): anything else means the file is not text, and we say so before parsing.
_NOT_TEXT: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
# The same characters in UTF-8: the control characters are single bytes that no other character's bytes hold.
_CONTROL_BYTES: Final = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_NOT_TEXT_SEQUENCES: Final = ("\ufffe".encode(), "\uffff".encode())

# libyaml's parser when PyYAML was built with it (five times faster), else PyYAML's own; both load the same.
SAFE_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(text: str, source: str) -> tuple[YNode | None, list[Problem]]:
    """Parse ``text`` into a located tree; refusals and syntax errors come back as problems, never raised."""
    if len(text) > MAX_FILE_BYTES:
        return None, [Problem(source, None, None, _too_big(len(text)))]
    bad = _NOT_TEXT.search(text) if _may_not_be_text(text) else None
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
    loader = SAFE_LOADER(text)
    try:
        root = build_tree(loader.get_event, source, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        located = (
            Problem(source, mark.line + 1, mark.column + 1, "")
            if mark is not None
            else Problem(source, None, None, "")
        )
        return None, [*problems, Problem(source, located.line, located.column, syntax_message(exc, text))]
    except yaml.YAMLError as exc:
        return None, [*problems, Problem(source, None, None, f"this is not valid YAML: {exc}")]
    finally:
        loader.dispose()
    if problems:
        return None, problems
    if root is None or root.is_null:
        return None, [Problem(source, 1, 1, "the file is empty")]
    return root, []


def _may_not_be_text(text: str) -> bool:
    """A quick look for what _NOT_TEXT finds: deleting bytes is a far simpler loop than matching a pattern."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data.translate(None, _CONTROL_BYTES)) != len(data):
        return True
    return any(sequence in data for sequence in _NOT_TEXT_SEQUENCES)


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
