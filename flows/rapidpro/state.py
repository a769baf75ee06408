"""What an import accumulates while it walks the export: the report, and the fields, groups and flows that
references resolve against.

RapidPro resolves references by uuid, then by name (an export from another workspace keeps names but not
uuids), and creates a group or field an export refers to without declaring; the tables here do the same, so
the programme written afterwards declares everything its flows, campaigns and triggers use.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field

from flows.model import FieldDef, FieldType, FlowRef, GroupRef
from flows.rapidpro.reader import Obj
from flows.rapidpro.report import ReportEntry, Severity

# Stable uuids for things an export names without a uuid (old exports' groups): the same name gives the same
# uuid on every import, so re-importing does not change the programme.
_NAMESPACE = uuidlib.UUID("5b0f4a36-9d2e-4c47-8d5e-2f2b8c9e6a10")


def stable_uuid(*parts: str) -> str:
    return str(uuidlib.uuid5(_NAMESPACE, "\x1f".join(parts)))


@dataclass
class Groups:
    declared: list[GroupRef] = field(default_factory=list)
    smart: set[str] = field(default_factory=set)  # uuids of groups that were smart (query) groups in RapidPro

    def declare(self, group: GroupRef) -> GroupRef:
        existing = self.find(group.uuid, group.name)
        if existing is not None:
            return existing
        self.declared.append(group)
        return group

    def find(self, uuid: str, name: str) -> GroupRef | None:
        for group in self.declared:
            if uuid and group.uuid == uuid:
                return group
        folded = name.casefold()
        for group in self.declared:
            if folded and group.name.casefold() == folded:
                return group
        return None

    def resolve(self, uuid: str, name: str) -> GroupRef:
        """The declared group a reference means, declaring it (as RapidPro creates it) when it is new."""
        found = self.find(uuid, name)
        if found is not None:
            return found
        return self.declare(GroupRef(uuid=uuid or stable_uuid("group", name), name=name or uuid))


def group_reference(ref: Obj, groups: Groups) -> GroupRef:
    """A ``{uuid, name}`` group reference, resolved against the declared groups."""
    uuid = ref.opt_text("uuid")
    name = ref.opt_text("name")
    if not uuid and not name:
        ref.error("a group reference needs a uuid or a name")
    return groups.resolve(uuid, name)


@dataclass
class Fields:
    declared: dict[str, FieldDef] = field(default_factory=dict)

    def declare(self, definition: FieldDef) -> None:
        self.declared.setdefault(definition.key, definition)

    def ensure(self, key: str, name: str, value_type: FieldType = "text") -> FieldDef:
        if key not in self.declared:
            self.declared[key] = FieldDef(key=key, name=name or key, value_type=value_type)
        return self.declared[key]

    def retype(self, key: str, value_type: FieldType) -> None:
        old = self.declared[key]
        self.declared[key] = FieldDef(key=old.key, name=old.name, value_type=value_type)


@dataclass
class Flows:
    by_uuid: dict[str, FlowRef] = field(default_factory=dict)
    by_name: dict[str, FlowRef] = field(default_factory=dict)

    def add(self, ref: FlowRef) -> None:
        self.by_uuid[ref.uuid] = ref
        self.by_name[ref.name.casefold()] = ref

    def resolve(self, uuid: str, name: str) -> FlowRef | None:
        return self.by_uuid.get(uuid) or self.by_name.get(name.casefold())


@dataclass
class ImportState:
    source: str
    entries: list[ReportEntry] = field(default_factory=list)
    groups: Groups = field(default_factory=Groups)
    fields: Fields = field(default_factory=Fields)
    flows: Flows = field(default_factory=Flows)

    def report(
        self, severity: Severity, subject: str, message: str, flow: str | None = None, node: str | None = None
    ) -> None:
        self.entries.append(ReportEntry(severity, subject, message, flow, node))


@dataclass(frozen=True)
class NodeScope:
    """Where a conversion is: the flow and node an action, router or case belongs to, for the report."""

    state: ImportState
    flow: str
    node: str | None
    template: Callable[[str], str]  # the spec migrations that rewrite templates of this flow's version

    def report(self, severity: Severity, subject: str, message: str) -> None:
        self.state.report(severity, subject, message, self.flow, self.node)
