"""Campaign time: mailroom's schedule arithmetic across DST, and the next-fire look-up the scheduler uses.

Offsets in the tables were worked out by hand from the zones' rules: America/Tijuana and America/Ciudad_Juarez
follow the US rules (2024: clocks forward on 10 March at 02:00, back on 3 November at 02:00); Mexico City's last
DST change was on 30 October 2022 (CDT -5 to CST -6).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.campaign_time import CampaignSchedule, due_events, fire_time, next_fire
from flows.env import zone as zone_info
from flows.model import CampaignEvent, OffsetUnit

TIJUANA = "America/Tijuana"
JUAREZ = "America/Ciudad_Juarez"
MEXICO = "America/Mexico_City"
UNITS: tuple[OffsetUnit, ...] = ("minutes", "hours", "days", "weeks")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


def offset(hours: int) -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=hours))


def event(
    uuid: str, offset: int, unit: OffsetUnit = "days", hour: int | None = None, field: str = "due_date"
) -> CampaignEvent:
    return CampaignEvent(uuid=uuid, relative_to=field, offset=offset, unit=unit, delivery_hour=hour)


PST, PDT, MST, MDT, CST, CDT = offset(-8), offset(-7), offset(-7), offset(-6), offset(-6), offset(-5)


# --- fire_time: the table ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "amount", "unit", "hour", "zone", "expected"),
    [
        # a plain date is local midnight
        (dt.date(2024, 5, 1), 0, "days", None, MEXICO, utc(2024, 5, 1, 6)),
        (dt.date(2024, 5, 1), 1, "days", None, MEXICO, utc(2024, 5, 2, 6)),
        (dt.date(2024, 5, 1), 1, "days", None, "UTC", utc(2024, 5, 2)),
        (dt.date(2024, 5, 1), 9, "hours", None, MEXICO, utc(2024, 5, 1, 15)),
        # a datetime is read in the programme timezone first: 03:00 UTC is still 30 April in Mexico City
        (utc(2024, 5, 1, 3), 1, "days", 9, MEXICO, utc(2024, 5, 1, 15)),
        (dt.datetime(2024, 5, 1, 3, tzinfo=offset(2)), 0, "days", 9, MEXICO, utc(2024, 4, 30, 15)),
        # Tijuana, clocks forward: a day keeps the wall clock, 24 hours keep the real time
        (dt.datetime(2024, 3, 9, 9, tzinfo=PST), 1, "days", None, TIJUANA, utc(2024, 3, 10, 16)),
        (dt.datetime(2024, 3, 9, 9, tzinfo=PST), 24, "hours", None, TIJUANA, utc(2024, 3, 10, 17)),
        (dt.datetime(2024, 3, 9, 9, tzinfo=PST), 1440, "minutes", None, TIJUANA, utc(2024, 3, 10, 17)),
        (dt.datetime(2024, 3, 10, 1, 30, tzinfo=PST), 60, "minutes", None, TIJUANA, utc(2024, 3, 10, 10, 30)),
        # Tijuana, clocks back
        (dt.datetime(2024, 11, 2, 9, tzinfo=PDT), 1, "days", None, TIJUANA, utc(2024, 11, 3, 17)),
        (dt.datetime(2024, 11, 2, 9, tzinfo=PDT), 24, "hours", None, TIJUANA, utc(2024, 11, 3, 16)),
        (dt.datetime(2024, 11, 2, 9, tzinfo=PDT), 1, "weeks", None, TIJUANA, utc(2024, 11, 9, 17)),
        # a wall time the clocks skip moves forward by the gap: 02:30 PST is 03:30 PDT
        (dt.datetime(2024, 3, 9, 2, 30, tzinfo=PST), 1, "days", None, TIJUANA, utc(2024, 3, 10, 10, 30)),
        # a wall time that happens twice is the first of the two (PDT)
        (dt.datetime(2024, 11, 2, 1, 30, tzinfo=PDT), 1, "days", None, TIJUANA, utc(2024, 11, 3, 8, 30)),
        # ... but a start in the second 01:30 (PST) stays itself with a zero offset, and moves on from there
        (utc(2024, 11, 3, 9, 30), 0, "days", None, TIJUANA, utc(2024, 11, 3, 9, 30)),
        (utc(2024, 11, 3, 9, 30), 0, "minutes", None, TIJUANA, utc(2024, 11, 3, 9, 30)),
        (utc(2024, 11, 3, 9, 30), 1, "days", None, TIJUANA, utc(2024, 11, 4, 9, 30)),
        (utc(2024, 11, 3, 9, 30), -1, "days", None, TIJUANA, utc(2024, 11, 2, 8, 30)),
        # delivery hour on the day the clocks change
        (dt.date(2024, 3, 9), 1, "days", 1, TIJUANA, utc(2024, 3, 10, 9)),
        (dt.date(2024, 3, 9), 1, "days", 2, TIJUANA, utc(2024, 3, 10, 10)),  # 02:00 does not exist: 03:00
        (dt.date(2024, 3, 9), 1, "days", 3, TIJUANA, utc(2024, 3, 10, 10)),
        (dt.date(2024, 3, 9), 1, "days", 9, TIJUANA, utc(2024, 3, 10, 16)),
        (dt.date(2024, 11, 2), 1, "days", 1, TIJUANA, utc(2024, 11, 3, 8)),  # twice: the first, PDT
        (dt.date(2024, 11, 2), 1, "days", 2, TIJUANA, utc(2024, 11, 3, 10)),
        (dt.date(2024, 11, 2), 1, "days", 9, TIJUANA, utc(2024, 11, 3, 17)),
        (dt.datetime(2024, 3, 10, 23, tzinfo=PDT), -10, "hours", 9, TIJUANA, utc(2024, 3, 10, 16)),
        # Ciudad Juárez (US mountain rules)
        (dt.date(2024, 3, 9), 0, "days", 9, JUAREZ, utc(2024, 3, 9, 16)),
        (dt.date(2024, 3, 9), 1, "days", 9, JUAREZ, utc(2024, 3, 10, 15)),
        (dt.date(2024, 3, 3), 1, "weeks", 9, JUAREZ, utc(2024, 3, 10, 15)),
        (dt.datetime(2024, 3, 9, 12, tzinfo=MST), 24, "hours", None, JUAREZ, utc(2024, 3, 10, 19)),
        (dt.datetime(2024, 3, 9, 12, tzinfo=MST), 1, "days", None, JUAREZ, utc(2024, 3, 10, 18)),
        (dt.date(2024, 11, 3), 0, "days", 9, JUAREZ, utc(2024, 11, 3, 16)),
        (dt.date(2024, 11, 2), 0, "days", 9, JUAREZ, utc(2024, 11, 2, 15)),
        # Mexico City: its last change in 2022, none in 2024
        (dt.date(2022, 10, 28), 1, "days", 9, MEXICO, utc(2022, 10, 29, 14)),
        (dt.date(2022, 10, 29), 1, "days", 9, MEXICO, utc(2022, 10, 30, 15)),
        (dt.datetime(2022, 10, 29, 9, tzinfo=CDT), 24, "hours", None, MEXICO, utc(2022, 10, 30, 14)),
        (dt.datetime(2022, 10, 29, 9, tzinfo=CDT), 1, "days", None, MEXICO, utc(2022, 10, 30, 15)),
        (dt.date(2024, 3, 9), 1, "days", 9, MEXICO, utc(2024, 3, 10, 15)),
        (dt.datetime(2024, 3, 9, 9, tzinfo=CST), 24, "hours", None, MEXICO, utc(2024, 3, 10, 15)),
        (dt.date(2024, 11, 2), 1, "days", 9, MEXICO, utc(2024, 11, 3, 15)),
        # before the due date
        (dt.date(2025, 6, 15), -14, "days", 9, MEXICO, utc(2025, 6, 1, 15)),
        (dt.date(2025, 6, 15), -2, "weeks", 9, MEXICO, utc(2025, 6, 1, 15)),
        (dt.date(2025, 6, 15), -40, "weeks", 9, MEXICO, utc(2024, 9, 8, 15)),
        (dt.date(2025, 6, 15), -90, "minutes", None, MEXICO, utc(2025, 6, 15, 4, 30)),
        (dt.date(2024, 3, 15), -7, "days", None, TIJUANA, utc(2024, 3, 8, 8)),  # from PDT back to PST
        (dt.date(2024, 3, 15), -168, "hours", None, TIJUANA, utc(2024, 3, 8, 7)),
        # weeks and the leap day
        (dt.date(2024, 1, 1), 2, "weeks", 10, MEXICO, utc(2024, 1, 15, 16)),
        (dt.date(2024, 2, 29), 52, "weeks", 9, MEXICO, utc(2025, 2, 27, 15)),
        (dt.date(2024, 2, 22), 1, "weeks", 9, MEXICO, utc(2024, 2, 29, 15)),
        (dt.date(2024, 3, 7), -1, "weeks", 9, MEXICO, utc(2024, 2, 29, 15)),
        (dt.date(2023, 2, 22), 1, "weeks", 9, MEXICO, utc(2023, 3, 1, 15)),
        # seconds round up to the next minute, before anything else
        (dt.datetime(2024, 5, 1, 10, 15, 1, tzinfo=CST), 0, "minutes", None, MEXICO, utc(2024, 5, 1, 16, 16)),
        (dt.datetime(2024, 5, 1, 10, 15, 0, 1, tzinfo=CST), 0, "days", None, MEXICO, utc(2024, 5, 1, 16, 16)),
        (dt.datetime(2024, 5, 1, 10, 15, tzinfo=CST), 0, "days", None, MEXICO, utc(2024, 5, 1, 16, 15)),
        (dt.datetime(2024, 5, 1, 10, 15, 59, tzinfo=CST), 1, "days", None, MEXICO, utc(2024, 5, 2, 16, 16)),
        (dt.datetime(2024, 5, 1, 23, 59, 30, tzinfo=CST), 0, "days", 9, MEXICO, utc(2024, 5, 2, 15)),
        # rounding is in real time: 01:59:30 PDT rounds to 01:00 PST, the second time round
        (dt.datetime(2024, 11, 3, 1, 59, 30, tzinfo=PDT), 0, "days", None, TIJUANA, utc(2024, 11, 3, 9)),
        (dt.datetime(2024, 11, 3, 1, 59, 30, tzinfo=PDT), 1, "days", None, TIJUANA, utc(2024, 11, 4, 9)),
        # a delivery hour on durations: the calendar day the duration lands on
        (dt.datetime(2024, 5, 1, 22, tzinfo=CST), 3, "hours", 9, MEXICO, utc(2024, 5, 2, 15)),
        (dt.datetime(2024, 5, 1, 22, tzinfo=CST), 1, "hours", 9, MEXICO, utc(2024, 5, 1, 15)),
        # far future and far past
        (dt.date(9999, 12, 24), 1, "weeks", None, MEXICO, utc(9999, 12, 31, 6)),
        (dt.date(9999, 12, 31), 0, "days", 17, MEXICO, utc(9999, 12, 31, 23)),
        (dt.date(2000, 1, 1), 400_000, "weeks", None, "UTC", utc(9666, 2, 20)),
        (dt.date(1971, 1, 1), 10, "days", None, "UTC", utc(1971, 1, 11)),
        (dt.date(3000, 1, 1), -52_000, "weeks", None, "UTC", utc(2003, 5, 28)),
        (dt.datetime(1, 1, 2, tzinfo=dt.UTC), -1, "days", None, "UTC", utc(1, 1, 1)),
    ],
)
def test_fire_time(
    value: dt.date, amount: int, unit: OffsetUnit, hour: int | None, zone: str, expected: dt.datetime
) -> None:
    got = fire_time(value, amount, unit, hour, zone)
    assert got == expected
    assert got.tzinfo is dt.UTC


def test_the_wall_clock_a_day_later_is_the_same_across_dst() -> None:
    """The point of calendar units: a 09:00 message stays a 09:00 message all year."""
    for amount in range(0, 400):
        local = fire_time(dt.date(2024, 1, 1), amount, "days", 9, TIJUANA).astimezone(PST)
        assert local.hour in (8, 9)  # 09:00 PDT is 08:00 PST
        wall = fire_time(dt.datetime(2024, 1, 1, 9, tzinfo=PST), amount, "days", None, TIJUANA)
        assert wall == fire_time(dt.date(2024, 1, 1), amount, "days", 9, TIJUANA)


@pytest.mark.parametrize(
    ("value", "amount", "unit", "hour", "zone", "message"),
    [
        (dt.date(2024, 1, 1), 1, "days", 24, MEXICO, "delivery_hour"),
        (dt.date(2024, 1, 1), 1, "days", -1, MEXICO, "delivery_hour"),
        (dt.date(2024, 1, 1), 1, "days", True, MEXICO, "delivery_hour"),
        (dt.date(2024, 1, 1), 1, "days", 9.0, MEXICO, "delivery_hour"),
        (dt.date(2024, 1, 1), 1, "days", "9", MEXICO, "delivery_hour"),
        (dt.date(2024, 1, 1), 1, "months", None, MEXICO, "unit"),
        (dt.date(2024, 1, 1), 1, "D", None, MEXICO, "unit"),
        (dt.date(2024, 1, 1), 1, "", None, MEXICO, "unit"),
        (dt.date(2024, 1, 1), 1.5, "days", None, MEXICO, "offset"),
        (dt.date(2024, 1, 1), "1", "days", None, MEXICO, "offset"),
        (dt.date(2024, 1, 1), False, "days", None, MEXICO, "offset"),
        (dt.date(2024, 1, 1), 1, "days", None, "Mars/Olympus_Mons", "timezone"),
        (dt.date(2024, 1, 1), 1, "days", None, "", "timezone"),
        (dt.date(2024, 1, 1), 1, "days", None, "America", "timezone"),
        (dt.date(2024, 1, 1), 1, "days", None, "../../etc/passwd", "timezone"),
        (dt.date(2024, 1, 1), 1, "days", None, "America/Mexico_City\x00", "timezone"),
        (dt.date(2024, 1, 1), 1, "days", None, "x" * 5000, "timezone"),
        (dt.date(2024, 1, 1), 1, "days", None, "utc", "timezone"),
        (dt.date(2024, 1, 1), 1, "days", None, None, "timezone"),
        (dt.datetime(2024, 1, 1, 9), 1, "days", None, MEXICO, "timezone-aware"),
        ("2024-01-01", 1, "days", None, MEXICO, "date or datetime"),
        (None, 1, "days", None, MEXICO, "date or datetime"),
        (1704067200, 1, "days", None, MEXICO, "date or datetime"),
        # results outside years 1-9999
        (dt.date(9999, 12, 25), 2, "weeks", None, MEXICO, "supported range"),
        (dt.date(9999, 12, 31), 0, "days", 18, MEXICO, "supported range"),
        (dt.date(2024, 1, 1), 10**9, "weeks", 9, MEXICO, "supported range"),
        (dt.date(2024, 1, 1), 10**30, "days", None, MEXICO, "supported range"),
        (dt.date(2024, 1, 1), -(10**30), "minutes", None, MEXICO, "supported range"),
        (dt.date(2024, 1, 1), 10**20, "hours", 9, MEXICO, "supported range"),
        (dt.date(1, 1, 2), -2, "days", None, MEXICO, "supported range"),
        (utc(9999, 12, 31, 23, 59, 30), 0, "minutes", None, "UTC", "supported range"),
        (dt.date(1, 1, 1), 0, "days", None, "Asia/Tokyo", "supported range"),  # midnight there is year 0 UTC
    ],
)
def test_fire_time_refuses(
    value: object, amount: object, unit: object, hour: object, zone: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fire_time(value, amount, unit, hour, zone)  # type: ignore[arg-type]


# --- next_fire and due_events: examples -------------------------------------------------------------------

DUE = dt.date(2025, 6, 15)  # Mexico City, 15 June 2025: midnight is 06:00 UTC
PREGNANCY = (
    event("w-40", -40, "weeks", 9),
    event("d-14", -14, "days", 9),
    event("d-1-evening", -1, "days", 19),
    event("d0", 0, "days", 9),
    event("h33", 33, "hours"),  # 09:00 the next day: a tie with d1 across kinds of event
    event("d1", 1, "days", 9),
    event("d1-again", 1, "days", 9),
    event("m90", 90, "minutes"),
)


def test_next_fire_walks_the_campaign_in_order() -> None:
    expected = [
        ("w-40", utc(2024, 9, 8, 15)),
        ("d-14", utc(2025, 6, 1, 15)),
        ("d-1-evening", utc(2025, 6, 15, 1)),
        ("m90", utc(2025, 6, 15, 7, 30)),
        ("d0", utc(2025, 6, 15, 15)),
        ("h33", utc(2025, 6, 16, 15)),  # tied, first in order
        ("d1", utc(2025, 6, 16, 15)),
        ("d1-again", utc(2025, 6, 16, 15)),
    ]
    walked = []
    after, fired = utc(2024, 1, 1), None
    while (found := next_fire(PREGNANCY, DUE, MEXICO, after, fired=fired)) is not None:
        walked.append((found[0].uuid, found[1]))
        after, fired = found[1], found[0].uuid
    assert walked == expected
    everything = due_events(PREGNANCY, DUE, MEXICO, utc(2024, 1, 1), utc(2026, 1, 1))
    assert [(e.uuid, t) for e, t in everything] == expected


def test_next_fire_is_strictly_after() -> None:
    at_d0 = utc(2025, 6, 15, 15)
    assert next_fire(PREGNANCY, DUE, MEXICO, at_d0 - dt.timedelta(microseconds=1)) == (PREGNANCY[3], at_d0)
    found = next_fire(PREGNANCY, DUE, MEXICO, at_d0)
    assert found is not None
    assert found[0].uuid == "h33"


def test_ties_are_resumed_after_the_event_that_fired() -> None:
    tie = utc(2025, 6, 16, 15)
    assert next_fire(PREGNANCY, DUE, MEXICO, tie, fired="h33") == (PREGNANCY[5], tie)
    assert next_fire(PREGNANCY, DUE, MEXICO, tie, fired="d1") == (PREGNANCY[6], tie)
    assert next_fire(PREGNANCY, DUE, MEXICO, tie, fired="d1-again") is None
    # an event no longer in the campaign: the rest of the tie is skipped rather than risk a double send
    assert next_fire(PREGNANCY, DUE, MEXICO, tie, fired="deleted-event") is None
    # a fired event that is not at that moment changes nothing
    assert next_fire(PREGNANCY, DUE, MEXICO, tie - dt.timedelta(hours=1), fired="d1-again") == (
        PREGNANCY[4],
        tie,
    )
    window = due_events(PREGNANCY, DUE, MEXICO, tie, utc(2030, 1, 1), fired="h33")
    assert [e.uuid for e, _ in window] == ["d1", "d1-again"]


def test_due_events_window_is_half_open() -> None:
    d0, d1 = utc(2025, 6, 15, 15), utc(2025, 6, 16, 15)
    window = due_events(PREGNANCY, DUE, MEXICO, d0, d1)
    assert [e.uuid for e, _ in window] == ["h33", "d1", "d1-again"]
    window = due_events(PREGNANCY, DUE, MEXICO, d0 - dt.timedelta(seconds=1), d1 - dt.timedelta(seconds=1))
    assert [e.uuid for e, _ in window] == ["d0"]
    assert due_events(PREGNANCY, DUE, MEXICO, d0, d0) == []


def test_no_events_never_fire() -> None:
    assert next_fire((), DUE, MEXICO, utc(2020, 1, 1)) is None
    assert due_events([], DUE, MEXICO, utc(2020, 1, 1), utc(2030, 1, 1)) == []


def test_the_value_and_the_timezone_move_the_schedule() -> None:
    events = (event("d0", 0, "days", 9),)
    assert next_fire(events, DUE, TIJUANA, utc(2020, 1, 1)) == (events[0], utc(2025, 6, 15, 16))
    born = dt.datetime(2025, 6, 20, 23, 30, tzinfo=dt.UTC)  # still the 20th in Mexico City
    assert next_fire(events, born, MEXICO, utc(2020, 1, 1)) == (events[0], utc(2025, 6, 20, 15))


def test_events_beyond_the_calendar_never_fire() -> None:
    events = (
        event("soon", 0, "days", 9),
        event("year-10000", 1000, "weeks"),
        event("before-year-1", -(10**12), "minutes"),
        event("absurd", 10**40, "days", 9),
    )
    late = dt.date(9999, 6, 1)
    assert next_fire(events, late, MEXICO, dt.datetime.min.replace(tzinfo=dt.UTC)) == (
        events[0],
        utc(9999, 6, 1, 15),
    )
    assert next_fire(events, late, MEXICO, utc(9999, 6, 1, 15), fired="soon") is None
    window = due_events(
        events, late, MEXICO, dt.datetime.min.replace(tzinfo=dt.UTC), dt.datetime.max.replace(tzinfo=dt.UTC)
    )
    assert [e.uuid for e, _ in window] == ["soon"]


def test_extreme_moments() -> None:
    first = next_fire(PREGNANCY, DUE, MEXICO, dt.datetime.min.replace(tzinfo=dt.UTC))
    assert first is not None
    assert first[0].uuid == "w-40"
    assert next_fire(PREGNANCY, DUE, MEXICO, dt.datetime.max.replace(tzinfo=dt.UTC)) is None
    assert next_fire(PREGNANCY, DUE, "Asia/Tokyo", dt.datetime.max.replace(tzinfo=dt.UTC)) is None


def test_schedules_are_reused_and_lists_work() -> None:
    schedule = CampaignSchedule(PREGNANCY)
    after = utc(2025, 6, 1)
    expected = next_fire(PREGNANCY, DUE, MEXICO, after)
    assert schedule.next_fire(DUE, MEXICO, after) == expected
    assert next_fire(schedule, DUE, MEXICO, after) == expected
    assert next_fire(list(PREGNANCY), DUE, MEXICO, after) == expected
    assert schedule.relative_to == "due_date"
    assert schedule.events == PREGNANCY


def test_many_campaigns_in_turn() -> None:
    """More distinct event tuples than the reuse cache holds: every answer still belongs to its campaign."""
    campaigns = [(event(f"c{n}", n, "days", 9),) for n in range(600)]
    for _ in range(2):
        for n, events in enumerate(campaigns):
            assert next_fire(events, DUE, MEXICO, utc(2025, 1, 1)) == (
                events[0],
                utc(2025, 6, 15, 15) + dt.timedelta(days=n),
            )


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ((event("a", 1), event("b", 1, field="birth_date")), "different fields"),
        ((event("a", 1), event("a", 2)), "more than once"),
        ((event("a", 1), event("bad-hour", 1, hour=24)), "bad-hour: delivery_hour"),
        ((CampaignEvent(uuid="bad-unit", relative_to="due_date", offset=1, unit="M"),), "bad-unit: unit"),  # type: ignore[arg-type]
        ((CampaignEvent(uuid="bad-offset", relative_to="due_date", offset="1", unit="days"),), "bad-offset"),  # type: ignore[arg-type]
    ],
)
def test_bad_campaigns_are_refused(events: Sequence[CampaignEvent], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        next_fire(events, DUE, MEXICO, utc(2025, 1, 1))
    with pytest.raises(ValueError, match=message):
        CampaignSchedule(events)


def test_bad_look_ups_are_refused() -> None:
    with pytest.raises(ValueError, match="after must be timezone-aware"):
        next_fire(PREGNANCY, DUE, MEXICO, dt.datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="until must be timezone-aware"):
        due_events(PREGNANCY, DUE, MEXICO, utc(2025, 1, 1), dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="before after"):
        due_events(PREGNANCY, DUE, MEXICO, utc(2025, 1, 2), utc(2025, 1, 1))
    with pytest.raises(ValueError, match="after must be a datetime"):
        next_fire(PREGNANCY, DUE, MEXICO, dt.date(2025, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone"):
        next_fire(PREGNANCY, DUE, "Nowhere/Else", utc(2025, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire(PREGNANCY, dt.datetime(2025, 6, 15, 9), MEXICO, utc(2025, 1, 1))


# --- properties -------------------------------------------------------------------------------------------

# Zones with DST (including a half-hour change, changes at midnight, and Samoa's skipped day) and without.
ZONES = [
    TIJUANA,
    JUAREZ,
    MEXICO,
    "America/Cancun",
    "America/Hermosillo",
    "America/Santiago",
    "America/Havana",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "Europe/London",
    "UTC",
]
# Moments near clock changes, so that the examples land on them often.
CHANGES = [
    utc(2024, 3, 10, 10),  # Tijuana forward
    utc(2024, 11, 3, 9),  # Tijuana back
    utc(2022, 10, 30, 7),  # Mexico City's last change
    utc(2011, 12, 30, 10),  # Samoa skips 30 December
    utc(2024, 4, 7, 3),  # Santiago back at midnight
    utc(2024, 3, 10, 5),  # Havana forward at midnight
    utc(2024, 4, 6, 15),  # Lord Howe back half an hour
]

near_changes = st.builds(
    lambda base, minutes: base + dt.timedelta(minutes=minutes),
    st.sampled_from(CHANGES),
    st.integers(-30 * 1440, 30 * 1440),
)
instants = st.one_of(
    near_changes,
    st.builds(
        lambda base, seconds: base + dt.timedelta(seconds=seconds),
        st.sampled_from(CHANGES),
        st.integers(-40 * 86400, 40 * 86400),
    ),
    st.datetimes(dt.datetime(1980, 1, 1), dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC)),
)
values = st.one_of(instants, instants.map(lambda moment: moment.date()))
hours = st.one_of(st.none(), st.integers(0, 23))


@st.composite
def campaigns(draw: st.DrawFn) -> tuple[CampaignEvent, ...]:
    count = draw(st.integers(0, 25))
    # A few offsets and hours repeated often, so that equal times (ties) are common.
    return tuple(
        event(
            f"e{n}",
            draw(st.one_of(st.integers(-3, 3), st.integers(-3000, 3000))),
            draw(st.sampled_from(UNITS)),
            draw(st.one_of(st.none(), st.sampled_from([0, 1, 2, 9]), st.integers(0, 23))),
        )
        for n in range(count)
    )


def brute_force(
    events: Sequence[CampaignEvent], value: dt.date, zone: str
) -> list[tuple[dt.datetime, int, CampaignEvent]]:
    return sorted(
        (fire_time(value, e.offset, e.unit, e.delivery_hour, zone), n, e) for n, e in enumerate(events)
    )


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(ZONES),
    values,
    st.sampled_from(["days", "weeks"]),
    hours,
    st.integers(-500, 500),
    st.integers(0, 500),
)
def test_calendar_units_never_go_backwards(
    zone: str, value: dt.date, unit: OffsetUnit, hour: int | None, start: int, step: int
) -> None:
    earlier = fire_time(value, start, unit, hour, zone)
    later = fire_time(value, start + step, unit, hour, zone)
    assert earlier <= later
    if step and zone in (TIJUANA, JUAREZ, MEXICO):
        assert earlier < later


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ZONES), values, st.sampled_from(["minutes", "hours"]), st.integers(-(10**6), 10**6))
def test_durations_are_real_time(zone: str, value: dt.date, unit: OffsetUnit, amount: int) -> None:
    start = fire_time(value, 0, unit, None, zone)
    minutes = amount * (60 if unit == "hours" else 1)
    assert fire_time(value, amount, unit, None, zone) - start == dt.timedelta(minutes=minutes)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ZONES), values, st.sampled_from(UNITS), hours, st.integers(-2000, 2000))
def test_results_are_aware_utc_whole_minutes(
    zone: str, value: dt.date, unit: OffsetUnit, hour: int | None, amount: int
) -> None:
    got = fire_time(value, amount, unit, hour, zone)
    assert got.tzinfo is dt.UTC
    assert got.second == 0
    assert got.microsecond == 0
    if isinstance(value, dt.datetime):
        assert fire_time(value, 0, "minutes", None, zone) - value < dt.timedelta(minutes=1)
    if hour is not None:
        tz = zone_info(zone)
        local = got.astimezone(tz)
        wanted = dt.datetime.combine(local.date(), dt.time(hour))
        exists = wanted.replace(tzinfo=tz).astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None) == wanted
        if exists:
            assert local.replace(tzinfo=None) == wanted
        else:  # the clocks skipped that hour: the first moment after the gap
            assert wanted < local.replace(tzinfo=None) < wanted + dt.timedelta(days=1)


@settings(max_examples=300, deadline=None)
@given(campaigns(), st.sampled_from(ZONES), values, instants, st.data())
def test_next_fire_and_due_events_agree_with_brute_force(
    events: tuple[CampaignEvent, ...], zone: str, value: dt.date, after: dt.datetime, data: st.DataObject
) -> None:
    everything = brute_force(events, value, zone)
    expected = next(((e, t) for t, _, e in everything if t > after), None)
    assert next_fire(events, value, zone, after) == expected
    window = [(e, t) for t, _, e in everything if t > after]
    assert due_events(events, value, zone, after, dt.datetime.max.replace(tzinfo=dt.UTC)) == window
    assert (window[0] if window else None) == expected
    until = data.draw(st.sampled_from([after, *(t for t, _, _ in everything if t >= after)]))
    assert due_events(events, value, zone, after, until) == [(e, t) for e, t in window if t <= until]
    # resuming a tie: pick any event, and ask for what follows it at its own time
    if everything:
        time, index, fired = data.draw(st.sampled_from(everything))
        following = next(((e, t) for t, n, e in everything if (t, n) > (time, index)), None)
        assert next_fire(events, value, zone, time, fired=fired.uuid) == following


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(ZONES), values, st.integers(1, 3))
def test_a_700_event_campaign_walks_like_brute_force(zone: str, value: dt.date, kinds: int) -> None:
    """A Prospera-sized campaign: days before and after the date at one to three delivery hours."""
    events = tuple(
        event(f"e{n}", n // kinds - 280 // kinds, "days", (9, 13, 19)[n % kinds]) for n in range(700)
    )
    everything = brute_force(events, value, zone)
    walked = []
    after, fired = everything[0][0] - dt.timedelta(days=1), None
    while (found := next_fire(events, value, zone, after, fired=fired)) is not None:
        walked.append(found)
        after, fired = found[1], found[0].uuid
    assert walked == [(e, t) for t, _, e in everything]
