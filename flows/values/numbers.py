"""Numbers as RapidPro handles them: exact decimals, parsed strictly in expressions and fuzzily in replies.

- In expressions, text converts to a number only when it is a plain decimal (``12``, ``-1.5``, ``.5``).
- In replies (``has_number`` and friends), every number-like piece of the text is a candidate, in order: digits
  with the environment's grouping symbol, an optional decimal part, or a bare decimal part such as ``.5``. So
  ``24ans`` holds 24, ``1-15`` holds 1, and in Mexico (``,`` groups, ``.`` is decimal) ``1,000`` is a thousand.
  Digits of other scripts (Arabic-Indic, Persian, Bengali, ...) count as digits.
- Arithmetic is exact; division keeps 16 decimal places, as goflow does.
"""

from __future__ import annotations

import decimal
import functools
import re
from collections.abc import Callable, Iterator
from decimal import Decimal

from flows.values import unicode
from flows.values.text import trim

# Large enough for any real arithmetic; the exponent bound keeps a rendered number to a few thousand characters,
# so that 9 ^ 999999 is an error rather than a very long message.
CONTEXT = decimal.Context(
    prec=100,
    rounding=decimal.ROUND_HALF_UP,
    Emax=4000,
    Emin=-4000,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
DIVISION_PLACES = 16
INT32 = (-(2**31), 2**31 - 1)

_STRICT = re.compile(r"-?(?:[0-9]+|[0-9]+\.[0-9]+|\.[0-9]+)", re.ASCII)


class NumberError(ValueError):
    pass


def parse_strict(text: str) -> Decimal | None:
    """A plain decimal such as ``12``, ``-1.5`` or ``.5`` (surrounding spaces allowed), else None."""
    text = trim(text)
    if not _STRICT.fullmatch(text):
        return None
    return Decimal(text)


@functools.cache
def _candidate_pattern(grouping: str, decimal_symbol: str, ascii_only: bool) -> re.Pattern[str]:
    digit = "[0-9]" if ascii_only else unicode.fast_class(unicode.category_ranges("N"))
    g, d = re.escape(grouping), re.escape(decimal_symbol)
    # Go's \W is ASCII-only, so any non-ASCII character counts as a separator before a bare ".5".
    return re.compile(rf"[-+]?(?:(?:{digit}|{g})+(?:{d}{digit}+)?|(?:[^0-9A-Za-z_]|^){d}{digit}+)")


def _parse_fuzzy(candidate: str, grouping: str, decimal_symbol: str) -> Decimal | None:
    cleaned = trim(candidate)
    if grouping:
        cleaned = cleaned.replace(grouping, "")
    cleaned = cleaned.replace(decimal_symbol, ".")
    # What is left must be a sign, digits and at most one point; Decimal() would also take "NaN" or "1e5".
    body = cleaned[1:] if cleaned[:1] in "+-" else cleaned
    whole, point, fraction = body.partition(".")
    if not (whole or fraction) or (point and not fraction):
        return None
    if (whole and not whole.isdecimal()) or (fraction and not fraction.isdecimal()):
        return None
    try:
        return Decimal(cleaned)
    except decimal.InvalidOperation:
        return None


def find_numbers(text: str, grouping: str, decimal_symbol: str) -> Iterator[Decimal]:
    """Every number in ``text`` that parses, in order (goflow's ``testNumber`` candidates)."""
    pattern = _candidate_pattern(grouping, decimal_symbol, text.isascii())
    for match in pattern.finditer(text):
        number = _parse_fuzzy(match.group(), grouping, decimal_symbol)
        if number is not None:
            yield number


def render(number: Decimal) -> str:
    """The canonical text of a number: no exponent, no trailing zeros (``123.45000`` → ``123.45``)."""
    if number.is_zero():
        return "0"
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_number(
    number: Decimal, places: int | None, group_digits: bool, grouping: str, decimal_symbol: str
) -> str:
    """Human formatting: fixed ``places`` (or as many as needed), thousands grouped."""
    text = render(number) if places is None else format(round_places(number, places), "f")
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    if group_digits:
        groups: list[str] = []
        while len(whole) > 3:
            groups.insert(0, whole[-3:])
            whole = whole[:-3]
        whole = grouping.join([whole, *groups])
    return sign + whole + (decimal_symbol + fraction if fraction else "")


def round_places(number: Decimal, places: int) -> Decimal:
    """Round half away from zero to ``places`` decimals (negative places round the integer part)."""
    try:
        return number.quantize(Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_UP, context=CONTEXT)
    except decimal.InvalidOperation as exc:
        raise NumberError("number is too large to round") from exc


def to_int(number: Decimal) -> int:
    """The integer part, which must fit in 32 bits (as goflow requires of indexes and counts)."""
    whole = int(number) if number.adjusted() < 20 else None
    if whole is None or not INT32[0] <= whole <= INT32[1]:
        raise NumberError(f"number value {render(number)} is out of range for an integer")
    return whole


def add(a: Decimal, b: Decimal) -> Decimal:
    return _checked(lambda: CONTEXT.add(a, b))


def subtract(a: Decimal, b: Decimal) -> Decimal:
    return _checked(lambda: CONTEXT.subtract(a, b))


def multiply(a: Decimal, b: Decimal) -> Decimal:
    return _checked(lambda: CONTEXT.multiply(a, b))


def divide(a: Decimal, b: Decimal) -> Decimal:
    if b.is_zero():
        raise NumberError("division by zero")
    return _checked(lambda: round_places(CONTEXT.divide(a, b), DIVISION_PLACES))


def power(a: Decimal, b: Decimal) -> Decimal:
    if a.is_zero() and b < 0:
        raise NumberError("division by zero")
    return _checked(lambda: CONTEXT.power(a, b))


def modulo(a: Decimal, b: Decimal) -> Decimal:
    """The remainder with the sign of the dividend (Go's decimal ``Mod``)."""
    if b.is_zero():
        raise NumberError("division by zero")
    return _checked(lambda: CONTEXT.remainder(a, b))


def _checked(operation: Callable[[], Decimal]) -> Decimal:
    try:
        result = operation()
    except (decimal.Overflow, decimal.InvalidOperation) as exc:
        raise NumberError("number is out of range") from exc
    if not isinstance(result, Decimal) or not result.is_finite():
        raise NumberError("number is out of range")
    return result
