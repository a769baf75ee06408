"""``import_export``: a RapidPro/TextIt export (spec 13.0 to 14.x) → a ``Programme`` and an ``ImportReport``.

The order is RapidPro's own (``Org.import_app``): fields, groups, flows (all flow names and uuids first, so
flows can enter each other), campaigns, triggers. Each flow is then validated like a native one; what
validation finds goes into the report, because an imported flow that runs is worth having even while its
author fixes the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath

from flows import model
from flows.rapidpro.campaigns import convert_campaign
from flows.rapidpro.document import (
    FIRST_SUPPORTED,
    Version,
    check_depth,
    decode,
    export_object,
    legacy_flow_name,
    refuse_legacy,
)
from flows.rapidpro.flow import convert_flow
from flows.rapidpro.reader import Obj
from flows.rapidpro.report import ImportCounts, ImportReport, Severity
from flows.rapidpro.state import ImportState, stable_uuid
from flows.rapidpro.triggers import convert_trigger
from flows.routertests import KNOWN_TESTS
from flows.validate import validate_programme

FIELD_TYPES: dict[str, model.FieldType] = {
    "text": "text",
    "number": "number",
    "datetime": "datetime",
    "date": "date",
    # the one-letter codes of older exports
    "T": "text",
    "N": "number",
    "D": "datetime",
}
LOCATION_FIELD_TYPES = {"state", "district", "ward", "S", "I", "W"}
# The model's default, for an export whose texts are all of undetermined language.
DEFAULT_LANGUAGES = ("spa",)


def import_export(
    data: Mapping[str, object] | str | bytes, source: str, *, name: str | None = None
) -> tuple[model.Programme, ImportReport]:
    """Convert an export (parsed JSON, or its text) into a programme.

    Raises ``FlowFileError`` for anything that is not a current export: bad JSON, a wrong type or missing key
    (located by JSON path), a legacy export (with how to convert it), or another kind of file.
    """
    # Parsed JSON that is not an object (a list, say) is refused below, saying what it holds.
    value: object = decode(data, source) if isinstance(data, str | bytes) else data
    check_depth(value, source)
    top, version = export_object(value, source)
    state = ImportState(source)

    flow_items = top.items("flows")
    _check_versions(top, version, flow_items, state)
    _declare_fields(top, state)
    _declare_groups(top, state)
    flow_objs = _register_flows([Obj.of(item, path, source) for path, item in flow_items], state)
    flows = tuple(convert_flow(flow, state) for flow in flow_objs)

    legacy_export = version < FIRST_SUPPORTED
    campaigns = tuple(convert_campaign(campaign, state, legacy_export) for campaign in top.objs("campaigns"))
    triggers = tuple(
        trigger
        for number, obj in enumerate(top.objs("triggers"))
        if (trigger := convert_trigger(obj, number, state)) is not None
    )

    programme = model.Programme(
        name=name or _programme_name(source),
        flows=flows,
        fields=tuple(state.fields.declared.values()),
        groups=tuple(state.groups.declared),
        triggers=triggers,
        campaigns=campaigns,
        languages=_languages(flows, campaigns),
    )
    _report_validation(programme, state)
    counts = ImportCounts(
        flows=len(flows),
        fields=len(programme.fields),
        groups=len(programme.groups),
        campaigns=len(campaigns),
        campaign_events=sum(len(campaign.events) for campaign in campaigns),
        triggers=len(triggers),
    )
    return programme, ImportReport(source=source, entries=tuple(state.entries), counts=counts)


def _check_versions(
    top: Obj, version: Version, flow_items: list[tuple[str, object]], state: ImportState
) -> None:
    """Refuse legacy content; note a legacy export without flows, or an export version newer than 13."""
    legacy = [legacy_flow_name(item) for _, item in flow_items if isinstance(item, Mapping)]
    legacy_names = [name for name in legacy if name is not None]
    if legacy_names or (version < FIRST_SUPPORTED and flow_items):
        # an export version before 13 means RapidPro wrote every flow in it in the legacy format
        everything = [
            str(item.get("name", "(unnamed)")) for _, item in flow_items if isinstance(item, Mapping)
        ]
        refuse_legacy(top.source, top.data["version"], legacy_names or everything)
    if version < FIRST_SUPPORTED:
        state.report(
            "changed",
            f"export version {top.data['version']}",
            "a legacy export without flows: its campaigns and triggers are imported; check their texts",
        )
    elif version[0] > FIRST_SUPPORTED[0]:
        state.report(
            "changed",
            f"export version {top.data['version']}",
            "newer than the export versions recado knows (13); the flows were read by their own spec version",
        )


def _report_validation(programme: model.Programme, state: ImportState) -> None:
    """Add what programme validation finds, leaving out what the import has already reported in its own
    words (actions it cannot run, tests it does not know)."""
    names = {flow.uuid: flow.name for flow in programme.flows}
    reported: set[str] = set()
    for flow in programme.flows:
        for node in flow.nodes:
            reported.update(a.uuid for a in node.actions if isinstance(a, model.UnsupportedAction))
            if node.router is not None:
                reported.update(case.uuid for case in node.router.cases if case.test not in KNOWN_TESTS)
    for finding in validate_programme(programme):
        if finding.item_uuid is not None and finding.item_uuid in reported:
            continue
        subject = "at " + ".".join(str(part) for part in finding.path) if finding.path else ""
        message = finding.message
        if finding.node_uuid is not None:  # the report names the node already
            message = message.removeprefix(f"node {finding.node_uuid}").removeprefix(":").strip()
        flow_name = names.get(finding.flow_uuid) if finding.flow_uuid is not None else None
        severity: Severity = "problem" if finding.level == "error" else "warning"
        state.report(severity, subject, message, flow_name, finding.node_uuid)


def _declare_fields(top: Obj, state: ImportState) -> None:
    for field in top.objs("fields"):
        key = field.text("key")
        name = field.opt_text("name") or field.opt_text("label") or key
        kind = field.opt_text("type") or field.opt_text("value_type") or "text"
        value_type = FIELD_TYPES.get(kind)
        if value_type is None:
            why = (
                "location fields need RapidPro's boundaries"
                if kind in LOCATION_FIELD_TYPES
                else "an unknown type"
            )
            state.report("changed", f"field {key}", f"of type {kind!r} ({why}): imported as a text field")
            value_type = "text"
        if key in state.fields.declared:
            state.report("changed", f"field {key}", "declared twice; the first declaration is kept")
        state.fields.declare(model.FieldDef(key=key, name=name, value_type=value_type))


def _declare_groups(top: Obj, state: ImportState) -> None:
    for group in top.objs("groups"):
        name = group.text("name")
        uuid = group.opt_text("uuid") or stable_uuid("group", name)
        query = group.opt_text("query")
        declared = state.groups.declare(model.GroupRef(uuid=uuid, name=name))
        if declared.uuid != uuid:
            state.report("changed", f'group "{name}"', "declared twice; the first declaration is kept")
        if query.strip():
            state.report(
                "changed",
                f'group "{name}"',
                f"a smart group in RapidPro (query {query!r}); imported as a plain group whose members flows "
                "add and remove",
            )


def _register_flows(flow_objs: list[Obj], state: ImportState) -> list[Obj]:
    """Know every flow's name and uuid before converting any, so references between flows resolve.

    A flow without nodes (a draft nobody wrote yet) cannot run, so it is left out and reported; references
    to it are then reported where they are met, as for any flow missing from the export.
    """
    seen_names: dict[str, str] = {}
    kept = []
    for flow in flow_objs:
        uuid = flow.text("uuid")
        name = flow.text("name")
        if not name.strip():
            flow.error("a flow needs a name", "name")
        if uuid in state.flows.by_uuid:
            flow.error(f"a second flow with uuid {uuid}", "uuid")
        if name.casefold() in seen_names:
            flow.error(f'a second flow named "{name}" (flow names must be unique in a programme)', "name")
        seen_names[name.casefold()] = uuid
        if flow.has("nodes") and not flow.within(f'flow "{name}"').items("nodes"):
            state.report("unsupported", "empty flow", "the flow has no nodes; it is not imported", name)
            continue
        state.flows.add(model.FlowRef(uuid=uuid, name=name))
        kept.append(flow)
    return kept


def _languages(flows: tuple[model.Flow, ...], campaigns: tuple[model.Campaign, ...]) -> tuple[str, ...]:
    """The programme's languages: each flow's base language first, then its translations, then campaign texts
    (``und``, RapidPro's 'undetermined', is not a language a contact can have)."""
    found: list[str] = [flow.language for flow in flows]
    for flow in flows:
        found.extend(flow.localization)
    for campaign in campaigns:
        for event in campaign.events:
            if event.message:
                found.append(event.base_language)
                found.extend(event.message)
    languages = tuple(language for language in dict.fromkeys(found) if language != "und")
    return languages or DEFAULT_LANGUAGES


def _programme_name(source: str) -> str:
    stem = PurePath(source).stem if source and not source.startswith("<") else ""
    return stem or "imported"
