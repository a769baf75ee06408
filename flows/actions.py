"""What each action does when a node is entered: change the contact, record a result, emit an event.

An action either lets the node go on to its next action (``run`` returns None) or moves the session somewhere
else (a ``Jump``): into another flow, or into a wait for a webhook's response.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from flows import model
from flows.env import zone
from flows.events import (
    AlertRaised,
    ContactFieldChanged,
    ContactGroupsChanged,
    ContactLanguageChanged,
    ContactNameChanged,
    ContactStatusChanged,
    ContactTimezoneChanged,
    ErrorEvent,
    InputLabelsAdded,
    MsgCreated,
    WebhookCalled,
)
from flows.excellent import evaluate_template
from flows.failure import Failure
from flows.model import FieldType, Node
from flows.values.convert import XError, to_date, to_datetime, to_number

if TYPE_CHECKING:
    from flows.engine import Sprint, WebhookResponse, _Position

MAX_FIELD_LENGTH = 640
MAX_NAME_LENGTH = 128
MAX_MESSAGE_LENGTH = 10_000
MAX_QUICK_REPLIES = 10


@dataclass(frozen=True)
class Jump:
    position: _Position


def run(sprint: Sprint, node: Node, action: model.Action, index: int) -> Jump | None:
    ctx = sprint.context(node.uuid)
    flow = sprint.flow
    match action:
        case model.SendMsg():
            _send_msg(sprint, node, action, ctx)
        case model.SetContactField():
            text = sprint.template(action.value, ctx, node.uuid)
            _set_field(sprint, node, action.field_key, action.field_name, text)
        case model.SetContactName():
            name = sprint.template(action.name, ctx, node.uuid).strip()[:MAX_NAME_LENGTH]
            if name != sprint.contact.name:
                sprint.contact = sprint.contact.replace(name=name)
                sprint.emit(ContactNameChanged(name))
        case model.SetContactLanguage():
            _set_language(sprint, node, sprint.template(action.language, ctx, node.uuid).strip())
        case model.SetContactStatus():
            if action.status != sprint.contact.status:
                sprint.contact = sprint.contact.replace(status=action.status)
                sprint.emit(ContactStatusChanged(action.status))
        case model.SetContactTimezone():
            _set_timezone(sprint, node, sprint.template(action.timezone, ctx, node.uuid).strip())
        case model.SetRunResult():
            value = sprint.template(action.value, ctx, node.uuid)
            sprint.save_result(action.name, value, action.category, action.category, "", node.uuid)
        case model.AddContactGroups():
            current = {group.uuid for group in sprint.contact.groups}
            added = tuple(group for group in action.groups if group.uuid not in current)
            if added:
                sprint.contact = sprint.contact.replace(groups=(*sprint.contact.groups, *added))
                sprint.emit(ContactGroupsChanged(added=added))
        case model.RemoveContactGroups():
            leaving = {group.uuid for group in action.groups}
            removed = tuple(
                group for group in sprint.contact.groups if action.all_groups or group.uuid in leaving
            )
            if removed:
                gone = {group.uuid for group in removed}
                kept = tuple(group for group in sprint.contact.groups if group.uuid not in gone)
                sprint.contact = sprint.contact.replace(groups=kept)
                sprint.emit(ContactGroupsChanged(removed=removed))
        case model.EnterFlow():
            target = sprint.assets.flow(action.flow.uuid, action.flow.name)
            if target is None:
                raise Failure(f"the flow {action.flow.name!r} is not in the programme", flow.uuid, node.uuid)
            return Jump(sprint.enter_flow(target, terminal=action.terminal))
        case model.RaiseAlert():
            reason = sprint.template(action.reason, ctx, node.uuid).strip()
            input_text = (sprint.session.input or {}).get("text", "")
            sprint.emit(AlertRaised(reason, flow.uuid, node.uuid, input_text))
        case model.CallWebhook():
            return Jump(_call_webhook(sprint, node, action, ctx, index))
        case model.AddInputLabels():
            labels = tuple(label for label in action.labels if label)
            if labels and sprint.session.input is not None:
                sprint.emit(InputLabelsAdded(labels))
        case model.UnsupportedAction():
            sprint.emit(
                ErrorEvent(
                    f"the action {action.action_type!r} is not supported; skipped", flow.uuid, node.uuid
                )
            )
    return None


def _send_msg(sprint: Sprint, node: Node, action: model.SendMsg, ctx: dict[str, object]) -> None:
    texts, language = sprint.localized(action.uuid, "text", (action.text,))
    text = sprint.template(texts[0], ctx, node.uuid).strip()[:MAX_MESSAGE_LENGTH]
    replies, _ = sprint.localized(action.uuid, "quick_replies", action.quick_replies)
    quick_replies = (
        tuple(
            reply
            for reply in (
                sprint.template(item, ctx, node.uuid).strip() for item in replies[:MAX_QUICK_REPLIES]
            )
            if reply
        )
        if replies
        else ()
    )
    if not text and not quick_replies:
        sprint.emit(
            ErrorEvent("the message is empty once its expressions are evaluated", sprint.flow.uuid, node.uuid)
        )
        return
    sprint.emit(MsgCreated(text, quick_replies, language, sprint.flow.uuid, node.uuid))


def typed_value(text: str, value_type: FieldType, sprint: Sprint) -> object:
    """The value a field of ``value_type`` holds for ``text``; an ``XError`` if it cannot hold it."""
    if value_type == "number":
        return to_number(text.strip(), sprint.env)
    if value_type == "date":
        return to_date(text, sprint.env)
    if value_type == "datetime":
        moment = to_datetime(text, sprint.env)
        return moment if isinstance(moment, XError) else moment.astimezone(dt.UTC)
    return text[:MAX_FIELD_LENGTH]


def _set_field(sprint: Sprint, node: Node, key: str, name: str, text: str) -> None:
    definition = sprint.assets.fields.get(key)
    value_type: FieldType = definition.value_type if definition else "text"
    label = definition.name if definition else (name or key)
    value: object = None
    if text.strip():
        value = typed_value(text, value_type, sprint)
        if isinstance(value, XError):
            sprint.emit(
                ErrorEvent(
                    f"the field {label!r} holds a {value_type}; {text[:60]!r} is not one ({value.message})",
                    sprint.flow.uuid,
                    node.uuid,
                )
            )
            return
    if sprint.contact.fields.get(key) == value:
        return
    fields = dict(sprint.contact.fields)
    if value is None:
        fields.pop(key, None)
    else:
        fields[key] = value
    sprint.contact = sprint.contact.replace(fields=fields)
    sprint.emit(ContactFieldChanged(key, label, value))


def _set_language(sprint: Sprint, node: Node, language: str) -> None:
    if language and not (len(language) == 3 and language.isascii() and language.isalpha()):
        sprint.emit(
            ErrorEvent(f"{language[:20]!r} is not a three-letter language code", sprint.flow.uuid, node.uuid)
        )
        return
    language = language.lower()
    if language and language != sprint.contact.language:
        sprint.contact = sprint.contact.replace(language=language)
        sprint.emit(ContactLanguageChanged(language))


def _set_timezone(sprint: Sprint, node: Node, timezone: str) -> None:
    try:
        zone(timezone)
    except ValueError:
        sprint.emit(ErrorEvent(f"{timezone[:40]!r} is not a timezone", sprint.flow.uuid, node.uuid))
        return
    if timezone != sprint.contact.timezone:
        sprint.contact = sprint.contact.replace(timezone=timezone)
        sprint.emit(ContactTimezoneChanged(timezone))


def _call_webhook(
    sprint: Sprint, node: Node, action: model.CallWebhook, ctx: dict[str, object], index: int
) -> _Position:
    # Values put into the URL are quoted, so a contact's reply cannot change where the call goes.
    url, errors = evaluate_template(action.url, ctx, sprint.env, escaping=lambda value: quote(value, safe=""))
    for error in errors:
        sprint.emit(ErrorEvent(error, sprint.flow.uuid, node.uuid))
    headers = {key: sprint.template(value, ctx, node.uuid) for key, value in action.headers.items()}
    body = sprint.template(action.body, ctx, node.uuid)
    sprint.emit(
        WebhookCalled(
            method=action.method.upper(),
            url=url.strip(),
            headers=headers,
            body=body,
            result_name=action.result_name,
            flow_uuid=sprint.flow.uuid,
            node_uuid=node.uuid,
        )
    )
    return sprint.wait_for_webhook(node.uuid, index + 1)


def webhook_answered(sprint: Sprint, node_uuid: str, index: int, response: WebhookResponse) -> None:
    """Record a webhook's response: ``@webhook`` for what follows, and the action's result if it has one."""
    node = sprint.node(node_uuid)
    action = node.actions[index] if 0 <= index < len(node.actions) else None
    sprint.session.webhook = {"status": response.status, "body": response.body[: 256 * 1024]}
    if isinstance(action, model.CallWebhook) and action.result_name:
        category = "Success" if 200 <= response.status <= 299 else "Failure"
        url_input = f"{action.method.upper()} {action.url}"
        sprint.save_result(action.result_name, str(response.status), category, category, url_input, node_uuid)
