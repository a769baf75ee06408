"""RapidPro campaigns → the model, with the export quirks of ``import_campaigns`` (reference §8.1).

- ``unit`` M/H/D/W is minutes/hours/days/weeks ("M" is minutes: there is no month unit);
- ``delivery_hour`` -1 means "keep the computed time of day";
- ``start_mode`` I/S/P is interrupt/skip/passive, interrupt when missing (old exports have none);
- ``message`` is a language → text object, that object as a JSON string, or plain text (language ``und``);
- a flow event whose flow is not in the export is dropped (RapidPro drops it silently; the report says so);
- ``relative_to`` names a datetime field, declared here when the export does not declare it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping

from flows import model
from flows.rapidpro.reader import Obj
from flows.rapidpro.state import ImportState, group_reference, stable_uuid

UNITS: dict[str, model.OffsetUnit] = {"M": "minutes", "H": "hours", "D": "days", "W": "weeks"}
START_MODES: dict[str, model.StartMode] = {"I": "interrupt", "S": "skip", "P": "passive"}
# Contact attributes RapidPro lets a campaign count from without a field; recado campaigns count from fields.
SYSTEM_DATE_FIELDS = frozenset({"created_on", "last_seen_on"})

# Expressions of the legacy engine (before 2019) that mean nothing, or something else, to the current one.
_LEGACY_EXPRESSION = re.compile(
    r"@(?:flow|step|date|extra|channel)\b|@contact\.tel(?:_e164)?\b", re.IGNORECASE
)


def convert_campaign(campaign: Obj, state: ImportState, legacy_export: bool) -> model.Campaign:
    name = campaign.text("name")
    campaign = campaign.within(f'campaign "{name}"')
    uuid = campaign.opt_text("uuid") or stable_uuid("campaign", name)
    group = group_reference(campaign.obj("group"), state.groups)
    events = []
    for number, event in enumerate(campaign.objs("events")):
        converted = _event(event, f'campaign "{name}" event {number + 1}', uuid, number, state, legacy_export)
        if converted is not None:
            events.append(converted)
    return model.Campaign(uuid=uuid, name=name, group=group, events=tuple(events))


def _event(
    event: Obj, label: str, campaign_uuid: str, number: int, state: ImportState, legacy_export: bool
) -> model.CampaignEvent | None:
    def drop(why: str) -> None:
        state.report("unsupported", label, f"{why}; the event is not imported")

    uuid = event.opt_text("uuid") or stable_uuid("event", campaign_uuid, str(number))
    unit = UNITS.get(event.text("unit"))
    if unit is None:
        drop(f"unknown offset unit {event.text('unit')!r} (RapidPro units are M, H, D and W)")
        return None
    offset = event.integer("offset")
    hour = event.opt_int("delivery_hour", -1)
    if hour is None or not -1 <= hour <= 23:
        drop(f"delivery hour {hour} is not -1 or 0 to 23")
        return None
    mode_code = event.opt_text("start_mode", "I") or "I"
    start_mode = START_MODES.get(mode_code)
    if start_mode is None:
        drop(f"unknown start mode {mode_code!r} (RapidPro start modes are I, S and P)")
        return None
    relative_to = _relative_to(event.obj("relative_to"), label, state)
    if relative_to in SYSTEM_DATE_FIELDS:
        drop(
            f"it counts from the contact's {relative_to}, which recado campaigns cannot (only from date fields)"
        )
        return None
    kind = event.opt_text("event_type") or (
        "F" if event.data.get("flow") and not event.data.get("message") else "M"
    )
    timing = model.CampaignEvent(
        uuid=uuid,
        relative_to=relative_to,
        offset=offset,
        unit=unit,
        delivery_hour=None if hour == -1 else hour,
        start_mode=start_mode,
    )
    if kind == "F":
        ref = event.obj("flow")
        flow = state.flows.resolve(ref.opt_text("uuid"), ref.opt_text("name"))
        if flow is None:
            drop(f'its flow "{ref.opt_text("name")}" is not in this export')
            return None
        return dataclasses.replace(timing, flow=flow)
    if kind != "M":
        drop(f"unknown event type {kind!r} (RapidPro events are M, a message, and F, a flow)")
        return None
    message = _message(event)
    if not message or not any(text.strip() for text in message.values()):
        drop("the message event has no text")
        return None
    if legacy_export and any(_LEGACY_EXPRESSION.search(text) for text in message.values()):
        state.report(
            "changed",
            label,
            "the message uses expressions of RapidPro's legacy engine (such as @flow or @step); "
            "rewrite them (e.g. @flow.x is @results.x) or they are sent as written",
        )
    base = _language(event.opt_text("base_language"))
    if base not in message:
        base = next(iter(message))
    return dataclasses.replace(timing, message=message, base_language=base)


def _relative_to(relative_to: Obj, label: str, state: ImportState) -> str:
    key = relative_to.text("key")
    if key in SYSTEM_DATE_FIELDS:
        return key
    name = relative_to.opt_text("label") or relative_to.opt_text("name") or key
    declared = state.fields.ensure(key, name, "datetime")
    if declared.value_type not in {"date", "datetime"}:
        state.report(
            "changed",
            f"field {key}",
            f"declared as {declared.value_type} but {label} counts from it; it is imported as a datetime field",
        )
        state.fields.retype(key, "datetime")
    return key


def _language(code: str) -> str:
    return "und" if code in {"", "base"} else code


def _message(event: Obj) -> dict[str, str]:
    """The event's texts by language, from any of the three forms exports use."""
    value = event.data.get("message")
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            decoded: object = json.loads(value)
        except (ValueError, RecursionError):
            decoded = None
        if isinstance(decoded, Mapping):
            value = decoded
        else:
            return {"und": value} if value else {}
    if not isinstance(value, Mapping):
        event.error("expected the message as text or as an object of texts by language", "message")
    texts: dict[str, str] = {}
    for language, text in value.items():
        if not isinstance(language, str) or not isinstance(text, str):
            event.error("expected the message's languages and texts to be text", "message")
        texts[_language(language)] = text
    return texts
