"""A campaign whose events count from two fields: one row still holds the one next event of both, and events
of the two fields that fall on the same minute each fire once, in campaign order."""

from __future__ import annotations

import datetime as dt

from flows.model import Campaign, CampaignEvent, GroupRef
from server.campaigns.plans import plan_for

UTC = dt.UTC
TZ = "America/Mexico_City"


def _event(name: str, field: str, offset: int, hour: int | None = 9) -> CampaignEvent:
    return CampaignEvent(name, field, offset, "days", hour, message={"spa": name})


CAMPAIGN = Campaign(
    "c",
    "Dos fechas",
    GroupRef("g", "Mamás"),
    (
        _event("parto+7", "parto", 7),
        _event("registro+10", "registro", 10),
        _event("parto+3", "parto", 3),
        _event("registro+6", "registro", 6),
    ),
)
PARTO = dt.date(2027, 5, 1)
REGISTRO = dt.date(2027, 4, 27)
NINE = dt.time(15, 0, tzinfo=UTC)  # 09:00 in Mexico City


def _nine(month: int, day: int) -> dt.datetime:
    return dt.datetime.combine(dt.date(2027, month, day), NINE)


def _walk(values: tuple[object, ...], start: dt.datetime) -> list[tuple[str, dt.datetime]]:
    plan = plan_for(CAMPAIGN)
    seen = []
    after, fired = start, None
    while (found := plan.next_fire(values, TZ, after, fired=fired)) is not None:  # type: ignore[arg-type]
        event, at = found
        seen.append((event.uuid, at))
        after, fired = at, event.uuid
    return seen


def test_events_of_two_fields_interleave_by_time() -> None:
    seen = _walk((PARTO, REGISTRO), dt.datetime(2027, 4, 1, tzinfo=UTC))
    assert seen == [
        ("registro+6", _nine(5, 3)),
        ("parto+3", _nine(5, 4)),
        ("registro+10", _nine(5, 7)),
        ("parto+7", _nine(5, 8)),
    ]


def test_a_tie_across_fields_fires_each_event_once_in_campaign_order() -> None:
    registro = dt.date(2027, 4, 28)  # registro+6 falls with parto+3, registro+10 with parto+7
    seen = _walk((PARTO, registro), dt.datetime(2027, 4, 1, tzinfo=UTC))
    assert seen == [
        ("parto+3", _nine(5, 4)),
        ("registro+6", _nine(5, 4)),
        ("parto+7", _nine(5, 8)),
        ("registro+10", _nine(5, 8)),
    ]


def test_a_missing_value_leaves_the_other_field_in_charge() -> None:
    seen = _walk((None, REGISTRO), dt.datetime(2027, 4, 1, tzinfo=UTC))
    assert [uuid for uuid, _ in seen] == ["registro+6", "registro+10"]
    assert _walk((None, None), dt.datetime(2027, 4, 1, tzinfo=UTC)) == []


def test_a_removed_event_as_fired_skips_the_tie_rather_than_repeat_it() -> None:
    plan = plan_for(CAMPAIGN)
    found = plan.next_fire((PARTO, dt.date(2027, 4, 28)), TZ, _nine(5, 4), fired="gone")
    assert found is not None
    assert (found[0].uuid, found[1]) == ("parto+7", _nine(5, 8))
