"""UTCDateTime on SQLite converts in one step each way; what it writes must be exactly what SQLAlchemy's own
SQLite DATETIME wrote before, since rows of both ages are compared as text in the same columns."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from server.db.types import UTCDateTime

DIALECT = sqlite.dialect()
TO_TEXT = UTCDateTime().bind_processor(DIALECT)
FROM_TEXT = UTCDateTime().result_processor(DIALECT, None)
_sqlalchemy_text = sa.DateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
assert _sqlalchemy_text is not None
SQLALCHEMY_TEXT = _sqlalchemy_text

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=offsets | st.just(dt.UTC)
)


@given(moments)
def test_text_is_sqlalchemys_sqlite_format_of_the_utc_moment(moment: dt.datetime) -> None:
    assert TO_TEXT(moment) == SQLALCHEMY_TEXT(moment.astimezone(dt.UTC).replace(tzinfo=None))


@given(moments)
def test_text_reads_back_as_the_same_aware_moment(moment: dt.datetime) -> None:
    back = FROM_TEXT(TO_TEXT(moment))
    assert back == moment
    assert back.tzinfo is dt.UTC


def test_a_moment_written_again_is_the_same_text_and_ambiguous_local_times_keep_their_fold() -> None:
    now = dt.datetime(2027, 3, 1, 9, 30, 0, 1, tzinfo=dt.UTC)
    assert [TO_TEXT(now), TO_TEXT(now), TO_TEXT(now.replace())] == ["2027-03-01 09:30:00.000001"] * 3
    # 01:30 happens twice in Tijuana on 7 November 2027; the two are equal datetimes, an hour apart.
    tijuana = ZoneInfo("America/Tijuana")
    first = dt.datetime(2027, 11, 7, 1, 30, tzinfo=tijuana)
    second = first.replace(fold=1)
    assert first == second
    assert [TO_TEXT(first), TO_TEXT(second)] == ["2027-11-07 08:30:00.000000", "2027-11-07 09:30:00.000000"]
    many = [now + dt.timedelta(seconds=i) for i in range(3000)]  # more than a processor keeps
    assert [TO_TEXT(m) for m in many] == [SQLALCHEMY_TEXT(m.replace(tzinfo=None)) for m in many]


def test_naive_is_refused_and_none_passes() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        TO_TEXT(dt.datetime(2027, 3, 1, 9, 30))
    assert TO_TEXT(None) is None
    assert FROM_TEXT(None) is None


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2027-03-01 09:30:00", dt.datetime(2027, 3, 1, 9, 30, tzinfo=dt.UTC)),  # CURRENT_TIMESTAMP's shape
        ("2027-03-01T09:30:00.5", dt.datetime(2027, 3, 1, 9, 30, 0, 500000, tzinfo=dt.UTC)),
        ("2027-03-01 03:30:00-06:00", dt.datetime(2027, 3, 1, 9, 30, tzinfo=dt.UTC)),
    ],
)
def test_other_stored_shapes_still_read(stored: str, expected: dt.datetime) -> None:
    assert FROM_TEXT(stored) == expected
