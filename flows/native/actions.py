"""Reading a node's actions: ``send`` and ``do`` at node level, each ``- verb: value`` item of ``do`` with its
modifiers, into the model's actions with their derived uuids."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, cast, get_args

from flows.model import (
    Action,
    AddContactGroups,
    AddInputLabels,
    CallWebhook,
    ContactStatus,
    EnterFlow,
    FlowRef,
    GroupRef,
    RaiseAlert,
    RemoveContactGroups,
    SendMsg,
    SetContactField,
    SetContactLanguage,
    SetContactName,
    SetContactStatus,
    SetContactTimezone,
    SetRunResult,
    UnsupportedAction,
)
from flows.native.build_context import BuildContext
from flows.native.identifiers import action_uuid_for, flow_uuid_for, group_uuid_for
from flows.native.reader import Pairs
from flows.native.yaml_node import LIST, MAP, SCALAR, YNode
from flows.validate import suggestion

# Each verb and the keys that may stand beside it in its item.
ACTION_MODIFIERS: Final[Mapping[str, tuple[str, ...]]] = {
    "send": ("quick_replies",),
    "set_field": ("field_name",),
    "set_name": (),
    "set_language": (),
    "set_status": (),
    "set_timezone": (),
    "set_result": ("value", "category"),
    "add_groups": (),
    "remove_groups": ("all_groups",),
    "enter_flow": ("terminal", "flow_uuid"),
    "raise_alert": (),
    "webhook": (),
    "add_labels": (),
    "unsupported": ("raw",),
}
_WEBHOOK_KEYS: Final = ("method", "url", "headers", "body", "result")
_STATUSES: Final = get_args(ContactStatus)


class ActionReader:
    """Reads actions into the model, recording their places and translations in the shared context."""

    def __init__(self, context: BuildContext) -> None:
        self.context = context
        self.reader = context.reader

    def read_node_actions(
        self, owner: str, at: YNode, body: Pairs, node_uuid: str
    ) -> tuple[Action, ...] | None:
        """``send`` and ``do`` at node level, in the order they are written."""
        order = [k for k in ("send", "do") if k in body]
        if len(order) == 2:
            send, do = body["send"][0], body["do"][0]
            if (do.line, do.column) < (send.line, send.column):
                order.reverse()
        actions: list[Action] = []
        ok = True
        if "quick_replies" in body and "send" not in body:
            self.reader.error(body["quick_replies"][0], f"{owner} has quick_replies but no `send`")
            ok = False
        for key in order:
            if key == "send":
                modifiers = {"quick_replies": body["quick_replies"]} if "quick_replies" in body else {}
                action = self.read_send(body["send"], modifiers, action_uuid_for(node_uuid, len(actions)))
                if action is None:
                    ok = False
                else:
                    actions.append(action)
            else:
                items = body["do"][1]
                if items.is_null:
                    continue
                if not self.reader.expect(items, LIST, f"`do` of {owner}"):
                    ok = False
                    continue
                for item in items.value:
                    read = self.read_action(item, node_uuid, len(actions))
                    if read is None:
                        ok = False
                    else:
                        actions.extend(read)
        return tuple(actions) if ok else None

    def read_action(self, item: YNode, node_uuid: str, index: int) -> list[Action] | None:
        r = self.reader
        if item.kind != MAP:
            shown = item.value if item.kind == SCALAR else "a list"
            r.error(
                item,
                f'an action is written `- verb: value`, such as `- send: "Hola"`; this is {shown!s:.40}',
            )
            return None
        verbs = [key for key, _ in item.value if key.value in ACTION_MODIFIERS]
        if len(verbs) != 1:
            if verbs:
                r.error(verbs[1], f"one action per item: put `{verbs[1].value}` in its own `- ` line")
            else:
                unknown = item.value[0][0] if item.value else item
                r.error(
                    unknown,
                    f"'{unknown.value}' is not an action{suggestion(str(unknown.value), ACTION_MODIFIERS)};"
                    f" actions are: {', '.join(ACTION_MODIFIERS)}",
                )
            return None
        verb = verbs[0].value
        keys = r.mapping(item, f"the {verb} action", (verb, "uuid", *ACTION_MODIFIERS[verb]))
        explicit = self.context.optional_uuid(keys, "uuid")
        verb_node = keys[verb][1]
        if verb == "set_field":
            return self.read_set_field(keys, explicit, node_uuid, index)
        uuid = explicit or action_uuid_for(node_uuid, index)
        self.context.here(uuid, item)
        action = self.read_simple_action(verb, verb_node, keys, uuid)
        return [action] if action is not None else None

    def read_simple_action(self, verb: str, value: YNode, keys: Pairs, uuid: str) -> Action | None:
        r = self.reader
        if verb == "send":
            return self.read_send(keys["send"], keys, uuid)
        if verb in ("set_name", "set_language", "set_timezone", "raise_alert"):
            text = r.text(value, verb)
            if text is None:
                return None
            if verb == "set_name":
                return SetContactName(uuid, text)
            if verb == "set_language":
                return SetContactLanguage(uuid, text)
            if verb == "set_timezone":
                return SetContactTimezone(uuid, text)
            return RaiseAlert(uuid, text)
        if verb == "set_status":
            status = r.choice(value, "set_status", _STATUSES)
            return SetContactStatus(uuid, cast(ContactStatus, status)) if status is not None else None
        if verb == "set_result":
            return self.read_set_result(value, keys, uuid)
        if verb == "add_groups":
            groups = self.read_groups(value, "add_groups")
            return AddContactGroups(uuid, groups) if groups is not None else None
        if verb == "remove_groups":
            return self.read_remove_groups(value, keys, uuid)
        if verb == "enter_flow":
            return self.read_enter_flow(value, keys, uuid)
        if verb == "webhook":
            return self.read_webhook(value, uuid)
        if verb == "add_labels":
            labels = r.texts(value, "add_labels")
            return AddInputLabels(uuid, tuple(labels)) if labels is not None else None
        action_type = r.name(value, "unsupported")
        raw = r.raw(keys["raw"][1]) if "raw" in keys else {}
        if not isinstance(raw, dict):
            r.error(keys["raw"][1], "raw should be a set of `key: value` lines")
            return None
        return UnsupportedAction(uuid, action_type, raw) if action_type is not None else None

    def read_send(
        self, send: tuple[YNode, YNode], keys: Mapping[str, tuple[YNode, YNode]], uuid: str
    ) -> Action | None:
        self.context.here(uuid, send[0])
        text = self.context.localized(send[1], "message", self.reader.text)
        replies: tuple[list[str], dict[str, list[str]]] | None = ([], {})
        if "quick_replies" in keys:
            replies = self.context.localized(keys["quick_replies"][1], "quick_replies", self.reader.texts)
        if text is None or replies is None:
            return None
        for lang, value in text[1].items():
            self.context.translate(lang, uuid, "text", (value,), send[1])
        for lang, values in replies[1].items():
            self.context.translate(lang, uuid, "quick_replies", tuple(values), keys["quick_replies"][1])
        return SendMsg(uuid, text[0], tuple(replies[0]))

    def read_set_field(
        self, keys: Pairs, explicit: str | None, node_uuid: str, index: int
    ) -> list[Action] | None:
        r = self.reader
        value = keys["set_field"][1]
        if not r.expect(value, MAP, "set_field") or not value.value:
            if value.kind == MAP:
                r.error(
                    value,
                    'set_field needs a field and its value: `set_field: {fecha_parto: "@results.fecha"}`',
                )
            return None
        if len(value.value) > 1 and (explicit is not None or "field_name" in keys):
            r.error(value, "with uuid or field_name, set_field sets one field; give each its own action")
            return None
        field_name = r.name(keys["field_name"][1], "field_name") if "field_name" in keys else None
        actions: list[Action] = []
        for offset, (key, template) in enumerate(value.value):
            text = r.text(template, f"the value of field '{key.value}'")
            if text is None:
                return None
            uuid = explicit or action_uuid_for(node_uuid, index + offset)
            self.context.here(uuid, key)
            actions.append(SetContactField(uuid, key.value, field_name or key.value, text))
        return actions

    def read_set_result(self, value: YNode, keys: Pairs, uuid: str) -> Action | None:
        r = self.reader
        name = r.text(value, "set_result")
        result_value = r.text(keys["value"][1], "value") if "value" in keys else ""
        category: tuple[str, dict[str, str]] | None = ("", {})
        if "category" in keys:
            category = self.context.localized(keys["category"][1], "category", r.text)
        if name is None or result_value is None or category is None:
            return None
        for lang, text in category[1].items():
            self.context.translate(lang, uuid, "category", (text,), keys["category"][1])
        return SetRunResult(uuid, name, result_value, category[0])

    def read_groups(self, node: YNode, what: str) -> tuple[GroupRef, ...] | None:
        items = [node] if node.kind == SCALAR and not node.is_null else [] if node.is_null else None
        if items is None:
            if not self.reader.expect(node, LIST, what):
                return None
            items = node.value
        groups = []
        for item in items:
            ref = self.read_ref(item, what, group_uuid_for)
            if ref is None:
                return None
            groups.append(GroupRef(*ref))
        return tuple(groups)

    def read_ref(self, node: YNode, what: str, derive: Callable[[str], str]) -> tuple[str, str] | None:
        """A group or flow named by its name, or ``{name: ..., uuid: ...}`` when its uuid is not derived."""
        r = self.reader
        if node.kind == MAP:
            keys = r.mapping(node, f"a group in {what}", ("name", "uuid"), required=("name", "uuid"))
            if "name" not in keys or "uuid" not in keys:
                return None
            name, uuid = r.text(keys["name"][1], "name"), r.name(keys["uuid"][1], "uuid")
            return (uuid, name) if name is not None and uuid is not None else None
        name = r.name(node, f"a group in {what}")
        return (derive(name), name) if name is not None else None

    def read_remove_groups(self, value: YNode, keys: Pairs, uuid: str) -> Action | None:
        r = self.reader
        all_groups = r.boolean(keys["all_groups"][1], "all_groups") if "all_groups" in keys else False
        if value.kind == SCALAR and value.plain and value.value == "all":
            groups: tuple[GroupRef, ...] | None = ()
            all_groups = True if "all_groups" not in keys else all_groups
        else:
            groups = self.read_groups(value, "remove_groups")
        if groups is None or all_groups is None:
            return None
        return RemoveContactGroups(uuid, groups, all_groups)

    def read_enter_flow(self, value: YNode, keys: Pairs, uuid: str) -> Action | None:
        r = self.reader
        name = r.text(value, "enter_flow")
        terminal = r.boolean(keys["terminal"][1], "terminal") if "terminal" in keys else False
        flow_uuid = self.context.optional_uuid(keys, "flow_uuid")
        if name is None or terminal is None:
            return None
        return EnterFlow(uuid, FlowRef(flow_uuid or flow_uuid_for(name), name), terminal)

    def read_webhook(self, value: YNode, uuid: str) -> Action | None:
        r = self.reader
        keys = r.mapping(value, "webhook", _WEBHOOK_KEYS, required=("url",))
        method = r.name(keys["method"][1], "method") if "method" in keys else "GET"
        url = r.text(keys["url"][1], "url") if "url" in keys else None
        body = r.text(keys["body"][1], "body") if "body" in keys else ""
        result = r.text(keys["result"][1], "result") if "result" in keys else ""
        headers: dict[str, str] | None = {}
        if "headers" in keys and not keys["headers"][1].is_null:
            node = keys["headers"][1]
            if r.expect(node, MAP, "headers"):
                for name, header in node.value:
                    text = r.text(header, f"the header {name.value}")
                    if text is None or headers is None:
                        headers = None
                    else:
                        headers[name.value] = text
            else:
                headers = None
        if method is None or url is None or body is None or result is None or headers is None:
            return None
        return CallWebhook(uuid, method, url, headers, body, result)
