"""The flow model every format loads into and the engine runs.

It mirrors goflow's definition (spec 13/14) closely, so RapidPro exports map onto it one to one, and the
native YAML format is a friendlier way of writing the same thing:

- a flow is a list of nodes; the first node is the entry point;
- a node runs its actions on entry, then its router (if any) picks a category, and the category's exit leads
  to the next node (or ends the run); a node without a router takes its first exit;
- a router may wait for a reply first, with an optional timeout category;
- translations live beside the flow, keyed by language, then by the uuid of the action, case or category,
  then by property, exactly as in RapidPro.

Everything is immutable; the engine never changes a definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

FlowType = Literal["messaging", "messaging_background"]
ContactStatus = Literal["active", "blocked", "stopped"]
FieldType = Literal["text", "number", "date", "datetime"]
OffsetUnit = Literal["minutes", "hours", "days", "weeks"]
StartMode = Literal["interrupt", "skip", "passive"]
TriggerMatch = Literal["first_word", "only_word"]

# language (ISO 639-3) → item uuid → property ("text", "quick_replies", "arguments", "name", "category") → values
Localization = Mapping[str, Mapping[str, Mapping[str, tuple[str, ...]]]]


@dataclass(frozen=True, slots=True)
class FlowRef:
    uuid: str
    name: str


@dataclass(frozen=True, slots=True)
class GroupRef:
    uuid: str
    name: str


# --- actions ---------------------------------------------------------------------------------------------
# Template fields (text, value, name, ...) hold expression-language templates, evaluated when the action runs.


@dataclass(frozen=True, slots=True)
class SendMsg:
    uuid: str
    text: str
    quick_replies: tuple[str, ...] = ()
    type: Literal["send_msg"] = "send_msg"


@dataclass(frozen=True, slots=True)
class SetContactField:
    uuid: str
    field_key: str
    field_name: str
    value: str  # an empty result clears the field
    type: Literal["set_contact_field"] = "set_contact_field"


@dataclass(frozen=True, slots=True)
class SetContactName:
    uuid: str
    name: str
    type: Literal["set_contact_name"] = "set_contact_name"


@dataclass(frozen=True, slots=True)
class SetContactLanguage:
    uuid: str
    language: str
    type: Literal["set_contact_language"] = "set_contact_language"


@dataclass(frozen=True, slots=True)
class SetContactStatus:
    uuid: str
    status: ContactStatus
    type: Literal["set_contact_status"] = "set_contact_status"


@dataclass(frozen=True, slots=True)
class SetContactTimezone:
    uuid: str
    timezone: str
    type: Literal["set_contact_timezone"] = "set_contact_timezone"


@dataclass(frozen=True, slots=True)
class SetRunResult:
    uuid: str
    name: str
    value: str
    category: str = ""
    type: Literal["set_run_result"] = "set_run_result"


@dataclass(frozen=True, slots=True)
class AddContactGroups:
    uuid: str
    groups: tuple[GroupRef, ...]
    type: Literal["add_contact_groups"] = "add_contact_groups"


@dataclass(frozen=True, slots=True)
class RemoveContactGroups:
    uuid: str
    groups: tuple[GroupRef, ...] = ()
    all_groups: bool = False
    type: Literal["remove_contact_groups"] = "remove_contact_groups"


@dataclass(frozen=True, slots=True)
class EnterFlow:
    uuid: str
    flow: FlowRef
    terminal: bool = False
    type: Literal["enter_flow"] = "enter_flow"


@dataclass(frozen=True, slots=True)
class RaiseAlert:
    """recado's own action: an alert for health staff (the alert flow raises it after a confirmation)."""

    uuid: str
    reason: str
    type: Literal["raise_alert"] = "raise_alert"


@dataclass(frozen=True, slots=True)
class CallWebhook:
    """The engine makes no call: it emits a ``webhook_called`` event and the server performs it."""

    uuid: str
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""
    result_name: str = ""
    type: Literal["call_webhook"] = "call_webhook"


@dataclass(frozen=True, slots=True)
class AddInputLabels:
    uuid: str
    labels: tuple[str, ...]
    type: Literal["add_input_labels"] = "add_input_labels"


@dataclass(frozen=True, slots=True)
class UnsupportedAction:
    """An imported action recado cannot run. Kept, so it is reported at import and at run time, never lost."""

    uuid: str
    action_type: str
    raw: Mapping[str, object] = field(default_factory=dict)
    type: Literal["unsupported"] = "unsupported"


Action = (
    SendMsg
    | SetContactField
    | SetContactName
    | SetContactLanguage
    | SetContactStatus
    | SetContactTimezone
    | SetRunResult
    | AddContactGroups
    | RemoveContactGroups
    | EnterFlow
    | RaiseAlert
    | CallWebhook
    | AddInputLabels
    | UnsupportedAction
)

# --- routers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Category:
    uuid: str
    name: str
    exit_uuid: str


@dataclass(frozen=True, slots=True)
class Case:
    uuid: str
    test: str  # a router test name: has_any_word, has_number_between, ...
    arguments: tuple[str, ...]  # templates, localisable
    category_uuid: str


@dataclass(frozen=True, slots=True)
class Timeout:
    seconds: int
    category_uuid: str


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait for the contact's next message before routing."""

    timeout: Timeout | None = None


@dataclass(frozen=True, slots=True)
class Router:
    kind: Literal["switch", "random"]
    categories: tuple[Category, ...]
    operand: str = "@input.text"
    cases: tuple[Case, ...] = ()
    default_category_uuid: str | None = None
    result_name: str | None = None
    wait: Wait | None = None


@dataclass(frozen=True, slots=True)
class Exit:
    uuid: str
    destination_uuid: str | None = None  # None ends the run


@dataclass(frozen=True, slots=True)
class Node:
    uuid: str
    actions: tuple[Action, ...] = ()
    router: Router | None = None
    exits: tuple[Exit, ...] = ()
    name: str | None = None  # native flows name their nodes; imported ones may not


@dataclass(frozen=True, slots=True)
class Flow:
    uuid: str
    name: str
    language: str  # the base language of the texts in the definition (ISO 639-3)
    nodes: tuple[Node, ...]
    type: FlowType = "messaging"
    expire_after_minutes: int = 10080
    localization: Localization = field(default_factory=dict)
    # Native flows match replies without accents by default ("si" = "sí"); imported flows keep RapidPro's
    # exact semantics.
    accent_insensitive: bool = False
    spec_version: str = "13.6.1"
    # Answers are stored without any link to the contact (clinic ratings): the server keeps only the clinic,
    # question, answer and week, never who gave them.
    anonymous: bool = False


# --- programme-level content -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldDef:
    key: str
    name: str
    value_type: FieldType = "text"


@dataclass(frozen=True, slots=True)
class Trigger:
    """A keyword (or catch-all) that starts a flow for an incoming message."""

    kind: Literal["keyword", "catch_all"]
    flow: FlowRef
    keywords: tuple[str, ...] = ()
    match: TriggerMatch = "first_word"
    groups: tuple[GroupRef, ...] = ()  # only contacts in one of these groups (empty: everyone)
    exclude_groups: tuple[GroupRef, ...] = ()


@dataclass(frozen=True, slots=True)
class CampaignEvent:
    uuid: str
    relative_to: str  # a date or datetime field key
    offset: int  # signed
    unit: OffsetUnit
    delivery_hour: int | None = None  # 0-23 local time, or None to keep the computed time of day
    message: Mapping[str, str] | None = None  # language → text; exactly one of message and flow is set
    flow: FlowRef | None = None
    start_mode: StartMode = "interrupt"
    base_language: str = "spa"


@dataclass(frozen=True, slots=True)
class Campaign:
    uuid: str
    name: str
    group: GroupRef
    events: tuple[CampaignEvent, ...]


@dataclass(frozen=True, slots=True)
class Programme:
    """A programme folder: its flows plus what the programme file declares."""

    name: str
    flows: tuple[Flow, ...]
    fields: tuple[FieldDef, ...] = ()
    groups: tuple[GroupRef, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    campaigns: tuple[Campaign, ...] = ()
    languages: tuple[str, ...] = ("spa",)
