"""Router case tests with RapidPro's semantics (goflow ``flows/routers/cases/tests.go``).

A switch router runs ``run_test(case.test, operand, case.arguments, env)`` for each case in order and takes the
first that returns a ``TestResult``; its ``match`` becomes the result's value. ``None`` means no match and an
``XError`` means the case could not be tested (the arguments are wrong), which the engine reports.

Text tests compare words after lower-casing, without folding accents (``sí`` is not ``si``), exactly as
RapidPro does; flows that opt in pass ``accent_insensitive=True`` to compare without accents. Every test is
also an expression function (``@(has_number(input.text))``), registered by ``flows.excellent``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

from flows.env import Environment
from flows.phones import InvalidPhoneNumber, normalise_phone
from flows.values import text, unicode
from flows.values.convert import (
    XError,
    arity_problem,
    call_error,
    get_property,
    to_array,
    to_datetime,
    to_number,
    to_object,
    to_text,
    to_time,
)
from flows.values.numbers import find_numbers
from flows.values.regex import PatternError
from flows.values.regex import search as regex_search


@dataclass(frozen=True)
class TestResult:
    """A matching case: ``match`` is what the result records as its value; ``extra`` holds e.g. regex groups."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    match: object
    extra: Mapping[str, object] = field(default_factory=dict)


Outcome = TestResult | None | XError


@dataclass(frozen=True)
class _Test:
    run: Callable[[Environment, Sequence[object], bool], Outcome]
    min_args: int  # counting the operand
    max_args: int | None  # None: no limit


def run_test(
    name: str,
    operand: object,
    arguments: Sequence[object],
    env: Environment,
    *,
    accent_insensitive: bool = False,
) -> Outcome:
    """Run the router test ``name`` on ``operand`` with the case's (already evaluated) ``arguments``."""
    test = _TESTS.get(name)
    if test is None:
        return XError(f"{name} is not a router test")
    return call(name, test, [operand, *arguments], env, accent_insensitive)


def call(name: str, test: _Test, args: Sequence[object], env: Environment, fold: bool) -> Outcome:
    problem = arity_problem(len(args), test.min_args, test.max_args)
    outcome = XError(problem) if problem else test.run(env, args, fold)
    return call_error(name, outcome) if isinstance(outcome, XError) else outcome


# --- errors and text --------------------------------------------------------------------------------------------


def _has_error(env: Environment, args: Sequence[object], fold: bool) -> Outcome:
    value = args[0]
    return TestResult(value.message) if isinstance(value, XError) else None


def _texts(env: Environment, args: Sequence[object]) -> list[str] | XError:
    texts = []
    for arg in args:
        converted = to_text(arg, env)
        if isinstance(converted, XError):
            return converted
        texts.append(converted)
    return texts


def _text_test(
    check: Callable[[Environment, list[str], bool], Outcome],
) -> Callable[[Environment, Sequence[object], bool], Outcome]:
    def run(env: Environment, args: Sequence[object], fold: bool) -> Outcome:
        texts = _texts(env, args)
        return texts if isinstance(texts, XError) else check(env, texts, fold)

    return run


def _has_text(env: Environment, texts: list[str], fold: bool) -> Outcome:
    trimmed = text.trim(texts[0])
    return TestResult(trimmed) if trimmed else None


def _has_only_text(env: Environment, texts: list[str], fold: bool) -> Outcome:
    return TestResult(texts[0]) if texts[0] == texts[1] else None


def _has_beginning(env: Environment, texts: list[str], fold: bool) -> Outcome:
    haystack, beginning = text.trim(texts[0]), text.trim(texts[1])
    if not haystack or not beginning:
        return None
    if fold:
        return _has_beginning_folded(haystack, beginning)
    # RapidPro compares the first len(beginning) bytes of the UTF-8 text.
    hay_bytes = haystack.encode("utf-8", "surrogatepass")
    size = len(beginning.encode("utf-8", "surrogatepass"))
    if len(hay_bytes) < size:
        return None
    try:
        segment = hay_bytes[:size].decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None  # the prefix ends inside a character, so it cannot equal the beginning
    return TestResult(segment) if text.lower(segment) == text.lower(beginning) else None


def _has_beginning_folded(haystack: str, beginning: str) -> Outcome:
    wanted = text.fold(text.lower(beginning))
    folded = ""
    for index, char in enumerate(haystack):
        if len(folded) >= len(wanted):
            return TestResult(haystack[:index]) if folded == wanted else None
        folded += text.fold(text.lower(char))
    return TestResult(haystack) if folded == wanted else None


# --- words --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2048)
def _needle_words(needle: str, fold: bool) -> tuple[str, ...]:
    words = text.tokenize(text.lower(text.trim(needle)))
    return tuple(text.fold(w) for w in words) if fold else tuple(words)


@functools.lru_cache(maxsize=64)  # a router tests the same reply against case after case
def _haystack_words(haystack: str, fold: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The words of the text as written, and the same words lower-cased (and folded) for comparison."""
    haystack = text.trim(haystack)
    lowered = text.lower(haystack)
    spans = text.token_spans(lowered)
    original = tuple(haystack[a:b] for a, b in spans)
    compared = tuple(lowered[a:b] for a, b in spans)
    if fold:
        compared = tuple(text.fold(w) for w in compared)
    return original, compared


def _word_test(
    check: Callable[[Sequence[str], Sequence[str], tuple[str, ...]], str | None],
) -> Callable[[Environment, list[str], bool], Outcome]:
    def run(env: Environment, texts: list[str], fold: bool) -> Outcome:
        original, hays = _haystack_words(texts[0], fold)
        match = check(original, hays, _needle_words(texts[1], fold))
        return None if match is None else TestResult(match)

    return run


def _any_word(original: Sequence[str], hays: Sequence[str], pins: tuple[str, ...]) -> str | None:
    wanted = frozenset(pins)
    matches = [original[i] for i, hay in enumerate(hays) if hay in wanted]
    return " ".join(matches) if matches else None


def _all_words(original: Sequence[str], hays: Sequence[str], pins: tuple[str, ...]) -> str | None:
    wanted = frozenset(pins)
    matches = [original[i] for i, hay in enumerate(hays) if hay in wanted]
    return " ".join(matches) if wanted <= frozenset(hays) else None


def _phrase(original: Sequence[str], hays: Sequence[str], pins: tuple[str, ...]) -> str | None:
    if not pins:
        return ""
    # RapidPro's scan: after a mismatch it starts again from the first word of the phrase without re-testing
    # the current word, so "a a b" does not contain "a b". Kept as is, so that flows behave the same here.
    found = 0
    matches: list[str] = []
    for index, hay in enumerate(hays):
        if hay == pins[found]:
            matches.append(original[index])
            found += 1
            if found == len(pins):
                return " ".join(matches)
        else:
            found = 0
            matches = []
    return None


def _only_phrase(original: Sequence[str], hays: Sequence[str], pins: tuple[str, ...]) -> str | None:
    if len(hays) != len(pins) or any(h != p for h, p in zip(hays, pins, strict=True)):
        return None
    return " ".join(original)


# --- patterns and email -----------------------------------------------------------------------------------------


def _has_pattern(env: Environment, texts: list[str], fold: bool) -> Outcome:
    try:
        match = regex_search(texts[1].strip(text.GO_SPACE), texts[0])
    except PatternError as exc:
        return XError(f"must be called with a valid regular expression: {exc}")
    if match is None:
        return None
    groups = [match.group(0), *match.groups()]
    return TestResult(match.group(0), {str(i): group or "" for i, group in enumerate(groups)})


@functools.cache
def _email_classes() -> tuple[re.Pattern[str], re.Pattern[str]]:
    letters_digits = unicode.category_ranges("LN")
    local = unicode.merge([*letters_digits, *unicode.chars("-_+$~.")])
    label = unicode.merge([*letters_digits, *unicode.chars("-_")])
    return (
        re.compile(unicode.fast_class(local)),
        re.compile(unicode.fast_class(label)),
    )


def _is_letter_or_digit(char: str) -> bool:
    return char.isalpha() or char.isnumeric()


def _has_email(env: Environment, texts: list[str], fold: bool) -> Outcome:
    """The leftmost ``local@domain.tld`` (goflow's email pattern, found in linear time around each ``@``)."""
    value = texts[0]
    if "@" not in value:
        return None
    local_char, label_char = _email_classes()
    at = value.find("@")
    while at >= 0:
        start = at
        while start > 0 and local_char.fullmatch(value[start - 1]):
            start -= 1
        # the address starts at the first letter or digit of the run before "@"
        while start < at and not _is_letter_or_digit(value[start]):
            start += 1
        end = _domain_end(value, at + 1, label_char) if start < at else None
        if end is not None:
            return TestResult(value[start:end])
        at = value.find("@", at + 1)
    return None


def _domain_end(value: str, position: int, label_char: re.Pattern[str]) -> int | None:
    """The end of ``label(.label)+`` starting at ``position``, or None."""

    def label_end(i: int) -> int | None:
        if i >= len(value) or not _is_letter_or_digit(value[i]):
            return None
        i += 1
        while i < len(value) and label_char.fullmatch(value[i]):
            i += 1
        return i

    end = label_end(position)
    if end is None:
        return None
    dots = 0
    while end < len(value) and value[end] == ".":
        after = label_end(end + 1)
        if after is None:
            break
        end, dots = after, dots + 1
    return end if dots else None


# --- numbers ----------------------------------------------------------------------------------------------------


def _number_test(
    arg_count: int, check: Callable[[Decimal, Sequence[Decimal]], bool]
) -> Callable[[Environment, Sequence[object], bool], Outcome]:
    def run(env: Environment, args: Sequence[object], fold: bool) -> Outcome:
        haystack = to_text(args[0], env)
        if isinstance(haystack, XError):
            return haystack
        bounds = []
        for arg in args[1:arg_count]:
            bound = to_number(arg, env)
            if isinstance(bound, XError):
                return bound
            bounds.append(bound)
        # The first number in the text that passes, not just the first number (as RapidPro does).
        for number in find_numbers(haystack, env.digit_grouping_symbol, env.decimal_symbol):
            if check(number, bounds):
                return TestResult(number)
        return None

    return run


# --- dates, times, phones, groups, categories -----------------------------------------------------------


def _date_test(
    with_argument: bool, check: Callable[[dt.date, dt.date | None], bool]
) -> Callable[[Environment, Sequence[object], bool], Outcome]:
    def run(env: Environment, args: Sequence[object], fold: bool) -> Outcome:
        haystack = to_text(args[0], env)
        if isinstance(haystack, XError):
            return haystack
        bound: dt.date | None = None
        if with_argument:
            argument = to_datetime(args[1], env)
            if isinstance(argument, XError):
                return argument
            bound = argument.astimezone(env.tz).date()
        found = to_datetime(haystack, env, fill_time=True)
        if isinstance(found, XError):
            return None
        return TestResult(found) if check(found.astimezone(env.tz).date(), bound) else None

    return run


def _has_time(env: Environment, texts: list[str], fold: bool) -> Outcome:
    found = to_time(texts[0], env)
    return None if isinstance(found, XError) else TestResult(found)


_POSSIBLE_PHONE = re.compile(r"\+?[0-9 .\-()]{5,}")


def _has_phone(env: Environment, args: Sequence[object], fold: bool) -> Outcome:
    texts = _texts(env, args)
    if isinstance(texts, XError):
        return texts
    haystack = texts[0]
    country = texts[1] if len(texts) > 1 else env.default_country
    for candidate in _POSSIBLE_PHONE.findall(haystack):
        try:
            return TestResult(normalise_phone(candidate, region=country.upper()))
        except InvalidPhoneNumber:
            continue
    return None


def _has_group(env: Environment, args: Sequence[object], fold: bool) -> Outcome:
    groups = to_array(args[0])
    if isinstance(groups, XError):
        return groups
    wanted = to_text(args[1], env)
    if isinstance(wanted, XError):
        return wanted
    for item in groups:
        group = to_object(item)
        if isinstance(group, XError):
            return group
        uuid = to_text(get_property(group, "uuid")[1], env)
        if isinstance(uuid, XError):
            return uuid
        if uuid == wanted:
            return TestResult(group)
    return None


def _has_category(env: Environment, args: Sequence[object], fold: bool) -> Outcome:
    result = args[0]
    has_category, category = (
        get_property(result, "category") if isinstance(result, Mapping) else (False, None)
    )
    if not has_category:
        return XError("first argument must be a result")
    category_text = to_text(category, env)
    names = _texts(env, args[1:])
    if isinstance(names, XError):
        return names
    if isinstance(category_text, XError):
        return category_text
    return TestResult(category_text) if category_text in names else None


def _always(value: bool) -> Callable[[Decimal, Sequence[Decimal]], bool]:
    return lambda number, bounds: value


_TESTS: dict[str, _Test] = {
    "has_error": _Test(_has_error, 1, 1),
    "has_text": _Test(_text_test(_has_text), 1, 1),
    "has_value": _Test(_text_test(_has_text), 1, 1),  # the legacy name of has_text
    "has_only_text": _Test(_text_test(_has_only_text), 2, 2),
    "has_beginning": _Test(_text_test(_has_beginning), 2, 2),
    "has_any_word": _Test(_text_test(_word_test(_any_word)), 2, 2),
    "has_all_words": _Test(_text_test(_word_test(_all_words)), 2, 2),
    "has_phrase": _Test(_text_test(_word_test(_phrase)), 2, 2),
    "has_only_phrase": _Test(_text_test(_word_test(_only_phrase)), 2, 2),
    "has_pattern": _Test(_text_test(_has_pattern), 2, 2),
    "has_email": _Test(_text_test(_has_email), 1, 1),
    "has_number": _Test(_number_test(1, _always(True)), 1, 1),
    "has_number_between": _Test(_number_test(3, lambda n, b: b[0] <= n <= b[1]), 3, 3),
    "has_number_lt": _Test(_number_test(2, lambda n, b: n < b[0]), 2, 2),
    "has_number_lte": _Test(_number_test(2, lambda n, b: n <= b[0]), 2, 2),
    "has_number_eq": _Test(_number_test(2, lambda n, b: n == b[0]), 2, 2),
    "has_number_gte": _Test(_number_test(2, lambda n, b: n >= b[0]), 2, 2),
    "has_number_gt": _Test(_number_test(2, lambda n, b: n > b[0]), 2, 2),
    "has_date": _Test(_date_test(False, lambda d, b: True), 1, 1),
    "has_date_lt": _Test(_date_test(True, lambda d, b: b is not None and d < b), 2, 2),
    "has_date_eq": _Test(_date_test(True, lambda d, b: d == b), 2, 2),
    "has_date_gt": _Test(_date_test(True, lambda d, b: b is not None and d > b), 2, 2),
    "has_time": _Test(_text_test(_has_time), 1, 1),
    "has_phone": _Test(_has_phone, 1, 2),
    "has_group": _Test(_has_group, 2, 3),
    "has_category": _Test(_has_category, 2, None),
}

KNOWN_TESTS: frozenset[str] = frozenset(_TESTS)


def case_arity(name: str) -> tuple[int, int | None] | None:
    """How many values a case of the router test ``name`` takes besides the operand, as (least, most), most
    None when there is no limit; None when ``name`` is not a router test. Validation checks a flow's cases
    against this, so that what it accepts is exactly what ``run_test`` can run."""
    test = _TESTS.get(name)
    if test is None:
        return None
    return test.min_args - 1, None if test.max_args is None else test.max_args - 1


def test_function(name: str) -> Callable[[Environment, Sequence[object]], Outcome]:
    """The test ``name`` as a function of already evaluated arguments (for the expression language)."""
    test = _TESTS[name]

    def run(env: Environment, args: Sequence[object]) -> Outcome:
        return call(name, test, args, env, False)

    return run
