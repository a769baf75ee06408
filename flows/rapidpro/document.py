"""From bytes to a checked export object: size, encoding, JSON syntax, nesting, and what kind of file it is.

People pick the wrong file more often than they produce a broken one, so a file that is not a RapidPro/TextIt
export (a goflow assets file, a goflow test case, a single flow definition) is named for what it is, and a
legacy export (made before RapidPro moved to the new flow engine in 2019) is refused with the way to
convert it, instead of a parse error deep inside.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from flows.rapidpro.reader import Obj, describe, fail

# A 700-flow programme exports to about 10 MB (most of it editor layout); anything far beyond that is not an
# export a person made, and reading it would hold the whole file in memory several times over.
MAX_EXPORT_BYTES = 32 * 1024 * 1024
# RapidPro exports nest about 10 levels deep; the limit keeps hostile files from exhausting the stack of
# everything that later walks the data (the YAML writer, the engine's raw action copies).
MAX_DEPTH = 64

Version = tuple[int, int, int]
FIRST_SUPPORTED: Version = (13, 0, 0)
FIRST_UNSUPPORTED: Version = (15, 0, 0)

HOW_TO_REEXPORT = (
    "To convert it, import the file into a current RapidPro or TextIt workspace (RapidPro converts legacy "
    "flows when it imports them), open each flow in the flow editor and save it, then export again "
    "(Settings, Export) and import the new file into recado."
)

# Keys that only goflow's assets files have (they describe a whole workspace for goflow's test runner).
_ASSET_KEYS = frozenset(
    {"channels", "labels", "locations", "resthooks", "classifiers", "globals", "ticketers", "topics", "users"}
)
_LEGACY_FLOW_KEYS = frozenset(
    {"action_sets", "rule_sets", "entry", "base_language", "flow_type", "definition"}
)
_VERSION = re.compile(r"^\s*(\d{1,4})(?:\.(\d{1,4}))?(?:\.(\d{1,4}))?\s*$")


def decode(data: str | bytes, source: str) -> object:
    """Parse export text, refusing what is too big, not UTF-8, not JSON or nested too deeply."""
    if len(data) > MAX_EXPORT_BYTES:
        fail(
            source,
            f"the file is {len(data) / 1_000_000:.1f} MB; recado imports exports of up to "
            f"{MAX_EXPORT_BYTES // (1024 * 1024)} MB. Export the flows in smaller groups.",
        )
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line, column = _position(data[: exc.start].decode("utf-8", "replace"))
            fail(source, "the file is not UTF-8 text (RapidPro exports are UTF-8 JSON)", line, column)
    else:
        text = data.removeprefix("\ufeff")
    if not text.strip():
        fail(source, "the file is empty, not a RapidPro export")
    try:
        value: object = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        fail(source, f"not valid JSON: {exc.msg}", exc.lineno, exc.colno)
    except RecursionError:
        fail(source, f"not a RapidPro export: the JSON is nested more than {MAX_DEPTH} levels deep")
    except ValueError as exc:  # an integer too long to convert, or NaN/Infinity
        fail(source, f"not valid JSON: {exc}")
    return value


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _position(prefix: str) -> tuple[int, int]:
    line = prefix.count("\n") + 1
    return line, len(prefix) - (prefix.rfind("\n") + 1) + 1


def check_depth(value: object, source: str) -> None:
    """Refuse data nested deeper than ``MAX_DEPTH`` (walked without recursion, so it cannot overflow itself)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            fail(source, f"not a RapidPro export: the JSON is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, Mapping):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)


def parse_version(value: object) -> Version | None:
    """``"13"``, ``"13.0.0"``, ``10`` and ``11.4`` are all export or spec versions seen in real files."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    match = _VERSION.match(value)
    if not match:
        return None
    major, minor, patch = (int(part) if part else 0 for part in match.groups())
    return major, minor, patch


def show_version(version: Version) -> str:
    return ".".join(str(part) for part in version)


def export_object(value: object, source: str) -> tuple[Obj, Version]:
    """The export's top-level object and its version, or a refusal that says what the file is instead."""
    if isinstance(value, list):
        if value and all(
            isinstance(item, Mapping) and ("router" in item or "description" in item) for item in value
        ):
            fail(
                source,
                "this is a goflow router test case file (a list of test cases with 'description' and "
                "'router'), not a RapidPro export; export the flows from RapidPro or TextIt instead",
            )
        fail(
            source,
            "not a RapidPro export: the file holds a JSON list; an export is an object with 'version' and 'flows'",
        )
    if not isinstance(value, Mapping):
        fail(source, f"not a RapidPro export: the file holds {describe(value)}; an export is a JSON object")
    top = Obj.of(value, "", source)
    keys = set(value)
    if "nodes" in keys and ("spec_version" in keys or "uuid" in keys):
        fail(
            source,
            "this is a single flow definition, not a RapidPro export; export the flow from RapidPro or "
            "TextIt (Settings, Export) so that its fields, groups and triggers come with it",
        )
    if keys & {"action_sets", "rule_sets"}:
        fail(
            source,
            f"this is a single flow definition in the legacy format, not a current export. {HOW_TO_REEXPORT}",
        )
    if "version" not in keys:
        if "flows" in keys and (keys & _ASSET_KEYS or _fields_have_uuids(value.get("fields"))):
            found = ", ".join(sorted(keys & (_ASSET_KEYS | {"flows", "fields", "groups"})))
            fail(
                source,
                f"this is a goflow assets file (top-level {found}), the workspace description goflow's test "
                "runner uses, not a RapidPro export; export the flows from RapidPro or TextIt instead",
            )
        shown = ", ".join(sorted(keys)[:8]) or "none"
        fail(source, f"not a RapidPro export: there is no 'version' key (top-level keys: {shown})")
    version = parse_version(value["version"])
    if version is None:
        top.error(f'expected an export version such as "13", found {value["version"]!r}', "version")
    return top, version


def _fields_have_uuids(fields: object) -> bool:
    # goflow assets list fields with their uuids; RapidPro exports never do
    if isinstance(fields, str) or not isinstance(fields, Sequence):
        return False
    return any(isinstance(item, Mapping) and "uuid" in item for item in fields)


def legacy_flow_name(flow: Mapping[str, object]) -> str | None:
    """The name of a flow in the legacy format, or None if ``flow`` is not one.

    Legacy flows have ``action_sets``/``rule_sets`` (export 7 to 11), or wrap them in ``definition`` (export 3
    to 6), and keep their name in ``metadata``; current flows carry ``spec_version`` instead.
    """
    if "spec_version" in flow or not (set(flow) & _LEGACY_FLOW_KEYS or "version" in flow):
        return None
    metadata = flow.get("metadata")
    for holder in (flow, metadata if isinstance(metadata, Mapping) else {}):
        name = holder.get("name")
        if isinstance(name, str) and name:
            return name
    return "(unnamed)"


def refuse_legacy(source: str, export_version: object, names: Sequence[str]) -> None:
    flows = ", ".join(f'"{name}"' for name in names)
    fail(
        source,
        f"this RapidPro export is in the legacy format (export version {export_version}; "
        f"legacy flows: {flows}), from before RapidPro's 2019 flow engine; recado imports flow spec 13 and "
        f"14 only. {HOW_TO_REEXPORT}",
    )
