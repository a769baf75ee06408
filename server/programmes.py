"""The programme the server runs: flows, fields, groups, triggers and campaigns, as ``recado flows load`` stored
them.

Flows are kept as native YAML (``flows.native.dump_flow``), the one text form the model already round-trips
through, so the stored flow is what an author could read and what the engine gets back is the flow that was
loaded. Fields and groups go into the tables contacts already use: a field or group of the same key or name is
the same one (group uuids the API has shown never change). Triggers live on the programme row, in order;
campaigns in their own table, one row each, for the campaign scheduler.

A load is one transaction: it either stores all of a programme or none of it. A reload compares flow by flow
(a digest of the YAML), updates what changed, and ends the conversations that a changed flow no longer has a
place for (``server.runner.sessions.end_stranded_sessions``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flows.model import (
    Campaign,
    CampaignEvent,
    FieldDef,
    Flow,
    FlowRef,
    GroupRef,
    Programme,
    StartMode,
    Trigger,
    TriggerMatch,
)
from flows.native import dump_flow, load_flow_text
from server import audit
from server.contact_values import FIELD_LABEL_MAX, GROUP_NAME_MAX, InvalidValue, check_field_key
from server.db.schema import campaigns, contact_fields, fields, groups, programme, programme_flows

PROGRAMME_ROW = 1


class ProgrammeRefused(Exception):
    """The programme cannot be stored as it is; ``problems`` says why, each in plain words."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Changes:
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


@dataclass(frozen=True)
class LoadReport:
    name: str
    revision: int
    flows: Changes
    fields: Changes
    groups: Changes
    triggers: Changes
    campaigns: Changes
    sessions_ended: int = 0

    @property
    def changed(self) -> bool:
        return any((self.flows, self.fields, self.groups, self.triggers, self.campaigns))


@dataclass(frozen=True)
class StoredProgramme:
    """The stored programme as the engine needs it; revision 0 is "nothing loaded yet"."""

    revision: int
    programme: Programme


EMPTY = StoredProgramme(0, Programme(name="", flows=()))


# --- triggers and campaigns as JSON ------------------------------------------------------------------------


def _group_json(group: GroupRef) -> dict[str, str]:
    return {"uuid": group.uuid, "name": group.name}


def _group_from(data: Mapping[str, Any]) -> GroupRef:
    return GroupRef(str(data["uuid"]), str(data["name"]))


def trigger_to_json(trigger: Trigger) -> dict[str, Any]:
    return {
        "kind": trigger.kind,
        "flow": {"uuid": trigger.flow.uuid, "name": trigger.flow.name},
        "keywords": list(trigger.keywords),
        "match": trigger.match,
        "groups": [_group_json(g) for g in trigger.groups],
        "exclude_groups": [_group_json(g) for g in trigger.exclude_groups],
    }


def trigger_from_json(data: Mapping[str, Any]) -> Trigger:
    return Trigger(
        kind=data["kind"],
        flow=FlowRef(data["flow"]["uuid"], data["flow"]["name"]),
        keywords=tuple(data["keywords"]),
        match=cast(TriggerMatch, data["match"]),
        groups=tuple(_group_from(g) for g in data["groups"]),
        exclude_groups=tuple(_group_from(g) for g in data["exclude_groups"]),
    )


def _event_json(event: CampaignEvent) -> dict[str, Any]:
    return {
        "uuid": event.uuid,
        "relative_to": event.relative_to,
        "offset": event.offset,
        "unit": event.unit,
        "delivery_hour": event.delivery_hour,
        "message": dict(event.message) if event.message is not None else None,
        "flow": {"uuid": event.flow.uuid, "name": event.flow.name} if event.flow is not None else None,
        "start_mode": event.start_mode,
        "base_language": event.base_language,
    }


def _event_from(data: Mapping[str, Any]) -> CampaignEvent:
    flow = data["flow"]
    return CampaignEvent(
        uuid=data["uuid"],
        relative_to=data["relative_to"],
        offset=int(data["offset"]),
        unit=data["unit"],
        delivery_hour=data["delivery_hour"],
        message=dict(data["message"]) if data["message"] is not None else None,
        flow=FlowRef(flow["uuid"], flow["name"]) if flow is not None else None,
        start_mode=cast(StartMode, data["start_mode"]),
        base_language=data["base_language"],
    )


def campaign_to_json(campaign: Campaign) -> dict[str, Any]:
    return {
        "uuid": campaign.uuid,
        "name": campaign.name,
        "group": _group_json(campaign.group),
        "events": [_event_json(e) for e in campaign.events],
    }


def campaign_from_json(data: Mapping[str, Any]) -> Campaign:
    return Campaign(
        uuid=data["uuid"],
        name=data["name"],
        group=_group_from(data["group"]),
        events=tuple(_event_from(e) for e in data["events"]),
    )


def describe_trigger(trigger: Trigger) -> str:
    """How a load report names a trigger (triggers have no identity of their own)."""
    what = "any other message" if trigger.kind == "catch_all" else ", ".join(trigger.keywords)
    if trigger.kind == "keyword" and trigger.match == "only_word":
        what += " (only word)"
    if trigger.groups:
        what += f" for {', '.join(g.name for g in trigger.groups)}"
    if trigger.exclude_groups:
        what += f" except {', '.join(g.name for g in trigger.exclude_groups)}"
    return f"{what} → {trigger.flow.name}"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- reading ----------------------------------------------------------------------------------------------


async def read_revision(conn: AsyncConnection) -> int:
    """The stored programme's revision (0 when none is loaded): one indexed read, made per handled message."""
    return int((await conn.execute(_REVISION)).scalar() or 0)


_REVISION = sa.select(programme.c.revision).where(programme.c.id == PROGRAMME_ROW)  # built once: see above


async def read_programme(conn: AsyncConnection) -> StoredProgramme:
    """The stored programme with its flows loaded back into the model. Fields are every field the server
    knows (a flow may set one created through the API), with their types."""
    row = (await conn.execute(sa.select(programme).where(programme.c.id == PROGRAMME_ROW))).first()
    if row is None:
        return EMPTY
    flow_rows = await conn.execute(
        sa.select(programme_flows.c.uuid, programme_flows.c.definition).order_by(programme_flows.c.position)
    )
    flows = tuple(load_flow_text(text, f"stored flow {flow_uuid}") for flow_uuid, text in flow_rows)
    field_rows = await conn.execute(sa.select(fields.c.key, fields.c.label, fields.c.value_type))
    campaign_rows = await conn.execute(sa.select(campaigns.c.definition).order_by(campaigns.c.id))
    loaded = Programme(
        name=row.name,
        flows=flows,
        fields=tuple(FieldDef(key, label, value_type) for key, label, value_type in field_rows),
        groups=tuple(_group_from(g) for g in row.groups),
        triggers=tuple(trigger_from_json(t) for t in row.triggers),
        campaigns=tuple(campaign_from_json(c) for (c,) in campaign_rows),
        languages=tuple(row.languages),
    )
    return StoredProgramme(row.revision, loaded)


# --- checking what only the server knows ------------------------------------------------------------------


def storage_problems(loaded: Programme) -> list[str]:
    """What the server's tables cannot hold (the flows themselves were validated when they were read)."""
    problems: list[str] = []
    for definition in loaded.fields:
        try:
            check_field_key(definition.key)
        except InvalidValue as exc:
            problems.append(f"field '{definition.key}': the key {exc.reason}")
        if len(definition.name) > FIELD_LABEL_MAX:
            problems.append(f"field '{definition.key}': the name is longer than {FIELD_LABEL_MAX} characters")
    for group in loaded.groups:
        if not group.name.strip() or len(group.name) > GROUP_NAME_MAX:
            problems.append(f"group '{group.name}': a group name has 1 to {GROUP_NAME_MAX} characters")
    return problems


async def _retyped_fields_in_use(conn: AsyncConnection, loaded: Programme) -> list[str]:
    """Fields whose type the programme changes although contacts hold values for them: their stored values
    would no longer mean what the type says, so such a load is refused."""
    wanted = {d.key: d.value_type for d in loaded.fields}
    rows = await conn.execute(sa.select(fields.c.id, fields.c.key, fields.c.value_type))
    problems = []
    for field_id, key, value_type in rows:
        if key not in wanted or wanted[key] == value_type:
            continue
        used = (
            await conn.execute(
                sa.select(contact_fields.c.field_id).where(contact_fields.c.field_id == field_id).limit(1)
            )
        ).first()
        if used is not None:
            problems.append(
                f"field '{key}' is a {value_type} field that contacts have values for; it cannot become "
                f"{wanted[key]} (declare a new field instead)"
            )
    return problems


# --- storing ----------------------------------------------------------------------------------------------


async def store_programme(
    conn: AsyncConnection, loaded: Programme, *, now: dt.datetime, actor: str, timezone: str | None = None
) -> LoadReport:
    """Store ``loaded`` (already validated) in place of the current programme, inside the caller's
    transaction. ProgrammeRefused, with every reason, when the server cannot take it. ``timezone`` is the
    programme's (the configured default when None): campaigns added or changed are scheduled in it."""
    problems = storage_problems(loaded) + await _retyped_fields_in_use(conn, loaded)
    if problems:
        raise ProgrammeRefused(problems)
    before = await read_programme(conn)
    flow_changes, touched = await _store_flows(conn, loaded.flows, now=now)
    field_changes = await _store_fields(conn, loaded.fields, now=now)
    group_changes = await _store_groups(conn, loaded.groups, now=now)
    campaign_changes = await _store_campaigns(conn, loaded.campaigns, now=now)
    from server.campaigns.schedule import DEFAULT_TIMEZONE, campaigns_loaded

    touched_campaigns = {*campaign_changes.added, *campaign_changes.changed}
    await campaigns_loaded(
        conn,
        [c for c in loaded.campaigns if c.name in touched_campaigns],
        now=now,
        timezone=timezone or DEFAULT_TIMEZONE,
    )
    trigger_changes = _compare(
        [describe_trigger(t) for t in before.programme.triggers],
        [describe_trigger(t) for t in loaded.triggers],
    )
    report = LoadReport(
        loaded.name,
        before.revision,
        flow_changes,
        field_changes,
        group_changes,
        trigger_changes,
        campaign_changes,
    )
    described = (before.programme.name, before.programme.languages, before.programme.groups)
    moved = report.changed or described != (loaded.name, loaded.languages, loaded.groups)
    revision = before.revision + 1 if moved or before.revision == 0 else before.revision
    await _store_programme_row(conn, loaded, revision=revision, now=now)
    ended = 0
    if touched:
        from server.runner.sessions import end_stranded_sessions

        ended = await end_stranded_sessions(conn, loaded, touched, now=now)
    report = dataclasses.replace(report, revision=revision, sessions_ended=ended)
    await audit.record(
        conn, at=now, actor=actor, action="programme.load", target=loaded.name[:80], detail=_summary(report)
    )
    return report


def _summary(report: LoadReport) -> dict[str, Any]:
    """The audit entry's detail: counts and names, nothing about contacts."""
    detail: dict[str, Any] = {"revision": report.revision, "sessions_ended": report.sessions_ended}
    for name in ("flows", "fields", "groups", "triggers", "campaigns"):
        changes: Changes = getattr(report, name)
        detail[name] = {k: len(getattr(changes, k)) for k in ("added", "changed", "removed")}
    return detail


def _compare(old: Iterable[str], new: Iterable[str]) -> Changes:
    old_set, new_list = set(old), list(new)
    return Changes(
        added=tuple(n for n in new_list if n not in old_set),
        removed=tuple(sorted(old_set - set(new_list))),
    )


async def _store_programme_row(
    conn: AsyncConnection, loaded: Programme, *, revision: int, now: dt.datetime
) -> None:
    values = {
        "name": loaded.name,
        "languages": list(loaded.languages),
        "groups": [_group_json(g) for g in loaded.groups],
        "triggers": [trigger_to_json(t) for t in loaded.triggers],
        "revision": revision,
        "loaded_at": now,
    }
    updated = await conn.execute(programme.update().where(programme.c.id == PROGRAMME_ROW).values(**values))
    if updated.rowcount == 0:
        await conn.execute(programme.insert().values(id=PROGRAMME_ROW, **values))


async def _store_flows(
    conn: AsyncConnection, flows: Sequence[Flow], *, now: dt.datetime
) -> tuple[Changes, set[str]]:
    """Store the flows; returns the changes and the uuids of the flows changed or removed."""
    rows = await conn.execute(
        sa.select(programme_flows.c.uuid, programme_flows.c.name, programme_flows.c.digest)
    )
    stored = {flow_uuid: (name, stored_digest) for flow_uuid, name, stored_digest in rows}
    added, changed, touched = [], [], set()
    for position, flow in enumerate(flows):
        text = dump_flow(flow)
        values = {
            "name": flow.name,
            "position": position,
            "definition": text,
            "digest": digest(text),
            "anonymous": flow.anonymous,  # where the runner reads it (server.ratings.is_anonymous)
        }
        if flow.uuid not in stored:
            added.append(flow.name)
            await conn.execute(programme_flows.insert().values(uuid=flow.uuid, updated_at=now, **values))
            continue
        if stored[flow.uuid][1] != values["digest"]:
            changed.append(flow.name)
            touched.add(flow.uuid)
            values["updated_at"] = now
        await conn.execute(
            programme_flows.update().where(programme_flows.c.uuid == flow.uuid).values(**values)
        )
    gone = set(stored) - {flow.uuid for flow in flows}
    if gone:
        await conn.execute(programme_flows.delete().where(programme_flows.c.uuid.in_(gone)))
    removed = tuple(sorted(stored[u][0] for u in gone))
    return Changes(tuple(added), tuple(changed), removed), touched | gone


async def _store_fields(
    conn: AsyncConnection, definitions: Sequence[FieldDef], *, now: dt.datetime
) -> Changes:
    """Fields the programme no longer declares stay, with the contacts' values: dropping them is an
    explicit ``DELETE /api/v1/fields/{key}``, never a side effect of a load."""
    rows = await conn.execute(sa.select(fields.c.key, fields.c.label, fields.c.value_type))
    stored = {key: (label, value_type) for key, label, value_type in rows}
    added, changed = [], []
    for definition in definitions:
        wanted = (definition.name, definition.value_type)
        if definition.key not in stored:
            added.append(definition.key)
            await conn.execute(
                fields.insert().values(
                    key=definition.key,
                    label=definition.name,
                    value_type=definition.value_type,
                    created_at=now,
                )
            )
        elif stored[definition.key] != wanted:
            changed.append(definition.key)
            await conn.execute(
                fields.update()
                .where(fields.c.key == definition.key)
                .values(label=definition.name, value_type=definition.value_type)
            )
    return Changes(tuple(added), tuple(changed))


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


async def _store_groups(conn: AsyncConnection, declared: Sequence[GroupRef], *, now: dt.datetime) -> Changes:
    """Create the groups the server does not have yet, with the programme's uuid where it is free, so the
    flows and the API name a new group alike. Existing groups (matched by name) keep their uuid."""
    names = [g.name for g in declared]
    rows = await conn.execute(sa.select(groups.c.name, groups.c.uuid).where(groups.c.name.in_(names)))
    existing = {name for name, _ in rows}
    added = []
    for group in declared:
        if group.name in existing:
            continue
        wanted = _uuid_or_none(group.uuid)
        taken = (
            wanted is not None
            and (await conn.execute(sa.select(groups.c.id).where(groups.c.uuid == wanted))).first()
            is not None
        )
        group_uuid = wanted if wanted is not None and not taken else uuid.uuid4()
        await conn.execute(groups.insert().values(uuid=group_uuid, name=group.name, created_at=now))
        added.append(group.name)
    return Changes(tuple(added))


async def _store_campaigns(
    conn: AsyncConnection, declared: Sequence[Campaign], *, now: dt.datetime
) -> Changes:
    rows = await conn.execute(sa.select(campaigns.c.uuid, campaigns.c.name, campaigns.c.definition))
    stored = {campaign_uuid: (name, definition) for campaign_uuid, name, definition in rows}
    added, changed = [], []
    for campaign in declared:
        definition = campaign_to_json(campaign)
        if campaign.uuid not in stored:
            added.append(campaign.name)
            await conn.execute(
                campaigns.insert().values(
                    uuid=campaign.uuid, name=campaign.name, definition=definition, updated_at=now
                )
            )
        elif stored[campaign.uuid][1] != definition:
            changed.append(campaign.name)
            await conn.execute(
                campaigns.update()
                .where(campaigns.c.uuid == campaign.uuid)
                .values(name=campaign.name, definition=definition, updated_at=now)
            )
    gone = set(stored) - {c.uuid for c in declared}
    if gone:
        await conn.execute(campaigns.delete().where(campaigns.c.uuid.in_(gone)))
    return Changes(tuple(added), tuple(changed), tuple(sorted(stored[u][0] for u in gone)))
