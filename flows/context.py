"""The context expressions see (``@contact``, ``@fields``, ``@results``, ``@input``, ``@run``, ``@child`` ...),
built from the session and the contact the way goflow shapes it.

Objects carry ``__default__``, the value that stands for them in text: ``@contact`` is the contact's name,
``@results.color`` the result's value, ``@input`` the text of the message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from decimal import Decimal

from flows.contact import Assets, Contact
from flows.model import Flow
from flows.session import ResultData, Run, Session
from flows.values.convert import DEFAULT


def _flow_ref(uuid: str, assets: Assets) -> dict[str, object]:
    flow = assets.flows.get(uuid)
    name = flow.name if flow is not None else ""
    return {DEFAULT: name, "uuid": uuid, "name": name}


_RESULT_KEYS = ("name", "value", "category", "category_localized", "input", "node_uuid", "created_on")


def result_context(result: ResultData) -> dict[str, object]:
    shaped: dict[str, object] = {key: result.get(key, "") for key in _RESULT_KEYS}
    shaped[DEFAULT] = shaped["value"]
    shaped["extra"] = result.get("extra") or {}
    return shaped


class ResultsView(Mapping[str, object]):
    """``@results``: each result is shaped for expressions only when one is looked at (a run can hold
    hundreds, an expression reads one or two)."""

    __slots__ = ("_results",)

    def __init__(self, results: Mapping[str, ResultData]) -> None:
        self._results = results

    def __getitem__(self, key: str) -> object:
        if key == DEFAULT:
            # goflow renders @results as "Name: value" lines in order
            lines = sorted(
                f"{result.get('name', '')}: {result.get('value', '')}" for result in self._results.values()
            )
            return "\n".join(lines)
        return result_context(self._results[key])

    def __contains__(self, key: object) -> bool:
        return key == DEFAULT or key in self._results

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)


def results_context(results: Mapping[str, ResultData]) -> dict[str, object]:
    return {key: result_context(result) for key, result in results.items()}


def fields_context(contact: Contact, assets: Assets) -> dict[str, object]:
    fields: dict[str, object] = dict.fromkeys(assets.fields)
    fields.update(contact.fields)
    return fields


def contact_context(contact: Contact, assets: Assets) -> dict[str, object]:
    first_name = contact.name.split(" ", 1)[0] if contact.name else ""
    tel = f"tel:{contact.phone}" if contact.phone else None
    return {
        DEFAULT: contact.name,
        "uuid": contact.uuid,
        "name": contact.name,
        "first_name": first_name,
        "language": contact.language,
        "timezone": contact.timezone,
        "status": contact.status,
        "created_on": contact.created_on,
        "urn": tel,
        "urns": [tel] if tel else [],
        "groups": [{DEFAULT: group.name, "uuid": group.uuid, "name": group.name} for group in contact.groups]
        if contact.groups
        else [],
        "fields": fields_context(contact, assets),
    }


def _run_summary(run: Run, contact: Mapping[str, object], assets: Assets) -> dict[str, object]:
    return {
        "uuid": run.uuid,
        "flow": _flow_ref(run.flow_uuid, assets),
        "status": run.status,
        "created_on": run.created_on,
        "results": ResultsView(run.results),
        "contact": contact,
        "fields": contact.get("fields"),
    }


def _input_context(session: Session) -> dict[str, object] | None:
    if session.input is None:
        return None
    text = session.input.get("text", "")
    return {
        DEFAULT: text,
        "uuid": session.input.get("uuid", ""),
        "text": text,
        "created_on": session.input.get("created_on", ""),
        "attachments": [],
        "type": "msg",
    }


def _webhook_context(session: Session) -> dict[str, object] | None:
    if session.webhook is None:
        return None
    body = session.webhook.get("body")
    body_text = body if isinstance(body, str) else ""
    try:
        parsed: object = json.loads(body_text) if body_text else None
    except (ValueError, RecursionError):
        parsed = None
    status = session.webhook.get("status")
    return {
        DEFAULT: body_text,
        "status": Decimal(status) if isinstance(status, int) else None,
        "json": _json_values(parsed),
        "body": body_text,
    }


def _json_values(value: object) -> object:
    """JSON as expression values: numbers become ``Decimal`` (floats would print differently)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if isinstance(value, list):
        return [_json_values(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_values(item) for key, item in value.items()}
    return None


def build(session: Session, contact: Contact, assets: Assets, flow: Flow) -> dict[str, object]:
    """The context of the active run (``@node`` is added per node by the engine)."""
    run = session.run
    contact_ctx = contact_context(contact, assets)
    results = ResultsView(run.results)
    parent = _run_summary(session.runs[-2], contact_ctx, assets) if len(session.runs) > 1 else None
    child: dict[str, object] | None = None
    if session.child is not None:
        child_results = session.child.get("results")
        child = {
            DEFAULT: session.child.get("status"),
            "uuid": session.child.get("run_uuid"),
            "status": session.child.get("status"),
            "run": {"status": session.child.get("status")},
            "flow": _flow_ref(str(session.child.get("flow_uuid", "")), assets),
            "results": child_results if isinstance(child_results, Mapping) else {},
            "contact": contact_ctx,
            "fields": contact_ctx["fields"],
        }
    tel = contact_ctx["urn"]
    return {
        "contact": contact_ctx,
        "fields": contact_ctx["fields"],
        "results": results,
        "input": _input_context(session),
        "run": {
            "uuid": run.uuid,
            "flow": {DEFAULT: flow.name, "uuid": flow.uuid, "name": flow.name},
            "status": run.status,
            "created_on": run.created_on,
            "results": results,
            "contact": contact_ctx,
        },
        "child": child,
        "parent": parent,
        "urns": {"tel": tel},
        "webhook": _webhook_context(session),
        "trigger": session.trigger,
        "globals": {},
        "locals": {},
    }
