"""The contact as the engine sees it, and the programme assets a session may refer to.

The server loads a ``Contact`` from its tables and passes it in; the engine returns the changed contact with its
events, so a later step in the same resume sees the field it just set.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from flows.model import ContactStatus, FieldDef, Flow, GroupRef, Node, Programme


@dataclass(frozen=True)
class Contact:
    uuid: str
    name: str = ""
    language: str | None = None  # ISO 639-3, None when unknown
    phone: str | None = None  # E.164
    timezone: str | None = None  # IANA; None: the programme's
    status: ContactStatus = "active"
    # field key → typed value: str, Decimal, datetime.date or aware datetime.datetime
    fields: Mapping[str, object] = field(default_factory=dict)
    groups: tuple[GroupRef, ...] = ()
    created_on: dt.datetime | None = None

    def replace(self, **changes: object) -> Contact:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def in_group(self, uuid: str) -> bool:
        return any(group.uuid == uuid for group in self.groups)


@dataclass(frozen=True)
class Assets:
    """The flows, fields and groups of a programme, indexed for the engine."""

    flows: Mapping[str, Flow] = field(default_factory=dict)  # by uuid
    fields: Mapping[str, FieldDef] = field(default_factory=dict)  # by key
    groups: Mapping[str, GroupRef] = field(default_factory=dict)  # by uuid

    @classmethod
    def of(
        cls, flows: Iterable[Flow], fields: Iterable[FieldDef] = (), groups: Iterable[GroupRef] = ()
    ) -> Assets:
        return cls(
            flows={flow.uuid: flow for flow in flows},
            fields={item.key: item for item in fields},
            groups={group.uuid: group for group in groups},
        )

    @classmethod
    def from_programme(cls, programme: Programme) -> Assets:
        return cls.of(programme.flows, programme.fields, programme.groups)

    @functools.cached_property
    def nodes(self) -> Mapping[str, Mapping[str, Node]]:
        """flow uuid → node uuid → node, built once per set of assets."""
        return {flow.uuid: {node.uuid: node for node in flow.nodes} for flow in self.flows.values()}

    def flow(self, uuid: str, name: str = "") -> Flow | None:
        """A flow by uuid, else by name (hand-written references may only name the flow)."""
        found = self.flows.get(uuid)
        if found is not None or not name:
            return found
        folded = name.casefold()
        return next((flow for flow in self.flows.values() if flow.name.casefold() == folded), None)
