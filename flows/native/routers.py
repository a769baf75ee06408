"""Reading a node's routes: ``routes`` (tests, ``other``, ``timeout``), ``random`` splits, and ``wait`` or
``save_as`` with a single ``go``, into the model's router, its categories and the node's exits. Routes that
name the same category share it, and its exit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from flows.model import Case, Category, Exit, Router, Timeout, Wait
from flows.native.build_context import BuildContext
from flows.native.defaults import (
    ALL_RESPONSES,
    DEFAULT_OPERAND,
    END,
    NO_RESPONSE,
    OTHER,
    default_category_name,
)
from flows.native.identifiers import case_uuid_for, category_uuid_for, exit_uuid_for
from flows.native.reader import Pairs
from flows.native.yaml_node import LIST, MAP, TRUE_SPELLINGS, YNode
from flows.routertests import KNOWN_TESTS
from flows.validate import arity

_ROUTE_WORDS: Final = ("says", "other", "timeout")
_ROUTE_MODIFIERS: Final = ("go", "category", "case_uuid", "category_uuid", "exit_uuid")
_ROUTE_KEYS: Final = frozenset({*_ROUTE_WORDS, *KNOWN_TESTS, *_ROUTE_MODIFIERS})
_RANDOM_ROUTE_KEYS: Final = frozenset(_ROUTE_MODIFIERS)
# The category a route files its answers under when it names none and its test does not name it.
_FIXED_CATEGORY_NAMES: Final[dict[str | None, str]] = {None: "", "other": OTHER, "timeout": NO_RESPONSE}


@dataclass
class _Category:
    """A category while a node's routes are read: routes that name the same category share it."""

    uuid: str
    name: str
    names: dict[str, str]  # translations of the name
    exit_uuid: str
    go: str | None
    go_node: YNode


class RouterReader:
    """Reads a node's router and exits, recording places and translations in the shared context."""

    def __init__(self, context: BuildContext) -> None:
        self.context = context
        self.reader = context.reader

    def read_router(self, owner: str, node_uuid: str, body: Pairs) -> tuple[Router, tuple[Exit, ...]] | None:
        r = self.reader
        operand = r.text(body["operand"][1], "operand") if "operand" in body else DEFAULT_OPERAND
        result_name = r.text(body["save_as"][1], "save_as") if "save_as" in body else None
        waits = False
        if "wait" in body:
            wait = r.choice(body["wait"][1], "wait", ("reply",))
            if wait is None:
                return None
            waits = True
        if operand is None or ("save_as" in body and result_name is None):
            return None
        categories: dict[str, _Category] = {}
        cases: list[Case] = []
        default: str | None = None
        timeout: Timeout | None = None
        kind: Literal["switch", "random"] = "switch"
        ok = True
        if "routes" in body or "random" in body:
            key = "routes" if "routes" in body else "random"
            kind = "switch" if key == "routes" else "random"
            routes = body[key][1]
            if routes.is_null or not r.expect(routes, LIST, f"`{key}` of {owner}"):
                if routes.is_null:
                    r.error(routes, f"{owner} has no {key}")
                return None
            for route in routes.value:
                read = self.read_route(owner, node_uuid, route, kind, categories, len(cases))
                if read is None:
                    ok = False
                    continue
                role, category_uuid, extra = read
                if role == "case":
                    assert isinstance(extra, Case)
                    cases.append(extra)
                elif role == "other":
                    if default is not None:
                        r.error(route, f"{owner} has two `other` routes")
                        ok = False
                    default = category_uuid
                elif role == "timeout":
                    if timeout is not None:
                        r.error(route, f"{owner} has two `timeout` routes")
                        ok = False
                    assert isinstance(extra, int)
                    timeout = Timeout(extra, category_uuid)
                    waits = True
        else:
            # `wait`/`save_as` with `go`: any answer is taken, as RapidPro's "All Responses".
            category_uuid = category_uuid_for(node_uuid, ALL_RESPONSES)
            target, understood = (None, True)
            go_node = next(body[k][1] for k in ("go", "wait", "save_as", "operand") if k in body)
            if "go" in body:
                target, understood = self.context.destination(body["go"][1], owner)
            ok = understood
            categories[ALL_RESPONSES] = _Category(
                category_uuid, ALL_RESPONSES, {}, exit_uuid_for(category_uuid), target, go_node
            )
            self.context.here(category_uuid, go_node)
            default = category_uuid
        if not ok:
            return None
        exits: dict[str, Exit] = {}
        for category in categories.values():
            known = exits.get(category.exit_uuid)
            if known is not None and known.destination_uuid != category.go:
                r.error(category.go_node, f"{owner}: categories sharing an exit must go to the same node")
                return None
            exits[category.exit_uuid] = Exit(category.exit_uuid, category.go)
            self.context.here(category.exit_uuid, category.go_node)
        router = Router(
            kind=kind,
            categories=tuple(Category(c.uuid, c.name, c.exit_uuid) for c in categories.values()),
            operand=operand,
            cases=tuple(cases),
            default_category_uuid=default,
            result_name=result_name,
            wait=Wait(timeout) if waits else None,
        )
        return router, tuple(exits.values())

    def read_route(
        self,
        owner: str,
        node_uuid: str,
        route: YNode,
        kind: str,
        categories: dict[str, _Category],
        case_index: int,
    ) -> tuple[str, str, Case | int | None] | None:
        """One route: its role (case, other, timeout or a bare category), its category's uuid, and the case
        or the timeout's seconds."""
        r = self.reader
        allowed = _RANDOM_ROUTE_KEYS if kind == "random" else _ROUTE_KEYS
        if route.kind != MAP:
            r.error(route, f"each route of {owner} is a set of `key: value` lines, such as `- other: {END}`")
            return None
        keys = r.mapping(route, f"a route of {owner}", allowed)
        conditions = [k for k in keys if k not in _ROUTE_MODIFIERS]
        if len(conditions) > 1:
            r.error(keys[conditions[1]][0], f"a route has one test; this one also has `{conditions[0]}`")
            return None
        condition = conditions[0] if conditions else None
        if condition is None and "category" not in keys:
            what = (
                "`category:` and `go:`"
                if kind == "random"
                else "a test (such as says or has_text), `other` or `timeout`"
            )
            if len(keys) == len(route.value):
                r.error(route, f"a route of {owner} needs {what}")
            return None
        if condition == "other":
            if "go" in keys:
                r.error(keys["go"][0], "write where `other` goes as `other: <node>`; remove this `go`")
                return None
            go_node = keys["other"][1]
        elif "go" in keys:
            go_node = keys["go"][1]
        else:
            r.error(route, f"this route of {owner} needs `go:` (a node, or {END})")
            return None
        target, understood = self.context.destination(go_node, owner)
        if not understood:
            return None
        seconds: int | None = None
        arguments: tuple[tuple[str, ...], dict[str, tuple[str, ...]]] | None = None
        test = ""
        if condition == "timeout":
            seconds = r.duration(keys["timeout"][1], "the timeout")
            if seconds is None:
                return None
        elif condition is not None and condition != "other":
            test = "has_any_word" if condition == "says" else condition
            arguments = self.read_arguments(keys[condition][1], condition)
            if arguments is None:
                return None
        default_name = _FIXED_CATEGORY_NAMES.get(condition)
        if default_name is None:
            assert arguments is not None
            default_name = default_category_name(test, arguments[0])
        category = self.route_category(owner, node_uuid, keys, default_name, target, go_node, categories)
        if category is None:
            return None
        if condition is None:
            return "category", category.uuid, None
        if condition == "other":
            return "other", category.uuid, None
        if condition == "timeout":
            return "timeout", category.uuid, seconds
        assert arguments is not None
        case_uuid = self.context.optional_uuid(keys, "case_uuid") or case_uuid_for(node_uuid, case_index)
        self.context.here(case_uuid, route)
        for lang, values in arguments[1].items():
            self.context.translate(lang, case_uuid, "arguments", values, keys[condition][1])
        return "case", category.uuid, Case(case_uuid, test, arguments[0], category.uuid)

    def read_arguments(
        self, node: YNode, condition: str
    ) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]] | None:
        r = self.reader
        says = condition == "says"
        zero_allowed = not says and arity(condition)[0] == 0

        def convert(item: YNode, what: str) -> tuple[str, ...] | None:
            if item.plain and (item.value == "" or (zero_allowed and item.value in TRUE_SPELLINGS)):
                return ()
            values = r.texts(item, what)
            if values is None:
                return None
            if not says:
                return tuple(values)
            words = [word for value in values for word in value.split()]
            if item.kind == LIST and len(words) != len(values):
                r.error(item, "each item of `says` is one word; for several words in a row use has_phrase")
                return None
            if not words:
                r.error(item, "`says` needs at least one word")
                return None
            return (" ".join(words),)

        return self.context.localized(node, f"the {condition} values", convert)

    def route_category(
        self,
        owner: str,
        node_uuid: str,
        keys: Pairs,
        default_name: str,
        target: str | None,
        go_node: YNode,
        categories: dict[str, _Category],
    ) -> _Category | None:
        r = self.reader
        names: tuple[str, dict[str, str]] | None = (default_name, {})
        if "category" in keys:
            names = self.context.localized(keys["category"][1], "category", r.text)
        explicit = self.context.optional_uuid(keys, "category_uuid")
        if names is None:
            return None
        name, translations = names
        identity = explicit or name
        uuid = explicit or category_uuid_for(node_uuid, name)
        exit_uuid = self.context.optional_uuid(keys, "exit_uuid") or exit_uuid_for(uuid)
        known = categories.get(identity)
        if known is None:
            known = _Category(uuid, name, translations, exit_uuid, target, go_node)
            categories[identity] = known
            at = keys["category"][1] if "category" in keys else go_node
            self.context.here(uuid, at)
            for lang, text in translations.items():
                self.context.translate(lang, uuid, "name", (text,), at)
            return known
        if known.go != target:
            r.error(
                go_node,
                f"{owner}: two routes are filed under the category '{name}' but go to different nodes;"
                " give one a different `category:`",
            )
            return None
        if known.name != name or known.names != translations or known.exit_uuid != exit_uuid:
            r.error(
                go_node,
                f"{owner}: the routes of the category '{name}' must give it the same name and translations",
            )
            return None
        return known
