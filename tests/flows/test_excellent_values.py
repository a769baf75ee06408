"""The value layer under expressions and router tests: words, case, numbers, dates, Go patterns, conversions
(tables from goflow's ``utils/text_test.go`` and ``envs/dates_test.go``, plus our own)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from flows.env import Environment
from flows.values import convert, dates, numbers, regex, text, unicode
from flows.values.convert import XError

UTC_ENV = Environment(now=dt.datetime(2018, 9, 13, 13, 36, 30, 123456, tzinfo=dt.UTC), timezone="UTC")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (" one ", ["one"]),
        ("one   two three", ["one", "two", "three"]),
        ("one.two.three", ["one", "two", "three"]),
        ("O'Grady can't foo_bar", ["O'Grady", "can't", "foo_bar"]),
        ("öne.βήταa.thé", ["öne", "βήταa", "thé"]),
        ("واحد اثنين ثلاثة", ["واحد", "اثنين", "ثلاثة"]),
        ("  \t\none(two!*@three ", ["one", "two", "three"]),
        ("spend$£€₠₣₪", ["spend", "$", "£", "€", "₠", "₣", "₪"]),
        ("math+=×÷√∊", ["math", "+", "=", "×", "÷", "√", "∊"]),
        ("emoji😄🏥👪👰😟🧟", ["emoji", "😄", "🏥", "👪", "👰", "😟", "🧟"]),
        ("👍🏿 👨🏼", ["👍", "🏿", "👨", "🏼"]),
        ("ℹ ℹ️", ["ℹ", "ℹ️"]),
        ("ยกเลิก sasa", ["ยกเลิก", "sasa"]),
        ("বাতিল sasa", ["বাতিল", "sasa"]),
        ("ထွက်သွား sasa", ["ထွက်သွား", "sasa"]),
        ("¿Sí? ¡Claro!", ["Sí", "Claro"]),
        ("", []),
        ("...", []),
    ],
)
def test_tokenize(value: str, words: list[str]) -> None:
    assert text.tokenize(value) == words


@pytest.mark.parametrize(
    ("value", "chars", "words"),
    [
        ("one   two three", " ", ["one", "two", "three"]),
        ("Jim O'Grady", " ", ["Jim", "O'Grady"]),
        ("one.βήταa/three", "./", ["one", "βήταa", "three"]),
        ("one😄three", "😄", ["one", "three"]),
        ("  one.two.*@three ", " .*@", ["one", "two", "three"]),
        (" one ", " ", ["one"]),
        ("a]b^c-d\\e", "]^-\\", ["a", "b", "c", "d", "e"]),
    ],
)
def test_tokenize_by_chars(value: str, chars: str, words: list[str]) -> None:
    assert text.tokenize_by_chars(value, chars) == words


def test_case_changes_keep_length_as_go_does() -> None:
    assert text.lower("İSTANBUL") == "istanbul"
    assert text.lower("ΟΔΟΣ") == "οδοσ"
    assert text.lower("SÍ ÑANDÚ") == "sí ñandú"
    assert text.upper("straße") == "STRAßE"
    assert text.title("o'brien mc-donald 1st élan") == "O'Brien Mc-Donald 1st Élan"


def test_trim_uses_go_whitespace() -> None:
    assert text.trim("\u00a0 hola \u3000") == "hola"
    assert text.trim("\x1chola\x1c") == "\x1chola\x1c"  # Python would strip these; Go does not


def test_fold_removes_accents() -> None:
    assert text.fold("sí") == "si"
    assert text.fold("ñandú") == "nandu"
    assert text.fold("si\u0301") == "si"
    assert text.fold("plain") == "plain"


def test_unicode_ranges_are_complete_and_disjoint() -> None:
    letters = unicode.category_ranges("L")
    assert all(a <= b for a, b in letters)
    assert all(letters[i][1] + 1 < letters[i + 1][0] for i in range(len(letters) - 1))
    everything = unicode.merge(
        r for name in ("C", "L", "M", "N", "P", "S", "Z") for r in unicode.category_ranges(name)
    )
    assert everything == [(0, 0x10FFFF)]
    assert unicode.complement([(0, 0x10FFFF)]) == []


# --- numbers --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("12", "12"),
        (" -1.5 ", "-1.5"),
        (".5", "0.5"),
        ("1,5", None),
        ("1e5", None),
        ("NaN", None),
        ("", None),
    ],
)
def test_parse_strict(value: str, parsed: str | None) -> None:
    assert numbers.parse_strict(value) == (Decimal(parsed) if parsed else None)


@pytest.mark.parametrize(
    ("value", "grouping", "decimal", "found"),
    [
        ("1234", ",", ".", ["1234"]),
        ("1,234.567", ",", ".", ["1234.567"]),
        ("1.234,567", ".", ",", ["1234.567"]),
        (" .1234", ",", ".", ["0.1234"]),
        ("100.00", ",", ".", ["100.00"]),
        ("1 y 2 y 3", ",", ".", ["1", "2", "3"]),
        ("-5 y +7", ",", ".", ["-5", "7"]),
        ("۱۳۷۹ y ২০০১", ",", ".", ["1379", "2001"]),
        ("½ ²", ",", ".", []),
        (",,,", ",", ".", []),
    ],
)
def test_find_numbers(value: str, grouping: str, decimal: str, found: list[str]) -> None:
    assert list(numbers.find_numbers(value, grouping, decimal)) == [Decimal(f) for f in found]


def test_number_rendering_and_formatting() -> None:
    assert numbers.render(Decimal("100.00")) == "100"
    assert numbers.render(Decimal("-0.50")) == "-0.5"
    assert numbers.render(Decimal("1E+5")) == "100000"
    assert numbers.format_number(Decimal("-1234567.891"), 2, True, ",", ".") == "-1,234,567.89"
    assert numbers.format_number(Decimal("1234.5"), None, True, ".", ",") == "1.234,5"
    assert numbers.format_number(Decimal("999"), 0, True, ",", ".") == "999"


def test_number_limits() -> None:
    assert numbers.divide(Decimal(1), Decimal(3)) == Decimal("0.3333333333333333")
    with pytest.raises(numbers.NumberError):
        numbers.divide(Decimal(1), Decimal(0))
    with pytest.raises(numbers.NumberError):
        numbers.power(Decimal(10), Decimal(5000))
    with pytest.raises(numbers.NumberError):
        numbers.power(Decimal(-8), Decimal("0.5"))
    with pytest.raises(numbers.NumberError):
        numbers.to_int(Decimal(2**31))
    assert numbers.to_int(Decimal("-7.9")) == -7


# --- dates ------------------------------------------------------------------------------------------------------

LA = "America/Los_Angeles"


@pytest.mark.parametrize(
    ("date_format", "timezone", "fill", "value", "expected"),
    [
        ("DD-MM-YYYY", "UTC", False, "01-02-2001", "2001-02-01T00:00:00+00:00"),
        ("DD-MM-YYYY", "UTC", False, "date is 01.02.2001 yes", "2001-02-01T00:00:00+00:00"),
        ("DD-MM-YYYY", "UTC", False, "date is 1-2-99 yes", "1999-02-01T00:00:00+00:00"),
        ("DD-MM-YYYY", "UTC", False, "01/02/2001", "2001-02-01T00:00:00+00:00"),
        ("DD-MM-YYYY", "UTC", False, "2001-01-02T10:34:56Z", "2001-01-02T10:34:56+00:00"),
        ("DD-MM-YYYY", "UTC", False, "2001-01-02T10:34:56+02:00", "2001-01-02T10:34:56+02:00"),
        ("DD-MM-YYYY", "UTC", False, "2001-01-02", "2001-01-02T00:00:00+00:00"),
        ("DD-MM-YYYY", "UTC", True, "2001-01-02", "2001-01-02T13:36:30.123456+00:00"),
        ("DD-MM-YYYY", LA, True, "2001-01-02", "2001-01-02T06:36:30.123456-08:00"),
        ("DD-MM-YYYY", "UTC", False, " 2001-01-02 ", "2001-01-02T00:00:00+00:00"),
        ("DD-MM-YYYY", "UTC", False, "on 2001-01-02 ", None),
        ("DD-MM-YYYY", "UTC", False, "2001_01_02", None),
        ("DD-MM-YYYY", "UTC", False, "2001-1-2", None),
        ("MM-DD-YYYY", "UTC", False, "01-02-2001", "2001-01-02T00:00:00+00:00"),
        ("MM-DD-YYYY", "UTC", False, "2001-01-02", "2001-01-02T00:00:00+00:00"),
        ("MM-DD-YYYY", "UTC", False, "2001-1-2", None),
        ("YYYY-MM-DD", "UTC", False, "2001-02-01", "2001-02-01T00:00:00+00:00"),
        ("YYYY-MM-DD", "UTC", False, "99-02-01", "1999-02-01T00:00:00+00:00"),
        ("DD-MM-YYYY", LA, False, "01\\02\\2001", "2001-02-01T00:00:00-08:00"),
        ("DD-MM-YYYY", "UTC", True, "01-02-2001", "2001-02-01T13:36:30.123456+00:00"),
        ("DD-MM-YYYY", "UTC", True, "01-02-2001 04:23", "2001-02-01T04:23:00+00:00"),
        ("DD-MM-YYYY", "UTC", False, "33-01-2001", None),
        ("DD-MM-YYYY", "UTC", False, "01-13-2001", None),
        ("DD-MM-YYYY", "UTC", False, "01-01-99", "1999-01-01T00:00:00+00:00"),
        ("DD-MM-YYYY", "UTC", False, "01-01-16", "2016-01-01T00:00:00+00:00"),
        ("DD-MM-YYYY", "UTC", False, "01-01-16a", None),
        ("DD-MM-YYYY", "UTC", False, "2016-05-01T18:30:15-08:00", "2016-05-01T18:30:15-08:00"),
        ("DD-MM-YYYY", "UTC", False, "2016-05-01T18:30:15.250Z", "2016-05-01T18:30:15.250000+00:00"),
        (
            "DD-MM-YYYY",
            "UTC",
            False,
            "1977-06-23T08:34:00.000250500-07:00",
            "1977-06-23T08:34:00.000250-07:00",
        ),
        ("DD-MM-YYYY", "UTC", False, "2017-06-10T17:34-06:00", "2017-06-10T17:34:00-06:00"),
        ("YYYY-MM-DD", "UTC", False, "2001-02-01 03:15", "2001-02-01T03:15:00+00:00"),
        ("YYYY-MM-DD", "UTC", False, "2001-02-01 03:15pm", "2001-02-01T15:15:00+00:00"),
        ("YYYY-MM-DD", "UTC", False, "2001-02-01 03:15 AM", "2001-02-01T03:15:00+00:00"),
        ("YYYY-MM-DD", "UTC", False, "2001-02-01 03:15:34.123456", "2001-02-01T03:15:34.123456+00:00"),
    ],
)
def test_datetime_from_text(
    date_format: str, timezone: str, fill: bool, value: str, expected: str | None
) -> None:
    env = Environment(now=UTC_ENV.now, timezone=timezone, date_format=date_format)
    parsed = dates.parse_datetime_text(value, env, fill_time=fill)
    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None
        assert parsed == dt.datetime.fromisoformat(expected)
        assert parsed.utcoffset() == dt.datetime.fromisoformat(expected).utcoffset()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("it's 10 ok", dt.time(10)),
        ("it's 10 PM ok", dt.time(22)),
        ("it's 10:30 ok", dt.time(10, 30)),
        ("it's 10:30pm ok", dt.time(22, 30)),
        ("it's 10:30 pm ok", dt.time(22, 30)),
        ("it's 1030 ok", dt.time(10, 30)),
        ("it's 1030 PM ok", dt.time(22, 30)),
        ("it's 10:30:45 ok", dt.time(10, 30, 45)),
        ("it's 10:30:45.123 pm ok", dt.time(22, 30, 45, 123000)),
        ("it's 10:30:45.123456789 ok", dt.time(10, 30, 45, 123456)),
        ("it's 12:00 AM", dt.time(0)),
        ("it's 12pm", dt.time(12)),
        ("it's 10:30:45.123456789123456789 ok", dt.time(10, 30, 45, 123456)),
        ("it's 10:30:45.1 ok", dt.time(10, 30, 45, 100000)),
        ("it's 24:00 ok", dt.time(0)),
        ("it's 24:00:00 ok", dt.time(0)),
        ("it's ok", None),
        ("it's 25:30", None),
        ("it's 10:61", None),
        ("it's 10:30:61", None),
    ],
)
def test_time_from_text(value: str, expected: dt.time | None) -> None:
    assert dates.parse_time_text(value) == expected


def test_layouts() -> None:
    moment = dt.datetime(2006, 1, 2, 15, 4, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    layout = "EEE EEEE MMM MMMM AA aa YY-M-D h:m:s t tt:mm:ss.fff Z ZZZ"
    assert dates.format_layout(moment, layout, dates.DATETIME_MODE, "en_US") == (
        "Mon Monday Jan January PM pm 06-1-2 3:4:5 15 15:04:05.123 -07:00 -07:00"
    )
    assert dates.format_layout(moment, "EEE EEEE MMM MMMM", dates.DATE_MODE, "es_MX") == "lun lunes ene enero"
    assert dates.check_layout("YYY-MM-DD", dates.DATETIME_MODE) == "'YYY' is not valid in a datetime format"
    assert dates.check_layout("tt:mm:ss A", dates.DATETIME_MODE) == "'A' is not valid in a datetime format"
    assert dates.check_layout("2006-01-02", dates.DATE_MODE) == "'2' is not valid in a date format"
    assert dates.check_layout("DD/MM/YYYY", dates.DATE_MODE) is None
    tz = ZoneInfo("America/Mexico_City")
    assert dates.parse_layout("7/3/27 9:05 am", "D/M/YY h:mm aa", dates.DATETIME_MODE, tz) == dt.datetime(
        2027, 3, 7, 9, 5, tzinfo=tz
    )
    assert dates.parse_layout("2027-03-07T09:05:00.5Z", "YYYY-MM-DDTtt:mm:ssZ", dates.DATETIME_MODE, tz) == (
        dt.datetime(2027, 3, 7, 9, 5, 0, 500000, tzinfo=dt.UTC)
    )
    for bad in ("31/02/2027", "7/3/27 13:05 pm"):
        with pytest.raises(dates.LayoutError):
            dates.parse_layout(
                bad, "DD/MM/YYYY" if "/2027" in bad else "D/M/YY h:mm aa", dates.DATETIME_MODE, tz
            )


def test_week_numbers_and_calendar_arithmetic() -> None:
    assert dates.week_number(dt.date(2019, 1, 1)) == 1
    assert dates.week_number(dt.date(2019, 12, 31)) == 53
    assert dates.make_date(2027, 14, 1) == dt.date(2028, 2, 1)
    assert dates.make_date(9999, 12, 32) is None
    tz = ZoneInfo("America/Tijuana")
    before_dst = dt.datetime(2027, 3, 13, 2, 30, tzinfo=tz)
    moved = dates.add_calendar(before_dst, days=1)  # 2:30 on 14 March does not exist in Tijuana
    assert moved is not None
    assert moved.astimezone(dt.UTC) == dt.datetime(2027, 3, 14, 10, 30, tzinfo=dt.UTC)


# --- Go patterns -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "match"),
    [
        (r"\d+", "abc ٣٤ 56", "56"),  # \d is ASCII in Go
        (r"\w+", "José", "Jos"),
        (r"\bsi\b", "sí si", "si"),
        (r"\pL+", "José", "José"),
        (r"\p{Lu}", "abcD", "a"),  # case-insensitive, so any letter matches: RapidPro adds (?i)
        (r"[[:digit:]]+", "a12", "12"),
        (r"[^[:alpha:]]+", "ab12cd", "12"),
        (r"\Qa.b\E", "axb a.b", "a.b"),
        (r"a\z", "a\n", None),
        (r"(?i)SI|NO", "no", "no"),
        (r"x(?-i:A)", "xa xA", "xA"),
        (r"(?<y>\d{4})", "año 2027", "2027"),
        (r"a{2,3}", "aaaa", "aaa"),
        (r"[\d\s]+", "12 34x", "12 34"),
        (r"\x{41}", "a", "a"),
    ],
)
def test_go_patterns(pattern: str, value: str, match: str | None) -> None:
    found = regex.search(pattern, value)
    assert (found.group() if found else None) == match


@pytest.mark.parametrize(
    "pattern",
    [
        r"(a)\1",
        "(?=a)",
        "(?<=a)b",
        "(?!a)",
        "(?>a)",
        "a*+",
        "a{1001}",
        "(a+)+",
        "(a|ab)*",
        "(?U)a",
        r"\pX",
        "[",
        "a)",
    ],
)
def test_refused_patterns(pattern: str) -> None:
    with pytest.raises(regex.PatternError):
        regex.compile_pattern(pattern)


def test_patterns_only_see_the_start_of_very_long_text() -> None:
    assert regex.search("x", "a" * regex.MAX_TEXT + "x") is None


# --- conversions ------------------------------------------------------------------------------------------------


def test_conversions() -> None:
    env = UTC_ENV
    assert convert.to_number(" 12 ", env) == Decimal(12)
    assert convert.to_number(True, env) == XError("unable to convert true to a number")
    assert convert.to_number({"__default__": "3"}, env) == Decimal(3)
    assert convert.to_bool("FALSE", env) is False
    assert convert.to_bool([], env) is False
    assert convert.to_bool({"__default__": False, "match": "x"}, env) is False
    assert convert.to_bool(dt.time(), env) is False
    assert convert.to_time(Decimal(7), env) == dt.time(7)
    assert convert.to_time(Decimal(24), env) == dt.time()
    assert convert.to_time(Decimal(25), env) == XError("unable to convert 25 to a time")
    assert convert.to_date(
        dt.datetime(2027, 3, 1, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-6))), env
    ) == (dt.date(2027, 3, 2))
    assert convert.to_array("x") == XError('unable to convert "x" to an array')
    assert convert.to_object(None) == {}
    assert convert.describe('a"b') == '"a\\"b"'
    assert convert.equals(Decimal("1.0"), 1, env)
    assert not convert.equals("1", 1, env)
    assert convert.equals({"a": [1]}, {"a": [Decimal(1)]}, env)
    assert convert.compare("b", "a", env) == 1
    assert convert.compare(1, "a", env) == XError('can\'t compare 1 and "a"')


def test_json_round_trip() -> None:
    env = UTC_ENV
    parsed = convert.from_json('{"b": [1, 2.50, true, null], "a": "x\u2028"}')
    assert parsed == {"b": [Decimal(1), Decimal("2.50"), True, None], "a": "x\u2028"}
    assert convert.to_json(parsed, env) == '{"a":"x\\u2028","b":[1,2.5,true,null]}'
    assert convert.to_json(XError("e"), env) == XError("e")
    assert isinstance(convert.from_json("[" * 100 + "]" * 100), XError)
    assert isinstance(convert.from_json("[" * 5000 + "]" * 5000), XError)
    assert isinstance(convert.from_json("1" * 5000), Decimal)


@pytest.mark.parametrize("name", ["America", "x" * 5000, "../etc/passwd", ""])
def test_a_name_that_is_no_timezone_is_a_value_error(name: str) -> None:
    from flows.env import zone

    with pytest.raises(ValueError, match="unknown timezone"):
        zone(name)
