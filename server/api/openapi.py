"""The OpenAPI document (served at ``/api/v1/openapi.json``) and body validation against it.

The document is ``openapi/base.yaml`` plus one fragment per API area (``openapi/<area>.yaml``, holding that
area's ``paths`` and ``components.schemas``). Request schemas live once, in the document; handlers validate
bodies against them by name, so what the document promises is what the server enforces.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from aiohttp import web
from jsonschema.exceptions import ValidationError

from server.api.errors import ApiError, bad_request, unprocessable

SPEC_DIR = Path(__file__).with_name("openapi")


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        loaded: dict[str, Any] = yaml.safe_load(fh) or {}
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


@functools.cache
def _validator(schema_name: str) -> jsonschema.Draft202012Validator:
    document = spec()
    if schema_name not in document["components"]["schemas"]:
        raise KeyError(f"no schema {schema_name!r} in openapi.yaml")
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


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
