"""Loading a native flow file: its located tree read into the model, then validated, with every problem of
the file, each with its line and column."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, cast, get_args

from flows.errors import FlowFileError, Problem, has_errors
from flows.model import Exit, Flow, FlowType, Node, Router
from flows.native.actions import ActionReader
from flows.native.build_context import BuildContext
from flows.native.collector import collector_paused
from flows.native.defaults import DEFAULT_EXPIRE_MINUTES, DEFAULT_LANGUAGE, END, SPEC_VERSION
from flows.native.identifiers import exit_uuid_for, flow_uuid_for, is_uuid, node_uuid_for
from flows.native.reader import Pairs, Reader
from flows.native.routers import RouterReader
from flows.native.yaml_node import MAP, YNode
from flows.native.yaml_tree import read_source_file, read_yaml
from flows.validate import Finding, validate_flow

_FLOW_KEYS: Final = frozenset(
    {
        "flow",
        "uuid",
        "language",
        "type",
        "expire_after",
        "accent_insensitive",
        "anonymous",
        "spec_version",
        "nodes",
        "translations",
    }
)
_NODE_KEYS: Final = frozenset(
    {
        "uuid",
        "send",
        "quick_replies",
        "do",
        "wait",
        "operand",
        "save_as",
        "routes",
        "random",
        "go",
        "exit_uuid",
        "exit_order",
    }
)
_FLOW_TYPES: Final = get_args(FlowType)


@dataclass
class LoadedFlow:
    """A flow file read as far as it would go: the flow (None when it has errors), every problem, where each
    item was written (uuid → line, column), and the flow's name and uuid when those at least could be read."""

    source: str
    flow: Flow | None
    problems: list[Problem]
    locations: dict[str, tuple[int, int]] = field(default_factory=dict)
    identity: tuple[str, str] | None = None  # (uuid, name)

    def locate(self, finding: Finding) -> Problem:
        for uuid in (finding.item_uuid, finding.node_uuid, finding.flow_uuid):
            if uuid is not None and uuid in self.locations:
                line, column = self.locations[uuid]
                return finding.as_problem(self.source, line, column)
        return finding.as_problem(self.source)


def read_flow(text: str, source: str = "<text>") -> LoadedFlow:
    """Load and validate a flow file's text, collecting every problem (the building block of the public API)."""
    with collector_paused():
        return _read_flow(text, source)


def _read_flow(text: str, source: str) -> LoadedFlow:
    root, problems = read_yaml(text, source)
    if root is None:
        return LoadedFlow(source, None, problems)
    builder = _FlowBuilder(Reader(source))
    flow = builder.build(root)
    context = builder.context
    loaded = LoadedFlow(source, None, builder.reader.problems, context.locations, context.identity)
    if flow is not None:
        loaded.problems.extend(loaded.locate(finding) for finding in validate_flow(flow))
        if not has_errors(loaded.problems):
            loaded.flow = flow
    return loaded


def check_flow_text(text: str, source: str = "<text>") -> tuple[Flow | None, list[Problem]]:
    """The flow (None when there are errors) and every problem, warnings included."""
    loaded = read_flow(text, source)
    return loaded.flow, loaded.problems


def load_flow_text(text: str, source: str = "<text>") -> Flow:
    """The flow in ``text``; raises FlowFileError with every located problem when it has errors."""
    loaded = read_flow(text, source)
    if loaded.flow is None:
        raise FlowFileError(loaded.problems)
    return loaded.flow


def read_flow_file(path: Path) -> LoadedFlow:
    text, problems = read_source_file(path)
    if text is None:
        return LoadedFlow(str(path), None, problems)
    return read_flow(text, str(path))


def load_flow(path: Path) -> Flow:
    loaded = read_flow_file(path)
    if loaded.flow is None:
        raise FlowFileError(loaded.problems)
    return loaded.flow


class _FlowBuilder:
    """The flow and its nodes; actions and routes are read by their own readers, which share its context (held
    by each of them, never pointing back at the builder, so a loaded file leaves no cycle for the collector)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.context = BuildContext(reader)
        self.actions = ActionReader(self.context)
        self.routers = RouterReader(self.context)

    def build(self, root: YNode) -> Flow | None:
        r = self.reader
        if root.kind != MAP:
            r.error(root, "a flow file is a set of `key: value` lines, starting with `flow: <name>`")
            return None
        keys = r.mapping(root, "the flow", _FLOW_KEYS, required=("flow", "nodes"))
        name = r.name(keys["flow"][1], "the flow's name") if "flow" in keys else None
        if name is None:
            return None
        uuid = self.context.optional_uuid(keys, "uuid") or flow_uuid_for(name)
        self.context.identity = (uuid, name)
        self.context.here(uuid, keys["flow"][0])
        if "language" in keys:
            self.context.language = r.name(keys["language"][1], "language") or DEFAULT_LANGUAGE
        flow_type = r.choice(keys["type"][1], "type", _FLOW_TYPES) if "type" in keys else "messaging"
        expire = DEFAULT_EXPIRE_MINUTES
        if "expire_after" in keys:
            seconds = r.duration(keys["expire_after"][1], "expire_after")
            if seconds is not None and seconds % 60:
                r.error(keys["expire_after"][1], "expire_after is counted in whole minutes")
            expire = (seconds or 0) // 60 if seconds is not None else expire
        accent = (
            r.boolean(keys["accent_insensitive"][1], "accent_insensitive")
            if "accent_insensitive" in keys
            else True
        )
        anonymous = r.boolean(keys["anonymous"][1], "anonymous") if "anonymous" in keys else False
        spec = r.name(keys["spec_version"][1], "spec_version") if "spec_version" in keys else SPEC_VERSION
        if "translations" in keys:
            self.read_translations(keys["translations"][1])
        nodes = self.read_nodes(keys["nodes"][1]) if "nodes" in keys else None
        if nodes is None or flow_type is None or accent is None or anonymous is None or spec is None:
            return None
        return Flow(
            uuid=uuid,
            name=name,
            language=self.context.language,
            nodes=nodes,
            type=cast(FlowType, flow_type),
            expire_after_minutes=expire,
            localization=self.context.localization,
            accent_insensitive=accent,
            anonymous=anonymous,
            spec_version=spec,
        )

    def read_translations(self, node: YNode) -> None:
        r = self.reader
        if node.is_null or not r.expect(node, MAP, "translations"):
            return
        for lang, items in node.value:
            language = self.context.localization.setdefault(lang.value, {})
            if items.is_null or not r.expect(items, MAP, f"the {lang.value} translations"):
                continue
            for uuid, props in items.value:
                item = language.setdefault(uuid.value, {})
                if props.is_null or not r.expect(props, MAP, f"the translations of {uuid.value}"):
                    continue
                for prop, values in props.value:
                    texts = r.texts(values, f"the {lang.value} {prop.value}")
                    if texts is not None:
                        item[prop.value] = tuple(texts)

    # nodes

    def read_nodes(self, node: YNode) -> tuple[Node, ...] | None:
        r = self.reader
        if node.is_null or not r.expect(node, MAP, "nodes"):
            if node.is_null:
                r.error(node, "the flow has no nodes: a flow needs at least one step")
            return None
        assert self.context.identity is not None
        flow_uuid = self.context.identity[0]
        entries = []
        for key, value in node.value:
            body = r.mapping(value, f"node '{key.value}'", _NODE_KEYS)
            explicit = self.context.optional_uuid(body, "uuid")
            if explicit is not None:
                name: str | None = key.value
                uuid = explicit
            elif is_uuid(key.value):
                name, uuid = None, key.value
            else:
                name, uuid = key.value, node_uuid_for(flow_uuid, key.value)
            if key.value == END:
                r.error(key, "a node cannot be called 'end': `go: end` finishes the flow")
            self.context.node_keys[key.value] = uuid
            self.context.here(uuid, key)
            entries.append((key, value, body, name, uuid))
        built = []
        for key, value, body, name, uuid in entries:
            result = self.read_node(key.value, value, body, name, uuid)
            if result is not None:
                built.append(result)
        if len(built) != len(entries):
            return None
        return tuple(built)

    def read_node(self, key: str, at: YNode, body: Pairs, name: str | None, uuid: str) -> Node | None:
        r = self.reader
        owner = f"node '{key}'"
        ok = True
        actions = self.actions.read_node_actions(owner, at, body, uuid)
        if actions is None:
            ok = False
        routed = "routes" in body or "random" in body
        waits = "wait" in body or "save_as" in body or "operand" in body
        if "routes" in body and "random" in body:
            r.error(body["random"][0], f"{owner} has both `routes` and `random`; keep one")
            return None
        if routed and "go" in body:
            r.error(body["go"][0], f"{owner} has routes, so each route says where to go; remove this `go`")
            ok = False
        if "exit_uuid" in body and (routed or waits):
            r.error(body["exit_uuid"][0], f"{owner}: exit_uuid belongs on a node without routes")
            ok = False
        exit_order = r.texts(body["exit_order"][1], "exit_order") if "exit_order" in body else None
        router: Router | None = None
        exits: tuple[Exit, ...]
        if routed or waits:
            routed_node = self.routers.read_router(owner, uuid, body)
            if routed_node is None:
                return None
            router, exits = routed_node
        else:
            target, understood = (None, True)
            if "go" in body:
                target, understood = self.context.destination(body["go"][1], owner)
            exit_uuid = self.context.optional_uuid(body, "exit_uuid") or exit_uuid_for(uuid)
            ok = ok and understood
            exits = (Exit(exit_uuid, target),)
            self.context.here(exit_uuid, body["go"][1] if "go" in body else at)
        if exit_order is not None:
            by_uuid = {e.uuid: e for e in exits}
            if sorted(exit_order) != sorted(by_uuid):
                r.error(
                    body["exit_order"][1], f"{owner}: exit_order must list each exit uuid of the node once"
                )
                ok = False
            else:
                exits = tuple(by_uuid[u] for u in exit_order)
        if not ok or actions is None:
            return None
        return Node(uuid=uuid, actions=actions, router=router, exits=exits, name=name)
