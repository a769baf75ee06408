"""Session state: where a contact is in a conversation, as plain data the server stores between messages.

A session is a stack of runs (a flow that entered another flow is below it), the wait it is in, the last input
and what the last ended sub-flow left behind. ``Session.from_dict(session.as_dict())`` gives the same session;
``from_dict`` refuses anything that is not a session it wrote (``SessionError``), since the data comes back
from storage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from flows.events import RunStatus, WaitKind

VERSION = 1
SessionStatus = Literal["waiting", "completed", "expired", "interrupted", "failed"]
# Each spelling read from storage → itself, typed (a lookup that checks and types in one step).
_SESSION_STATUSES: dict[str, SessionStatus] = {status: status for status in get_args(SessionStatus)}
_RUN_STATUSES: dict[str, RunStatus] = {status: status for status in get_args(RunStatus)}
_WAIT_KINDS: dict[str, WaitKind] = {kind: kind for kind in get_args(WaitKind)}


class SessionError(ValueError):
    """Stored session data that cannot be read back."""


def parse_iso(text: object, what: str) -> dt.datetime:
    if not isinstance(text, str):
        raise SessionError(f"{what} must be an ISO 8601 time")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise SessionError(f"{what} must be an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise SessionError(f"{what} must carry a UTC offset")
    return moment


# A named result of a run (``@results.<key>``), kept as text as RapidPro keeps it: name, value, category,
# category_localized, input, node_uuid, created_on (text) and extra (an object, e.g. regex groups).
ResultData = dict[str, object]


@dataclass
class Run:
    uuid: str
    flow_uuid: str
    status: RunStatus
    created_on: str
    results: dict[str, ResultData] = field(default_factory=dict)  # by key (the snakified name)
    visits: dict[str, int] = field(default_factory=dict)  # node uuid → times entered
    node_uuid: str | None = None  # the node the run stopped at (waiting, or in a sub-flow)


@dataclass
class Wait:
    kind: WaitKind
    node_uuid: str
    expires_on: str
    timeout_on: str | None = None
    action_index: int = 0  # for a webhook wait: the action to continue with


@dataclass
class Session:
    uuid: str
    contact_uuid: str
    status: SessionStatus
    runs: list[Run]  # the stack: runs[-1] is the active one
    wait: Wait | None = None
    input: dict[str, str] | None = None  # text, uuid, created_on
    child: dict[str, object] | None = None  # the last ended sub-run: run uuid, flow uuid, status, results
    webhook: dict[str, object] | None = None  # status and body of the last webhook response
    trigger: dict[str, object] = field(default_factory=dict)

    @property
    def run(self) -> Run:
        return self.runs[-1]

    # --- to and from plain data ---------------------------------------------------------------------------

    def as_dict(self) -> dict[str, object]:
        return {
            "version": VERSION,
            "uuid": self.uuid,
            "contact_uuid": self.contact_uuid,
            "status": self.status,
            "runs": [_run_dict(run) for run in self.runs],
            "wait": None if self.wait is None else _wait_dict(self.wait),
            "input": None if self.input is None else dict(self.input),
            "child": self.child,
            "webhook": self.webhook,
            "trigger": self.trigger,
        }

    @classmethod
    def from_dict(cls, data: object) -> Session:
        source = _mapping(data, "session")
        get = source.get
        if get("version") != VERSION:
            raise SessionError(f"session version {get('version')!r} is not {VERSION}")
        runs = [_read_run(item) for item in _list(get("runs"), "session runs")]
        if not runs:
            raise SessionError("a session has at least one run")
        written = _text(get("status"), "session status")
        status = _SESSION_STATUSES.get(written)
        if status is None:
            raise SessionError(f"unknown session status {written!r}")
        wait, input_, child, webhook = get("wait"), get("input"), get("child"), get("webhook")
        return cls(
            _text(get("uuid"), "session uuid"),
            _text(get("contact_uuid"), "session contact_uuid"),
            status,
            runs,
            None if wait is None else _read_wait(wait),
            None if input_ is None else _text_map(input_, "session input"),
            None if child is None else dict(_mapping(child, "session child")),
            None if webhook is None else dict(_mapping(webhook, "session webhook")),
            dict(_mapping(get("trigger", {}), "session trigger")),
        )


def _run_dict(run: Run) -> dict[str, object]:
    return {
        "uuid": run.uuid,
        "flow_uuid": run.flow_uuid,
        "status": run.status,
        "created_on": run.created_on,
        # Result objects are never changed once made (a new result replaces the old), so they can be shared.
        "results": dict(run.results),
        "visits": dict(run.visits),
        "node_uuid": run.node_uuid,
    }


def _wait_dict(wait: Wait) -> dict[str, object]:
    return {
        "kind": wait.kind,
        "node_uuid": wait.node_uuid,
        "expires_on": wait.expires_on,
        "timeout_on": wait.timeout_on,
        "action_index": wait.action_index,
    }


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    # Sessions come back from JSON, whose object keys are always text.
    if type(value) is not dict and not isinstance(value, Mapping):
        raise SessionError(f"{what} must be an object")
    return value


def _list(value: object, what: str) -> list[object]:
    if not isinstance(value, list):
        raise SessionError(f"{what} must be a list")
    return value


def _text(value: object, what: str) -> str:
    if type(value) is not str and not isinstance(value, str):
        raise SessionError(f"{what} must be text")
    return value


def _optional_text(value: object, what: str) -> str | None:
    return None if value is None else _text(value, what)


def _text_map(value: object, what: str) -> dict[str, str]:
    source = _mapping(value, what)
    for key, item in source.items():
        _text(item, f"{what} {key}")
    return dict(source)


def _read_run(value: object) -> Run:
    # Runs every resume, for every run of the session: checked in one pass, and the results and visits are
    # copied whole once checked (result objects are never changed once made, so they can be shared).
    source = _mapping(value, "run")
    written = _text(source.get("status"), "run status")
    status = _RUN_STATUSES.get(written)
    if status is None:
        raise SessionError(f"unknown run status {written!r}")
    visits = _mapping(source.get("visits", {}), "run visits")
    for count in visits.values():
        if type(count) is not int:
            raise SessionError("run visits must be counts")
    results = _mapping(source.get("results", {}), "run results")
    for result in results.values():
        # Checked as far as the engine relies on it: the texts are read with defaults when shown.
        if type(result) is not dict or type(result.get("value")) is not str:
            raise SessionError("a result must be an object with its value as text")
    return Run(
        _text(source.get("uuid"), "run uuid"),
        _text(source.get("flow_uuid"), "run flow_uuid"),
        status,
        _text(source.get("created_on"), "run created_on"),
        dict(results),
        dict(visits),
        _optional_text(source.get("node_uuid"), "run node_uuid"),
    )


def _read_wait(value: object) -> Wait:
    source = _mapping(value, "wait")
    written = _text(source.get("kind"), "wait kind")
    kind = _WAIT_KINDS.get(written)
    if kind is None:
        raise SessionError(f"unknown wait kind {written!r}")
    index = source.get("action_index", 0)
    if type(index) is not int or index < 0:  # bool is an int, but not a count
        raise SessionError("wait action_index must be a count")
    expires_on = _text(source.get("expires_on"), "wait expires_on")
    parse_iso(expires_on, "wait expires_on")
    timeout_on = source.get("timeout_on")
    if timeout_on is not None:
        parse_iso(timeout_on, "wait timeout_on")
    return Wait(kind, _text(source.get("node_uuid"), "wait node_uuid"), expires_on, timeout_on, index)
