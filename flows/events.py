"""What the engine asks the world to do: each resume returns a list of these, in order.

The server's runner applies them in one transaction (messages queued, fields and groups written, results
recorded, alerts raised), then performs what must happen after the commit (webhooks, waking the gateways).
Every event turns into plain JSON-ready data with ``as_dict()``, which is also what the golden conversation
tests check in.

Events are values: nothing changes one once made. They are slotted dataclasses rather than frozen ones only
because a frozen dataclass sets each field through ``object.__setattr__``: building a resume's three or four
events that way was about 7 % of what the resume cost (``python -m bench bench_engine`` counts it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar, Literal

from flows.env import iso
from flows.model import GroupRef

RunStatus = Literal["active", "waiting", "completed", "expired", "interrupted", "failed"]
WaitKind = Literal["msg", "webhook"]


def _plain(value: object) -> object:
    """JSON-ready data: datetimes and dates as ISO 8601, numbers as text (never floats), tuples as lists."""
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, GroupRef):
        return {"uuid": value.uuid, "name": value.name}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


@dataclass(slots=True)
class Event:
    type: ClassVar[str]

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"type": self.type}
        for item in dataclasses.fields(self):
            data[item.name] = _plain(getattr(self, item.name))
        return data


@dataclass(slots=True)
class FlowEntered(Event):
    """A run of a flow started (the first flow of a session, or one entered from another)."""

    type: ClassVar[str] = "flow_entered"
    flow_uuid: str
    flow_name: str
    run_uuid: str
    parent_run_uuid: str | None = None


@dataclass(slots=True)
class RunEnded(Event):
    type: ClassVar[str] = "run_ended"
    flow_uuid: str
    flow_name: str
    run_uuid: str
    status: RunStatus


@dataclass(slots=True)
class MsgCreated(Event):
    """A message to send to the contact. ``language`` is the language it was localised to."""

    type: ClassVar[str] = "msg_created"
    text: str
    quick_replies: tuple[str, ...]
    language: str
    flow_uuid: str
    node_uuid: str

    @property
    def sms_text(self) -> str:
        """The text as an SMS carries it: a basic phone shows no buttons, so quick replies are written out
        as the answers to choose from."""
        if not self.quick_replies:
            return self.text
        choices = " / ".join(self.quick_replies)
        return f"{self.text}\n({choices})" if self.text else choices


@dataclass(slots=True)
class ContactFieldChanged(Event):
    """``value`` is typed by the field (text, ``Decimal``, ``date``, aware ``datetime``); None clears it."""

    type: ClassVar[str] = "contact_field_changed"
    key: str
    name: str
    value: object


@dataclass(slots=True)
class ContactNameChanged(Event):
    type: ClassVar[str] = "contact_name_changed"
    name: str


@dataclass(slots=True)
class ContactLanguageChanged(Event):
    type: ClassVar[str] = "contact_language_changed"
    language: str


@dataclass(slots=True)
class ContactStatusChanged(Event):
    type: ClassVar[str] = "contact_status_changed"
    status: str


@dataclass(slots=True)
class ContactTimezoneChanged(Event):
    type: ClassVar[str] = "contact_timezone_changed"
    timezone: str


@dataclass(slots=True)
class ContactGroupsChanged(Event):
    type: ClassVar[str] = "contact_groups_changed"
    added: tuple[GroupRef, ...] = ()
    removed: tuple[GroupRef, ...] = ()


@dataclass(slots=True)
class RunResultChanged(Event):
    type: ClassVar[str] = "run_result_changed"
    run_uuid: str
    flow_uuid: str
    name: str
    key: str
    value: str
    category: str
    category_localized: str
    input: str
    node_uuid: str


@dataclass(slots=True)
class AlertRaised(Event):
    """recado's own: an alert for health staff, with the reason the flow gives."""

    type: ClassVar[str] = "alert_raised"
    reason: str
    flow_uuid: str
    node_uuid: str
    input: str


@dataclass(slots=True)
class WebhookCalled(Event):
    """The server makes this call and resumes the session with a ``WebhookResponse``."""

    type: ClassVar[str] = "webhook_called"
    method: str
    url: str
    headers: Mapping[str, str]
    body: str
    result_name: str
    flow_uuid: str
    node_uuid: str


@dataclass(slots=True)
class InputLabelsAdded(Event):
    type: ClassVar[str] = "input_labels_added"
    labels: tuple[str, ...]


@dataclass(slots=True)
class SessionWaiting(Event):
    """The session waits for ``kind``: a reply (``msg``) or a webhook response. ``timeout_on`` is when the
    wait times out (None: never); ``expires_on`` is when the whole session expires without an answer."""

    type: ClassVar[str] = "session_waiting"
    kind: WaitKind
    node_uuid: str
    timeout_on: dt.datetime | None
    expires_on: dt.datetime


@dataclass(slots=True)
class SessionEnded(Event):
    type: ClassVar[str] = "session_ended"
    status: Literal["completed", "expired", "interrupted", "failed"]


@dataclass(slots=True)
class ErrorEvent(Event):
    """Something went wrong but the conversation goes on (a template error, an unsupported action)."""

    type: ClassVar[str] = "error"
    text: str
    flow_uuid: str = ""
    node_uuid: str = ""


@dataclass(slots=True)
class FailureEvent(Event):
    """The session cannot go on (a loop, a flow that does not exist); it ends as failed."""

    type: ClassVar[str] = "failure"
    text: str
    flow_uuid: str = ""
    node_uuid: str = ""


@dataclass(slots=True)
class Ignored(Event):
    """An input the session could not use (a timeout for a wait without one, a reply to an ended session)."""

    type: ClassVar[str] = "input_ignored"
    reason: str
    details: Mapping[str, str] = field(default_factory=dict)
