"""Campaign time: when a campaign event fires for a contact, and which of a campaign's events fires next.

The arithmetic follows mailroom's ``ScheduleForTime`` (see the RapidPro reference, §8.2), so imported campaigns
fire when they fired in RapidPro:

- a datetime value is read in the programme timezone; a plain date means local midnight there;
- a start with seconds (or microseconds) is rounded up to the next whole minute;
- minutes and hours are durations: "+2 hours" is 120 real minutes, even across a DST change;
- days and weeks are calendar arithmetic on the local wall clock: "+1 day" from 09:00 is 09:00 the next day,
  whatever DST did overnight;
- a delivery hour (0-23) moves the result to that hour, on the same local calendar day.

Wall-clock results a DST change makes awkward are resolved as PEP 495's ``fold=0`` does, deliberately:

- a time that does not exist (skipped when the clocks go forward) is read with the offset from before the
  change, i.e. moved forward by the size of the gap (02:30 on a spring-forward night becomes 03:30), so a
  message is late by the gap rather than early or lost;
- a time that happens twice (when the clocks go back) is the first of the two, the earlier instant;
- the one exception is a calendar offset of zero without a delivery hour, which is the start itself (a start
  in the second 01:30 of the night stays there).

Scheduling keeps one due row per contact per campaign (DESIGN decision 5): the server stores the next fire
only, and when it fires asks :func:`next_fire` for the one after. With hundreds of events that look-up must
be cheap, so :class:`CampaignSchedule` groups the events by how their time is computed (duration or
calendar, and delivery hour) and sorts each group by offset. Within a group the fire time never decreases
as the offset grows: durations are plain additions; calendar results share one time of day on dates at
least a day apart, and no zone has ever moved its clocks by more than a day at once (Samoa's 2011 jump was
exactly one day, which makes two dates collide, never swap); a delivery hour only replaces the time of day.
So a binary search per group finds the first event after a moment, and ties, whether from equal offsets
or from dates that collide, are collected in event order. The tests check this against computing every
event's time.

Results are whole minutes of local time; before a zone adopted standard time (local mean time, e.g. Mexico
City before 1922) those are not whole minutes of UTC.

Times that cannot be represented (an offset of a million weeks, a due date in year 9999 plus a year) make
:func:`fire_time` raise ``ValueError``; in a schedule such an event simply never fires for that contact.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flows.env import zone
from flows.model import CampaignEvent, OffsetUnit

__all__ = ["CampaignSchedule", "due_events", "fire_time", "next_fire"]

_UTC = dt.UTC
_MIDNIGHT = dt.time()
_HOURS = tuple(dt.time(hour) for hour in range(24))
_MINUTES_PER = {"minutes": 1, "hours": 60}  # duration units, counted in minutes
_DAYS_PER = {"days": 1, "weeks": 7}  # calendar units, counted in days
_UNITS = (*_MINUTES_PER, *_DAYS_PER)

# A fire time as a sort key: (0, time) when representable; an event pushed before year 1 sorts first and one
# pushed past year 9999 last, so the per-group order stays monotonic and neither is ever due.
_Key = tuple[int, dt.datetime]
_TOO_EARLY: _Key = (-1, dt.datetime.min.replace(tzinfo=_UTC))
_TOO_LATE: _Key = (1, dt.datetime.max.replace(tzinfo=_UTC))


def _tz(name: str) -> dt.tzinfo:
    if not isinstance(name, str):
        raise ValueError(f"timezone must be an IANA name, not {name!r}")
    return zone(name)


def _aware(value: dt.datetime, what: str) -> None:
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware: {value.isoformat()}")


def _check_event(offset: int, unit: str, delivery_hour: int | None, what: str) -> None:
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise ValueError(f"{what}: offset must be an integer, not {offset!r}")
    if unit not in _UNITS:
        raise ValueError(f"{what}: unit must be one of {', '.join(_UNITS)}, not {unit!r}")
    if delivery_hour is not None and (
        isinstance(delivery_hour, bool) or not isinstance(delivery_hour, int) or not 0 <= delivery_hour <= 23
    ):
        raise ValueError(f"{what}: delivery_hour must be 0-23 or None, not {delivery_hour!r}")


# --- the start of the count -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Start:
    instant: dt.datetime  # aware UTC, whole minute: what durations count from
    wall: dt.datetime  # naive local wall clock: what calendar units count from
    tz: dt.tzinfo


def _localize(wall: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """The instant of a local wall-clock time, with ``fold=0`` (see the module docstring)."""
    return wall.replace(tzinfo=tz).astimezone(_UTC)


def _start(value: dt.date | dt.datetime, tz: dt.tzinfo) -> _Start:
    try:
        if isinstance(value, dt.datetime):
            _aware(value, "the campaign date value")
            local = value.astimezone(tz)
            if local.second or local.microsecond:
                # Round up in real time, not on the wall clock: 01:59:30 before the clocks go back is followed
                # by 01:00 the second time round, not by 02:00.
                up = dt.timedelta(seconds=60 - local.second, microseconds=-local.microsecond)
                local = (local.astimezone(_UTC) + up).astimezone(tz)
            return _Start(local.astimezone(_UTC), local.replace(tzinfo=None, fold=0), tz)
        if isinstance(value, dt.date):
            wall = dt.datetime.combine(value, _MIDNIGHT)
            return _Start(_localize(wall, tz), wall, tz)
    except OverflowError as exc:
        raise ValueError(f"the campaign date value {value!r} is outside the supported range") from exc
    raise ValueError(f"the campaign date value must be a date or datetime, not {type(value).__name__}")


# --- one fire time, by kind of event ----------------------------------------------------------------------
# Each takes the offset in the kind's base unit (minutes or days) and may raise OverflowError.


def _after_duration(start: _Start, minutes: int, hour: int | None) -> dt.datetime:
    moved = start.instant + dt.timedelta(minutes=minutes)
    if hour is None:
        return moved
    return _localize(dt.datetime.combine(moved.astimezone(start.tz).date(), _HOURS[hour]), start.tz)


def _after_calendar(start: _Start, days: int, hour: int | None) -> dt.datetime:
    if hour is not None:
        day = start.wall.date() + dt.timedelta(days=days)
        return _localize(dt.datetime.combine(day, _HOURS[hour]), start.tz)
    if days == 0:
        return start.instant
    return _localize(start.wall + dt.timedelta(days=days), start.tz)


_Compute = Callable[[_Start, int, int | None], dt.datetime]


def _base(offset: int, unit: OffsetUnit) -> tuple[_Compute, int]:
    if unit in _MINUTES_PER:
        return _after_duration, offset * _MINUTES_PER[unit]
    return _after_calendar, offset * _DAYS_PER[unit]


def fire_time(
    value: dt.date | dt.datetime, offset: int, unit: OffsetUnit, delivery_hour: int | None, timezone: str
) -> dt.datetime:
    """When an event ``offset`` ``unit``s from ``value`` fires, as an aware UTC datetime.

    ``ValueError`` for an unknown timezone, a naive datetime, a bad unit or delivery hour, or a result outside
    the years 1-9999.
    """
    _check_event(offset, unit, delivery_hour, "campaign event")
    start = _start(value, _tz(timezone))
    compute, amount = _base(offset, unit)
    try:
        return compute(start, amount, delivery_hour)
    except OverflowError as exc:
        raise ValueError(
            f"{offset:+d} {unit} from {value.isoformat()} is outside the supported range (years 1-9999)"
        ) from exc


# --- a campaign's events, ordered for look-ups ------------------------------------------------------------


def _guess_days(start: _Start, moment: dt.datetime) -> int:
    """Calendar offsets: the days from the start's local date to the moment's."""
    return (moment.astimezone(start.tz).date() - start.wall.date()).days


def _guess_minutes(start: _Start, moment: dt.datetime) -> int:
    """Durations without a delivery hour: whole minutes from the start to the moment, rounded up."""
    return -((start.instant - moment) // dt.timedelta(minutes=1))


@dataclass(frozen=True, slots=True)
class _Group:
    """Events whose times are computed alike, so their order follows their offsets."""

    compute: _Compute
    hour: int | None
    offsets: tuple[int, ...]  # distinct, ascending, in minutes or days
    members: tuple[tuple[int, ...], ...]  # for each offset, the indexes of its events, ascending
    # An offset near the first one (present or not) whose time reaches a moment. A delivery hour on a
    # duration has none: a whole day of minutes lands on one time.
    guess: Callable[[_Start, dt.datetime], int] | None

    def key(self, start: _Start, offset: int) -> _Key:
        try:
            return (0, self.compute(start, offset, self.hour))
        except OverflowError:
            if offset > 0 or (offset == 0 and start.wall.year > dt.MAXYEAR // 2):
                return _TOO_LATE
            return _TOO_EARLY


class _Times:
    """One group's fire times for one start, each computed at most once per look-up."""

    __slots__ = ("_known", "group", "start")

    def __init__(self, group: _Group, start: _Start) -> None:
        self.group = group
        self.start = start
        self._known: dict[int, _Key] = {}

    def __call__(self, offset: int) -> _Key:
        known = self._known.get(offset)
        if known is None:
            known = self._known[offset] = self.group.key(self.start, offset)
        return known

    def position(self, moment: dt.datetime) -> int:
        """The index of the first offset whose time is at or after ``moment``.

        Times rise with the offset over all integers, not only the offsets present, so the smallest integer
        reaching ``moment`` is found by stepping from a guess (a day or a minute off at most), and then
        located among the offsets by bisecting plain integers: two or three time computations instead of
        one per probe. Without a guess, or when the moment is beyond the calendar in the programme's zone,
        it bisects with a time computed for each probe.
        """
        target = (0, moment)
        offsets = self.group.offsets
        if self.group.guess is not None:
            try:
                threshold = self.group.guess(self.start, moment)
            except OverflowError:
                pass
            else:
                if self(threshold) >= target:
                    while self(threshold - 1) >= target:
                        threshold -= 1
                else:
                    threshold += 1
                    while self(threshold) < target:
                        threshold += 1
                return bisect.bisect_left(offsets, threshold)
        return bisect.bisect_left(offsets, target, key=self)


@dataclass(frozen=True, slots=True)
class _Cursor:
    """Strictly after ``moment``; at ``moment`` itself only events later in order than ``index``."""

    moment: dt.datetime
    index: int  # the number of events, or more: nothing at ``moment`` itself is due

    def admits(self, time: dt.datetime, index: int) -> bool:
        return time > self.moment or (time == self.moment and index > self.index)


class CampaignSchedule:
    """One campaign's events that count from the same field, ordered for fast look-ups.

    Build it once per campaign (per relative-to field) and reuse it; :func:`next_fire` and :func:`due_events`
    also accept the events themselves and keep the schedules of recently seen event tuples.
    """

    __slots__ = ("_groups", "_index", "events", "relative_to")

    def __init__(self, events: Sequence[CampaignEvent]) -> None:
        self.events: tuple[CampaignEvent, ...] = tuple(events)
        fields = sorted({event.relative_to for event in self.events})
        if len(fields) > 1:
            raise ValueError(
                f"campaign events count from different fields ({', '.join(fields)}): "
                "schedule each field's events separately"
            )
        self.relative_to: str | None = fields[0] if fields else None
        self._index: dict[str, int] = {}
        buckets: dict[tuple[_Compute, int | None], dict[int, list[int]]] = {}
        for index, event in enumerate(self.events):
            _check_event(event.offset, event.unit, event.delivery_hour, f"campaign event {event.uuid}")
            if self._index.setdefault(event.uuid, index) != index:
                raise ValueError(f"campaign event uuid {event.uuid} appears more than once")
            compute, amount = _base(event.offset, event.unit)
            buckets.setdefault((compute, event.delivery_hour), {}).setdefault(amount, []).append(index)
        self._groups = tuple(
            _Group(
                compute=compute,
                hour=hour,
                offsets=tuple(sorted(by_offset)),
                members=tuple(tuple(by_offset[offset]) for offset in sorted(by_offset)),
                guess=_guess_days
                if compute is _after_calendar
                else (_guess_minutes if hour is None else None),
            )
            for (compute, hour), by_offset in buckets.items()
        )

    def _cursor(self, after: dt.datetime, fired: str | None) -> _Cursor:
        _aware(after, "after")
        everything = len(self.events)
        return _Cursor(after, everything if fired is None else self._index.get(fired, everything))

    def next_fire(
        self, value: dt.date | dt.datetime, timezone: str, after: dt.datetime, *, fired: str | None = None
    ) -> tuple[CampaignEvent, dt.datetime] | None:
        """The first event to fire strictly after ``after`` and its time; ties go to the earlier event.

        ``fired`` is the uuid of the event that has just fired at exactly ``after``: events tied with it and
        later in order are still to come. An unknown uuid (the event was since removed) counts as none, so
        a tie is skipped rather than sent twice.
        """
        start = _start(value, _tz(timezone))
        cursor = self._cursor(after, fired)
        best: tuple[dt.datetime, int] | None = None
        for group in self._groups:
            found = _first_in_group(group, start, cursor, None if best is None else best[0])
            if found is not None and (best is None or found < best):
                best = found
        return None if best is None else (self.events[best[1]], best[0])

    def due_events(
        self,
        value: dt.date | dt.datetime,
        timezone: str,
        after: dt.datetime,
        until: dt.datetime,
        *,
        fired: str | None = None,
    ) -> list[tuple[CampaignEvent, dt.datetime]]:
        """Every event due in (``after``, ``until``], in time order and then event order (``fired`` as above)."""
        start = _start(value, _tz(timezone))
        cursor = self._cursor(after, fired)
        _aware(until, "until")
        if until < after:
            raise ValueError(f"until ({until.isoformat()}) is before after ({after.isoformat()})")
        found: list[tuple[dt.datetime, int]] = []
        for group in self._groups:
            offsets = group.offsets
            times = _Times(group, start)
            lo = times.position(after)
            hi = bisect.bisect_right(offsets, (0, until), key=times, lo=lo)
            for position in range(lo, hi):
                flag, time = times(offsets[position])
                found.extend(
                    (time, index)
                    for index in group.members[position]
                    if flag == 0 and cursor.admits(time, index)
                )
        found.sort()
        return [(self.events[index], time) for time, index in found]


def _first_in_group(
    group: _Group, start: _Start, cursor: _Cursor, beaten: dt.datetime | None
) -> tuple[dt.datetime, int] | None:
    """The (time, index) of the group's first event the cursor admits, unless it is later than ``beaten``."""
    offsets, members = group.offsets, group.members
    key = _Times(group, start)
    position = key.position(cursor.moment)
    while position < len(offsets):
        flag, time = key(offsets[position])
        if flag != 0:
            return None  # this and every later offset is past year 9999
        if beaten is not None and time > beaten:
            return None  # another group fires earlier: no need to look for ties here
        # The events at this time may span several offsets (colliding dates, durations within one
        # delivery day): the first in event order is the smallest index the cursor admits among them.
        end = position + 1
        if end < len(offsets) and key(offsets[end]) == (0, time):
            end = bisect.bisect_right(offsets, (0, time), key=key, lo=end)
        admitted = [
            first
            for indexes in members[position:end]
            if (first := _first_admitted(indexes, time, cursor)) is not None
        ]
        if admitted:
            return time, min(admitted)
        position = end  # only ties at the cursor's own moment, all already handled
    return None


def _first_admitted(indexes: tuple[int, ...], time: dt.datetime, cursor: _Cursor) -> int | None:
    if time > cursor.moment:
        return indexes[0]
    at = bisect.bisect_right(indexes, cursor.index)
    return indexes[at] if at < len(indexes) else None


# --- the functions the scheduler calls --------------------------------------------------------------------

_RECENT_LIMIT = 256
# Schedules of recently seen event tuples, by identity. The tuple is kept alive beside its schedule, so its
# id cannot be reused while the entry lives; tuples of frozen events cannot change. Lists are not cached.
_recent: dict[int, tuple[tuple[CampaignEvent, ...], CampaignSchedule]] = {}


def _schedule(events: Sequence[CampaignEvent] | CampaignSchedule) -> CampaignSchedule:
    if isinstance(events, CampaignSchedule):
        return events
    if type(events) is not tuple:
        return CampaignSchedule(events)
    entry = _recent.get(id(events))
    if entry is not None and entry[0] is events:
        return entry[1]
    schedule = CampaignSchedule(events)
    if len(_recent) >= _RECENT_LIMIT:
        _recent.clear()  # a server has a handful of campaigns: starting over is rare and costs one build each
    _recent[id(events)] = (events, schedule)
    return schedule


def next_fire(
    events: Sequence[CampaignEvent] | CampaignSchedule,
    value: dt.date | dt.datetime,
    timezone: str,
    after: dt.datetime,
    *,
    fired: str | None = None,
) -> tuple[CampaignEvent, dt.datetime] | None:
    """The campaign's first event to fire strictly after ``after``; see :meth:`CampaignSchedule.next_fire`.

    Pass ``Campaign.events`` (a tuple) or a :class:`CampaignSchedule` for the fast path.
    """
    return _schedule(events).next_fire(value, timezone, after, fired=fired)


def due_events(
    events: Sequence[CampaignEvent] | CampaignSchedule,
    value: dt.date | dt.datetime,
    timezone: str,
    after: dt.datetime,
    until: dt.datetime,
    *,
    fired: str | None = None,
) -> list[tuple[CampaignEvent, dt.datetime]]:
    """The events due in (``after``, ``until``] in order; see :meth:`CampaignSchedule.due_events`."""
    return _schedule(events).due_events(value, timezone, after, until, fired=fired)
