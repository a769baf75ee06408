"""One RapidPro flow definition (spec 13.0.0 up to 14.x) → ``model.Flow``.

The spec migrations goflow applies when it loads an older definition are applied here too, so every imported
flow reads as a current one whatever RapidPro wrote it: ``base`` languages become ``und`` (13.2.0),
``@webhook`` becomes ``@webhook.json`` (13.3.0), long names and lookups are cut (13.6.0, 13.6.1), expiry is
capped and empty categories named (14.0.0), webhook routers split on the HTTP status (14.1.0, 14.4.1, 14.4.2),
bad translation languages go (14.2.0) and text tests get one argument (14.3.1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from flows import model
from flows.rapidpro.actions import MAX_RESULT_NAME, convert_action, truncated
from flows.rapidpro.document import FIRST_SUPPORTED, FIRST_UNSUPPORTED, Version, parse_version, show_version
from flows.rapidpro.localization import convert_localization
from flows.rapidpro.reader import Obj
from flows.rapidpro.routers import SINGLE_TEXT_ARGUMENT_TESTS, convert_router
from flows.rapidpro.state import ImportState, NodeScope
from flows.rapidpro.templates import truncate_result_lookups, webhook_to_json
from flows.values.text import snakify

MAX_NODES = 1000  # goflow flows/flows.go limits
MAX_ACTIONS = 100
MAX_EXITS = 100
MAX_EXPIRE_MINUTES = 20160  # spec 14.0.0: two weeks for messaging flows
DEFAULT_EXPIRE_MINUTES = 10080

WEBHOOK_ACTIONS = frozenset({"call_webhook", "call_resthook"})
WEBHOOK_STATUS = "@webhook.status"

_FLOW_TYPES: dict[str, model.FlowType] = {
    "messaging": "messaging",
    "messaging_background": "messaging_background",
}
_OTHER_FLOW_TYPES = {
    "messaging_offline": "a Surveyor (offline) flow",
    "voice": "a voice (IVR) flow",
}


def spec_version(flow: Obj) -> tuple[Version, str]:
    raw = flow.data.get("spec_version")
    version = parse_version(raw)
    if version is None:
        flow.error(f'expected a flow spec version such as "13.1.0", found {raw!r}', "spec_version")
    if version >= FIRST_UNSUPPORTED:
        flow.error(
            f"flow spec {show_version(version)} is newer than recado understands (13.0.0 up to 14.x); "
            "import it with a recado version that supports it, or export it from a RapidPro that writes 14.x",
            "spec_version",
        )
    if version < FIRST_SUPPORTED:
        flow.error(
            f"flow spec {show_version(version)} is the legacy format, which recado does not import",
            "spec_version",
        )
    return version, show_version(version)


def convert_flow(flow: Obj, state: ImportState) -> model.Flow:
    uuid = flow.text("uuid")
    name = flow.text("name")
    flow = flow.within(f'flow "{name}"')
    version, spec = spec_version(flow)
    scope = NodeScope(state, name, None, lambda text: text)

    language = flow.opt_text("language")
    base_replaced = len(language) != 3
    if base_replaced:  # 13.2.0: "base" (and anything else that is not ISO 639-3) is "und", undetermined
        language = "und"

    flow_type = _flow_type(flow, scope)
    expire = _expire_after(flow, flow_type, scope)

    node_objs = flow.objs("nodes", required=True)
    if len(node_objs) > MAX_NODES:
        flow.error(f"{len(node_objs)} nodes; RapidPro allows at most {MAX_NODES}", "nodes")
    template = _template_migrations(version, node_objs)

    nodes = [_convert_node(node, state, name, template) for node in node_objs]
    _check_graph(flow, node_objs, nodes)
    nodes, webhook_cases = _normalise_webhook_routers(nodes, version)

    joined_cases = {
        case.uuid
        for node in nodes
        if node.router is not None
        for case in node.router.cases
        if case.test in SINGLE_TEXT_ARGUMENT_TESTS
    }
    localization = convert_localization(flow, base_replaced, joined_cases, webhook_cases, template, scope)
    return model.Flow(
        uuid=uuid,
        name=name,
        language=language,
        nodes=tuple(nodes),
        type=flow_type,
        expire_after_minutes=expire,
        localization=localization,
        accent_insensitive=False,  # imported flows keep RapidPro's exact matching ("sí" is not "si")
        spec_version=spec,
    )


def _flow_type(flow: Obj, scope: NodeScope) -> model.FlowType:
    kind = flow.opt_text("type", "messaging")
    if kind in _FLOW_TYPES:
        return _FLOW_TYPES[kind]
    what = _OTHER_FLOW_TYPES.get(kind, f"of the unknown type {kind!r}")
    scope.report(
        "unsupported", f"flow type {kind}", f"the flow is {what}; it is imported as an SMS (messaging) flow"
    )
    return "messaging"


def _expire_after(flow: Obj, flow_type: model.FlowType, scope: NodeScope) -> int:
    expire = flow.opt_int("expire_after_minutes", DEFAULT_EXPIRE_MINUTES)
    assert expire is not None
    if expire <= 0:
        scope.report(
            "changed",
            "expiry",
            f"expire_after_minutes {expire} replaced by the default, {DEFAULT_EXPIRE_MINUTES}",
        )
        return DEFAULT_EXPIRE_MINUTES
    if flow_type == "messaging" and expire > MAX_EXPIRE_MINUTES:
        scope.report(
            "changed", "expiry", f"expire_after_minutes {expire} capped at {MAX_EXPIRE_MINUTES} (two weeks)"
        )
        return MAX_EXPIRE_MINUTES
    return expire


def _template_migrations(version: Version, node_objs: list[Obj]) -> Callable[[str], str]:
    rename_webhook = version < (13, 3, 0)
    result_keys = _result_keys(node_objs) if version < (13, 6, 1) else None

    def migrate(text: str) -> str:
        if rename_webhook:
            text = webhook_to_json(text)
        if result_keys is not None:
            text = truncate_result_lookups(text, result_keys)
        return text

    return migrate


def _result_keys(node_objs: list[Obj]) -> frozenset[str]:
    """The keys of the results the flow saves, after 13.6.0 cut their names (for the 13.6.1 lookups)."""
    names = []
    for node in node_objs:
        router = node.data.get("router")
        if isinstance(router, Mapping):
            names.append(router.get("result_name"))
        actions = node.data.get("actions")
        for action in actions if isinstance(actions, list | tuple) else []:
            if isinstance(action, Mapping) and action.get("type") == "set_run_result":
                names.append(action.get("name"))
    return frozenset(
        snakify(truncated(name, MAX_RESULT_NAME)) for name in names if isinstance(name, str) and name
    )


def _convert_node(
    node: Obj, state: ImportState, flow_name: str, template: Callable[[str], str]
) -> model.Node:
    uuid = node.text("uuid")
    node = node.within(f'flow "{flow_name}", node {uuid}')
    scope = NodeScope(state, flow_name, uuid, template)
    exit_objs = node.objs("exits", required=True)
    if not exit_objs:
        node.error("a node needs at least one exit", "exits")
    if len(exit_objs) > MAX_EXITS:
        node.error(f"{len(exit_objs)} exits; RapidPro allows at most {MAX_EXITS}", "exits")
    exits = tuple(
        model.Exit(uuid=exit.text("uuid"), destination_uuid=exit.opt_text("destination_uuid") or None)
        for exit in exit_objs
    )
    action_objs = node.objs("actions")
    if len(action_objs) > MAX_ACTIONS:
        node.error(f"{len(action_objs)} actions; RapidPro allows at most {MAX_ACTIONS}", "actions")
    actions = tuple(convert_action(action, scope) for action in action_objs)
    router_obj = node.opt_obj("router")
    router = None
    if router_obj is not None:
        router = convert_router(router_obj, frozenset(exit.uuid for exit in exits), scope)
    return model.Node(uuid=uuid, actions=actions, router=router, exits=exits)


def _check_graph(flow: Obj, node_objs: list[Obj], nodes: list[model.Node]) -> None:
    """Refuse duplicate node uuids and exits that lead to no node: the engine could not follow them."""
    seen: set[str] = set()
    for obj, node in zip(node_objs, nodes, strict=True):
        if node.uuid in seen:
            obj.error(f"a second node with uuid {node.uuid}", "uuid")
        seen.add(node.uuid)
    for obj, node in zip(node_objs, nodes, strict=True):
        for index, exit in enumerate(node.exits):
            if exit.destination_uuid is not None and exit.destination_uuid not in seen:
                obj.error(
                    f"exit {exit.uuid} leads to {exit.destination_uuid}, which is not a node of this flow",
                    f"exits[{index}].destination_uuid",
                )


def _is_webhook_node(node: model.Node) -> bool:
    if len(node.actions) != 1 or node.router is None or node.router.kind != "switch":
        return False
    action = node.actions[0]
    return isinstance(action, model.CallWebhook) or (
        isinstance(action, model.UnsupportedAction) and action.action_type in WEBHOOK_ACTIONS
    )


def _normalise_webhook_routers(
    nodes: list[model.Node], version: Version
) -> tuple[list[model.Node], set[str]]:
    """Spec 14.1.0/14.4.1: a webhook node's router has one case, 200 ≤ ``@webhook.status`` ≤ 299 → its first
    category; 14.4.2 wraps the operand in ``default(..., 0)`` so a call that never happened routes to Failure.
    Returns the nodes and the uuids of the cases whose translated arguments no longer apply."""
    dropped: set[str] = set()
    result = []
    for node in nodes:
        router = node.router
        if router is not None and _is_webhook_node(node) and router.cases:
            if version < (14, 4, 1):
                dropped.update(case.uuid for case in router.cases)
                first = dataclasses.replace(
                    router.cases[0], test="has_number_between", arguments=("200", "299")
                )
                router = dataclasses.replace(router, operand=WEBHOOK_STATUS, cases=(first,))
            if version < (14, 4, 2) and router.operand == WEBHOOK_STATUS:
                router = dataclasses.replace(router, operand="@(default(webhook.status, 0))")
            node = dataclasses.replace(node, router=router)
        result.append(node)
    return result, dropped
