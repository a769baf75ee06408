"""Time-ordered uuids (RFC 9562 version 7) for the rows written in bulk."""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import given
from hypothesis import strategies as st

from server.db import ids

AT = dt.datetime(2027, 3, 1, 9, 30, 15, 123_000, tzinfo=dt.UTC)
AT_MILLIS = int(AT.timestamp() * 1000)


def _is_version_7(value: uuid.UUID) -> bool:
    return value.version == 7 and value.variant == uuid.RFC_4122


def test_one_call_gives_distinct_ascending_version_7_uuids_of_its_moment() -> None:
    made = ids.uuid7s(5000, AT)
    assert made == sorted(made)
    assert len(set(made)) == 5000
    assert all(_is_version_7(u) and u.int >> 80 == AT_MILLIS for u in made)


def test_hexes_are_the_same_uuids_as_sqlite_stores_them() -> None:
    hexes = ids.uuid7_hexes(1000, AT)
    assert hexes == sorted(hexes)
    assert all(len(h) == 32 and h == h.lower() for h in hexes)
    assert all(_is_version_7(uuid.UUID(hex=h)) and int(h[:12], 16) == AT_MILLIS for h in hexes)


def test_calls_in_the_same_millisecond_do_not_collide() -> None:
    made = [u for _ in range(200) for u in ids.uuid7s(50, AT)]
    assert len(set(made)) == len(made)
    assert len({ids.uuid7(AT) for _ in range(1000)}) == 1000


def test_without_a_moment_the_wall_clock_dates_them() -> None:
    before = dt.datetime.now(dt.UTC)
    made = ids.uuid7()
    after = dt.datetime.now(dt.UTC)
    assert _is_version_7(made)
    assert int(before.timestamp() * 1000) - 1 <= made.int >> 80 <= int(after.timestamp() * 1000) + 1


def test_later_moments_sort_after_earlier_ones() -> None:
    earlier = ids.uuid7s(100, AT)
    later = ids.uuid7s(100, AT + dt.timedelta(milliseconds=1))
    assert max(earlier) < min(later)


@given(count=st.integers(min_value=0, max_value=3000))
def test_any_count_is_given_exactly(count: int) -> None:
    assert len(ids.uuid7s(count, AT)) == count
    assert len(ids.uuid7_hexes(count, AT)) == count
