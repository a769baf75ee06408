"""Contact attributes and field values: what is accepted, how it is stored, and why the rest is refused."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.contact_values import (
    VALUE_MAX,
    InvalidValue,
    TypedValue,
    check_field_key,
    check_language,
    check_timezone,
    clean_text,
    parse_value,
)

MEXICO = zoneinfo.ZoneInfo("America/Mexico_City")
UTC = dt.UTC


@pytest.mark.parametrize("written", ["2027-03-01", "01/03/2027", "1/3/2027", "01-03-2027", "01.03.2027"])
def test_dates_iso_or_day_first(written: str) -> None:
    assert parse_value("date", written, MEXICO) == TypedValue("2027-03-01", date=dt.date(2027, 3, 1))


def test_a_datetime_given_for_a_date_is_the_day_in_the_programme_timezone() -> None:
    # 03:00 UTC on 1 March is still 28 February in Mexico City (UTC-6).
    assert parse_value("date", "2027-03-01T03:00:00Z", MEXICO).date == dt.date(2027, 2, 28)
    assert parse_value("date", "2027-03-01T03:00", MEXICO).date == dt.date(2027, 3, 1)


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("31/02/2027", "is not a date in the calendar"),
        ("2027-13-01", "is not a date in the calendar"),
        ("03/01/27", "must be a date written 2027-03-01 or 01/03/2027 (day first)"),
        ("20270301", "must be a date written 2027-03-01 or 01/03/2027 (day first)"),
        ("mañana", "must be a date written 2027-03-01 or 01/03/2027 (day first)"),
    ],
)
def test_bad_dates_are_refused(written: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_value("date", written, MEXICO)
    assert caught.value.reason == reason


def test_naive_datetimes_are_read_in_the_programme_timezone() -> None:
    value = parse_value("datetime", "2027-03-01T09:30", MEXICO)
    assert value.datetime == dt.datetime(2027, 3, 1, 15, 30, tzinfo=UTC)
    assert value.text == "2027-03-01T09:30:00-06:00"


def test_datetimes_with_an_offset_keep_their_instant() -> None:
    value = parse_value("datetime", "2027-03-01T09:30:00Z", MEXICO)
    assert value.datetime == dt.datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
    assert value.text == "2027-03-01T03:30:00-06:00"


def test_a_date_alone_for_a_datetime_is_midnight_there() -> None:
    assert parse_value("datetime", "01/03/2027", MEXICO).datetime == dt.datetime(2027, 3, 1, 6, tzinfo=UTC)
    assert parse_value("datetime", "01/03/2027 14:30", MEXICO).datetime == dt.datetime(
        2027, 3, 1, 20, 30, tzinfo=UTC
    )


def test_another_programme_timezone_moves_the_instant() -> None:
    cancun = zoneinfo.ZoneInfo("America/Cancun")  # UTC-5 all year
    assert parse_value("datetime", "2027-03-01", cancun).datetime == dt.datetime(2027, 3, 1, 5, tzinfo=UTC)


@pytest.mark.parametrize("written", ["2027-03-01T25:00", "tomorrow at nine", "2027-03-01T09:30+99:00"])
def test_bad_datetimes_are_refused(written: str) -> None:
    with pytest.raises(InvalidValue):
        parse_value("datetime", written, MEXICO)


@pytest.mark.parametrize(
    ("raw", "number"),
    [("12", "12"), ("-3.5", "-3.5"), (" 7 ", "7"), (".5", "0.5"), (12, "12"), (3.25, "3.25")],
)
def test_numbers(raw: str | int | float, number: str) -> None:
    assert parse_value("number", raw, MEXICO).number == Decimal(number)


def test_numbers_keep_eight_decimals() -> None:
    assert parse_value("number", "0.123456789", MEXICO).number == Decimal("0.12345679")


@pytest.mark.parametrize(
    "raw", ["doce", "1e5", "1,5", "NaN", "Infinity", "9" * 29, float("nan"), 10**40, True]
)
def test_bad_numbers_are_refused(raw: str | int | float) -> None:
    with pytest.raises(InvalidValue):
        parse_value("number", raw, MEXICO)


def test_text_is_trimmed_and_limited() -> None:
    assert parse_value("text", "  Clínica Norte  ", MEXICO) == TypedValue("Clínica Norte")
    assert parse_value("text", "x" * VALUE_MAX, MEXICO).text == "x" * VALUE_MAX
    with pytest.raises(InvalidValue, match="longer than 640"):
        parse_value("text", "x" * (VALUE_MAX + 1), MEXICO)


def test_a_huge_cell_is_refused_without_being_remembered() -> None:
    with pytest.raises(InvalidValue, match="longer than 640"):
        parse_value("text", "x" * 1_000_000, MEXICO)
    assert parse_value("text", " " * 10_000 + "ok", MEXICO).text == "ok"


@pytest.mark.parametrize("raw", ["a\x00b", "\x07", "a\udc80b", "\x1b[31m"])
def test_characters_no_database_can_keep_are_refused(raw: str) -> None:
    with pytest.raises(InvalidValue, match="control characters"):
        clean_text(raw, max_length=100)


def test_text_values_may_not_be_json_numbers_for_dates() -> None:
    with pytest.raises(InvalidValue, match="written as text"):
        parse_value("date", 20270301, MEXICO)


@pytest.mark.parametrize("key", ["due_date", "a", "x" * 36, "baby_dob_2"])
def test_field_keys(key: str) -> None:
    assert check_field_key(key) == key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "is empty"),
        ("x" * 37, "is longer than 36 characters"),
        ("Due_Date", "must be lower case letters, digits and _, starting with a letter"),
        ("2nd", "must be lower case letters, digits and _, starting with a letter"),
        ("fecha-parto", "must be lower case letters, digits and _, starting with a letter"),
        ("_x", "must be lower case letters, digits and _, starting with a letter"),
        ("name", "'name' is a built-in contact attribute"),
        ("language", "'language' is a built-in contact attribute"),
    ],
)
def test_bad_field_keys(key: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        check_field_key(key)
    assert caught.value.reason == reason


def test_languages_are_iso_639_3() -> None:
    assert check_language("spa") == "spa"
    assert check_language("NAH") == "nah"
    for bad in ("es", "spanish", "sp4"):
        with pytest.raises(InvalidValue, match="ISO 639-3"):
            check_language(bad)


def test_timezones_are_iana_names() -> None:
    assert check_timezone("America/Merida") == "America/Merida"
    for bad in ("America/Mexico_city", "CST", "../../etc/passwd", "/etc/localtime", "posixrules", "x" * 65):
        with pytest.raises(InvalidValue, match="IANA"):
            check_timezone(bad)


@settings(max_examples=150)
@given(st.sampled_from(["text", "number", "date", "datetime"]), st.text(max_size=50))
def test_any_text_is_a_value_or_a_reason(value_type: str, raw: str) -> None:
    try:
        value: TypedValue | None = parse_value(value_type, raw, MEXICO)
    except InvalidValue as exc:
        reason = exc.reason
        value = None
    if value is None:
        assert reason
        return
    # the text as shown reads back as the same value
    assert parse_value(value_type, value.text, MEXICO) == value
