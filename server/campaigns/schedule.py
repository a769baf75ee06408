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

A recomputation writes only the rows whose event or time changes: re-importing contacts whose dates did not
change, or a programme load that leaves most members' next event where it was, costs reads only.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flows.env import zone
from flows.model import Campaign
from server.campaigns.plans import Bound, Value, as_stored, bind, stored_campaigns
from server.campaigns.writes import RowWrites, write_rows
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


def with_values(
    stmt: sa.Select[Any], bound: Bound, contact_id: sa.ColumnElement[Any], *, raw: bool = False
) -> sa.Select[Any]:
    """Add the contact's value of each of the campaign's date fields (two columns each: date, datetime);
    ``raw``: :func:`as_stored`."""
    for number, field_id in enumerate(bound.field_ids):
        if field_id is None:
            stmt = stmt.add_columns(sa.null(), sa.null())
            continue
        value = contact_fields.alias(f"v{number}")
        columns = (value.c.date_value, value.c.datetime_value)
        stmt = stmt.outerjoin(
            value, sa.and_(value.c.contact_id == contact_id, value.c.field_id == field_id)
        ).add_columns(*(as_stored(c) for c in columns) if raw else columns)
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
    current: tuple[str, dt.datetime] | None  # her row (event uuid, due time), when she has one
    values: tuple[Value, ...]


_ROW = (campaign_fires.c.event_uuid, campaign_fires.c.due_at)


def _state_select(bound: Bound) -> sa.Select[Any]:
    """Given contacts (add the WHERE): whether each is enrolled, her timezone, her row, her values."""
    if bound.group_id is None:
        enrolled: sa.ColumnElement[Any] = sa.false()  # the group does not exist: nobody is in it
        stmt = sa.select(contacts.c.id, enrolled, contacts.c.timezone, *_ROW)
    else:
        enrolled = sa.and_(contacts.c.status == "active", group_members.c.group_id.is_not(None))
        stmt = sa.select(contacts.c.id, enrolled, contacts.c.timezone, *_ROW).outerjoin(
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
        sa.select(member, contacts.c.status == "active", contacts.c.timezone, *_ROW)
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
    return [
        _State(
            row[0],
            bool(row[1]),
            row[2],
            None if row[4] is None else (row[3], row[4]),
            values_of(bound, row[5:]),
        )
        for row in rows
    ]


# --- computing and writing --------------------------------------------------------------------------------


def _compute(
    bound: Bound, states: Iterable[_State], *, now: dt.datetime, programme_timezone: str
) -> RowWrites:
    """The rows that change: a row recomputed to what it already holds is not written again. Contacts of one
    programme share few distinct dates (due dates, birthdays), so most questions are answered from the
    plan's memory."""
    writes = RowWrites(bound.id)
    for state in states:
        found = None
        if state.enrolled:
            after = now if state.current is None else min(now, state.current[1] - _JUST_BEFORE)
            tz = timezone_of(state.timezone, programme_timezone)
            found = bound.plan.next_fire_memo(state.values, tz, after, None)
        if found is not None:
            event, due = found
            writes.kept += 1
            if state.current != (event.uuid, due):
                writes.upserts.append((state.contact_id, event.uuid, due))
        elif state.current is not None:
            writes.deletes.append(state.contact_id)
    return writes


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
            await write_rows(conn, writes)


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
        await write_rows(conn, writes)
        scheduled += writes.kept


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
    """These contacts changed (any way, not saying how): recompute their rows in every stored campaign, in the
    caller's transaction. The call for the contacts API and for each batch of a contact import, with that
    batch's created and updated contacts.

    Only these contacts are read and only rows that change are written. The campaigns are parsed once per
    stored definition and their plans remember their answers, so a call costs a few statements, then per
    ``CHUNK`` contacts one read per campaign: on SQLite with a million contacts in a 700-event campaign,
    about 4 ms of CPU for one contact and 12 µs of CPU per contact for a batch of a thousand."""
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
    """Every member of every campaign recomputed, in a transaction of its own. Returns how many contacts
    have a row. An import that knows whom it touched calls :func:`contacts_changed` in each batch's
    transaction instead: only those contacts, and no window in which their rows are stale."""
    total = 0
    async with engine.begin() as conn:
        for bound in await bind(conn, await stored_campaigns(conn)):
            total += await reschedule_campaign(conn, bound, now=now, timezone=timezone)
    return total
