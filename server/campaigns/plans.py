"""Campaigns as the scheduler works with them.

A :class:`Plan` is a campaign's events arranged for ``flows.campaign_time``: one ``CampaignSchedule`` per date
field the events count from (a schedule needs a single start), and the events' order, which breaks ties
between events of different fields at the same minute as it breaks them within one. Plans are pure and kept
per campaign object, so a programme snapshot's campaigns are arranged once.

A :class:`Bound` plan adds the database ids the queries join on: the campaign row, the group (matched by name,
as programme loads match groups) and each field with its type. Those are read again whenever the scheduler
needs them, so a group or field created after the programme was loaded is found.

A plan also remembers its answers (:meth:`Plan.next_fire_memo`, :meth:`Plan.event_time`): they are pure, and
the firing asks the same few questions for thousands of contacts batch after batch (the contacts due at one
moment share a few hundred dates), so each is worked out once while the plan lives.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flows.campaign_time import CampaignSchedule, fire_time
from flows.model import Campaign, CampaignEvent
from server.db.schema import campaigns, fields, groups
from server.programmes import campaign_from_json

_JUST_BEFORE = dt.timedelta(microseconds=1)

Value = dt.date | dt.datetime | None  # a contact's value of one date field; None when she has none
Next = tuple[CampaignEvent, dt.datetime] | None  # an event and its time, or nothing ahead
# Answers a plan remembers before it starts again: a day's fires ask a few thousand distinct questions (dates
# by timezones), and a few megabytes at most are kept.
MEMO_LIMIT = 8_192


@dataclass(frozen=True, eq=False)
class Plan:
    campaign: Campaign
    fields: tuple[str, ...]  # the date fields the events count from, in first-use order
    schedules: tuple[CampaignSchedule, ...]  # one per field, same order
    events: Mapping[str, CampaignEvent]  # by uuid
    order: Mapping[str, int]  # event uuid → its position in the campaign
    _memo: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)

    def next_fire_memo(
        self, values: tuple[Value, ...], timezone: str, after: dt.datetime, fired: str | None
    ) -> Next:
        """:meth:`next_fire`, remembered."""
        key = (values, timezone, after, fired)
        try:
            found: Next = self._memo[key]
        except KeyError:
            found = self._remember(key, self.next_fire(values, timezone, after, fired=fired))
        return found

    def event_time(self, event: CampaignEvent, value: Value, timezone: str) -> dt.datetime | None:
        """The event's time for a contact with this value of its field (None: the value gives none),
        remembered."""
        key = (event.uuid, value, timezone)
        try:
            found: dt.datetime | None = self._memo[key]
        except KeyError:
            try:
                time = (
                    None
                    if value is None
                    else fire_time(value, event.offset, event.unit, event.delivery_hour, timezone)
                )
            except ValueError:  # outside the calendar
                time = None
            found = self._remember(key, time)
        return found

    def _remember(self, key: tuple[Any, ...], answer: Any) -> Any:
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()
        self._memo[key] = answer
        return answer

    def next_fire(
        self, values: Sequence[Value], timezone: str, after: dt.datetime, *, fired: str | None = None
    ) -> Next:
        """The first event due strictly after ``after`` for a contact with these field values (one per
        field, as ``fields``), in her timezone; ``fired`` as ``flows.campaign_time.next_fire``.

        Events of another field that fall on exactly ``after`` come after ``fired`` when they come after it
        in the campaign, as ties within one field do; a value a schedule cannot use gives no event."""
        best: tuple[dt.datetime, int, CampaignEvent] | None = None
        if fired is not None and fired not in self.events:
            fired = None  # removed since: nothing tied with it is sent twice, as campaign_time decides
        fired_at = self.order[fired] if fired is not None else None
        for schedule, value in zip(self.schedules, values, strict=True):
            if value is None:
                continue
            try:
                found = self._first_in(schedule, value, timezone, after, fired, fired_at)
            except ValueError:
                continue  # a value outside the calendar (year 9999 and beyond): nothing to schedule from it
            if found is not None:
                key = (found[1], self.order[found[0].uuid], found[0])
                if best is None or key[:2] < best[:2]:
                    best = key
        return None if best is None else (best[2], best[0])

    def _first_in(
        self,
        schedule: CampaignSchedule,
        value: dt.date | dt.datetime,
        timezone: str,
        after: dt.datetime,
        fired: str | None,
        fired_at: int | None,
    ) -> tuple[CampaignEvent, dt.datetime] | None:
        own = fired is not None and self.events[fired].relative_to == schedule.relative_to
        if own or fired_at is None:
            return schedule.next_fire(value, timezone, after, fired=fired if own else None)
        ties = schedule.due_events(value, timezone, after - _JUST_BEFORE, after)
        for event, time in ties:
            if time == after and self.order[event.uuid] > fired_at:
                return event, time
        return schedule.next_fire(value, timezone, after)


_RECENT_LIMIT = 64
# Plans of recently seen campaign objects, by identity; the campaign is kept alive beside its plan, so its id
# cannot be reused while the entry lives (campaigns are frozen).
_recent: dict[int, tuple[Campaign, Plan]] = {}


def plan_for(campaign: Campaign) -> Plan:
    entry = _recent.get(id(campaign))
    if entry is not None and entry[0] is campaign:
        return entry[1]
    keys = tuple(dict.fromkeys(event.relative_to for event in campaign.events))
    schedules = tuple(
        CampaignSchedule([event for event in campaign.events if event.relative_to == key]) for key in keys
    )
    plan = Plan(
        campaign=campaign,
        fields=keys,
        schedules=schedules,
        events={event.uuid: event for event in campaign.events},
        order={event.uuid: index for index, event in enumerate(campaign.events)},
    )
    if len(_recent) >= _RECENT_LIMIT:
        _recent.clear()
    _recent[id(campaign)] = (campaign, plan)
    return plan


@dataclass(frozen=True, eq=False)
class Bound:
    """A plan with the ids its queries need. ``group_id`` None: the group does not exist, so nobody is in
    the campaign; a field id None: no contact can have a value for it."""

    plan: Plan
    id: int
    group_id: int | None
    field_ids: tuple[int | None, ...]  # per ``plan.fields``
    field_types: tuple[str, ...]  # "date", "datetime", or another type no event can count from

    @property
    def uuid(self) -> str:
        return self.plan.campaign.uuid


async def bind(conn: AsyncConnection, campaign_list: Sequence[Campaign]) -> list[Bound]:
    """The campaigns that have a row (all of them, once a programme load stored them), with their ids."""
    if not campaign_list:
        return []
    rows = await conn.execute(sa.select(campaigns.c.uuid, campaigns.c.id))
    ids = {campaign_uuid: campaign_id for campaign_uuid, campaign_id in rows}
    names = {c.group.name for c in campaign_list}
    group_rows = await conn.execute(sa.select(groups.c.name, groups.c.id).where(groups.c.name.in_(names)))
    group_ids = {name: group_id for name, group_id in group_rows}
    keys = {event.relative_to for c in campaign_list for event in c.events}
    field_rows = await conn.execute(
        sa.select(fields.c.key, fields.c.id, fields.c.value_type).where(fields.c.key.in_(keys))
    )
    known = {key: (field_id, value_type) for key, field_id, value_type in field_rows}
    bound = []
    for campaign in campaign_list:
        if campaign.uuid not in ids:
            continue
        plan = plan_for(campaign)
        found = [known.get(key, (None, "")) for key in plan.fields]
        bound.append(
            Bound(
                plan=plan,
                id=ids[campaign.uuid],
                group_id=group_ids.get(campaign.group.name),
                field_ids=tuple(field_id for field_id, _ in found),
                field_types=tuple(value_type for _, value_type in found),
            )
        )
    return bound


def as_stored(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The column as the driver returns it, not converted: for a caller that converts each distinct value
    once (with the column's own result processor, or a cache), instead of every row's."""
    return sa.type_coerce(column, sa.types.NullType())


_STORED_LIMIT = 16
# Campaigns read back from their stored definitions, by the definition's text: the same text gives the same
# objects, so their plans (and what the plans remember) are built once, not at every contact change.
_stored: dict[str, Campaign] = {}


async def stored_campaigns(conn: AsyncConnection) -> tuple[Campaign, ...]:
    """The campaigns as the last programme load stored them (for callers without a runner's snapshot)."""
    text = sa.cast(campaigns.c.definition, sa.Text)  # the JSON as stored, not decoded
    rows = await conn.execute(sa.select(text).order_by(campaigns.c.id))
    return tuple(_campaign_of(definition) for (definition,) in rows)


def _campaign_of(definition: str) -> Campaign:
    found = _stored.get(definition)
    if found is None:
        if len(_stored) >= _STORED_LIMIT:
            _stored.clear()
        found = _stored[definition] = campaign_from_json(json.loads(definition))
    return found
