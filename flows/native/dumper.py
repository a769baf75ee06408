"""Writing a model flow as native YAML, saying explicitly only what the format would not derive by default
(``uuid``, ``category_uuid``, ``exit_order``, ``translations``...), so that
``load_flow_text(dump_flow(flow)) == flow`` for every flow that validates, imported ones included."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, cast

from flows.model import (
    Action,
    AddContactGroups,
    AddInputLabels,
    CallWebhook,
    Case,
    EnterFlow,
    Flow,
    GroupRef,
    Node,
    RaiseAlert,
    RemoveContactGroups,
    Router,
    SendMsg,
    SetContactField,
    SetContactLanguage,
    SetContactName,
    SetContactStatus,
    SetContactTimezone,
    SetRunResult,
    UnsupportedAction,
)
from flows.native.defaults import (
    ALL_RESPONSES,
    DEFAULT_EXPIRE_MINUTES,
    DEFAULT_OPERAND,
    END,
    NO_RESPONSE,
    OTHER,
    SPEC_VERSION,
    default_category_name,
)
from flows.native.durations import format_duration
from flows.native.identifiers import (
    action_uuid_for,
    case_uuid_for,
    category_uuid_for,
    exit_uuid_for,
    flow_uuid_for,
    group_uuid_for,
    is_uuid,
    node_uuid_for,
)
from flows.native.yaml_writer import InlineMap, short_list, space_out, to_yaml
from flows.routertests import KNOWN_TESTS
from flows.validate import arity


def dump_flow(flow: Flow) -> str:
    """``flow`` as native YAML; ``load_flow_text(dump_flow(flow)) == flow`` for every flow that validates."""
    return space_out(to_yaml(_FlowDumper(flow).dump()), "nodes")


class _FlowDumper:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.consumed: set[tuple[str, str, str]] = set()
        self.keys = {node.uuid: node.name if node.name is not None else node.uuid for node in flow.nodes}

    def dump(self) -> dict[str, Any]:
        flow = self.flow
        out: dict[str, Any] = {"flow": flow.name}
        if flow.uuid != flow_uuid_for(flow.name):
            out["uuid"] = flow.uuid
        out["language"] = flow.language
        if flow.type != "messaging":
            out["type"] = flow.type
        if flow.expire_after_minutes != DEFAULT_EXPIRE_MINUTES:
            out["expire_after"] = format_duration(flow.expire_after_minutes * 60)
        if not flow.accent_insensitive:
            out["accent_insensitive"] = False
        if flow.anonymous:
            out["anonymous"] = True
        if flow.spec_version != SPEC_VERSION:
            out["spec_version"] = flow.spec_version
        out["nodes"] = {self.keys[node.uuid]: self.node(node) for node in flow.nodes}
        translations = self.leftover_translations()
        if translations:
            out["translations"] = translations
        return out

    # translations

    def inline(self, uuid: str, prop: str, single: bool) -> dict[str, tuple[str, ...]]:
        """The translations of ``uuid``'s ``prop`` that can be written beside it (marking them as written)."""
        found = {}
        for language, items in self.flow.localization.items():
            values = items.get(uuid, {}).get(prop)
            if language == self.flow.language or values is None or (single and len(values) != 1):
                continue
            found[language] = values
        return found

    def consume(self, uuid: str, prop: str, languages: Collection[str]) -> None:
        self.consumed.update((language, uuid, prop) for language in languages)

    def localized_text(self, uuid: str, prop: str, base: str) -> Any:
        others = self.inline(uuid, prop, single=True)
        self.consume(uuid, prop, others)
        if not others:
            return base
        return {self.flow.language: base, **{lang: values[0] for lang, values in others.items()}}

    def localized_list(self, uuid: str, prop: str, base: Sequence[str]) -> Any:
        others = self.inline(uuid, prop, single=False)
        self.consume(uuid, prop, others)
        if not others:
            return short_list(base)
        return {
            self.flow.language: short_list(base),
            **{lang: short_list(values) for lang, values in others.items()},
        }

    def leftover_translations(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for language, items in self.flow.localization.items():
            kept: dict[str, Any] = {}
            for uuid, props in items.items():
                left = {p: list(v) for p, v in props.items() if (language, uuid, p) not in self.consumed}
                if left or not props:
                    kept[uuid] = left
            if kept or not items:
                out[language] = kept
        return out

    # nodes

    def node(self, node: Node) -> dict[str, Any]:
        out: dict[str, Any] = {}
        derived = node_uuid_for(self.flow.uuid, node.name) if node.name is not None else None
        if node.name is not None and (node.uuid != derived or is_uuid(node.name)):
            out["uuid"] = node.uuid
        self.actions(node, out)
        if node.router is None:
            if node.exits:
                exit_ = node.exits[0]
                if exit_.uuid != exit_uuid_for(node.uuid):
                    out["exit_uuid"] = exit_.uuid
                out["go"] = self.go(exit_.destination_uuid)
            return out
        self.router(node, node.router, out)
        return out

    def go(self, destination: str | None) -> str:
        return END if destination is None else self.keys.get(destination, destination)

    def actions(self, node: Node, out: dict[str, Any]) -> None:
        actions = list(node.actions)
        first = actions[0] if actions else None
        last = actions[-1] if actions else None
        if isinstance(first, SendMsg) and first.uuid == action_uuid_for(node.uuid, 0):
            self.node_send(first, out)
            if actions[1:]:
                out["do"] = [self.action(node, a, i) for i, a in enumerate(actions[1:], 1)]
        elif isinstance(last, SendMsg) and last.uuid == action_uuid_for(node.uuid, len(actions) - 1):
            out["do"] = [self.action(node, a, i) for i, a in enumerate(actions[:-1])]
            self.node_send(last, out)
        elif actions:
            out["do"] = [self.action(node, a, i) for i, a in enumerate(actions)]

    def node_send(self, action: SendMsg, out: dict[str, Any]) -> None:
        out["send"] = self.localized_text(action.uuid, "text", action.text)
        replies = self.localized_list(action.uuid, "quick_replies", action.quick_replies)
        if action.quick_replies or isinstance(replies, dict):
            out["quick_replies"] = replies

    def action(self, node: Node, action: Action, index: int) -> dict[str, Any]:
        out: dict[str, Any] = self.action_body(action)
        if action.uuid != action_uuid_for(node.uuid, index):
            out["uuid"] = action.uuid
        return out

    def action_body(self, action: Action) -> dict[str, Any]:
        match action:
            case SendMsg():
                out: dict[str, Any] = {}
                self.node_send(action, out)
                return out
            case SetContactField(field_key=key, field_name=name, value=value):
                out = {"set_field": InlineMap({key: value}) if "\n" not in value else {key: value}}
                if name != key:
                    out["field_name"] = name
                return out
            case SetContactName(name=name):
                return {"set_name": name}
            case SetContactLanguage(language=language):
                return {"set_language": language}
            case SetContactStatus(status=status):
                return {"set_status": status}
            case SetContactTimezone(timezone=timezone):
                return {"set_timezone": timezone}
            case SetRunResult(name=name, value=value, category=category):
                out = {"set_result": name, "value": value}
                localized = self.localized_text(action.uuid, "category", category)
                if category or isinstance(localized, dict):
                    out["category"] = localized
                return out
            case AddContactGroups(groups=groups):
                return {"add_groups": self.groups(groups)}
            case RemoveContactGroups(groups=groups, all_groups=all_groups):
                if all_groups and not groups:
                    return {"remove_groups": "all"}
                out = {"remove_groups": self.groups(groups)}
                if all_groups:
                    out["all_groups"] = True
                return out
            case EnterFlow(flow=ref, terminal=terminal):
                out = {"enter_flow": ref.name}
                if ref.uuid != flow_uuid_for(ref.name):
                    out["flow_uuid"] = ref.uuid
                if terminal:
                    out["terminal"] = True
                return out
            case RaiseAlert(reason=reason):
                return {"raise_alert": reason}
            case CallWebhook():
                hook: dict[str, Any] = {}
                if action.method != "GET":
                    hook["method"] = action.method
                hook["url"] = action.url
                if action.headers:
                    hook["headers"] = dict(action.headers)
                if action.body:
                    hook["body"] = action.body
                if action.result_name:
                    hook["result"] = action.result_name
                return {"webhook": hook}
            case AddInputLabels(labels=labels):
                return {"add_labels": short_list(labels)}
            case UnsupportedAction(action_type=action_type, raw=raw):
                out = {"unsupported": action_type}
                if raw:
                    out["raw"] = dict(raw)
                return out
        raise TypeError(f"not an action: {action!r}")  # pragma: no cover - the union above is exhaustive

    def groups(self, groups: Sequence[GroupRef]) -> Any:
        if all(g.uuid == group_uuid_for(g.name) and g.name.strip() for g in groups):
            return short_list([g.name for g in groups])
        return [
            g.name
            if g.uuid == group_uuid_for(g.name) and g.name.strip()
            else {"name": g.name, "uuid": g.uuid}
            for g in groups
        ]

    # routers

    def router(self, node: Node, router: Router, out: dict[str, Any]) -> None:
        if router.wait is not None:
            out["wait"] = "reply"
        if router.operand != DEFAULT_OPERAND:
            out["operand"] = router.operand
        if router.result_name is not None:
            out["save_as"] = router.result_name
        if self.all_responses(node, router):
            out["go"] = self.go(node.exits[0].destination_uuid)
            return
        exits = {e.uuid: e for e in node.exits}
        by_uuid = {c.uuid: c for c in router.categories}
        names = [c.name for c in router.categories]
        explicit = {
            c.uuid
            for c in router.categories
            if c.uuid != category_uuid_for(node.uuid, c.name) or names.count(c.name) > 1
        }

        def route(category_uuid: str, default_name: str | None, body: dict[str, Any]) -> dict[str, Any]:
            """Finish a route with its category (named when the name is not the default) and destination.
            ``default_name`` None: a route without a test, which always names its category."""
            category = by_uuid.get(category_uuid)
            if category is None:  # an invalid flow: write what can be written
                body.setdefault("go", END)
                return body
            name = self.localized_text(category.uuid, "name", category.name)
            if name != default_name or category.uuid in explicit:
                body["category"] = name
            if category.uuid in explicit:
                body["category_uuid"] = category.uuid
            if category.exit_uuid != exit_uuid_for(category.uuid):
                body["exit_uuid"] = category.exit_uuid
            exit_ = exits.get(category.exit_uuid)
            destination = self.go(exit_.destination_uuid if exit_ is not None else None)
            if "other" in body:
                body["other"] = destination
            else:
                body["go"] = destination
            return body

        routes: list[tuple[str, dict[str, Any]]] = []
        for index, case in enumerate(router.cases):
            body, default_name = self.case(case)
            if case.uuid != case_uuid_for(node.uuid, index):
                body["case_uuid"] = case.uuid
            routes.append((case.category_uuid, route(case.category_uuid, default_name, body)))
        timeout = router.wait.timeout if router.wait is not None else None
        if timeout is not None:
            body = {"timeout": format_duration(timeout.seconds)}
            routes.append((timeout.category_uuid, route(timeout.category_uuid, NO_RESPONSE, body)))
        if router.default_category_uuid is not None:
            default = router.default_category_uuid
            routes.append((default, route(default, OTHER, {"other": END})))
        chosen = {uuid for uuid, _ in routes}
        routes.extend((c.uuid, route(c.uuid, None, {})) for c in router.categories if c.uuid not in chosen)
        # Categories are read back in the order they first appear; when the model's order differs, every
        # category is declared first, in its order.
        if list(dict.fromkeys(uuid for uuid, _ in routes)) != [c.uuid for c in router.categories]:
            routes = [(c.uuid, route(c.uuid, None, {})) for c in router.categories] + routes
        out["random" if router.kind == "random" else "routes"] = [body for _, body in routes]
        derived_order = list(dict.fromkeys(c.exit_uuid for c in router.categories))
        if derived_order != [e.uuid for e in node.exits]:
            out["exit_order"] = [e.uuid for e in node.exits]

    def case(self, case: Case) -> tuple[dict[str, Any], str]:
        """A case as a route body, and the category name it would get by default."""
        default_name = default_category_name(case.test, case.arguments)
        others = self.inline(case.uuid, "arguments", single=False)
        says = case.test == "has_any_word" and all(
            _says_words(a) is not None for a in (case.arguments, *others.values())
        )
        self.consume(case.uuid, "arguments", others)
        if says:
            base = short_list(cast(list[str], _says_words(case.arguments)))
            if not others:
                return {"says": base}, default_name
            return {
                "says": {
                    self.flow.language: base,
                    **{
                        lang: short_list(cast(list[str], _says_words(values)))
                        for lang, values in others.items()
                    },
                }
            }, default_name
        if others:
            value: Any = {
                self.flow.language: short_list(case.arguments),
                **{k: short_list(v) for k, v in others.items()},
            }
        elif not case.arguments and case.test in KNOWN_TESTS and arity(case.test)[0] == 0:
            value = True
        elif len(case.arguments) == 1:
            value = case.arguments[0]
        else:
            value = short_list(case.arguments)
        return {case.test: value}, default_name

    def all_responses(self, node: Node, router: Router) -> bool:
        """Whether the router is exactly what `wait`/`save_as` with `go` reads as."""
        if router.kind != "switch" or router.cases or len(router.categories) != 1 or len(node.exits) != 1:
            return False
        category = router.categories[0]
        return (
            category.name == ALL_RESPONSES
            and category.uuid == category_uuid_for(node.uuid, ALL_RESPONSES)
            and category.exit_uuid == exit_uuid_for(category.uuid) == node.exits[0].uuid
            and router.default_category_uuid == category.uuid
            and (router.wait is None or router.wait.timeout is None)
            and (
                router.wait is not None or router.result_name is not None or router.operand != DEFAULT_OPERAND
            )
            and not self.inline(category.uuid, "name", single=True)
        )


def _says_words(arguments: Sequence[str]) -> list[str] | None:
    """The words of a has_any_word case when it can be written as ``says: [...]`` and read back the same."""
    if len(arguments) != 1:
        return None
    words = arguments[0].split()
    return words if words and " ".join(words) == arguments[0] else None
