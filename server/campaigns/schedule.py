"""Keeping each contact's campaign row right: computed when she enrols, recomputed when what it depends on
changes, always inside the transaction that made the change.

A contact is in a campaign while she is active and in its group. Her row holds the campaign's next event and
its time, computed from her value of the event's date field in her timezone (the programme's when she has
none, or one the server does not know). When she has no value, or every event is behind her, she has no row.

What a recomputation counts from:

- a contact who has no row yet enrols *now*: events whose time has passed are not sent (no back-fill);
- a contact who has a row keeps an event that is already due and still is with the new values: the search
  starts just before the row's time, or now if that is earlier. So a date changed a second after an event
  fell due does not lose the event, and a date moved into the past drops the events it passed over, as
  RapidPro does.

Leaving the group, being stopped or blocked, or losing the date value deletes the row; coming back enrols
her again from that moment.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flows.env import zone
from flows.model import Campaign, CampaignEvent
from server.campaigns.plans import Bound, Value, bind
from server.config import Config
from server.db.schema import campaign_fires, contact_fields, contacts, group_members

CHUNK = 10_000  # contacts read and written per statement when a whole campaign is scheduled
_JUST_BEFORE = dt.timedelta(microseconds=1)
# The timezone an operator configured by default, for callers that have no configuration at hand.
DEFAULT_TIMEZONE: str = Config.programme_timezone


@functools.lru_cache(maxsize=512)
def _known_zone(name: str) -> bool:
    try:
        zone(name)
    except ValueError:
        return False
    return True


def timezone_of(contact_timezone: str | None, programme_timezone: str) -> str:
    """The contact's own timezone when the server knows it, else the programme's."""
    if contact_timezone and _known_zone(contact_timezone):
        return contact_timezone
    return programme_timezone


def pick_value(value_type: str, day: dt.date | None, moment: dt.datetime | None) -> Value:
    """The value an event counts from: a date field's date, a datetime field's instant; nothing else."""
    if value_type == "date":
        return day
    if value_type == "datetime":
        return moment
    return None


# --- reading what a schedule depends on -------------------------------------------------------------------


def with_values(stmt: sa.Select[Any], bound: Bound, contact_id: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """Add the contact's value of each of the campaign's date fields (two columns each: date, datetime)."""
    for number, field_id in enumerate(bound.field_ids):
        if field_id is None:
            stmt = stmt.add_columns(sa.null(), sa.null())
            continue
        value = contact_fields.alias(f"v{number}")
        stmt = stmt.outerjoin(
            value, sa.and_(value.c.contact_id == contact_id, value.c.field_id == field_id)
        ).add_columns(value.c.date_value, value.c.datetime_value)
    return stmt


def values_of(bound: Bound, cells: Sequence[Any]) -> tuple[Value, ...]:
    """The field values from the columns ``with_values`` added (two per field)."""
    return tuple(
        pick_value(value_type, cells[2 * number], cells[2 * number + 1])
        for number, value_type in enumerate(bound.field_types)
    )


@dataclass(frozen=True)
class _State:
    contact_id: int
    enrolled: bool  # active and in the group
    timezone: str | None
    current: dt.datetime | None  # the due time of her row, when she has one
    values: tuple[Value, ...]


def _state_select(bound: Bound) -> sa.Select[Any]:
    """Given contacts (add the WHERE): whether each is enrolled, her timezone, her row's time, her values."""
    if bound.group_id is None:
        enrolled: sa.ColumnElement[Any] = sa.false()  # the group does not exist: nobody is in it
        stmt = sa.select(contacts.c.id, enrolled, contacts.c.timezone, campaign_fires.c.due_at)
    else:
        enrolled = sa.and_(contacts.c.status == "active", group_members.c.group_id.is_not(None))
        stmt = sa.select(contacts.c.id, enrolled, contacts.c.timezone, campaign_fires.c.due_at).outerjoin(
            group_members,
            sa.and_(group_members.c.contact_id == contacts.c.id, group_members.c.group_id == bound.group_id),
        )
    stmt = stmt.outerjoin(
        campaign_fires,
        sa.and_(campaign_fires.c.contact_id == contacts.c.id, campaign_fires.c.campaign_id == bound.id),
    )
    return with_values(stmt, bound, contacts.c.id)


def _member_select(bound: Bound, group_id: int) -> sa.Select[Any]:
    """The group's members in id order (add the keyset WHERE), with the same columns as ``_state_select``:
    the group's primary key drives the scan, so a small group in a large server reads only its members."""
    member = group_members.c.contact_id
    stmt = (
        sa.select(member, contacts.c.status == "active", contacts.c.timezone, campaign_fires.c.due_at)
        .select_from(group_members)
        .join(contacts, contacts.c.id == member)
        .outerjoin(
            campaign_fires,
            sa.and_(campaign_fires.c.contact_id == member, campaign_fires.c.campaign_id == bound.id),
        )
        .where(group_members.c.group_id == group_id)
    )
    return with_values(stmt, bound, member)


def _states(bound: Bound, rows: Iterable[Sequence[Any]]) -> list[_State]:
    return [_State(row[0], bool(row[1]), row[2], row[3], values_of(bound, row[4:])) for row in rows]


# --- computing and writing --------------------------------------------------------------------------------


@dataclass
class _Writes:
    upserts: list[dict[str, Any]]
    deletes: list[int]  # contact ids whose row goes


def _compute(bound: Bound, states: Iterable[_State], *, now: dt.datetime, programme_timezone: str) -> _Writes:
    # Contacts of one programme share few distinct dates (due dates, birthdays), so most of a large batch
    # asks the same question: each is answered once.
    answers: dict[tuple[Any, ...], tuple[CampaignEvent, dt.datetime] | None] = {}
    writes = _Writes([], [])
    for state in states:
        found = None
        if state.enrolled:
            after = now if state.current is None else min(now, state.current - _JUST_BEFORE)
            tz = timezone_of(state.timezone, programme_timezone)
            key = (state.values, tz, after)
            if key in answers:
                found = answers[key]
            else:
                found = answers[key] = bound.plan.next_fire(state.values, tz, after)
        if found is not None:
            event, due = found
            writes.upserts.append(
                {
                    "contact_id": state.contact_id,
                    "campaign_id": bound.id,
                    "event_uuid": event.uuid,
                    "due_at": due,
                }
            )
        elif state.current is not None:
            writes.deletes.append(state.contact_id)
    return writes


def upsert_statement(conn: AsyncConnection) -> Any:
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(campaign_fires)
    return insert.on_conflict_do_update(
        index_elements=[campaign_fires.c.contact_id, campaign_fires.c.campaign_id],
        set_={"event_uuid": insert.excluded.event_uuid, "due_at": insert.excluded.due_at},
    )


async def _write(conn: AsyncConnection, bound: Bound, writes: _Writes) -> None:
    if writes.upserts:
        await conn.execute(upsert_statement(conn), writes.upserts)
    if writes.deletes:
        await conn.execute(
            campaign_fires.delete().where(
                campaign_fires.c.campaign_id == bound.id, campaign_fires.c.contact_id.in_(writes.deletes)
            )
        )


async def reschedule_contacts(
    conn: AsyncConnection,
    bound_campaigns: Sequence[Bound],
    contact_ids: Collection[int],
    *,
    now: dt.datetime,
    timezone: str,
) -> None:
    """Recompute these contacts' rows in these campaigns (after a change to them, in its transaction)."""
    ids = list(dict.fromkeys(contact_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for bound in bound_campaigns:
            rows = await conn.execute(_state_select(bound).where(contacts.c.id.in_(chunk)))
            writes = _compute(bound, _states(bound, rows), now=now, programme_timezone=timezone)
            await _write(conn, bound, writes)


async def reschedule_campaign(
    conn: AsyncConnection, bound: Bound, *, now: dt.datetime, timezone: str, chunk: int = CHUNK
) -> int:
    """Recompute every member's row of one campaign (it was added or changed), a chunk of members at a time
    in member order; rows of contacts no longer in it go. Returns how many contacts have a row."""
    await conn.execute(
        campaign_fires.delete().where(
            campaign_fires.c.campaign_id == bound.id,
            ~sa.exists().where(
                group_members.c.contact_id == campaign_fires.c.contact_id,
                group_members.c.group_id == (bound.group_id if bound.group_id is not None else -1),
            ),
        )
    )
    if bound.group_id is None:
        return 0
    scheduled = 0
    last = 0
    members = _member_select(bound, bound.group_id)
    while True:
        stmt = members.where(group_members.c.contact_id > last).order_by(group_members.c.contact_id)
        rows = (await conn.execute(stmt.limit(chunk))).all()
        if not rows:
            return scheduled
        last = rows[-1][0]
        writes = _compute(bound, _states(bound, rows), now=now, programme_timezone=timezone)
        await _write(conn, bound, writes)
        scheduled += len(writes.upserts)


# --- the moments a schedule changes -----------------------------------------------------------------------


async def contact_changed(
    conn: AsyncConnection,
    contact_id: int,
    campaign_list: Sequence[Campaign],
    *,
    now: dt.datetime,
    timezone: str,
    fields: Collection[str] = (),
    groups: Collection[str] = (),
    everything: bool = False,
) -> None:
    """After a contact's change, in its transaction: recompute her rows in the campaigns it concerns: those
    counting from a changed field or for a group she joined or left; all of them when ``everything`` (her
    status or timezone changed)."""
    if everything:
        affected = list(campaign_list)
    else:
        changed_fields, changed_groups = set(fields), set(groups)
        affected = [
            c
            for c in campaign_list
            if c.group.name in changed_groups or any(e.relative_to in changed_fields for e in c.events)
        ]
    if affected:
        await reschedule_contacts(conn, await bind(conn, affected), [contact_id], now=now, timezone=timezone)


async def contacts_changed(
    conn: AsyncConnection, contact_ids: Collection[int], *, now: dt.datetime, timezone: str
) -> None:
    """Recompute these contacts' rows in every stored campaign: for changes made outside a flow (the contacts
    API, an import), which do not say what they changed."""
    from server.campaigns.plans import stored_campaigns

    bound = await bind(conn, await stored_campaigns(conn))
    await reschedule_contacts(conn, bound, contact_ids, now=now, timezone=timezone)


async def campaigns_loaded(
    conn: AsyncConnection, campaign_list: Sequence[Campaign], *, now: dt.datetime, timezone: str
) -> int:
    """After a programme load stored these campaigns (added or changed), in its transaction: schedule every
    member of each. A removed campaign's rows went with its row. Returns how many rows there are now."""
    total = 0
    for bound in await bind(conn, campaign_list):
        total += await reschedule_campaign(conn, bound, now=now, timezone=timezone)
    return total


async def imported(engine: AsyncEngine, *, now: dt.datetime, timezone: str) -> int:
    """After a contact import (which writes in batches of its own and does not say whom it touched): every
    campaign's rows recomputed in one transaction. Returns how many contacts have a row."""
    from server.campaigns.plans import stored_campaigns

    total = 0
    async with engine.begin() as conn:
        for bound in await bind(conn, await stored_campaigns(conn)):
            total += await reschedule_campaign(conn, bound, now=now, timezone=timezone)
    return total
