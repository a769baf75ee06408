"""Request bodies get the same answer from the fast validation path as from the reference (jsonschema).

- Differential runs over every request schema in the document: bodies drawn from the schema, the same bodies
  mutated (wrong types, booleans and floats for integers, missing and unknown fields, huge and non-ASCII
  strings, bad formats, lists past their limit) and arbitrary JSON. The fast validator never accepts what
  the reference refuses, and `validate` raises the very error the reference path raises.
- Targeted cases for each difference between the libraries, and schemas the fast path must leave alone.
"""

from __future__ import annotations

import copy
import json
import math
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import jsonschema
import pytest
import referencing.exceptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.api import openapi
from server.api.errors import ApiError

Outcome = tuple[Any, ...]
REF = openapi.SCHEMA_REF_PREFIX
DIFFERENTIAL = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _refs(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF):
            yield ref[len(REF) :]
        for value in schema.values():
            yield from _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _refs(value)


def _request_schemas() -> list[str]:
    names: set[str] = set()
    for item in openapi.spec()["paths"].values():
        for operation in item.values():
            content = (
                operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}
            )
            names.update(_refs(content.get("application/json", {}).get("schema", {})))
    return sorted(names)


REQUEST_SCHEMAS = _request_schemas()


def _outcome(payload: Any, schema_name: str) -> Outcome:
    try:
        openapi.validate(payload, schema_name)
    except ApiError as error:
        return (error.status, error.code, error.message, error.details)
    return ("valid",)


def _reference_outcome(payload: Any, schema_name: str) -> Outcome:
    with mock.patch.object(openapi, "_fast_accepts", return_value=False):
        return _outcome(payload, schema_name)


def _assert_same_answer(payload: Any, schema_name: str) -> bool:
    """Both paths agree; returns whether the body is valid."""
    before = json.dumps(payload)
    reference = _reference_outcome(payload, schema_name)
    fast_accepts = openapi._fast_accepts(payload, schema_name)
    assert _outcome(payload, schema_name) == reference
    assert json.dumps(payload) == before, "validation changed the body"
    valid = reference == ("valid",)
    if fast_accepts:
        assert valid, f"the fast path accepted a body the reference refuses: {reference}"
    elif valid and openapi._fast_validator(schema_name) is not None:
        # The one place the fast path is stricter: a pattern's `$` also matches before a final newline.
        assert _has_string_ending_in_newline(payload), "the fast path refused a valid body"
    return valid


def _has_string_ending_in_newline(value: Any) -> bool:
    if isinstance(value, str):
        return value.endswith("\n")
    if isinstance(value, dict):
        return any(_has_string_ending_in_newline(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_string_ending_in_newline(v) for v in value)
    return False


# --- strategies --------------------------------------------------------------------------------------------

UUID_LIKE = st.uuids().flatmap(
    lambda u: st.sampled_from(
        [str(u), str(u).upper(), u.hex, f"{{{u}}}", f"urn:uuid:{u}", str(u)[:-1], f" {u}", f"{u}\n"]
    )
)
DATE_TIME_LIKE = st.datetimes().flatmap(
    lambda d: st.sampled_from(
        [
            d.isoformat() + "+00:00",
            d.isoformat() + "Z",
            d.isoformat(),
            d.isoformat(sep=" ") + "Z",
            d.date().isoformat(),
            "2026-13-45T25:61:61Z",
            "yesterday",
        ]
    )
)
NASTY_STRINGS = st.sampled_from(
    ["", " ", "\n", "modem-1\n", "a b", "é", "e\u0301", "😀", "\x00", "\ud800", "{x}", "$", "x" * 5000]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 1.0, 0.0, -0.0, 1.5, 1e308, 2**63]),
    st.text(max_size=20),
    NASTY_STRINGS,
    UUID_LIKE,
    DATE_TIME_LIKE,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target: dict[str, Any] = openapi.spec()["components"]["schemas"][schema["$ref"][len(REF) :]]
        schema = {**{k: v for k, v in schema.items() if k != "$ref"}, **target}
    return schema


def _bodies(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values shaped by the schema, mostly valid, often right on (or just past) a limit."""
    schema = _resolved(schema)
    for combinator in ("allOf", "anyOf", "oneOf"):
        if combinator in schema:
            rest = {k: v for k, v in schema.items() if k != combinator}
            return st.one_of([_bodies({**rest, **sub}) for sub in schema[combinator]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    types = schema.get("type", ["null", "boolean", "integer", "number", "string", "array", "object"])
    types = types if isinstance(types, list) else [types]
    return st.one_of([_typed(name, schema) for name in types])


def _typed(type_name: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if type_name == "string":
        return _strings(schema)
    if type_name in ("integer", "number"):
        low, high = schema.get("minimum", -1000), schema.get("maximum", 1000)
        integers = st.integers(min_value=low - 2, max_value=high + 2)
        if type_name == "number":
            return (
                integers
                | st.floats(min_value=low - 1, max_value=high + 1)
                | st.sampled_from([math.nan, math.inf])
            )
        return integers | integers.map(float) | st.sampled_from([low, high, float(low), True, False])
    if type_name == "array":
        return _arrays(schema)
    if type_name == "object":
        return _objects(schema)
    return st.booleans() if type_name == "boolean" else st.none()


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    fmt = schema.get("format")
    if fmt == "uuid":
        return UUID_LIKE
    if fmt == "date-time":
        return DATE_TIME_LIKE
    if "pattern" in schema:
        return st.from_regex(schema["pattern"]) | NASTY_STRINGS
    low, high = schema.get("minLength", 0), schema.get("maxLength", 200)
    limits = [c * n for c in ("x", "😀", "e\u0301") for n in (low, high, high + 1) if len(c) * n < 20000]
    return st.text(min_size=low, max_size=min(high, 40)) | st.sampled_from(limits) | NASTY_STRINGS


def _arrays(schema: dict[str, Any]) -> st.SearchStrategy[list[Any]]:
    items = _bodies(schema.get("items", {}))
    low, high = schema.get("minItems", 0), schema.get("maxItems", 20)
    # Long lists repeat one item: drawing 500 distinct ones would only slow the run down.
    at_limits = items.flatmap(
        lambda item: st.sampled_from([[item] * n for n in (high, high + 1, max(low - 1, 0))])
    )
    return st.lists(items, min_size=low, max_size=min(high, 4)) | at_limits


def _objects(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties", {})
    required = [name for name in schema.get("required", []) if name in properties]
    named = st.fixed_dictionaries(
        {name: _bodies(properties[name]) for name in required},
        optional={name: _bodies(sub) for name, sub in properties.items() if name not in required},
    )
    extra = schema.get("additionalProperties", True)
    if not isinstance(extra, dict):
        return named
    values = _bodies(extra)
    limit = schema.get("maxProperties", 10)
    many = values.flatmap(
        lambda v: st.sampled_from([{f"k{i}": v for i in range(n)} for n in (limit, limit + 1)])
    )
    free = st.dictionaries(st.text(max_size=8), values, max_size=4)
    return st.tuples(named, free | many).map(lambda pair: {**pair[1], **pair[0]})


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _paths(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value[:5]):
            yield from _paths(sub, (*path, index))


def _mutated(data: st.DataObject, body: Any) -> Any:
    body = copy.deepcopy(body)
    path = data.draw(st.sampled_from(list(_paths(body))))
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    action = data.draw(st.sampled_from(["replace", "drop", "add", "replace"]))
    if not path:
        return data.draw(JSON_VALUES) if action == "replace" else body
    key = path[-1]
    if action == "replace":
        parent[key] = data.draw(JSON_VALUES)
    elif action == "drop":
        del parent[key]
    elif isinstance(parent[key], dict):
        parent[key][data.draw(st.text(max_size=10) | st.sampled_from(["id", "from", "unknown"]))] = data.draw(
            JSON_VALUES
        )
    elif isinstance(parent[key], list):
        parent[key].append(data.draw(JSON_VALUES))
    return body


# --- differential runs -------------------------------------------------------------------------------------


def test_the_document_has_request_schemas_and_the_gateway_sync_is_fast() -> None:
    assert "GatewaySync" in REQUEST_SCHEMAS
    assert len(REQUEST_SCHEMAS) >= 10
    assert openapi._fast_validator("GatewaySync") is not None


@pytest.mark.parametrize("schema_name", REQUEST_SCHEMAS)
@DIFFERENTIAL
@given(data=st.data())
def test_bodies_drawn_from_the_schema_get_the_same_answer(schema_name: str, data: st.DataObject) -> None:
    body = data.draw(_bodies({"$ref": f"{REF}{schema_name}"}), label="body")
    _assert_same_answer(body, schema_name)


@pytest.mark.parametrize("schema_name", REQUEST_SCHEMAS)
@DIFFERENTIAL
@given(data=st.data())
def test_mutated_bodies_get_the_same_answer(schema_name: str, data: st.DataObject) -> None:
    body = data.draw(_bodies({"$ref": f"{REF}{schema_name}"}), label="body")
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="mutations")):
        body = _mutated(data, body)
    _assert_same_answer(body, schema_name)


@pytest.mark.parametrize("schema_name", REQUEST_SCHEMAS)
@DIFFERENTIAL
@given(body=JSON_VALUES)
def test_arbitrary_json_gets_the_same_answer(schema_name: str, body: Any) -> None:
    _assert_same_answer(body, schema_name)


# --- targeted cases ----------------------------------------------------------------------------------------


def _inbound(**changes: Any) -> dict[str, Any]:
    item = {
        "id": "sms-1",
        "channel": "modem-1",
        "from": "+34600000001",
        "text": "SI",
        "received_at": "2026-12-02T14:32:18+00:00",
    }
    return {"inbound": [{**item, **changes}], "want": 0}


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        (_inbound(), True),
        ({"want": True}, False),
        ({"want": False}, False),
        ({"want": 1.0}, True),
        ({"want": 1.5}, False),
        ({"want": 501.0}, False),
        ({"want": 2**64}, False),
        ({"wait_s": True}, False),
        ({"wait_s": 0.5}, True),
        ({"wait_s": math.nan}, True),
        ({"wait_s": math.inf}, False),
        ({"want": "1"}, False),
        ({"want": None}, False),
        ({"statuses": [{"message_id": "m", "status": "sent", "parts": True}]}, False),
        ({"statuses": [{"message_id": "m", "status": "sent", "parts": None}]}, True),
        ({"statuses": [{"message_id": "m", "status": "SENT"}]}, False),
        ({"channels": [{"id": "c", "kind": "modem", "healthy": 1}]}, False),
        ({"channels": [{"id": "c", "kind": "modem", "healthy": True, "signal": 31.0}]}, True),
        (_inbound(**{"from": "😀" * 64}), True),
        (_inbound(**{"from": "😀" * 65}), False),
        (_inbound(**{"from": "e\u0301" * 32}), True),
        (_inbound(**{"from": "e\u0301" * 33}), False),
        (_inbound(**{"from": ""}), False),
        (_inbound(id="é"), False),
        (_inbound(id="a b"), False),
        (_inbound(id="x" * 65), False),
        (_inbound(to=None), True),
        (_inbound(to=5), False),
        (_inbound(extra="x"), False),
        ({"inbound": [_inbound()["inbound"][0]] * 501}, False),
        ([], False),
        (None, False),
    ],
)
def test_gateway_sync_edge_cases(body: Any, valid: bool) -> None:
    assert _assert_same_answer(body, "GatewaySync") is valid


def test_a_pattern_still_matches_before_a_final_newline_through_the_reference() -> None:
    """Python's `$` matches before a final newline, so the reference accepts these; the fast path refuses
    them and the reference decides."""
    body = _inbound(id="sms-1\n", channel="modem-1\n")
    assert not openapi._fast_accepts(body, "GatewaySync")
    assert _assert_same_answer(body, "GatewaySync")


@pytest.mark.parametrize(
    "group",
    [
        str(uuid.UUID(int=7)),
        str(uuid.UUID(int=7)).upper(),
        uuid.UUID(int=7).hex,
        f"urn:uuid:{uuid.UUID(int=7)}",
        f"{{{uuid.UUID(int=7)}}}",
        "not-a-uuid",
        "",
    ],
)
def test_uuid_format_is_the_reference_checker(group: str) -> None:
    _assert_same_answer({"text": "hi", "group": group}, "MessageSend")


@pytest.mark.parametrize("received_at", ["2026-12-02T14:32:18Z", "2026-02-30T00:00:00Z", "yesterday", ""])
def test_date_time_is_asserted_only_when_the_reference_asserts_it(received_at: str) -> None:
    _assert_same_answer(_inbound(received_at=received_at), "GatewaySync")
    asserted = "date-time" in jsonschema.FormatChecker().checkers
    assert ("date-time" in openapi.FastTranslation("GatewaySync").formats) is asserted


def test_a_date_time_checker_when_installed_is_used_by_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    checker = jsonschema.FormatChecker()
    checker.checks("date-time")(lambda value: not isinstance(value, str) or value.endswith("Z"))
    with _fresh_caches(monkeypatch):
        monkeypatch.setattr(openapi, "_FORMAT_CHECKER", checker)
        assert _assert_same_answer(_inbound(received_at="2026-12-02T14:32:18Z"), "GatewaySync")
        assert not _assert_same_answer(_inbound(received_at="2026-12-02T14:32:18+00:00"), "GatewaySync")
        assert "date-time" in openapi.FastTranslation("GatewaySync").formats


def test_defaults_are_not_filled_in() -> None:
    body: dict[str, Any] = {"inbound": [], "channels": [{"id": "c", "kind": "modem", "healthy": True}]}
    openapi.validate(body, "GatewaySync")
    assert body == {"inbound": [], "channels": [{"id": "c", "kind": "modem", "healthy": True}]}


def test_an_unknown_schema_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no schema 'Nope'"):
        openapi.validate({}, "Nope")


# --- schemas outside the checked keywords ------------------------------------------------------------------


class _fresh_caches:
    """Validators built for a test's own document (or checker), and none of them left behind."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, schemas: dict[str, Any] | None = None) -> None:
        self._monkeypatch = monkeypatch
        self._schemas = schemas

    def _clear(self) -> None:
        openapi._validator.cache_clear()
        openapi._fast_validator.cache_clear()

    def __enter__(self) -> None:
        self._clear()
        if self._schemas is not None:
            document = {"components": {"schemas": self._schemas}}
            self._monkeypatch.setattr(openapi, "spec", lambda: document)

    def __exit__(self, *_exc: object) -> None:
        self._monkeypatch.undo()
        self._clear()


UNSAFE = [
    {"type": "array", "prefixItems": [{"type": "integer"}]},
    {"type": "array", "items": [{"type": "integer"}]},
    {"type": "object", "dependentRequired": {"a": ["b"]}},
    {"type": "object", "dependencies": {"a": ["b"]}},
    {"type": "object", "unevaluatedProperties": False},
    {"type": "object", "properties": {"a{b}": {"type": "integer"}}},
    {"type": "object", "properties": {"a b": {"type": "integer"}}},
    {"const": 1},
    {"enum": [1, True]},
    {"enum": [{"a": 1}]},
    {"type": "string", "pattern": "^(?!.*x$)"},
    {"type": "string", "pattern": "[$]"},
    {"type": "string", "contentEncoding": "base64"},
    {"type": "integer", "multipleOf": 2},
    {"type": "integer", "minimum": True},
    {"type": "integer", "exclusiveMinimum": 0},
    {"type": "custom"},
    {"$id": "https://example.org/x", "type": "string"},
    {"$defs": {"a": {"type": "string"}}, "$ref": "#/$defs/a"},
    {"$ref": "#/components/schemas/Missing"},
    {"items": True},
    {"anyOf": []},
    {"type": "string", "not": {"pattern": "^a$"}},
    {"oneOf": [{"type": "string", "pattern": "^a$"}, {"type": "string", "maxLength": 2}]},
]


@pytest.mark.parametrize("schema", UNSAFE, ids=[json.dumps(s) for s in UNSAFE])
def test_schemas_outside_the_checked_keywords_keep_the_reference_path(
    schema: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with _fresh_caches(monkeypatch, {"Body": schema}):
        assert openapi._fast_validator("Body") is None
        for body in ([1, "a"], {"a": 1}, {"a{b}": "x"}, 1, True, "x", "a\n", "xx\n", "$", None, [1.5]):
            try:
                openapi._validator("Body").is_valid(body)
            except (referencing.exceptions.Unresolvable, jsonschema.exceptions.UnknownType, AttributeError):
                continue  # not a schema the reference can use either (missing target, unknown type, `items` list)
            _assert_same_answer(body, "Body")


def test_a_ref_with_siblings_applies_both(monkeypatch: pytest.MonkeyPatch) -> None:
    schemas = {
        "Body": {"$ref": f"{REF}Text", "maxLength": 3, "allOf": [{"minLength": 2}], "description": "x"},
        "Text": {"type": "string"},
    }
    with _fresh_caches(monkeypatch, schemas):
        assert openapi._fast_validator("Body") is not None
        assert openapi.FastTranslation("Body").translated["Body"] == {
            "maxLength": 3,
            "allOf": [{"$ref": f"{REF}Text"}, {"minLength": 2}],
        }
        assert [_assert_same_answer(b, "Body") for b in ("abc", "abcd", "a", 12)] == [
            True,
            False,
            False,
            False,
        ]


def test_recursive_schemas_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    schemas = {
        "Node": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"next": {"anyOf": [{"$ref": f"{REF}Node"}, {"type": "null"}]}},
        }
    }
    with _fresh_caches(monkeypatch, schemas):
        assert openapi._fast_validator("Node") is not None
        assert _assert_same_answer({"next": {"next": None}}, "Node")
        assert not _assert_same_answer({"next": {"next": 1}}, "Node")
