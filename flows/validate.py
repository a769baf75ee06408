"""Semantic checks on the flow model, whatever format the flow came from.

The native YAML loader and the RapidPro importer both build a model and then ask these checks what is wrong
with it. Findings are located by what they are about (flow, node, action, case, category or exit uuid, or a
place in the programme file), never by file position: each format maps them back to its own lines.

Errors make a flow unusable (a route to a node that does not exist); warnings point at something the author
probably did not mean (a node nothing leads to) but that runs.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import get_args

from flows.errors import Level, Problem
from flows.excellent.syntax import ParseError
from flows.excellent.template import Expression, parse_template
from flows.model import (
    Action,
    AddContactGroups,
    CallWebhook,
    CampaignEvent,
    ContactStatus,
    EnterFlow,
    Flow,
    FlowRef,
    GroupRef,
    Node,
    OffsetUnit,
    Programme,
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
    StartMode,
    UnsupportedAction,
)
from flows.routertests import KNOWN_TESTS, case_arity

# goflow's limits (reference/rapidpro.md §3.1); going over them is a mistake, not a crash.
MAX_QUICK_REPLIES = 10
MAX_RESULT_NAME = 64
MAX_CATEGORY_NAME = 36
WEBHOOK_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
_LANGUAGE = re.compile(r"[a-z]{3}")
_UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID = re.compile(_UUID_PATTERN)
_UUID_LINES = re.compile(rf"(?:{_UUID_PATTERN}\n)*{_UUID_PATTERN}")
_FIELD_KEY = re.compile(r"[a-z][a-z0-9_]*")
_STATUSES: tuple[str, ...] = get_args(ContactStatus)
_UNITS: tuple[str, ...] = get_args(OffsetUnit)
_START_MODES: tuple[str, ...] = get_args(StartMode)
# Localised properties recado understands, by what they belong to.
_ACTION_TEXT_PROPERTIES = frozenset({"text", "quick_replies", "category"})


@dataclass(frozen=True)
class Finding:
    """One problem with a model. ``path`` locates programme-level items: ("triggers", 2, "flow")."""

    message: str
    level: Level = "error"
    flow_uuid: str | None = None
    node_uuid: str | None = None
    item_uuid: str | None = None
    path: tuple[str | int, ...] = ()

    def as_problem(self, source: str, line: int | None = None, column: int | None = None) -> Problem:
        return Problem(source, line, column, self.message, self.level)


def suggestion(word: str, choices: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the closest choice, or nothing when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def describe_node(node: Node) -> str:
    return f"node '{node.name}'" if node.name is not None else f"node {node.uuid}"


def arity(test: str) -> tuple[int, int | None]:
    """How many values (besides the operand) the router test takes: (least, most or None for no limit). The
    counts come from the tests themselves, so these checks cannot drift from what the engine runs."""
    counts = case_arity(test)
    if counts is None:
        raise KeyError(test)
    return counts


def arity_text(test: str) -> str:
    least, most = arity(test)
    if most is None:
        return f"at least {least} value{'s' if least != 1 else ''}"
    if least == most:
        return "no values" if least == 0 else f"{least} value{'s' if least != 1 else ''}"
    return f"{least} to {most} values" if least else f"at most {most} value{'s' if most != 1 else ''}"


def template_errors(template: str) -> list[str]:
    """Syntax errors in the expressions of a template, each naming the expression as written."""
    if "@" not in template:
        return []
    return list(_expression_errors(template))


@functools.lru_cache(maxsize=4096)
def _expression_errors(template: str) -> tuple[str, ...]:
    """Cached by text: a programme repeats the same templates (``@contact.first_name``...) in every flow."""
    return tuple(
        f"{segment.source} has a syntax error: {segment.tree}"
        for segment in parse_template(template)
        if isinstance(segment, Expression) and isinstance(segment.tree, ParseError)
    )


# --- one flow ---------------------------------------------------------------------------------------------


def validate_flow(flow: Flow) -> list[Finding]:
    """Everything wrong with ``flow``, errors and warnings, in the order of the flow's nodes."""
    return list(_FlowChecks(flow).run())


class _FlowChecks:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.node_uuids = {node.uuid for node in flow.nodes}

    def finding(
        self, message: str, node: Node | None = None, item: str | None = None, level: Level = "error"
    ) -> Finding:
        return Finding(message, level, self.flow.uuid, node.uuid if node is not None else None, item, path=())

    def run(self) -> Iterator[Finding]:
        flow = self.flow
        if not flow.name.strip():
            yield self.finding("the flow has no name")
        if not flow.nodes:
            yield self.finding("the flow has no nodes: a flow needs at least one step")
        if flow.expire_after_minutes <= 0:
            yield self.finding("expire_after must be longer than zero")
        if not _LANGUAGE.fullmatch(flow.language):
            yield self.finding(
                f"the language '{flow.language}' is not a three-letter code such as spa or eng",
                level="warning",
            )
        yield from self.identities()
        for node in flow.nodes:
            yield from self.node_checks(node)
        yield from self.reachability()
        yield from self.localization_checks()

    def identities(self) -> Iterator[Finding]:
        seen: dict[str, Node] = {}  # uuid → the node where it is first used
        names: set[str] = set()
        if not _UUID.fullmatch(self.flow.uuid):
            yield self.finding(f"the flow's uuid '{self.flow.uuid}' is not a uuid")
        uuids_of_nodes = [_item_uuids(node) for node in self.flow.nodes]
        every_uuid = [uuid for uuids in uuids_of_nodes for uuid in uuids]
        all_valid = _all_uuids(every_uuid)
        # Valid and all different (as nearly every flow's are): no item can be reported, so none is looked at.
        items_clean = all_valid and len(set(every_uuid)) == len(every_uuid)
        for node, uuids in zip(self.flow.nodes, uuids_of_nodes, strict=True):
            if node.name is not None:
                if not node.name.strip():
                    yield self.finding("a node has an empty name", node)
                elif node.name == "end":
                    yield self.finding("a node cannot be called 'end': `go: end` finishes the flow", node)
                elif node.name in names:
                    yield self.finding(f"there are two nodes called '{node.name}'", node)
                names.add(node.name)
            if items_clean:
                continue
            # What an item is gets described only for a finding.
            whats: list[str] | None = None
            for index, uuid in enumerate(uuids):
                owner = seen.get(uuid)
                valid = all_valid or _UUID.fullmatch(uuid) is not None
                if owner is None and valid:
                    seen[uuid] = node
                    continue
                if whats is None:
                    whats = [what for _, what in _uuids_of(node)]
                what = whats[index]
                if not valid:
                    yield self.finding(
                        f"{describe_node(node)}: '{uuid}', the uuid of {what}, is not a uuid", node, uuid
                    )
                if owner is not None:
                    first = next(what for item, what in _uuids_of(owner) if item == uuid)
                    yield self.finding(
                        f"{describe_node(node)}: the uuid {uuid} of {what} is already used by {first} of"
                        f" {describe_node(owner)}",
                        node,
                        uuid,
                    )
                else:
                    seen[uuid] = node

    # The per-node checks run for every node of every flow loaded, and nearly every node passes them all: the
    # node's description is made only for a finding, and each check is a plain loop over what it looks at.

    def node_checks(self, node: Node) -> Iterator[Finding]:
        for action in node.actions:
            for message, level in _action_problems(action):
                yield self.finding(f"{describe_node(node)}: {message}", node, action.uuid, level)
        node_uuids = self.node_uuids
        for exit_ in node.exits:
            if exit_.destination_uuid is not None and exit_.destination_uuid not in node_uuids:
                yield self.finding(
                    f"{describe_node(node)} goes to {exit_.destination_uuid}, which is not a node of this flow",
                    node,
                    exit_.uuid,
                )
        router = node.router
        if router is None:
            if not node.exits:
                yield self.finding(
                    f"{describe_node(node)} has no exit: say where it goes, or `go: end`", node
                )
            elif len(node.exits) > 1:
                yield self.finding(
                    f"{describe_node(node)} has {len(node.exits)} exits but no routes: only the first would"
                    " ever be taken",
                    node,
                )
            return
        yield from self.router_checks(node, router, [e.uuid for e in node.exits])

    def router_checks(self, node: Node, router: Router, exit_uuids: Sequence[str]) -> Iterator[Finding]:
        category_uuids = {c.uuid for c in router.categories}
        if not router.categories:
            yield self.finding(f"{describe_node(node)} has routes but no categories", node)
        used_exits = set()
        for category in router.categories:
            used_exits.add(category.exit_uuid)
            if category.exit_uuid not in exit_uuids:
                yield self.finding(
                    f"{describe_node(node)}: category '{category.name}' has no exit to say where it goes",
                    node,
                    category.uuid,
                )
            if len(category.name) > MAX_CATEGORY_NAME:
                yield self.finding(
                    f"{describe_node(node)}: category '{category.name}' is longer than {MAX_CATEGORY_NAME}"
                    " characters; RapidPro would cut it short",
                    node,
                    category.uuid,
                    "warning",
                )
        for exit_ in node.exits:
            if exit_.uuid not in used_exits:
                yield self.finding(
                    f"{describe_node(node)}: exit {exit_.uuid} is not used by any category", node, exit_.uuid
                )
        names = [c.name for c in router.categories]
        if len(set(names)) != len(names):
            for name in sorted({n for n in names if names.count(n) > 1}):
                yield self.finding(
                    f"{describe_node(node)} has two categories called '{name}': results could not tell them"
                    " apart",
                    node,
                    level="warning",
                )
        if router.result_name is not None and len(router.result_name) > MAX_RESULT_NAME:
            yield self.finding(
                f"{describe_node(node)}: the result name is longer than {MAX_RESULT_NAME} characters",
                node,
                level="warning",
            )
        for error in template_errors(router.operand):
            yield self.finding(f"{describe_node(node)}: the operand {error}", node)
        timeout = router.wait.timeout if router.wait is not None else None
        if router.wait is not None and self.flow.type == "messaging_background":
            yield self.finding(
                f"{describe_node(node)} waits for a reply, but background flows never wait", node
            )
        if timeout is not None:
            if timeout.seconds <= 0:
                yield self.finding(f"{describe_node(node)}: the timeout must be longer than zero", node)
            if timeout.category_uuid not in category_uuids:
                yield self.finding(
                    f"{describe_node(node)}: the timeout goes to a category the node does not have", node
                )
        if router.kind == "random":
            if router.cases or router.default_category_uuid is not None:
                yield self.finding(
                    f"{describe_node(node)}: a random split has no tests and no `other` route", node
                )
            if router.wait is not None:
                yield self.finding(f"{describe_node(node)}: a random split cannot wait for a reply", node)
            return
        if router.default_category_uuid is not None and router.default_category_uuid not in category_uuids:
            yield self.finding(
                f"{describe_node(node)}: the `other` route goes to a category the node does not have", node
            )
        chosen = {router.default_category_uuid}
        for case in router.cases:
            yield from self.case_checks(node, case.uuid, case.test, case.arguments)
            if case.category_uuid not in category_uuids:
                yield self.finding(
                    f"{describe_node(node)}: a {case.test} test goes to a category the node does not have",
                    node,
                )
            chosen.add(case.category_uuid)
        if timeout is not None:
            chosen.add(timeout.category_uuid)
        for category in router.categories:
            if category.uuid not in chosen:
                yield self.finding(
                    f"{describe_node(node)}: no test chooses the category '{category.name}'",
                    node,
                    category.uuid,
                    "warning",
                )

    def case_checks(self, node: Node, uuid: str, test: str, arguments: Sequence[str]) -> Iterator[Finding]:
        counts = case_arity(test)
        if counts is None:
            where = describe_node(node)
            yield self.finding(f"{where}: '{test}' is not a test{suggestion(test, KNOWN_TESTS)}", node, uuid)
            return
        least, most = counts
        if len(arguments) < least or (most is not None and len(arguments) > most):
            yield self.finding(
                f"{describe_node(node)}: {test} takes {arity_text(test)}, not {len(arguments)}", node, uuid
            )
        for argument in arguments:
            if "@" in argument:
                for error in _expression_errors(argument):
                    yield self.finding(f"{describe_node(node)}: in a {test} value, {error}", node, uuid)

    def reachability(self) -> Iterator[Finding]:
        if not self.flow.nodes:
            return
        by_uuid = {node.uuid: node for node in self.flow.nodes}
        reached = {self.flow.nodes[0].uuid}
        pending = [self.flow.nodes[0]]
        while pending:
            node = pending.pop()
            for exit_ in node.exits:
                target = by_uuid.get(exit_.destination_uuid or "")
                if target is not None and target.uuid not in reached:
                    reached.add(target.uuid)
                    pending.append(target)
        for node in self.flow.nodes:
            if node.uuid not in reached:
                yield self.finding(
                    f"{describe_node(node)} can never be reached: no route leads to it", node, level="warning"
                )

    def localization_checks(self) -> Iterator[Finding]:
        owners: dict[str, tuple[Node, str, int]] = {}  # item uuid → (node, kind, number of base arguments)
        for node in self.flow.nodes:
            for action in node.actions:
                owners[action.uuid] = (node, action.type, 0)
            if node.router is not None:
                for case in node.router.cases:
                    owners[case.uuid] = (node, "case", len(case.arguments))
                for category in node.router.categories:
                    owners[category.uuid] = (node, "category", 0)
        for language, items in self.flow.localization.items():
            if not _LANGUAGE.fullmatch(language):
                yield self.finding(
                    f"translations for '{language}', which is not a three-letter language code",
                    level="warning",
                )
            for uuid, properties in items.items():
                owner = owners.get(uuid)
                if owner is None:
                    yield self.finding(
                        f"the {language} translations name {uuid}, which is not in this flow", level="warning"
                    )
                    continue
                node, kind, base_arguments = owner
                for prop, values in properties.items():
                    if kind == "case" and prop == "arguments" and len(values) != base_arguments:
                        yield self.finding(
                            f"{describe_node(node)}: the {language} translation of a test has {len(values)}"
                            f" values but the test has {base_arguments}; it will not be used",
                            node,
                            uuid,
                            "warning",
                        )
                    if (kind == "send_msg" and prop in _ACTION_TEXT_PROPERTIES) or kind == "case":
                        for value in values:
                            for error in template_errors(value):
                                yield self.finding(
                                    f"{describe_node(node)}: in the {language} translation, {error}",
                                    node,
                                    uuid,
                                )


def _all_uuids(texts: list[str]) -> bool:
    """Whether every text is a uuid, checked in one match over all of them (a flow has hundreds): the texts,
    one per line, must be exactly that many uuids, so no text can hide a line break or two uuids."""
    joined = "\n".join(texts)
    return len(joined) == 37 * len(texts) - 1 and _UUID_LINES.fullmatch(joined) is not None


def _item_uuids(node: Node) -> list[str]:
    """The uuids of a node and its items, in the order of ``_uuids_of``."""
    # Plain loops: this runs for every node of every flow loaded, and each comprehension is a call of its own.
    uuids = [node.uuid]
    append = uuids.append
    for action in node.actions:
        append(action.uuid)
    if node.router is not None:
        for case in node.router.cases:
            append(case.uuid)
        for category in node.router.categories:
            append(category.uuid)
    for exit_ in node.exits:
        append(exit_.uuid)
    return uuids


def _uuids_of(node: Node) -> Iterator[tuple[str, str]]:
    yield node.uuid, "the node"
    for action in node.actions:
        yield action.uuid, f"a {action.type} action"
    if node.router is not None:
        for case in node.router.cases:
            yield case.uuid, f"a {case.test} test"
        for category in node.router.categories:
            yield category.uuid, f"category '{category.name}'"
    for exit_ in node.exits:
        yield exit_.uuid, "an exit"


def _templates_of(action: Action) -> Iterator[tuple[str, str]]:
    """(what, template) for each template an action evaluates."""
    match action:
        case SendMsg(text=text, quick_replies=replies):
            yield "the message", text
            for reply in replies:
                yield "a quick reply", reply
        case SetContactField(field_key=key, value=value):
            yield f"the value of field '{key}'", value
        case SetContactName(name=name):
            yield "the name", name
        case SetContactLanguage(language=language):
            yield "the language", language
        case SetContactTimezone(timezone=timezone):
            yield "the timezone", timezone
        case SetRunResult(name=name, value=value):
            yield f"the value of result '{name}'", value
        case RaiseAlert(reason=reason):
            yield "the alert", reason
        case CallWebhook(url=url, body=body, headers=headers):
            yield "the webhook url", url
            yield "the webhook body", body
            for name, value in headers.items():
                yield f"the header {name}", value


def _action_problems(action: Action) -> Iterator[tuple[str, Level]]:
    for what, template in _templates_of(action):
        for error in template_errors(template):
            yield f"in {what}, {error}", "error"
    match action:
        case SendMsg(text=text, quick_replies=replies):
            if not text.strip():
                yield "sends an empty message", "warning"
            if len(replies) > MAX_QUICK_REPLIES:
                yield f"has {len(replies)} quick replies; at most {MAX_QUICK_REPLIES} are shown", "warning"
        case SetContactField(field_key=key):
            if not key:
                yield "set_field needs a field", "error"
        case SetContactStatus(status=status):
            if status not in _STATUSES:
                yield f"'{status}' is not a contact status: use {', '.join(_STATUSES)}", "error"
        case SetRunResult(name=name):
            if not name.strip():
                yield "set_result needs a result name", "error"
        case AddContactGroups(groups=groups):
            if not groups:
                yield "add_groups names no groups", "warning"
        case RemoveContactGroups(groups=groups, all_groups=all_groups):
            if not groups and not all_groups:
                yield "remove_groups names no groups", "warning"
        case EnterFlow(flow=flow):
            if not flow.name.strip() and not flow.uuid.strip():
                yield "enter_flow names no flow", "error"
        case CallWebhook(method=method, url=url):
            if method not in WEBHOOK_METHODS:
                yield f"'{method}' is not an HTTP method: use {', '.join(sorted(WEBHOOK_METHODS))}", "error"
            if not url.strip():
                yield "the webhook has no url", "error"
        case UnsupportedAction(action_type=action_type):
            yield f"recado cannot run '{action_type}' actions: this one will be skipped", "warning"


# --- a whole programme ------------------------------------------------------------------------------------


def validate_programme(programme: Programme) -> list[Finding]:
    """Every flow's findings plus the cross-checks: references to flows, groups and fields resolve, campaign
    dates are date fields, triggers are well formed. Programme-level findings carry a ``path``."""
    findings = [finding for flow in programme.flows for finding in validate_flow(flow)]
    return findings + cross_check_programme(programme)


def cross_check_programme(programme: Programme) -> list[Finding]:
    """The programme-level checks alone, for loaders that have validated each flow as they read it."""
    return list(_ProgrammeChecks(programme).run())


class _ProgrammeChecks:
    def __init__(self, programme: Programme) -> None:
        self.programme = programme
        self.flows_by_uuid = {flow.uuid: flow for flow in programme.flows}
        self.flow_names = [flow.name for flow in programme.flows]
        self.groups_by_uuid = {group.uuid: group for group in programme.groups}
        self.group_names = [group.name for group in programme.groups]
        self.fields = {field.key: field for field in programme.fields}

    def run(self) -> Iterator[Finding]:
        programme = self.programme
        if not programme.name.strip():
            yield Finding("the programme has no name", path=("programme",))
        if not programme.languages:
            yield Finding("the programme needs at least one language", path=("languages",))
        for i, language in enumerate(programme.languages):
            if not _LANGUAGE.fullmatch(language):
                yield Finding(
                    f"'{language}' is not a three-letter language code such as spa or eng",
                    path=("languages", i),
                )
        yield from self.duplicates()
        for flow in programme.flows:
            yield from self.flow_references(flow)
        for i, trigger in enumerate(programme.triggers):
            yield from self.flow_ref(trigger.flow, ("triggers", i, "flow"), "the trigger starts")
            for key in ("groups", "exclude_groups"):
                for j, group in enumerate(getattr(trigger, key)):
                    yield from self.group_ref(group, ("triggers", i, key, j), "the trigger")
            if trigger.kind == "keyword" and not trigger.keywords:
                yield Finding("a keyword trigger needs at least one keyword", path=("triggers", i))
            if trigger.kind == "catch_all" and trigger.keywords:
                yield Finding("a catch_all trigger has no keywords", path=("triggers", i))
            for j, keyword in enumerate(trigger.keywords):
                if not keyword.strip() or any(char.isspace() for char in keyword):
                    yield Finding(
                        f"the keyword '{keyword}' must be one word", path=("triggers", i, "keywords", j)
                    )
        for i, campaign in enumerate(programme.campaigns):
            yield from self.group_ref(
                campaign.group, ("campaigns", i, "group"), f"campaign '{campaign.name}'"
            )
            if not campaign.events:
                yield Finding(f"campaign '{campaign.name}' has no events", "warning", path=("campaigns", i))
            for j, event in enumerate(campaign.events):
                yield from self.event_checks(event, ("campaigns", i, "events", j))

    def duplicates(self) -> Iterator[Finding]:
        programme = self.programme
        checks: list[tuple[str, list[str], str]] = [
            ("flows", [f.name for f in programme.flows], "two flows are called '{}'"),
            ("flows", [f.uuid for f in programme.flows], "two flows have the uuid {}"),
            ("fields", [f.key for f in programme.fields], "the field '{}' is declared twice"),
            ("groups", [g.name for g in programme.groups], "the group '{}' is declared twice"),
            ("groups", [g.uuid for g in programme.groups], "two groups have the uuid {}"),
            ("campaigns", [c.name for c in programme.campaigns], "two campaigns are called '{}'"),
            ("campaigns", [c.uuid for c in programme.campaigns], "two campaigns have the uuid {}"),
        ]
        for section, values, message in checks:
            seen: set[str] = set()
            for i, value in enumerate(values):
                if value in seen:
                    yield Finding(message.format(value), path=(section, i))
                seen.add(value)
        events: set[str] = set()
        for i, campaign in enumerate(programme.campaigns):
            for j, event in enumerate(campaign.events):
                if event.uuid in events:
                    yield Finding(
                        f"two campaign events have the uuid {event.uuid}", path=("campaigns", i, "events", j)
                    )
                events.add(event.uuid)
        for i, field in enumerate(programme.fields):
            if not _FIELD_KEY.fullmatch(field.key):
                yield Finding(
                    f"the field key '{field.key}' must be lower-case letters, digits and _, starting with a letter",
                    path=("fields", i),
                )

    def flow_ref(self, ref: FlowRef, path: tuple[str | int, ...], who: str) -> Iterator[Finding]:
        target = self.flows_by_uuid.get(ref.uuid)
        if target is None:
            hint = suggestion(ref.name, self.flow_names)
            yield Finding(f"{who} the flow '{ref.name}', which is not in this programme{hint}", path=path)
        elif target.name != ref.name:
            yield Finding(
                f"{who} the flow '{ref.name}', but the flow with that uuid is called '{target.name}'",
                "warning",
                path=path,
            )

    def group_ref(self, ref: GroupRef, path: tuple[str | int, ...], who: str) -> Iterator[Finding]:
        target = self.groups_by_uuid.get(ref.uuid)
        if target is None:
            hint = suggestion(ref.name, self.group_names)
            yield Finding(
                f"{who} uses the group '{ref.name}', which programme.yaml does not declare{hint}", path=path
            )
        elif target.name != ref.name:
            yield Finding(
                f"{who} uses the group '{ref.name}', but the group with that uuid is called '{target.name}'",
                "warning",
                path=path,
            )

    def flow_references(self, flow: Flow) -> Iterator[Finding]:
        for node in flow.nodes:
            where = describe_node(node)
            for action in node.actions:
                found: Iterable[Finding] = ()
                match action:
                    case EnterFlow(flow=ref):
                        found = self.flow_ref(ref, (), f"{where} enters")
                    case AddContactGroups(groups=groups) | RemoveContactGroups(groups=groups):
                        found = [f for group in groups for f in self.group_ref(group, (), where)]
                    case SetContactField(field_key=key) if key and key not in self.fields:
                        found = [
                            Finding(
                                f"{where} sets the field '{key}', which programme.yaml does not declare"
                                + suggestion(key, self.fields)
                            )
                        ]
                for finding in found:
                    yield Finding(finding.message, finding.level, flow.uuid, node.uuid, action.uuid)

    def event_checks(self, event: CampaignEvent, path: tuple[str | int, ...]) -> Iterator[Finding]:
        field = self.fields.get(event.relative_to)
        if field is None:
            hint = suggestion(event.relative_to, self.fields)
            yield Finding(
                f"the event is timed from the field '{event.relative_to}', which programme.yaml does not"
                f" declare{hint}",
                path=(*path, "relative_to"),
            )
        elif field.value_type not in ("date", "datetime"):
            yield Finding(
                f"the event is timed from the field '{event.relative_to}', which is a {field.value_type}"
                " field: declare it with type date or datetime",
                path=(*path, "relative_to"),
            )
        if event.unit not in _UNITS:
            yield Finding(f"'{event.unit}' is not a unit: use {', '.join(_UNITS)}", path=(*path, "unit"))
        if event.start_mode not in _START_MODES:
            yield Finding(
                f"'{event.start_mode}' is not a start mode: use {', '.join(_START_MODES)}",
                path=(*path, "start_mode"),
            )
        if event.delivery_hour is not None and not 0 <= event.delivery_hour <= 23:
            yield Finding("delivery_hour is an hour of the day, from 0 to 23", path=(*path, "delivery_hour"))
        if (event.message is None) == (event.flow is None):
            yield Finding(
                "an event either sends a `message` or starts a `flow`, not both or neither", path=path
            )
        if event.message is not None:
            if not event.message:
                yield Finding("the event's message is empty", path=(*path, "message"))
            for language, text in event.message.items():
                for error in template_errors(text):
                    yield Finding(f"in the {language} message, {error}", path=(*path, "message"))
        if event.flow is not None:
            yield from self.flow_ref(event.flow, (*path, "flow"), "the event starts")
