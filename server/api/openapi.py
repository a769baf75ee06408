"""The OpenAPI document (served at ``/api/v1/openapi.json``) and body validation against it.

The document is ``openapi/base.yaml`` plus one fragment per API area (``openapi/<area>.yaml``, holding that
area's ``paths`` and ``components.schemas``). Request schemas live once, in the document; handlers validate
bodies against them by name, so what the document promises is what the server enforces.

Validation has two paths with one answer. jsonschema (Draft 2020-12, the document's dialect) is the reference:
it decides and it words every 422 detail. A request schema whose keywords mean the same in JSON Schema draft 7
is also compiled with fastjsonschema, which accepts a valid body an order of magnitude faster (a gateway sync
carries up to 500 SMS). The compiled validator is never looser than the reference, so a body it accepts is
valid; a body it refuses goes to the reference, which decides again and describes what is wrong.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import yaml
from aiohttp import web
from jsonschema.exceptions import ValidationError

from flows.native.yaml_tree import SAFE_LOADER
from server.api.errors import ApiError, bad_request, unprocessable

SPEC_DIR = Path(__file__).with_name("openapi")


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        # SAFE_LOADER is PyYAML's safe loader (libyaml's when built): the document loads in a fifth of the time.
        loaded: dict[str, Any] = yaml.load(fh, Loader=SAFE_LOADER) or {}  # noqa: S506
    return loaded


@functools.cache
def spec() -> dict[str, Any]:
    document = _load(SPEC_DIR / "base.yaml")
    for fragment_path in sorted(SPEC_DIR.glob("*.yaml")):
        if fragment_path.name == "base.yaml":
            continue
        fragment = _load(fragment_path)
        for section, into in (("paths", document["paths"]), ("schemas", document["components"]["schemas"])):
            source = (
                fragment.get("components", {}).get(section, {})
                if section == "schemas"
                else fragment.get(section, {})
            )
            clash = set(source) & set(into)
            if clash:
                raise ValueError(f"{fragment_path.name} redefines {section} {sorted(clash)}")
            into.update(source)
    return document


SCHEMA_REF_PREFIX = "#/components/schemas/"
# Shared by both paths, so that a format is asserted by the fast one exactly when the reference asserts it.
_FORMAT_CHECKER = jsonschema.FormatChecker()


def _schemas_with(schema_name: str) -> dict[str, Any]:
    schemas: dict[str, Any] = spec()["components"]["schemas"]
    if schema_name not in schemas:
        raise KeyError(f"no schema {schema_name!r} in openapi.yaml")
    return schemas


@functools.cache
def _validator(schema_name: str) -> jsonschema.Draft202012Validator:
    _schemas_with(schema_name)
    schema = {"$ref": f"{SCHEMA_REF_PREFIX}{schema_name}", "components": spec()["components"]}
    return jsonschema.Draft202012Validator(schema, format_checker=_FORMAT_CHECKER)


# --- the fast path -----------------------------------------------------------------------------------------


class NotFastSafe(Exception):
    """A schema uses something whose meaning in draft 7 (or in fastjsonschema) might differ from 2020-12."""


JSON_TYPES = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})
PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Keywords both libraries ignore: dropped, so that fastjsonschema never fills in a `default`.
ANNOTATIONS = frozenset(
    {
        "description",
        "title",
        "default",
        "example",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$comment",
    }
)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_type(value: Any) -> bool:
    names = value if isinstance(value, list) else [value]
    return bool(names) and all(isinstance(name, str) and name in JSON_TYPES for name in names)


def _is_string_enum(value: Any) -> bool:
    # Strings and null compare alike in both libraries; numbers and booleans (1 == 1.0 == True) might not.
    return isinstance(value, list) and bool(value) and all(v is None or isinstance(v, str) for v in value)


def _is_safe_pattern(value: Any) -> bool:
    """fastjsonschema turns every `$` into `\\Z` (no match before a final newline). That is stricter than
    Python's `$` only where the `$` ends the pattern; elsewhere (a lookahead, a class) it could be looser."""
    if not isinstance(value, str) or "$" in value[:-1]:
        return False
    try:
        re.compile(value)
    except re.error:
        return False
    return True


def _is_required(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and PLAIN_NAME.fullmatch(v) for v in value)


LEAF_KEYWORDS: dict[str, Callable[[Any], bool]] = {
    "type": _is_type,
    "enum": _is_string_enum,
    "minLength": _is_count,
    "maxLength": _is_count,
    "minItems": _is_count,
    "maxItems": _is_count,
    "minProperties": _is_count,
    "maxProperties": _is_count,
    "minimum": _is_finite_number,
    "maximum": _is_finite_number,
    "pattern": _is_safe_pattern,
    "required": _is_required,
}


class FastTranslation:
    """A request schema rewritten for draft 7: the schemas it reaches through `$ref`, translated, and the formats
    the reference asserts. Raises NotFastSafe for anything outside the keywords checked to mean the same."""

    def __init__(self, schema_name: str) -> None:
        self._schemas = _schemas_with(schema_name)
        self.formats: dict[str, Callable[[Any], bool]] = {}
        self.translated: dict[str, Any] = {}
        pending = [schema_name]
        while pending:
            name = pending.pop()
            if name not in self.translated:
                self.translated[name] = {}
                self.translated[name] = self._subschema(self._schemas[name], pending)

    def definition(self, schema_name: str) -> dict[str, Any]:
        return {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$ref": f"{SCHEMA_REF_PREFIX}{schema_name}",
            "components": {"schemas": self.translated},
        }

    def _subschema(self, schema: Any, pending: list[str]) -> dict[str, Any]:
        if not isinstance(schema, dict):
            raise NotFastSafe(f"schema {schema!r} is not an object")
        out: dict[str, Any] = {}
        for keyword, value in schema.items():
            if keyword in ANNOTATIONS:
                continue
            if keyword in LEAF_KEYWORDS:
                if not LEAF_KEYWORDS[keyword](value):
                    raise NotFastSafe(f"{keyword}: {value!r}")
                out[keyword] = value
            elif keyword == "format":
                self._format(value, out)
            elif keyword == "$ref":
                out[keyword] = self._ref(value, pending)
            elif keyword == "properties" and isinstance(value, dict):
                out[keyword] = {_plain(name): self._subschema(sub, pending) for name, sub in value.items()}
            elif keyword == "additionalProperties" and isinstance(value, bool):
                out[keyword] = value
            elif keyword in ("additionalProperties", "items"):
                out[keyword] = self._subschema(value, pending)
            elif keyword in ("allOf", "anyOf") and isinstance(value, list) and value:
                # Not `not` nor `oneOf`: the fast path is stricter than the reference in one place (a pattern's
                # final `$`), and under a negation, or "exactly one", stricter could turn into looser.
                out[keyword] = [self._subschema(sub, pending) for sub in value]
            else:
                raise NotFastSafe(f"keyword {keyword!r}")
        if "$ref" in out and len(out) > 1:
            # 2020-12 applies a $ref's siblings; draft 7 ignores them. allOf applies both in either.
            out["allOf"] = [{"$ref": out.pop("$ref")}, *out.get("allOf", [])]
        return out

    def _format(self, name: Any, out: dict[str, Any]) -> None:
        if not isinstance(name, str):
            raise NotFastSafe(f"format {name!r}")
        if name not in _FORMAT_CHECKER.checkers:
            return  # an annotation for the reference (its checker is not installed): asserting it would refuse
        self.formats[name] = functools.partial(_conforms, name)
        out["format"] = name

    def _ref(self, ref: Any, pending: list[str]) -> str:
        name = (
            ref[len(SCHEMA_REF_PREFIX) :]
            if isinstance(ref, str) and ref.startswith(SCHEMA_REF_PREFIX)
            else ""
        )
        if not name or "/" in name or "~" in name or name not in self._schemas:
            raise NotFastSafe(f"$ref {ref!r}")
        pending.append(name)
        return str(ref)


def _plain(property_name: str) -> str:
    """fastjsonschema writes property names into generated code and str.format templates; other names keep
    the reference path rather than trusting its escaping."""
    if not PLAIN_NAME.fullmatch(property_name):
        raise NotFastSafe(f"property name {property_name!r}")
    return property_name


def _conforms(format_name: str, value: Any) -> bool:
    return _FORMAT_CHECKER.conforms(value, format_name)


@functools.cache
def _fast_validator(schema_name: str) -> Callable[[Any], Any] | None:
    """The compiled validator, or None when the schema keeps the reference path alone."""
    try:
        translation = FastTranslation(schema_name)
        return fastjsonschema.compile(
            translation.definition(schema_name),
            formats=translation.formats,
            use_default=False,
            detailed_exceptions=False,
        )
    except (NotFastSafe, fastjsonschema.JsonSchemaDefinitionException, re.error):
        return None


def _fast_accepts(payload: Any, schema_name: str) -> bool:
    fast = _fast_validator(schema_name)
    if fast is None:
        return False
    try:
        fast(payload)
    except Exception:
        # The fast path only ever answers yes: a refusal, or any surprise in generated code, is the reference's call.
        return False
    return True


def _field_path(error: ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path)


def _describe(error: ValidationError) -> list[dict[str, str]]:
    path = _field_path(error)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = set(schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in allowed)
        return [{"field": f"{path}.{k}" if path else k, "message": "unknown field"} for k in unknown]
    if error.validator == "required" and isinstance(error.validator_value, list):
        present = error.instance if isinstance(error.instance, dict) else {}
        missing = [k for k in error.validator_value if k not in present]
        return [{"field": f"{path}.{k}" if path else k, "message": "is required"} for k in missing]
    return [{"field": path or "(body)", "message": error.message}]


def validate(payload: Any, schema_name: str) -> None:
    """Raise the API's 422 unless ``payload`` (decoded JSON: dicts, lists, str, int, float, bool, None) is valid."""
    if _fast_accepts(payload, schema_name):
        return
    errors = sorted(_validator(schema_name).iter_errors(payload), key=lambda e: list(e.absolute_path))
    if errors:
        details = [d for error in errors for d in _describe(error)]
        fields = ", ".join(dict.fromkeys(d["field"] for d in details))
        raise unprocessable(f"invalid request body: {fields}", details)


async def read_json(request: web.Request, schema_name: str) -> Any:
    """Read, parse and validate a JSON body. 400 for unreadable JSON, 413 (raised by aiohttp) when too large."""
    raw = await request.read()
    if not raw:
        raise bad_request("request body is empty; send JSON")
    try:
        payload = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise bad_request("request body is not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, "malformed_json", f"malformed JSON at line {exc.lineno} column {exc.colno}"
        ) from exc
    validate(payload, schema_name)
    return payload


async def serve_spec(_request: web.Request) -> web.Response:
    return web.json_response(spec())
