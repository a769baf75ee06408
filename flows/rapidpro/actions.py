"""RapidPro actions → recado actions, one converter per type (goflow ``flows/actions/<type>.go`` fields).

An action type recado does not run becomes ``UnsupportedAction`` holding the original JSON, so nothing is
lost and the engine can say what it skipped; the report says why for the types people meet, and what to use
instead where recado has an equivalent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flows import model
from flows.rapidpro.reader import Obj
from flows.rapidpro.state import NodeScope, group_reference

MAX_QUICK_REPLIES = 10  # spec 14.1.0 trims longer lists
MAX_RESULT_NAME = 64  # spec 13.6.0
MAX_CATEGORY_NAME = 36

# Why an action type is not run, for the ones an SMS programme is likely to contain.
UNSUPPORTED_REASONS: dict[str, str] = {
    "send_broadcast": "recado sends only to the contact in the conversation; use raise_alert to reach staff",
    "start_session": "recado does not start flows for other contacts from a flow",
    "send_email": "recado sends no email; use raise_alert to notify staff",
    "add_contact_urn": "recado contacts have one phone number",
    "set_contact_channel": "channels are chosen by the gateway, not by flows",
    "set_run_local": "run locals (@locals) are not supported",
    "call_resthook": "resthooks (Zapier) are not supported; use call_webhook",
    "open_ticket": "recado has no ticketing; use raise_alert",
    "transfer_airtime": "airtime transfers are not supported",
    "call_llm": "recado does not call language models",
    "call_classifier": "NLU classifiers are not supported",
    "request_optin": "opt-ins are a WhatsApp/Facebook feature",
    "say_msg": "a voice action; recado runs SMS conversations",
    "play_audio": "a voice action; recado runs SMS conversations",
    "enter_flow": "the flow it enters is not in this export",
    "set_contact_status": "recado contacts can be active, blocked or stopped",
    "add_contact_groups": "groups chosen by name at run time (name_match) are not supported",
    "remove_contact_groups": "groups chosen by name at run time (name_match) are not supported",
    "add_input_labels": "labels chosen by name at run time (name_match) are not supported",
}


class Unsupported(Exception):
    """Raised by a converter when this particular action cannot be run (e.g. a dynamic group)."""


def plain(value: object) -> object:
    """A JSON-like copy made of dicts, lists and scalars, so the raw action kept for reporting cannot change
    under the model (the export's containers may be any Mapping or Sequence)."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def convert_action(action: Obj, scope: NodeScope) -> model.Action:
    uuid = action.text("uuid")
    kind = action.text("type")
    converter = _CONVERTERS.get(kind)
    try:
        if converter is not None:
            return converter(action, uuid, scope)
    except Unsupported as exc:
        reason = str(exc)
    else:
        reason = UNSUPPORTED_REASONS.get(kind, "recado does not know this action type")
    scope.report("unsupported", f"action {kind}", f"{reason}; the action is kept but will not run")
    raw = plain(action.data)
    assert isinstance(raw, dict)
    return model.UnsupportedAction(uuid=uuid, action_type=kind, raw=raw)


def truncated(value: str, limit: int) -> str:
    return value[:limit].strip() if len(value) > limit else value


def _send_msg(a: Obj, uuid: str, scope: NodeScope) -> model.Action:
    text = scope.template(a.text("text"))
    quick_replies = tuple(scope.template(reply) for reply in a.texts("quick_replies"))
    if len(quick_replies) > MAX_QUICK_REPLIES:
        scope.report(
            "changed",
            "quick replies",
            f"{len(quick_replies)} quick replies cut to the first {MAX_QUICK_REPLIES}",
        )
        quick_replies = quick_replies[:MAX_QUICK_REPLIES]
    if a.texts("attachments"):
        scope.report(
            "changed", "attachments", f"send_msg {uuid}: attachments are not sent; an SMS carries text only"
        )
    if a.opt_bool("all_urns"):
        scope.report("changed", "all_urns", f"send_msg {uuid}: sent to the contact's phone number only")
    if a.data.get("templating") or a.data.get("template"):
        scope.report(
            "changed", "template", f"send_msg {uuid}: the WhatsApp template is ignored; the text is sent"
        )
    return model.SendMsg(uuid=uuid, text=text, quick_replies=quick_replies)


def _set_contact_field(a: Obj, uuid: str, scope: NodeScope) -> model.Action:
    field = a.obj("field")
    key = field.text("key")
    name = field.opt_text("name", key)
    declared = scope.state.fields.ensure(key, name)
    value = scope.template(a.opt_text("value"))
    return model.SetContactField(uuid=uuid, field_key=declared.key, field_name=declared.name, value=value)


def _set_contact_name(a: Obj, uuid: str, scope: NodeScope) -> model.Action:
    return model.SetContactName(uuid=uuid, name=scope.template(a.opt_text("name")))


def _set_contact_language(a: Obj, uuid: str, scope: NodeScope) -> model.Action:
    return model.SetContactLanguage(uuid=uuid, language=scope.template(a.opt_text("language")))


def _set_contact_status(a: Obj, uuid: str, scope: NodeScope) -> model.Action:
    status = a.text("status")
    if status == "active":
        return model.SetContactStatus(uuid=uuid, status="active")
    if status == "blocked":
        return model.SetContactStatus(uuid=uuid, status="blocked")
    if status == "stopped":
        return model.SetContactStatus(uuid=uuid, status="stopped")
    raise Unsupported(f"status {status!r}: {UNSUPPORTED_REASONS['set_contact_status']}")


def _set_contact_timezone(a: Obj, uuid: str, scope: NodeScope) -> model.Action:
    return model.SetContactTimezone(uuid=uuid, timezone=scope.template(a.opt_text("timezone")))


def _set_run_result(a: Obj, uuid: str, scope: NodeScope) -> model.Action:
    name = a.text("name")
    category = a.opt_text("category")
    if len(name) > MAX_RESULT_NAME or len(category) > MAX_CATEGORY_NAME:
        scope.report(
            "changed", "result name", f"set_run_result {uuid}: name or category cut to RapidPro's limits"
        )
    return model.SetRunResult(
        uuid=uuid,
        name=truncated(name, MAX_RESULT_NAME),
        value=scope.template(a.opt_text("value")),
        category=truncated(category, MAX_CATEGORY_NAME),
    )


def _groups(a: Obj, scope: NodeScope, kind: str) -> tuple[model.GroupRef, ...]:
    groups = []
    for group in a.objs("groups"):
        if group.has("name_match") and not group.has("uuid"):
            raise Unsupported(UNSUPPORTED_REASONS[kind])
        groups.append(group_reference(group, scope.state.groups))
    return tuple(groups)


def _add_contact_groups(a: Obj, uuid: str, scope: NodeScope) -> model.Action:
    return model.AddContactGroups(uuid=uuid, groups=_groups(a, scope, "add_contact_groups"))


def _remove_contact_groups(a: Obj, uuid: str, scope: NodeScope) -> model.Action:
    groups = _groups(a, scope, "remove_contact_groups")
    return model.RemoveContactGroups(uuid=uuid, groups=groups, all_groups=a.opt_bool("all_groups"))


def _enter_flow(a: Obj, uuid: str, scope: NodeScope) -> model.Action:
    ref = a.obj("flow")
    flow = scope.state.flows.resolve(ref.opt_text("uuid"), ref.opt_text("name"))
    if flow is None:
        raise Unsupported(f'the flow it enters ("{ref.opt_text("name")}") is not in this export')
    return model.EnterFlow(uuid=uuid, flow=flow, terminal=a.opt_bool("terminal"))


def _call_webhook(a: Obj, uuid: str, scope: NodeScope) -> model.Action:
    headers: dict[str, str] = {}
    header_obj = a.opt_obj("headers")
    if header_obj is not None:
        for name in header_obj.data:
            headers[name] = scope.template(header_obj.text(name))
    return model.CallWebhook(
        uuid=uuid,
        method=a.text("method").upper(),
        url=scope.template(a.text("url")),
        headers=headers,
        body=scope.template(a.opt_text("body")),
        result_name=truncated(a.opt_text("result_name"), MAX_RESULT_NAME),
    )


def _add_input_labels(a: Obj, uuid: str, scope: NodeScope) -> model.Action:
    labels = []
    for label in a.objs("labels"):
        if label.has("name_match") and not label.has("name"):
            raise Unsupported(UNSUPPORTED_REASONS["add_input_labels"])
        labels.append(label.text("name"))
    return model.AddInputLabels(uuid=uuid, labels=tuple(labels))


_CONVERTERS: dict[str, Callable[[Obj, str, NodeScope], model.Action]] = {
    "send_msg": _send_msg,
    "set_contact_field": _set_contact_field,
    "set_contact_name": _set_contact_name,
    "set_contact_language": _set_contact_language,
    "set_contact_status": _set_contact_status,
    "set_contact_timezone": _set_contact_timezone,
    "set_run_result": _set_run_result,
    "add_contact_groups": _add_contact_groups,
    "remove_contact_groups": _remove_contact_groups,
    "enter_flow": _enter_flow,
    "call_webhook": _call_webhook,
    "add_input_labels": _add_input_labels,
}

SUPPORTED_ACTIONS = frozenset(_CONVERTERS)
