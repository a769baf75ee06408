"""A programme is a folder: ``programme.yaml`` (languages, fields, groups, triggers, campaigns) and one native
flow per file in ``flows/``. docs/flows.md is the authors' guide to it.

Loading reads every file and reports every problem of every file before giving up, then cross-checks what the
files say about each other (a trigger's flow exists, a campaign is timed from a declared date field, groups are
declared). Flows, groups and fields are referred to by name; a reference without an explicit uuid resolves to
whatever uuid the named flow or group has, so a flow imported with its own uuid is still found by name.

``write_programme`` writes the same layout back, with file names made from the flow names, so that
``load_programme`` of what it wrote equals what it was given.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast, get_args

from flows.errors import FlowFileError, Problem, has_errors, sort_problems
from flows.model import (
    Action,
    AddContactGroups,
    Campaign,
    CampaignEvent,
    EnterFlow,
    FieldDef,
    FieldType,
    Flow,
    FlowRef,
    GroupRef,
    OffsetUnit,
    Programme,
    RemoveContactGroups,
    StartMode,
    Trigger,
    TriggerMatch,
)
from flows.native import (
    InlineMap,
    LoadedFlow,
    Reader,
    YNode,
    derive_uuid,
    dump_flow,
    flow_uuid_for,
    group_uuid_for,
    read_flow_file,
    read_source_file,
    read_yaml,
    short_list,
    space_out,
    to_yaml,
)
from flows.native.collector import collector_paused
from flows.validate import Finding, cross_check_programme

PROGRAMME_FILE: Final = "programme.yaml"
FLOWS_FOLDER: Final = "flows"
FLOW_SUFFIXES: Final = (".yaml", ".yml")
DEFAULT_LANGUAGES: Final = ("spa",)

_TOP_KEYS: Final = ("programme", "languages", "fields", "groups", "triggers", "campaigns", "flows")
_FIELD_KEYS: Final = ("name", "type")
_TRIGGER_KEYS: Final = ("keywords", "catch_all", "flow", "flow_uuid", "match", "groups", "exclude_groups")
_CAMPAIGN_KEYS: Final = ("campaign", "uuid", "group", "events")
_EVENT_KEYS: Final = (
    "uuid",
    "relative_to",
    "offset",
    "unit",
    "delivery_hour",
    "message",
    "flow",
    "flow_uuid",
    "start_mode",
    "base_language",
)
_FIELD_TYPES: Final = get_args(FieldType)
_UNITS: Final = get_args(OffsetUnit)
_START_MODES: Final = get_args(StartMode)
_MATCHES: Final = get_args(TriggerMatch)
# Names Windows refuses as file names, whatever the extension.
_RESERVED: Final = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
)

Path_ = tuple[str | int, ...]
Where = tuple[str, int, int]  # file, line, column


def campaign_uuid_for(name: str) -> str:
    return derive_uuid("campaign", name)


def event_uuid_for(campaign_uuid: str, event: CampaignEvent, occurrence: int) -> str:
    """Derived from when the event fires (not its position or its text), so inserting an event or rewording
    a message keeps the others' uuids, and with them what each contact has already been sent."""
    return derive_uuid(
        campaign_uuid,
        "event",
        event.relative_to,
        str(event.offset),
        event.unit,
        str(event.delivery_hour),
        str(occurrence),
    )


def slugify(name: str) -> str:
    """A file name for a flow name: ASCII lower case and dashes ("Semana a semana" → semana-a-semana)."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")[:60].strip("-") or "flow"
    return f"{slug}-flow" if slug in _RESERVED else slug


def flow_file_names(flows: tuple[Flow, ...]) -> list[str]:
    """One distinct file name per flow, in order (a repeated slug gets -2, -3...)."""
    names: list[str] = []
    for flow in flows:
        base = slugify(flow.name)
        candidate, n = base, 1
        while f"{candidate}.yaml" in names:
            n += 1
            candidate = f"{base}-{n}"
        names.append(f"{candidate}.yaml")
    return names


# --- loading ----------------------------------------------------------------------------------------------


@dataclass
class LoadedProgramme:
    """A programme folder read as far as it would go: the programme (None when there are errors), every
    problem of every file in reading order, and how many files were read."""

    programme: Programme | None
    problems: list[Problem]
    files: int = 0


def check_programme(path: Path) -> tuple[Programme | None, list[Problem]]:
    loaded = read_programme(path)
    return loaded.programme, loaded.problems


def load_programme(path: Path) -> Programme:
    """The programme in folder ``path``; raises FlowFileError with the problems of all its files."""
    loaded = read_programme(path)
    if loaded.programme is None:
        raise FlowFileError(loaded.problems)
    return loaded.programme


def read_programme(path: Path) -> LoadedProgramme:
    """Every file of the programme in folder ``path``, read as far as it goes, with all their problems. The
    collector's search for reference cycles waits until all are read (flows.native.collector says why)."""
    with collector_paused():
        return _read_programme(path)


def _read_programme(path: Path) -> LoadedProgramme:
    folder = path.parent if path.name == PROGRAMME_FILE and path.is_file() else path
    main = folder / PROGRAMME_FILE
    if not folder.is_dir():
        problem = "no such folder" if not folder.exists() else "this is a file; a programme is a folder"
        return LoadedProgramme(None, [Problem(str(path), None, None, problem)])
    if not main.is_file():
        return LoadedProgramme(
            None,
            [Problem(str(folder), None, None, f"this is not a programme folder: it has no {PROGRAMME_FILE}")],
        )
    text, problems = read_source_file(main)
    root: YNode | None = None
    if text is not None:
        root, problems = read_yaml(text, str(main))
    reader = _ProgrammeReader(Reader(str(main)))
    if root is not None:
        reader.read(root)
    flow_files = _flow_files(folder / FLOWS_FOLDER, reader)
    loaded_flows = [read_flow_file(file) for file in flow_files]
    problems = problems + reader.reader.problems
    for loaded in loaded_flows:
        problems.extend(loaded.problems)
    programme = reader.assemble(loaded_flows)
    if programme is not None:
        programme = _resolve_flow_references(programme, reader.declared_groups)
        problems.extend(
            _locate(finding, reader.where, loaded_flows) for finding in cross_check_programme(programme)
        )
    files = 1 + len(flow_files)
    if root is None or has_errors(problems) or programme is None:
        return LoadedProgramme(None, sort_problems(problems), files)
    return LoadedProgramme(programme, sort_problems(problems), files)


def _flow_files(folder: Path, reader: _ProgrammeReader) -> list[Path]:
    """The flow files, in the order programme.yaml's ``flows:`` gives (if it does), then by name."""
    found = sorted(p for p in folder.iterdir() if p.suffix in FLOW_SUFFIXES) if folder.is_dir() else []
    by_name = {p.name: p for p in found}
    # By file name, in order: a programme may list hundreds of files, and a list would be searched per file.
    ordered: dict[str, Path] = {}
    for name, at in reader.flow_order:
        if name not in by_name:
            hint = f"; the folder has {', '.join(sorted(by_name))}" if by_name else ""
            reader.reader.error(at, f"the flow file {FLOWS_FOLDER}/{name} does not exist{hint}")
        else:
            ordered.setdefault(name, by_name[name])
    return [*ordered.values(), *(p for p in found if p.name not in ordered)]


def _locate(finding: Finding, where: Mapping[Path_, Where], flows: list[LoadedFlow]) -> Problem:
    if finding.path:
        for size in range(len(finding.path), 0, -1):
            spot = where.get(finding.path[:size])
            if spot is not None:
                return finding.as_problem(*spot)
    if finding.flow_uuid is not None:
        for loaded in flows:
            if loaded.identity is not None and loaded.identity[0] == finding.flow_uuid:
                return loaded.locate(finding)
    source, line, column = where.get((), ("programme.yaml", 1, 1))
    return finding.as_problem(source, line, column)


def _resolve_flow_references(programme: Programme, declared: Mapping[str, GroupRef]) -> Programme:
    """Point references written by name alone (their uuid is the one derived from the name) at the flow or
    group of that name, whatever its uuid. References with an explicit uuid are kept as written."""
    flows_by_name = {flow.name: flow for flow in programme.flows}

    def flow_ref(ref: FlowRef) -> FlowRef:
        target = flows_by_name.get(ref.name)
        if target is not None and ref.uuid == flow_uuid_for(ref.name):
            return FlowRef(target.uuid, ref.name)
        return ref

    def group_refs(groups: tuple[GroupRef, ...]) -> tuple[GroupRef, ...]:
        return tuple(
            declared[g.name] if g.name in declared and g.uuid == group_uuid_for(g.name) else g for g in groups
        )

    def action(item: Action) -> Action:
        """The action with its references resolved; the very same action when none changed."""
        if isinstance(item, EnterFlow):
            ref = flow_ref(item.flow)
            return item if ref == item.flow else dataclasses.replace(item, flow=ref)
        if isinstance(item, AddContactGroups | RemoveContactGroups):
            groups = group_refs(item.groups)
            return item if groups == item.groups else dataclasses.replace(item, groups=groups)
        return item

    # Nodes and flows are made again only where an action changed: most have no references to resolve.
    flows = []
    for flow in programme.flows:
        nodes = list(flow.nodes)
        for index, node in enumerate(nodes):
            actions = tuple(map(action, node.actions))
            if any(new is not old for new, old in zip(actions, node.actions, strict=True)):
                nodes[index] = dataclasses.replace(node, actions=actions)
        changed = any(new is not old for new, old in zip(nodes, flow.nodes, strict=True))
        flows.append(dataclasses.replace(flow, nodes=tuple(nodes)) if changed else flow)
    return dataclasses.replace(programme, flows=tuple(flows))


@dataclass
class _Pending:
    """A reference to a flow by name, resolved once every flow file has been read."""

    name: str
    uuid: str | None


@dataclass
class _ProgrammeReader:
    reader: Reader
    name: str | None = None
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    fields: list[FieldDef] = field(default_factory=list)
    declared_groups: dict[str, GroupRef] = field(default_factory=dict)
    groups: list[GroupRef] = field(default_factory=list)
    triggers: list[tuple[Trigger, _Pending]] = field(default_factory=list)
    campaigns: list[tuple[Campaign, list[_Pending | None]]] = field(default_factory=list)
    flow_order: list[tuple[str, YNode]] = field(default_factory=list)
    where: dict[Path_, Where] = field(default_factory=dict)
    ok: bool = True

    def at(self, path: Path_, node: YNode) -> None:
        self.where[path] = (self.reader.source, node.line, node.column)

    def read(self, root: YNode) -> None:
        r = self.reader
        self.at((), root)
        if root.kind != 2:
            r.error(root, "programme.yaml is a set of `key: value` lines, starting with `programme: <name>`")
            self.ok = False
            return
        keys = r.mapping(root, "programme.yaml", _TOP_KEYS, required=("programme",))
        before = len(r.problems)
        if "programme" in keys:
            self.at(("programme",), keys["programme"][1])
            self.name = r.name(keys["programme"][1], "the programme's name")
        if "languages" in keys:
            self.at(("languages",), keys["languages"][1])
            languages = r.texts(keys["languages"][1], "languages")
            if languages is not None:
                self.languages = tuple(languages)
                for i, item in enumerate(_items(keys["languages"][1])):
                    self.at(("languages", i), item)
        if "fields" in keys:
            self.read_fields(keys["fields"][1])
        if "groups" in keys:
            self.read_groups(keys["groups"][1])
        if "triggers" in keys:
            for i, item in enumerate(self.list_of(keys["triggers"][1], "triggers")):
                self.read_trigger(i, item)
        if "campaigns" in keys:
            for i, item in enumerate(self.list_of(keys["campaigns"][1], "campaigns")):
                self.read_campaign(i, item)
        if "flows" in keys:
            for item in self.list_of(keys["flows"][1], "flows"):
                name = r.name(item, "a flow file name")
                if name is not None:
                    self.flow_order.append((name, item))
        self.ok = self.ok and self.name is not None and len(r.problems) == before

    def list_of(self, node: YNode, what: str) -> list[YNode]:
        if node.plain and node.value == "":
            return []
        if not self.reader.expect(node, 1, what):
            self.ok = False
            return []
        return cast(list[YNode], node.value)

    def read_fields(self, node: YNode) -> None:
        r = self.reader
        self.at(("fields",), node)
        if (node.plain and node.value == "") or not r.expect(node, 2, "fields"):
            return
        for i, (key, value) in enumerate(node.value):
            self.at(("fields", i), key)
            if value.kind == 2:
                spec = r.mapping(value, f"field '{key.value}'", _FIELD_KEYS)
                name = r.text(spec["name"][1], "name") if "name" in spec else key.value
                kind = r.choice(spec["type"][1], "type", _FIELD_TYPES) if "type" in spec else "text"
            else:
                name, kind = key.value, r.choice(value, f"the type of field '{key.value}'", _FIELD_TYPES)
            if name is not None and kind is not None:
                self.fields.append(FieldDef(key.value, name, cast(FieldType, kind)))

    def read_groups(self, node: YNode) -> None:
        self.at(("groups",), node)
        for i, item in enumerate(self.list_of(node, "groups")):
            self.at(("groups", i), item)
            ref = self.group_ref(item, "groups", declared=False)
            if ref is not None:
                self.groups.append(ref)
                self.declared_groups.setdefault(ref.name, ref)

    def group_ref(self, node: YNode, what: str, declared: bool = True) -> GroupRef | None:
        """A group by name (the declared group of that name), or ``{name: ..., uuid: ...}``."""
        r = self.reader
        if node.kind == 2:
            keys = r.mapping(node, f"a group in {what}", ("name", "uuid"), required=("name", "uuid"))
            if "name" in keys and "uuid" in keys:
                name, uuid = r.text(keys["name"][1], "name"), r.name(keys["uuid"][1], "uuid")
                if name is not None and uuid is not None:
                    return GroupRef(uuid, name)
            return None
        name = r.name(node, f"a group in {what}")
        if name is None:
            return None
        if declared and name in self.declared_groups:
            return self.declared_groups[name]
        return GroupRef(group_uuid_for(name), name)

    def group_list(self, node: YNode, what: str, path: Path_) -> tuple[GroupRef, ...] | None:
        items = [node] if node.kind == 0 and node.value != "" else self.list_of(node, what)
        refs = []
        for j, item in enumerate(items):
            self.at((*path, j), item)
            ref = self.group_ref(item, what)
            if ref is None:
                return None
            refs.append(ref)
        return tuple(refs)

    def flow_ref(self, keys: Mapping[str, tuple[YNode, YNode]], path: Path_) -> _Pending | None:
        r = self.reader
        if "flow" not in keys:
            return None
        self.at((*path, "flow"), keys["flow"][1])
        name = r.name(keys["flow"][1], "flow")
        uuid = r.name(keys["flow_uuid"][1], "flow_uuid") if "flow_uuid" in keys else None
        return _Pending(name, uuid) if name is not None else None

    def read_trigger(self, i: int, node: YNode) -> None:
        r = self.reader
        path: Path_ = ("triggers", i)
        self.at(path, node)
        keys = r.mapping(node, "a trigger", _TRIGGER_KEYS, required=("flow",))
        catch_all = r.boolean(keys["catch_all"][1], "catch_all") if "catch_all" in keys else False
        if catch_all is None:
            return
        if "keywords" not in keys and not catch_all and node.kind == 2:
            r.error(node, "a trigger needs `keywords:` (or `catch_all: true`)")
            return
        keywords: list[str] | None = []
        if "keywords" in keys:
            self.at((*path, "keywords"), keys["keywords"][1])
            keywords = r.texts(keys["keywords"][1], "keywords")
            for j, item in enumerate(_items(keys["keywords"][1])):
                self.at((*path, "keywords", j), item)
        match = r.choice(keys["match"][1], "match", _MATCHES) if "match" in keys else "first_word"
        lists: dict[str, tuple[GroupRef, ...] | None] = {}
        for key in ("groups", "exclude_groups"):
            lists[key] = self.group_list(keys[key][1], key, (*path, key)) if key in keys else ()
        pending = self.flow_ref(keys, path)
        groups, exclude = lists["groups"], lists["exclude_groups"]
        if pending is None or keywords is None or match is None or groups is None or exclude is None:
            return
        trigger = Trigger(
            kind="catch_all" if catch_all else "keyword",
            flow=FlowRef("", pending.name),
            keywords=tuple(keywords),
            match=cast(TriggerMatch, match),
            groups=groups,
            exclude_groups=exclude,
        )
        self.triggers.append((trigger, pending))

    def read_campaign(self, i: int, node: YNode) -> None:
        r = self.reader
        path: Path_ = ("campaigns", i)
        self.at(path, node)
        keys = r.mapping(node, "a campaign", _CAMPAIGN_KEYS, required=("campaign", "group", "events"))
        name = r.name(keys["campaign"][1], "the campaign's name") if "campaign" in keys else None
        uuid = r.name(keys["uuid"][1], "uuid") if "uuid" in keys else None
        group = None
        if "group" in keys:
            self.at((*path, "group"), keys["group"][1])
            group = self.group_ref(keys["group"][1], "the campaign's group")
        if name is None or group is None or "events" not in keys:
            return
        campaign_uuid = uuid or campaign_uuid_for(name)
        events: list[CampaignEvent] = []
        pending: list[_Pending | None] = []
        occurrences: dict[tuple[str, int, str, int | None], int] = {}
        for j, item in enumerate(self.list_of(keys["events"][1], "events")):
            read = self.read_event((*path, "events", j), item, campaign_uuid, occurrences)
            if read is None:
                return
            events.append(read[0])
            pending.append(read[1])
        self.campaigns.append((Campaign(campaign_uuid, name, group, tuple(events)), pending))

    def read_event(
        self,
        path: Path_,
        node: YNode,
        campaign_uuid: str,
        occurrences: dict[tuple[str, int, str, int | None], int],
    ) -> tuple[CampaignEvent, _Pending | None] | None:
        r = self.reader
        self.at(path, node)
        keys = r.mapping(node, "a campaign event", _EVENT_KEYS, required=("relative_to", "offset", "unit"))
        for key, (_, value) in keys.items():
            self.at((*path, key), value)
        if not all(k in keys for k in ("relative_to", "offset", "unit")):
            return None
        relative_to = r.name(keys["relative_to"][1], "relative_to")
        offset = r.integer(keys["offset"][1], "offset")
        unit = r.choice(keys["unit"][1], "unit", _UNITS)
        hour: int | None = None
        if "delivery_hour" in keys and not (
            keys["delivery_hour"][1].plain and keys["delivery_hour"][1].is_null
        ):
            hour = r.integer(keys["delivery_hour"][1], "delivery_hour")
            if hour is None:
                return None
        mode = (
            r.choice(keys["start_mode"][1], "start_mode", _START_MODES)
            if "start_mode" in keys
            else "interrupt"
        )
        base = r.name(keys["base_language"][1], "base_language") if "base_language" in keys else None
        base = base or (self.languages[0] if self.languages else DEFAULT_LANGUAGES[0])
        message = self.read_message(keys["message"][1], base) if "message" in keys else None
        if "message" in keys and message is None:
            return None
        pending = self.flow_ref(keys, path)
        if "flow" in keys and pending is None:
            return None
        if relative_to is None or offset is None or unit is None or mode is None:
            return None
        event = CampaignEvent(
            uuid="",
            relative_to=relative_to,
            offset=offset,
            unit=cast(OffsetUnit, unit),
            delivery_hour=hour,
            message=message,
            flow=FlowRef("", pending.name) if pending is not None else None,
            start_mode=cast(StartMode, mode),
            base_language=base,
        )
        timing = (relative_to, offset, unit, hour)
        occurrences[timing] = occurrences.get(timing, 0) + 1
        uuid = r.name(keys["uuid"][1], "uuid") if "uuid" in keys else None
        event = dataclasses.replace(
            event, uuid=uuid or event_uuid_for(campaign_uuid, event, occurrences[timing])
        )
        return event, pending

    def read_message(self, node: YNode, base: str) -> dict[str, str] | None:
        r = self.reader
        if node.kind != 2:
            text = r.text(node, "message")
            return {base: text} if text is not None else None
        out = {}
        for lang, value in node.value:
            text = r.text(value, f"the {lang.value} message")
            if text is None:
                return None
            out[lang.value] = text
        return out

    def assemble(self, loaded: list[LoadedFlow]) -> Programme | None:
        """The programme with every reference resolved; flows that failed to load stand in by name and uuid, so
        references to them are not reported as missing too."""
        if not self.ok or self.name is None:
            return None
        flows = []
        for item in loaded:
            if item.flow is not None:
                flows.append(item.flow)
            elif item.identity is not None:
                flows.append(Flow(uuid=item.identity[0], name=item.identity[1], language="und", nodes=()))
            else:
                continue
            spot = item.locations.get(item.identity[0]) if item.identity is not None else None
            self.where[("flows", len(flows) - 1)] = (item.source, *(spot or (1, 1)))
        by_name = {flow.name: flow.uuid for flow in flows}

        def resolve(pending: _Pending) -> FlowRef:
            uuid = pending.uuid or by_name.get(pending.name) or flow_uuid_for(pending.name)
            return FlowRef(uuid, pending.name)

        triggers = tuple(dataclasses.replace(t, flow=resolve(p)) for t, p in self.triggers)
        campaigns = tuple(
            dataclasses.replace(
                campaign,
                events=tuple(
                    dataclasses.replace(event, flow=resolve(p)) if p is not None else event
                    for event, p in zip(campaign.events, pending, strict=True)
                ),
            )
            for campaign, pending in self.campaigns
        )
        return Programme(
            name=self.name,
            flows=tuple(flows),
            fields=tuple(self.fields),
            groups=tuple(self.groups),
            triggers=triggers,
            campaigns=campaigns,
            languages=self.languages,
        )


def _items(node: YNode) -> Iterator[YNode]:
    if node.kind == 1:
        yield from node.value
    elif node.kind == 0:
        yield node


# --- writing ----------------------------------------------------------------------------------------------


def write_programme(programme: Programme, path: Path, *, replace: bool = False) -> None:
    """Write ``programme`` as a folder. Flow files already in ``flows/`` that this programme does not have are
    refused (they would be loaded back with it) unless ``replace`` is set, which deletes them."""
    flows_folder = path / FLOWS_FOLDER
    names = flow_file_names(programme.flows)
    stale = (
        sorted(p for p in flows_folder.iterdir() if p.suffix in FLOW_SUFFIXES and p.name not in names)
        if flows_folder.is_dir()
        else []
    )
    if stale and not replace:
        raise FlowFileError(
            Problem(
                str(p),
                None,
                None,
                "this flow file is not part of the programme being written; remove it first",
            )
            for p in stale
        )
    flows_folder.mkdir(parents=True, exist_ok=True)
    for old in stale:
        old.unlink()
    for flow, name in zip(programme.flows, names, strict=True):
        (flows_folder / name).write_text(dump_flow(flow), encoding="utf-8")
    (path / PROGRAMME_FILE).write_text(dump_programme(programme, names), encoding="utf-8")


def dump_programme(programme: Programme, file_names: list[str] | None = None) -> str:
    """programme.yaml's text (the flows themselves go in their own files)."""
    names = file_names if file_names is not None else flow_file_names(programme.flows)
    flow_uuids = {flow.name: flow.uuid for flow in programme.flows}
    declared = {group.name: group for group in programme.groups}
    languages = programme.languages
    base = languages[0] if languages else DEFAULT_LANGUAGES[0]

    def flow_ref(ref: FlowRef, out: dict[str, Any]) -> None:
        out["flow"] = ref.name
        if ref.uuid != flow_uuids.get(ref.name, flow_uuid_for(ref.name)):
            out["flow_uuid"] = ref.uuid

    def group(ref: GroupRef, declaring: bool = False) -> Any:
        expected = group_uuid_for(ref.name) if declaring else getattr(declared.get(ref.name), "uuid", None)
        if expected is None:
            expected = group_uuid_for(ref.name)
        return ref.name if ref.uuid == expected and ref.name.strip() else {"name": ref.name, "uuid": ref.uuid}

    out: dict[str, Any] = {"programme": programme.name, "languages": short_list(languages)}
    if programme.fields:
        out["fields"] = {
            f.key: f.value_type if f.name == f.key else InlineMap(name=f.name, type=f.value_type)
            for f in programme.fields
        }
    if programme.groups:
        declared_groups = [group(g, declaring=True) for g in programme.groups]
        plain = all(isinstance(g, str) for g in declared_groups)
        out["groups"] = short_list(declared_groups) if plain else declared_groups
    if programme.triggers:
        out["triggers"] = [_dump_trigger(t, flow_ref, group) for t in programme.triggers]
    if programme.campaigns:
        out["campaigns"] = []
        for campaign in programme.campaigns:
            item: dict[str, Any] = {"campaign": campaign.name}
            if campaign.uuid != campaign_uuid_for(campaign.name):
                item["uuid"] = campaign.uuid
            item["group"] = group(campaign.group)
            item["events"] = list(_dump_events(campaign, base, flow_ref))
            out["campaigns"].append(item)
    if sorted(names) != names:
        out["flows"] = short_list(names)
    text = to_yaml(out)
    for section in ("fields", "groups", "triggers", "campaigns", "flows"):
        text = text.replace(f"\n{section}:", f"\n\n{section}:")
    return space_out(text, "campaigns")


def _dump_trigger(trigger: Trigger, flow_ref: Any, group: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if trigger.kind == "catch_all":
        out["catch_all"] = True
    if trigger.keywords or trigger.kind == "keyword":
        out["keywords"] = short_list(trigger.keywords)
    flow_ref(trigger.flow, out)
    if trigger.match != "first_word":
        out["match"] = trigger.match
    if trigger.groups:
        out["groups"] = (
            short_list([group(g) for g in trigger.groups])
            if all(isinstance(group(g), str) for g in trigger.groups)
            else [group(g) for g in trigger.groups]
        )
    if trigger.exclude_groups:
        out["exclude_groups"] = [group(g) for g in trigger.exclude_groups]
    return out


def _dump_events(campaign: Campaign, base: str, flow_ref: Any) -> Iterator[dict[str, Any]]:
    occurrences: dict[tuple[str, int, str, int | None], int] = {}
    for event in campaign.events:
        timing = (event.relative_to, event.offset, event.unit, event.delivery_hour)
        occurrences[timing] = occurrences.get(timing, 0) + 1
        out: dict[str, Any] = {}
        if event.uuid != event_uuid_for(campaign.uuid, event, occurrences[timing]):
            out["uuid"] = event.uuid
        out.update(relative_to=event.relative_to, offset=event.offset, unit=event.unit)
        if event.delivery_hour is not None:
            out["delivery_hour"] = event.delivery_hour
        if event.message is not None:
            message = dict(event.message)
            out["message"] = (
                message[event.base_language] if list(message) == [event.base_language] else message
            )
        if event.flow is not None:
            flow_ref(event.flow, out)
        if event.start_mode != "interrupt":
            out["start_mode"] = event.start_mode
        if event.base_language != base:
            out["base_language"] = event.base_language
        yield out
