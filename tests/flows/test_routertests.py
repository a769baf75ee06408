"""Router tests against RapidPro's own table of cases (goflow ``flows/routers/cases/tests_test.go``, run in
its environment: Kigali time, day-first dates, Rwanda as default country), then the cases a Mexican programme
meets: accents, numbers inside words, day-first dates with two-digit years, Mexican phone numbers, emoji and
empty replies."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from flows import routertests
from flows.env import Environment
from flows.routertests import KNOWN_TESTS, TestResult, run_test
from flows.values.convert import XError

ERROR = object()
NO_MATCH = None

KIGALI = ZoneInfo("Africa/Kigali")


def kigali_env() -> Environment:
    return Environment(
        now=dt.datetime(2018, 4, 11, 13, 24, 30, 123456, tzinfo=dt.UTC),
        timezone="Africa/Kigali",
        date_format="DD-MM-YYYY",
        time_format="tt:mm:ss",
        default_country="RW",
    )


def mexico_env(**overrides: object) -> Environment:
    settings: dict[str, object] = {"now": dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.UTC)}
    settings.update(overrides)
    return Environment(**settings)  # type: ignore[arg-type]


def kgl(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=KIGALI)  # type: ignore[misc]


RESULT = {
    "name": "Response 1",
    "value": "hi",
    "category": "Other",
    "input": "hello",
    "node_uuid": "0faca870-aca4-469d-89e2-a70df468ac68",
    "created_on": "2018-07-06T12:30:06.123456789Z",
}

# (test, [operand, *arguments], expected match | NO_MATCH | ERROR)
GOFLOW_CASES: list[tuple[str, list[object], object]] = [
    ("has_error", ["hello"], NO_MATCH),
    ("has_error", [None], NO_MATCH),
    ("has_error", [XError("I am error")], "I am error"),
    ("has_error", [], ERROR),
    ("has_text", ["hello"], "hello"),
    ("has_text", ["  "], NO_MATCH),
    ("has_text", [None], NO_MATCH),
    ("has_text", ["one", "two"], ERROR),
    ("has_text", [XError("x")], ERROR),
    ("has_only_text", ["foo", "foo"], "foo"),
    ("has_only_text", ["foo", "FOO"], NO_MATCH),
    ("has_only_text", ["foo", " foo "], NO_MATCH),
    ("has_only_text", ["foo"], ERROR),
    ("has_beginning", ["hello", "hell"], "hell"),
    ("has_beginning", ["  HelloThere", "hello"], "Hello"),
    ("has_beginning", ["one", "two", "three"], ERROR),
    ("has_beginning", [None, "hell"], NO_MATCH),
    ("has_beginning", ["hello", None], NO_MATCH),
    ("has_beginning", ["", "hello"], NO_MATCH),
    ("has_beginning", ["hel", "hello"], NO_MATCH),
    ("has_beginning", [XError("x"), XError("x")], ERROR),
    ("has_beginning", [], ERROR),
    ("has_any_word", ["this.is.my.word", "WORD word2 word"], "word"),
    ("has_any_word", ["this.is.my.βήτα", "βήτα"], "βήτα"),
    ("has_any_word", ["I say to you📴", "📴"], "📴"),
    ("has_any_word", ["this World too", "world"], "World"),
    ("has_any_word", ["I don't like it", "don't dont"], "don't"),
    ("has_any_word", ["BUT not this one", "world"], NO_MATCH),
    ("has_any_word", ["", "world"], NO_MATCH),
    ("has_any_word", ["world", "foo"], NO_MATCH),
    ("has_any_word", ["one", "two", "three"], ERROR),
    ("has_any_word", ["but foo", None], NO_MATCH),
    ("has_any_word", [None, "but foo"], NO_MATCH),
    ("has_any_word", [], ERROR),
    ("has_all_words", ["this.is.my.word", "WORD word"], "word"),
    ("has_all_words", ["this World too", "world too"], "World too"),
    ("has_all_words", ["BUT not this one", "world"], NO_MATCH),
    ("has_all_words", ["one", "two", "three"], ERROR),
    ("has_all_words", [], ERROR),
    ("has_phrase", ["you Must resist", "must resist"], "Must resist"),
    ("has_phrase", ["this world Too", "world too"], "world Too"),
    ("has_phrase", ["this world Too", ""], ""),
    ("has_phrase", ["this is not world", "this world"], NO_MATCH),
    ("has_phrase", ["one", "two", "three"], ERROR),
    ("has_phrase", [], ERROR),
    ("has_only_phrase", ["Must resist", "must resist"], "Must resist"),
    ("has_only_phrase", [" world Too ", "world too"], "world Too"),
    ("has_only_phrase", ["this world Too", ""], NO_MATCH),
    ("has_only_phrase", ["", ""], ""),
    ("has_only_phrase", ["this world is my world", "this world"], NO_MATCH),
    ("has_only_phrase", ["this world", "this mighty"], NO_MATCH),
    ("has_only_phrase", ["one", "two", "three"], ERROR),
    ("has_only_phrase", [], ERROR),
    ("has_beginning", ["Must resist", "must resist"], "Must resist"),
    ("has_beginning", [" 2061212", "206"], "206"),
    ("has_beginning", [" world Too foo", "world too"], "world Too"),
    ("has_beginning", ["but this world", "this world"], NO_MATCH),
    ("has_pattern", ["<html>x</html>", r"<\w+>"], "<html>"),
    ("has_pattern", ["<html>x</html>", "HTML"], "html"),
    ("has_pattern", ["<html>x</html>", "(?-i)HTML"], NO_MATCH),
    ("has_pattern", ["12345", r"\A\d{5}\z"], "12345"),
    ("has_pattern", ["12345 ", r"\A\d{5}\z"], NO_MATCH),
    ("has_pattern", [" 12345", r"\A\d{5}\z"], NO_MATCH),
    ("has_pattern", ["hi there 😀", "[\U0001f600-\U0001f64f]"], "😀"),
    ("has_pattern", ["hi there", "[\U0001f600-\U0001f64f]"], NO_MATCH),
    ("has_pattern", ["hi there 😂", "[😀-🙏]"], "😂"),
    ("has_pattern", ["<html>x</html>", "["], ERROR),
    ("has_pattern", [], ERROR),
    ("has_number", ["the number 10"], Decimal("10")),
    ("has_number", ["the number -10"], Decimal("-10")),
    ("has_number", ["1-15"], Decimal("1")),
    ("has_number", ["24ans"], Decimal("24")),
    ("has_number", ["J'AI 20ANS"], Decimal("20")),
    ("has_number", ["1,000,000"], Decimal("1000000")),
    ("has_number", ["O número é 500"], Decimal("500")),
    ("has_number", ["another is -12.51"], Decimal("-12.51")),
    ("has_number", ["hi.51"], Decimal("51")),
    ("has_number", ["hi .51"], Decimal("0.51")),
    ("has_number", [".51"], Decimal("0.51")),
    ("has_number", ["nothing here"], NO_MATCH),
    ("has_number", ["lOO"], NO_MATCH),
    ("has_number", ["one", "two", "three"], ERROR),
    ("has_number", [], ERROR),
    ("has_number_lt", ["the number 10", "11"], Decimal("10")),
    ("has_number_lt", ["another is -12.51", "12"], Decimal("-12.51")),
    ("has_number_lt", ["nothing here", "12"], NO_MATCH),
    ("has_number_lt", ["too big 15", "12"], NO_MATCH),
    ("has_number_lt", ["one", "two", "three"], ERROR),
    ("has_number_lt", ["but foo", {"__default__": False, "match": ""}], ERROR),
    ("has_number_lt", [None, "but foo"], ERROR),
    ("has_number_lt", [], ERROR),
    ("has_number_lte", ["the number 10", "11"], Decimal("10")),
    ("has_number_lte", ["another is -12.51", "12"], Decimal("-12.51")),
    ("has_number_lte", ["nothing here", "12"], NO_MATCH),
    ("has_number_lte", ["too big 15", "12"], NO_MATCH),
    ("has_number_lte", ["one", "two", "three"], ERROR),
    ("has_number_lte", [], ERROR),
    ("has_number_eq", ["the number 10", "10"], Decimal("10")),
    ("has_number_eq", ["another is -12.51", "-12.51"], Decimal("-12.51")),
    ("has_number_eq", ["nothing here", "12"], NO_MATCH),
    ("has_number_eq", ["wrong .51", ".61"], NO_MATCH),
    ("has_number_eq", ["one", "two", "three"], ERROR),
    ("has_number_eq", [], ERROR),
    ("has_number_gte", ["the number 10", "9"], Decimal("10")),
    ("has_number_gte", ["another is -12.51", "-13"], Decimal("-12.51")),
    ("has_number_gte", ["nothing here", "12"], NO_MATCH),
    ("has_number_gte", ["too small -12", "-11"], NO_MATCH),
    ("has_number_gte", ["one", "two", "three"], ERROR),
    ("has_number_gte", [], ERROR),
    ("has_number_gt", ["the number 10", "9"], Decimal("10")),
    ("has_number_gt", ["another is -12.51", "-13"], Decimal("-12.51")),
    ("has_number_gt", ["nothing here", "12"], NO_MATCH),
    ("has_number_gt", ["not great -12.51", "-12.51"], NO_MATCH),
    ("has_number_gt", ["one", "two", "three"], ERROR),
    ("has_number_gt", [], ERROR),
    ("has_number_between", ["the number 10", "8", "12"], Decimal("10")),
    ("has_number_between", ["24ans", Decimal("20"), Decimal("24")], Decimal("24")),
    ("has_number_between", ["another is -12.51", "-12.51", "-10"], Decimal("-12.51")),
    ("has_number_between", ["nothing here", "10", "15"], NO_MATCH),
    ("has_number_between", ["one", "two"], ERROR),
    ("has_number_between", ["but foo", None, "10"], ERROR),
    ("has_number_between", [None, "but foo", "10"], ERROR),
    ("has_number_between", ["a string", "10", "not number"], ERROR),
    ("has_number_between", [], ERROR),
    ("has_date", ["last date was 1.10.2017"], kgl(2017, 10, 1, 15, 24, 30, 123456)),
    ("has_date", ["last date was 1.10.99"], kgl(1999, 10, 1, 15, 24, 30, 123456)),
    ("has_date", ["this isn't a valid date 33.2.99"], NO_MATCH),
    ("has_date", ["no date at all"], NO_MATCH),
    ("has_date", ["too", "many", "args"], ERROR),
    ("has_date", [], ERROR),
    ("has_date_lt", ["last date was 1.10.2017", "3.10.2017"], kgl(2017, 10, 1, 15, 24, 30, 123456)),
    ("has_date_lt", ["last date was 1.10.99", "3.10.98"], NO_MATCH),
    ("has_date_lt", ["no date at all", "3.10.98"], NO_MATCH),
    ("has_date_lt", ["too", "many", "args"], ERROR),
    ("has_date_lt", ["last date was 1.10.2017", None], ERROR),
    ("has_date_lt", [None, "but foo"], ERROR),
    ("has_date_lt", [], ERROR),
    ("has_date_eq", ["last date was 1.10.2017", "1.10.2017"], kgl(2017, 10, 1, 15, 24, 30, 123456)),
    ("has_date_eq", ["last date was 1.10.99", "3.10.98"], NO_MATCH),
    ("has_date_eq", ["2017-10-01T23:55:55.123456+02:00", "1.10.2017"], kgl(2017, 10, 1, 23, 55, 55, 123456)),
    ("has_date_eq", ["2017-10-01T23:55:55.123456+01:00", "1.10.2017"], NO_MATCH),
    ("has_date_eq", ["no date at all", "3.10.98"], NO_MATCH),
    ("has_date_eq", ["too", "many", "args"], ERROR),
    ("has_date_eq", [], ERROR),
    ("has_date_gt", ["last date was 1.10.2017", "3.10.2016"], kgl(2017, 10, 1, 15, 24, 30, 123456)),
    ("has_date_gt", ["last date was 1.10.99", "3.10.01"], NO_MATCH),
    ("has_date_gt", ["no date at all", "3.10.98"], NO_MATCH),
    ("has_date_gt", ["too", "many", "args"], ERROR),
    ("has_date_gt", [], ERROR),
    ("has_time", ["last time was 10:30"], dt.time(10, 30)),
    ("has_time", ["this isn't a valid time 59:77"], NO_MATCH),
    ("has_time", ["no time at all"], NO_MATCH),
    ("has_time", ["too", "many", "args"], ERROR),
    ("has_time", [], ERROR),
    ("has_email", ["my email is foo@bar.com."], "foo@bar.com"),
    ("has_email", ["my email is <foo~$1+spam@bar-2.com>"], "foo~$1+spam@bar-2.com"),
    ("has_email", ["FOO@bar.whatzit"], "FOO@bar.whatzit"),
    ("has_email", ["FOO@βήτα.whatzit"], "FOO@βήτα.whatzit"),
    ("has_email", ["email is foo @ bar . com"], NO_MATCH),
    ("has_email", ["email is foo@bar"], NO_MATCH),
    ("has_email", [None], NO_MATCH),
    ("has_email", ["too", "many", "args"], ERROR),
    ("has_email", [], ERROR),
    ("has_phone", ["my number is 0788123123", "RW"], "+250788123123"),
    ("has_phone", ["my number is none of your business", "US"], NO_MATCH),
    ("has_phone", [XError("x")], ERROR),
    ("has_phone", ["3245", XError("x")], ERROR),
    ("has_phone", ["number", None], NO_MATCH),
    ("has_phone", ["too", "many", "args"], ERROR),
    ("has_phone", [], ERROR),
    (
        "has_group",
        [
            [{"uuid": "group-uuid-1", "name": "Testers"}, {"uuid": "group-uuid-2", "name": "Customers"}],
            "group-uuid-2",
        ],
        {"uuid": "group-uuid-2", "name": "Customers"},
    ),
    ("has_group", [[XError("x")], "group-uuid-2"], ERROR),
    ("has_group", [[], "group-uuid-1"], NO_MATCH),
    ("has_group", [XError("x"), "group-uuid-1"], ERROR),
    ("has_group", [[], XError("x")], ERROR),
    ("has_group", [], ERROR),
    ("has_category", [RESULT, "Chicken", "Other"], "Other"),
    ("has_category", [{**RESULT, "category": "All Responses"}, "Chicken"], NO_MATCH),
    ("has_category", [{}, "Chicken"], ERROR),
    ("has_value", ["hello"], "hello"),
    ("has_value", [""], NO_MATCH),
]


def check(outcome: object, expected: object) -> None:
    if expected is ERROR:
        assert isinstance(outcome, XError)
    elif expected is NO_MATCH:
        assert outcome is None
    else:
        assert isinstance(outcome, TestResult)
        assert outcome.match == expected
        if isinstance(expected, dt.datetime):
            assert outcome.match.utcoffset() == expected.utcoffset()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "args", "expected"), GOFLOW_CASES, ids=[f"{c[0]}{c[1]!r}" for c in GOFLOW_CASES]
)
def test_goflow_cases(name: str, args: list[object], expected: object) -> None:
    env = kigali_env()
    outcome = run_test(name, args[0], args[1:], env) if args else routertests.test_function(name)(env, [])
    check(outcome, expected)


@pytest.mark.parametrize(
    ("text", "country", "expected"),
    [
        ("+250788123123", None, "+250788123123"),
        ("+593979111111", None, "+593979111111"),
        ("0788123123", None, "+250788123123"),
        ("0788123123", "RW", "+250788123123"),
        ("+250788123123", "RW", "+250788123123"),
        ("+12065551212", "RW", "+12065551212"),
        ("12065551212", "US", "+12065551212"),
        ("206 555 1212", "US", "+12065551212"),
        ("0815 1053 7962", "ID", "+6281510537962"),
        ("0811-1005-611", "ID", "+628111005611"),
        ("10000", "US", NO_MATCH),
        ("12067799294", "BW", NO_MATCH),
        ("oioas812111", "US", NO_MATCH),
    ],
)
def test_has_phone_goflow(text: str, country: str | None, expected: object) -> None:
    args = [country] if country else []
    check(run_test("has_phone", f"my number is {text}", args, kigali_env()), expected)


# --- a Mexican programme ------------------------------------------------------------------------------------

MEXICO_CASES: list[tuple[str, str, list[object], object]] = [
    # RapidPro compares words lower-cased but keeps accents: "sí" is not "si"
    ("accents differ", "has_any_word", ["Sí", "si"], NO_MATCH),
    ("accents listed", "has_any_word", ["Sí, claro", "si sí yes"], "Sí"),
    ("upper-case accent", "has_any_word", ["SÍ", "sí"], "SÍ"),
    ("ñ is a letter", "has_any_word", ["el niño", "nino"], NO_MATCH),
    ("word inside punctuation", "has_any_word", ["¿Sí?", "sí"], "Sí"),
    ("apostrophe joins", "has_any_word", ["don't", "don"], NO_MATCH),
    ("emoji are words", "has_any_word", ["👍👍 gracias", "👍"], "👍 👍"),
    ("emoji glued to a word", "has_any_word", ["gracias👍", "gracias"], "gracias"),
    ("empty reply", "has_any_word", ["", "si"], NO_MATCH),
    ("only spaces", "has_text", [" \t\n "], NO_MATCH),
    ("non-breaking space is space", "has_text", ["\u00a0hola\u00a0"], "hola"),
    ("all words any order", "has_all_words", ["mañana por la tarde", "tarde mañana"], "mañana tarde"),
    ("phrase in order", "has_phrase", ["quiero mi cita mañana", "mi cita"], "mi cita"),
    ("phrase restart quirk", "has_phrase", ["a a b", "a b"], NO_MATCH),
    ("only phrase", "has_only_phrase", ["  Alta  ", "alta"], "Alta"),
    ("beginning is a raw prefix", "has_beginning", ["ALTAS", "alta"], "ALTA"),
    ("beginning with accents", "has_beginning", ["Éxito total", "éxito"], "Éxito"),
    # numbers
    ("number inside a word", "has_number", ["abc123def"], Decimal("123")),
    ("weeks", "has_number", ["tengo 24semanas"], Decimal("24")),
    ("comma groups in Mexico", "has_number", ["1,5"], Decimal("15")),
    ("thousands", "has_number", ["pesé 3,250 gramos"], Decimal("3250")),
    ("decimal point", "has_number", ["pesa 3.25 kg"], Decimal("3.25")),
    ("Arabic-Indic digits", "has_number", ["٣٤"], Decimal("34")),
    ("first number that passes", "has_number_gt", ["1 de 12", "5"], Decimal("12")),
    ("between inclusive", "has_number_between", ["10", "1", "10"], Decimal("10")),
    ("no number", "has_number", ["ninguno"], NO_MATCH),
    ("fraction sign is not a number", "has_number", ["½"], NO_MATCH),
    # dates: day first, two-digit years, separators
    ("day first", "has_date", ["nací el 15/03/1990"], "1990-03-15"),
    ("dashes", "has_date", ["3-4-2027"], "2027-04-03"),
    ("two-digit year this century", "has_date", ["15/03/27"], "2027-03-15"),
    ("two-digit year last century", "has_date", ["15/03/90"], "1990-03-15"),
    ("dots", "has_date", ["01.10.2027"], "2027-10-01"),
    ("ISO", "has_date", ["2027-10-01"], "2027-10-01"),
    ("31 February carries over", "has_date", ["31/02/2027"], "2027-03-03"),
    ("month 13 is no date", "has_date", ["01/13/2027"], NO_MATCH),
    ("month names are not read", "has_date", ["15 de marzo de 2027"], NO_MATCH),
    ("before a date", "has_date_lt", ["01/02/2027", "2027-03-01"], "2027-02-01"),
    ("after a date", "has_date_gt", ["01/02/2027", "2027-03-01"], NO_MATCH),
    # times
    ("24-hour", "has_time", ["a las 16:45"], dt.time(16, 45)),
    ("pm", "has_time", ["a las 10 PM"], dt.time(22)),
    ("pm glued", "has_time", ["10:30pm"], dt.time(22, 30)),
    ("dot is not a separator", "has_time", ["10.30pm"], dt.time(10)),
    ("four digits", "has_time", ["1030"], dt.time(10, 30)),
    ("midnight as 24", "has_time", ["24:00"], dt.time(0)),
    ("out of range", "has_time", ["25:30"], NO_MATCH),
    # phones
    ("local ten digits", "has_phone", ["mi número es 55 1234 5678"], "+525512345678"),
    ("legacy mobile prefix", "has_phone", ["044 55 1234 5678"], "+525512345678"),
    ("international", "has_phone", ["+52 1 55 1234 5678"], "+525512345678"),
    ("too short", "has_phone", ["12345"], NO_MATCH),
    # email
    ("email with accents", "has_email", ["escribe a maría@clínica.mx"], "maría@clínica.mx"),
    ("second email", "has_email", ["@ nada, luego ana@x.org"], "ana@x.org"),
    # patterns
    ("pattern is case-insensitive", "has_pattern", ["CURP: ABCD", r"curp: (\w+)"], "CURP: ABCD"),
    ("pattern multi-line", "has_pattern", ["hola\nalta", "^alta$"], "alta"),
    ("nested repetition refused", "has_pattern", ["aaaa", "(a+)+$"], ERROR),
    ("backreference refused", "has_pattern", ["aa", r"(a)\1"], ERROR),
    ("lookahead refused", "has_pattern", ["ab", "a(?=b)"], ERROR),
    ("unicode class", "has_pattern", ["José", r"^\pL+$"], "José"),
    ("ASCII word class", "has_pattern", ["José", r"^\w+$"], NO_MATCH),
]


def _date_of(value: object) -> object:
    return value.date().isoformat() if isinstance(value, dt.datetime) else value


@pytest.mark.parametrize(
    ("label", "name", "args", "expected"), MEXICO_CASES, ids=[c[0] for c in MEXICO_CASES]
)
def test_mexican_replies(label: str, name: str, args: list[object], expected: object) -> None:
    outcome = run_test(name, args[0], args[1:], mexico_env())
    if isinstance(outcome, TestResult) and isinstance(expected, str) and name.startswith("has_date"):
        outcome = TestResult(_date_of(outcome.match))
    check(outcome, expected)


def test_has_date_fills_the_current_time_in_the_programme_timezone() -> None:
    outcome = run_test("has_date", "15/03/2027", [], mexico_env())
    assert isinstance(outcome, TestResult)
    assert outcome.match == dt.datetime(2027, 3, 15, 9, 0, tzinfo=ZoneInfo("America/Mexico_City"))


def test_two_digit_years_follow_the_current_year() -> None:
    env = mexico_env(now=dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
    assert run_test("has_date", "01/01/30", [], env) == TestResult(
        dt.datetime(2030, 1, 1, 18, 0, tzinfo=ZoneInfo("America/Mexico_City"))
    )


def test_decimal_comma_environment() -> None:
    env = mexico_env(decimal_symbol=",", digit_grouping_symbol=".")
    assert run_test("has_number", "1,5", [], env) == TestResult(Decimal("1.5"))
    assert run_test("has_number", "1.000", [], env) == TestResult(Decimal("1000"))


def test_has_pattern_groups_are_extra() -> None:
    outcome = run_test("has_pattern", "mi CURP es ABC123", [r"curp es (\w+)(x)?"], mexico_env())
    assert outcome == TestResult("CURP es ABC123", {"0": "CURP es ABC123", "1": "ABC123", "2": ""})


@pytest.mark.parametrize(
    ("name", "text", "argument", "expected"),
    [
        ("has_any_word", "Sí, claro", "si", "Sí"),
        ("has_any_word", "SI", "sí", "SI"),
        ("has_any_word", "el niño", "nino", "niño"),
        ("has_all_words", "Mañana por la tarde", "manana tarde", "Mañana tarde"),
        ("has_phrase", "mi próxima cita", "proxima cita", "próxima cita"),
        ("has_only_phrase", "Sí acepto", "si acepto", "Sí acepto"),
        ("has_beginning", "Éxito total", "exito", "Éxito"),
        ("has_beginning", "exito total", "éxito", "exito"),
        ("has_beginning", "ex", "éxito", NO_MATCH),
        ("has_only_text", "sí", "si", NO_MATCH),  # exact comparison, never folded
    ],
)
def test_accent_insensitive_matching(name: str, text: str, argument: str, expected: object) -> None:
    assert run_test(name, text, [argument], mexico_env()) is None  # RapidPro's own matching keeps accents
    check(run_test(name, text, [argument], mexico_env(), accent_insensitive=True), expected)


def test_unknown_test_is_an_error() -> None:
    outcome = run_test("has_state", "Kigali", [], mexico_env())
    assert isinstance(outcome, XError)
    assert "has_state" in outcome.message


def test_errors_name_the_test() -> None:
    outcome = run_test("has_number_lt", "10", ["foo"], mexico_env())
    assert outcome == XError('error calling HAS_NUMBER_LT: unable to convert "foo" to a number')


def test_known_tests() -> None:
    assert {case[0] for case in GOFLOW_CASES} == KNOWN_TESTS
    assert "has_state" not in KNOWN_TESTS


@pytest.mark.parametrize(
    ("name", "arity"),
    [
        ("has_text", (0, 0)),
        ("has_any_word", (1, 1)),
        ("has_number_between", (2, 2)),
        ("has_phone", (0, 1)),
        ("has_category", (1, None)),
        ("has_dance", None),
    ],
)
def test_case_arity_counts_the_values_after_the_operand(name: str, arity: object) -> None:
    from flows.routertests import case_arity

    assert case_arity(name) == arity
