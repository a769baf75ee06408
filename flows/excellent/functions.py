"""The expression functions: one table, each entry declaring the kinds of arguments it takes.

Semantics follow goflow's ``excellent/functions/builtin.go`` and its documented examples; every router test is
a function too (``has_number(...)`` returns ``{match, extra}``, true when it matched). An error from a function
reads ``error calling NAME: ...``, as in RapidPro.

Not provided: ``prompt`` (it needs LLM prompt assets recado does not have). ``slice`` and ``filter`` are newer
than the goflow documentation this follows; they do what their names say, for arrays.
"""

from __future__ import annotations

import datetime as dt
import decimal
import html
import unicodedata
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import phonenumbers

from flows import routertests
from flows.env import Environment, zone
from flows.values import dates, numbers, text
from flows.values.convert import (
    DEFAULT,
    XError,
    XFunction,
    arity_problem,
    call_error,
    compare,
    equals,
    format_value,
    from_json,
    get_property,
    is_array,
    to_array,
    to_bool,
    to_date,
    to_datetime,
    to_integer,
    to_json,
    to_number,
    to_object,
    to_text,
    to_time,
    visible_keys,
)
from flows.values.numbers import NumberError
from flows.values.regex import MAX_TEXT as MAX_PATTERN_TEXT
from flows.values.regex import PatternError, compile_pattern

MAX_TEXT_LENGTH = 100_000

Implementation = Callable[..., object]


@dataclass(frozen=True)
class _Param:
    kind: str
    optional: bool
    variadic: bool


def _convert(kind: str, value: object, env: Environment) -> object:
    match kind:
        case "value":
            return value
        case "text":
            return to_text(value, env)
        case "number":
            return to_number(value, env)
        case "integer":
            return to_integer(value, env)
        case "bool":
            return to_bool(value, env)
        case "date":
            return to_date(value, env)
        case "datetime":
            return to_datetime(value, env)
        case "time":
            return to_time(value, env)
        case "array":
            return to_array(value)
        case "object":
            return to_object(value)
        case _:
            raise AssertionError(f"unknown parameter kind {kind}")


_REGISTRY: dict[str, XFunction] = {}


def builtin(name: str, *spec: str) -> Callable[[Implementation], Implementation]:
    """Register a function. ``spec`` names each argument's kind (``text``, ``number``, ``integer``, ``bool``,
    ``date``, ``datetime``, ``time``, ``array``, ``object`` or ``value``); ``?`` marks an optional trailing
    argument (absent: ``None``) and ``*`` a variadic last one (passed as a list)."""
    params = [_Param(s.rstrip("?*"), s.endswith("?"), s.endswith("*")) for s in spec]
    low = sum(1 for p in params if not p.optional and not p.variadic)
    high = None if params and params[-1].variadic else len(params)

    def register(implementation: Implementation) -> Implementation:
        def call(env: Environment, args: Sequence[object]) -> object:
            problem = arity_problem(len(args), low, high)
            if problem:
                return call_error(name, XError(problem))
            converted: list[object] = []
            for index, param in enumerate(params):
                if param.variadic:
                    rest = [_convert(param.kind, arg, env) for arg in args[index:]]
                    error = next((r for r in rest if isinstance(r, XError)), None)
                    if error is not None and param.kind != "value":
                        return call_error(name, error)
                    converted.append(rest)
                    break
                if index >= len(args):
                    converted.append(None)
                    continue
                value = _convert(param.kind, args[index], env)
                if isinstance(value, XError) and param.kind != "value":  # "value" takes errors as they are
                    return call_error(name, value)
                converted.append(value)
            result = implementation(env, *converted)
            return call_error(name, result) if isinstance(result, XError) else result

        _REGISTRY[name] = XFunction(name, call)
        return implementation

    return register


def lookup(name: str) -> XFunction | None:
    return _REGISTRY.get(name.lower())


def names() -> frozenset[str]:
    return frozenset(_REGISTRY)


def _text_result(value: str) -> str | XError:
    if len(value) > MAX_TEXT_LENGTH:
        return XError(f"text is longer than {MAX_TEXT_LENGTH} characters")
    return value


def _number_result(operation: Callable[[], Decimal]) -> Decimal | XError:
    try:
        return operation()
    except NumberError as exc:
        return XError(str(exc))


# --- type conversion ---------------------------------------------------------------------------------------------


@builtin("text", "text")
def _text(env: Environment, value: str) -> object:
    return value


@builtin("boolean", "bool")
def _boolean(env: Environment, value: bool) -> object:
    return value


@builtin("number", "number")
def _number(env: Environment, value: Decimal) -> object:
    return value


@builtin("date", "date")
def _date(env: Environment, value: dt.date) -> object:
    return value


@builtin("datetime", "datetime")
def _datetime(env: Environment, value: dt.datetime) -> object:
    return value


@builtin("time", "time")
def _time(env: Environment, value: dt.time) -> object:
    return value


@builtin("array", "value*")
def _array(env: Environment, values: list[object]) -> object:
    return next((v for v in values if isinstance(v, XError)), values)


@builtin("object", "value*")
def _object(env: Environment, pairs: list[object]) -> object:
    error = next((v for v in pairs if isinstance(v, XError)), None)
    if error is not None:
        return error
    if len(pairs) % 2:
        return XError("requires an even number of arguments")
    result: dict[str, object] = {}
    for key, value in zip(pairs[::2], pairs[1::2], strict=True):
        name = to_text(key, env)
        if isinstance(name, XError):
            return name
        result[name] = value
    return result


# --- text ---------------------------------------------------------------------------------------------------


@builtin("char", "integer")
def _char(env: Environment, code: int) -> object:
    if not 0 <= code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "\ufffd"  # what Go makes of an invalid code point
    return chr(code)


@builtin("code", "text")
def _code(env: Environment, value: str) -> object:
    if not value:
        return XError("requires a string of at least one character")
    return Decimal(ord(value[0]))


def _words(value: str, delimiters: str | None) -> list[str]:
    return text.tokenize_by_chars(value, delimiters) if delimiters else text.tokenize(value)


@builtin("split", "text", "text?")
def _split(env: Environment, value: str, delimiters: str | None) -> object:
    return _words(value, delimiters)


def _trimmer(strip: Callable[[str], str], strip_chars: Callable[[str, str], str]) -> Implementation:
    def run(env: Environment, value: str, chars: str | None) -> object:
        return strip_chars(value, chars) if chars else strip(value)

    return run


builtin("trim", "text", "text?")(_trimmer(text.trim, str.strip))
builtin("trim_left", "text", "text?")(_trimmer(text.trim_left, str.lstrip))
builtin("trim_right", "text", "text?")(_trimmer(text.trim_right, str.rstrip))


@builtin("title", "text")
def _title(env: Environment, value: str) -> object:
    return text.title(value)


@builtin("lower", "text")
def _lower(env: Environment, value: str) -> object:
    return text.lower(value)


@builtin("upper", "text")
def _upper(env: Environment, value: str) -> object:
    return text.upper(value)


def _optional_text(value: object, env: Environment) -> str | XError | None:
    return None if value is None else to_text(value, env)


@builtin("word", "text", "integer", "value?")
def _word(env: Environment, value: str, index: int, delimiters: object) -> object:
    chars = _optional_text(delimiters, env)
    if isinstance(chars, XError):
        return chars
    words = _words(value, chars)
    position = index + len(words) if index < 0 else index
    if not 0 <= position < len(words):
        return XError(f"index {index} is out of range for the number of words {len(words)}")
    return words[position]


@builtin("remove_first_word", "text")
def _remove_first_word(env: Environment, value: str) -> object:
    words = text.tokenize(value)
    if not words:
        return ""
    start = value.find(words[0])
    return value[start + len(words[0]) :].lstrip(" ")


@builtin("word_count", "text", "text?")
def _word_count(env: Environment, value: str, delimiters: str | None) -> object:
    return Decimal(len(_words(value, delimiters)))


@builtin("word_slice", "text", "integer", "integer?", "value?")
def _word_slice(env: Environment, value: str, start: int, end: int | None, delimiters: object) -> object:
    if start < 0:
        return XError("must start with a positive index")
    stop = -1 if end is None else end
    if 0 < stop <= start:
        return XError("must have a end which is greater than the start")
    chars = _optional_text(delimiters, env)
    if isinstance(chars, XError):
        return chars
    words = _words(value, chars)
    if start >= len(words):
        return ""
    return " ".join(words[start:stop] if stop > 0 else words[start:])


@builtin("field", "text", "integer", "text")
def _field(env: Environment, value: str, index: int, delimiter: str) -> object:
    if index < 0:
        return XError("cannot use a negative index")
    fields = value.split(delimiter) if delimiter else list(value)
    if delimiter == " ":
        fields = [f for f in fields if f]
    return text.trim(fields[index]) if index < len(fields) else ""


@builtin("clean", "text")
def _clean(env: Environment, value: str) -> object:
    return "".join(c for c in value if not unicodedata.category(c).startswith("C"))


@builtin("text_slice", "text", "integer", "integer?")
def _text_slice(env: Environment, value: str, start: int, end: int | None) -> object:
    length = len(value)
    begin = start + length if start < 0 else start
    stop = length if end is None else end
    stop = stop + length if stop < 0 else stop
    return value[max(begin, 0) : max(stop, 0)] if begin < stop else ""


@builtin("regex_match", "text", "text", "integer?")
def _regex_match(env: Environment, value: str, pattern: str, group: int | None) -> object:
    try:
        compiled = compile_pattern(pattern)
    except PatternError:
        return XError("invalid regular expression")
    match = compiled.search(value[:MAX_PATTERN_TEXT])
    groups = [] if match is None else [match.group(0), *match.groups()]
    index = group or 0
    if not 0 <= index < len(groups):
        return XError("invalid regular expression group")
    return groups[index] or ""


@builtin("text_length", "text")
def _text_length(env: Environment, value: str) -> object:
    return Decimal(len(value))


@builtin("text_compare", "text", "text")
def _text_compare(env: Environment, first: str, second: str) -> object:
    return Decimal((first > second) - (first < second))


@builtin("repeat", "text", "integer")
def _repeat(env: Environment, value: str, count: int) -> object:
    if count < 0:
        return XError(f"must be called with a positive integer, got {count}")
    if len(value) * count > MAX_TEXT_LENGTH:
        return XError(f"text is longer than {MAX_TEXT_LENGTH} characters")
    return value * count


@builtin("replace", "text", "text", "text", "integer?")
def _replace(env: Environment, value: str, needle: str, replacement: str, count: int | None) -> object:
    limit = -1 if count is None or count < 0 else count
    occurrences = value.count(needle) if needle else len(value) + 1
    if (
        len(value) + min(occurrences, limit if limit >= 0 else occurrences) * len(replacement)
        > MAX_TEXT_LENGTH
    ):
        return XError(f"text is longer than {MAX_TEXT_LENGTH} characters")
    return value.replace(needle, replacement, limit)


@builtin("percent", "number")
def _percent(env: Environment, value: Decimal) -> object:
    try:
        rounded = numbers.round_places(numbers.multiply(value, Decimal(100)), 0)
    except NumberError as exc:
        return XError(str(exc))
    return f"{int(rounded)}%"


@builtin("url_encode", "text")
def _url_encode(env: Environment, value: str) -> object:
    return urllib.parse.quote(value, safe="", errors="surrogatepass")


@builtin("html_decode", "text")
def _html_decode(env: Environment, value: str) -> object:
    return html.unescape(value).replace("\xa0", " ")


# --- logic --------------------------------------------------------------------------------------------------


@builtin("and", "bool", "bool*")
def _and(env: Environment, first: bool, rest: list[bool]) -> object:
    return first and all(rest)


@builtin("or", "bool", "bool*")
def _or(env: Environment, first: bool, rest: list[bool]) -> object:
    return first or any(rest)


@builtin("if", "bool", "value", "value")
def _if(env: Environment, test: bool, when_true: object, when_false: object) -> object:
    return when_true if test else when_false


# --- numbers ------------------------------------------------------------------------------------------------


@builtin("abs", "number")
def _abs(env: Environment, value: Decimal) -> object:
    return value.copy_abs()


@builtin("round", "number", "integer?")
def _round(env: Environment, value: Decimal, places: int | None) -> object:
    return _number_result(lambda: numbers.round_places(value, places or 0))


def _round_towards(direction: int) -> Implementation:
    # goflow's formula: when not already at the precision, add (or take) half a unit and round.
    def run(env: Environment, value: Decimal, places: int | None) -> object:
        digits = places or 0

        def operate() -> Decimal:
            if numbers.round_places(value, digits) == value:
                return value
            half = Decimal(5).scaleb(-digits - 1)
            return numbers.round_places(numbers.add(value, half * direction), digits)

        return _number_result(operate)

    return run


builtin("round_up", "number", "integer?")(_round_towards(1))
builtin("round_down", "number", "integer?")(_round_towards(-1))


@builtin("max", "number", "number*")
def _max(env: Environment, first: Decimal, rest: list[Decimal]) -> object:
    return max([first, *rest])


@builtin("min", "number", "number*")
def _min(env: Environment, first: Decimal, rest: list[Decimal]) -> object:
    return min([first, *rest])


@builtin("mean", "number", "number*")
def _mean(env: Environment, first: Decimal, rest: list[Decimal]) -> object:
    values = [first, *rest]

    def operate() -> Decimal:
        total = Decimal(0)
        for value in values:
            total = numbers.add(total, value)
        return numbers.divide(total, Decimal(len(values)))

    return _number_result(operate)


@builtin("mod", "number", "number")
def _mod(env: Environment, dividend: Decimal, divisor: Decimal) -> object:
    return _number_result(lambda: numbers.modulo(dividend, divisor))


def _random(env: Environment) -> Decimal | XError:
    if env.rand is None:
        return XError("no random source is available")
    return Decimal(repr(env.rand()))


@builtin("rand")
def _rand(env: Environment) -> object:
    return _random(env)


@builtin("rand_between", "number", "number")
def _rand_between(env: Environment, low: Decimal, high: Decimal) -> object:
    sample = _random(env)
    if isinstance(sample, XError):
        return sample

    def operate() -> Decimal:
        span = numbers.add(numbers.subtract(high, low), Decimal(1))
        return numbers.add(numbers.multiply(sample, span), low).to_integral_value(
            rounding=decimal.ROUND_FLOOR
        )

    return _number_result(operate)


# --- dates and times --------------------------------------------------------------------------------------------


def _zone_or_error(name: str | None, env: Environment) -> dt.tzinfo | XError:
    if name is None:
        return env.tz
    try:
        return zone(name)
    except ValueError as exc:
        return XError(str(exc))


@builtin("parse_datetime", "text", "text", "text?")
def _parse_datetime(env: Environment, value: str, layout: str, timezone: str | None) -> object:
    tz = _zone_or_error(timezone, env)
    if isinstance(tz, XError):
        return tz
    try:
        return dates.parse_layout(value, layout, dates.DATETIME_MODE, tz)
    except dates.LayoutError as exc:
        return XError(str(exc))


@builtin("parse_time", "text", "text")
def _parse_time(env: Environment, value: str, layout: str) -> object:
    try:
        return dates.parse_layout(value, layout, dates.TIME_MODE, dt.UTC).time()
    except dates.LayoutError as exc:
        return XError(str(exc))


@builtin("datetime_from_epoch", "number")
def _datetime_from_epoch(env: Environment, seconds: Decimal) -> object:
    try:
        micros = int(seconds.scaleb(6).to_integral_value(rounding=decimal.ROUND_DOWN))
        return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)).astimezone(env.tz)
    except (OverflowError, ArithmeticError):
        return XError(f"{numbers.render(seconds)} is out of range for a datetime")


_UNITS = "s, m, h, D, W, M, Y"


@builtin("datetime_diff", "datetime", "datetime", "text")
def _datetime_diff(env: Environment, first: dt.datetime, second: dt.datetime, unit: str) -> object:
    seconds = {"s": 1, "m": 60, "h": 3600}
    if unit in seconds:
        delta = second - first
        micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        step = seconds[unit] * 1_000_000
        return Decimal(int(abs(micros) // step) * (1 if micros >= 0 else -1))
    if unit in ("D", "W"):
        days = dates.days_between(second, first)
        return Decimal(days if unit == "D" else int(days / 7))
    if unit == "M":
        return Decimal(dates.months_between(second, first))
    if unit == "Y":
        return Decimal(second.year - first.year)
    return XError(f"unknown unit: {unit}, must be one of {_UNITS}")


@builtin("datetime_add", "datetime", "integer", "text")
def _datetime_add(env: Environment, value: dt.datetime, offset: int, unit: str) -> object:
    moved: dt.datetime | None
    if unit in ("s", "m", "h"):
        seconds = offset * {"s": 1, "m": 60, "h": 3600}[unit]
        try:
            moved = (value.astimezone(dt.UTC) + dt.timedelta(seconds=seconds)).astimezone(value.tzinfo)
        except OverflowError:
            moved = None
    elif unit in ("D", "W"):
        moved = dates.add_calendar(value, days=offset * (7 if unit == "W" else 1))
    elif unit == "M":
        moved = dates.add_calendar(value, months=offset)
    elif unit == "Y":
        moved = dates.add_calendar(value, years=offset)
    else:
        return XError(f"unknown unit: {unit}, must be one of {_UNITS}")
    return moved if moved is not None else XError("the resulting date is out of range")


@builtin("replace_time", "datetime", "time")
def _replace_time(env: Environment, value: dt.datetime, time: dt.time) -> object:
    return dates.normalise(
        value.replace(hour=time.hour, minute=time.minute, second=time.second, microsecond=time.microsecond)
    )


@builtin("tz", "datetime")
def _tz(env: Environment, value: dt.datetime) -> object:
    tzinfo = value.tzinfo
    if tzinfo is dt.UTC:
        return "UTC"
    key = getattr(tzinfo, "key", None)
    return key if isinstance(key, str) else ""


@builtin("tz_offset", "datetime")
def _tz_offset(env: Environment, value: dt.datetime) -> object:
    return dates.offset_text(value, zulu=False, colon=False)


@builtin("now")
def _now(env: Environment) -> object:
    return env.local_now()


@builtin("epoch", "datetime")
def _epoch(env: Environment, value: dt.datetime) -> object:
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(micros).scaleb(-6).normalize() if micros % 1_000_000 else Decimal(micros // 1_000_000)


@builtin("date_from_parts", "integer", "integer", "integer")
def _date_from_parts(env: Environment, year: int, month: int, day: int) -> object:
    if not 1 <= month <= 12:
        return XError("invalid value for month, must be 1-12")
    made = dates.make_date(year, month, day)
    return made if made is not None else XError("date is out of range")


@builtin("weekday", "date")
def _weekday(env: Environment, value: dt.date) -> object:
    return Decimal(dates.weekday(value))


@builtin("week_number", "date")
def _week_number(env: Environment, value: dt.date) -> object:
    return Decimal(dates.week_number(value))


@builtin("today")
def _today(env: Environment) -> object:
    return env.local_now().date()


@builtin("time_from_parts", "integer", "integer", "integer")
def _time_from_parts(env: Environment, hour: int, minute: int, second: int) -> object:
    if not 0 <= hour <= 23:
        return XError("invalid value for hour, must be 0-23")
    if not 0 <= minute <= 59:
        return XError("invalid value for minute, must be 0-59")
    if not 0 <= second <= 59:
        return XError("invalid value for second, must be 0-59")
    return dt.time(hour, minute, second)


# --- arrays and objects ---------------------------------------------------------------------------------------


@builtin("join", "array", "text")
def _join(env: Environment, values: Sequence[object], separator: str) -> object:
    texts = []
    for value in values:
        item = to_text(value, env)
        if isinstance(item, XError):
            return item
        texts.append(item)
    return _text_result(separator.join(texts))


@builtin("reverse", "array")
def _reverse(env: Environment, values: Sequence[object]) -> object:
    return list(reversed(values))


@builtin("sort", "array")
def _sort(env: Environment, values: Sequence[object]) -> object:
    for value in values:
        check = compare(value, value, env)
        if isinstance(check, XError):
            return check
    problems: list[XError] = []

    def key(value: object) -> _Sortable:
        return _Sortable(value, env, problems)

    ordered = sorted(values, key=key)
    return problems[0] if problems else ordered


class _Sortable:
    __slots__ = ("env", "problems", "value")

    def __init__(self, value: object, env: Environment, problems: list[XError]) -> None:
        self.value, self.env, self.problems = value, env, problems

    def __lt__(self, other: _Sortable) -> bool:
        order = compare(self.value, other.value, self.env)
        if isinstance(order, XError):
            self.problems.append(order)
            return False
        return order < 0


@builtin("sum", "array")
def _sum(env: Environment, values: Sequence[object]) -> object:
    total = Decimal(0)
    for value in values:
        number = to_number(value, env)
        if isinstance(number, XError):
            return number
        try:
            total = numbers.add(total, number)
        except NumberError as exc:
            return XError(str(exc))
    return total


@builtin("unique", "array")
def _unique(env: Environment, values: Sequence[object]) -> object:
    kept: list[object] = []
    for value in values:
        if not any(equals(value, seen, env) for seen in kept):
            kept.append(value)
    return kept


@builtin("concat", "array", "array")
def _concat(env: Environment, first: Sequence[object], second: Sequence[object]) -> object:
    return [*first, *second]


@builtin("contains", "array", "value")
def _contains(env: Environment, values: Sequence[object], wanted: object) -> object:
    return any(equals(value, wanted, env) for value in values)


@builtin("slice", "array", "integer", "integer?")
def _slice(env: Environment, values: Sequence[object], start: int, end: int | None) -> object:
    length = len(values)
    begin = start + length if start < 0 else start
    stop = length if end is None else (end + length if end < 0 else end)
    return list(values[max(begin, 0) : max(stop, 0)])


@builtin("keys", "object")
def _keys(env: Environment, value: Mapping[str, object]) -> object:
    return sorted(visible_keys(value))


@builtin("count", "value")
def _count(env: Environment, value: object) -> object:
    if value is None:
        return Decimal(0)
    if is_array(value):
        return Decimal(len(value))  # type: ignore[arg-type]
    if isinstance(value, Mapping):
        return Decimal(len(visible_keys(value)))
    return XError("value isn't countable")


@builtin("extract", "object", "text")
def _extract(env: Environment, value: Mapping[str, object], name: str) -> object:
    return get_property(value, name)[1]


@builtin("extract_object", "object", "text", "text*")
def _extract_object(env: Environment, value: Mapping[str, object], first: str, rest: list[str]) -> object:
    return {name: get_property(value, name)[1] for name in [first, *rest]}


def _function_or_error(value: object) -> XFunction | XError:
    if isinstance(value, XFunction):
        return value
    return XError("requires an function as its second argument")


@builtin("foreach", "array", "value", "value*")
def _foreach(env: Environment, values: Sequence[object], function: object, extra: list[object]) -> object:
    apply = _function_or_error(function)
    if isinstance(apply, XError):
        return apply
    results = []
    for value in values:
        result = apply(env, [value, *extra])
        if isinstance(result, XError):
            return result
        results.append(result)
    return results


@builtin("foreach_value", "object", "value", "value*")
def _foreach_value(
    env: Environment, value: Mapping[str, object], function: object, extra: list[object]
) -> object:
    apply = _function_or_error(function)
    if isinstance(apply, XError):
        return apply
    results: dict[str, object] = {}
    for key in visible_keys(value):
        result = apply(env, [value[key], *extra])
        if isinstance(result, XError):
            return result
        results[key] = result
    return results


@builtin("filter", "array", "value")
def _filter(env: Environment, values: Sequence[object], function: object) -> object:
    apply = _function_or_error(function)
    if isinstance(apply, XError):
        return apply
    kept = []
    for value in values:
        keep = to_bool(apply(env, [value]), env)
        if isinstance(keep, XError):
            return keep
        if keep:
            kept.append(value)
    return kept


# --- JSON, URNs and attachments ------------------------------------------------------------------------------------


@builtin("json", "value")
def _json(env: Environment, value: object) -> object:
    return to_json(value, env)


@builtin("parse_json", "text")
def _parse_json(env: Environment, value: str) -> object:
    return from_json(value)


_URN_SCHEMES = frozenset(
    [
        "discord",
        "ext",
        "facebook",
        "fcm",
        "freshchat",
        "instagram",
        "jiochat",
        "line",
        "mailto",
        "rocketchat",
        "slack",
        "telegram",
        "tel",
        "twitter",
        "twitterid",
        "viber",
        "vk",
        "webchat",
        "wechat",
        "whatsapp",
    ]
)


def _urn_parts(value: str) -> dict[str, str] | XError:
    scheme, colon, rest = value.partition(":")
    rest, _, display = rest.partition("#")
    path, _, _query = rest.partition("?")
    if not colon or scheme not in _URN_SCHEMES or not path or any(c.isspace() for c in path):
        return XError(f"{value} is not a valid URN")
    return {"scheme": scheme, "path": path, "display": display}


@builtin("urn_parts", "text")
def _urn_parts_function(env: Environment, value: str) -> object:
    return _urn_parts(value)


@builtin("format_urn", "text")
def _format_urn(env: Environment, value: str) -> object:
    parts = _urn_parts(value)
    if isinstance(parts, XError):
        return parts
    if parts["scheme"] == "tel":
        try:
            number = phonenumbers.parse(parts["path"], env.default_country)
        except phonenumbers.NumberParseException:
            return parts["path"]
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return parts["display"] or parts["path"]


@builtin("attachment_parts", "text")
def _attachment_parts(env: Environment, value: str) -> object:
    content_type, colon, url = value.partition(":")
    if not colon:
        return {"content_type": "", "url": value}
    return {"content_type": content_type, "url": url}


# --- formatting -------------------------------------------------------------------------------------------------


@builtin("format", "value")
def _format(env: Environment, value: object) -> object:
    return format_value(value, env)


def _layout(
    value: dt.datetime, layout: str | None, default: str, mode: str, env: Environment
) -> str | XError:
    try:
        return dates.format_layout(value, default if layout is None else layout, mode, env.locale)
    except dates.LayoutError as exc:
        return XError(str(exc))


@builtin("format_date", "date", "text?")
def _format_date(env: Environment, value: dt.date, layout: str | None) -> object:
    moment = dt.datetime.combine(value, dt.time(), tzinfo=env.tz)
    return _layout(moment, layout, env.date_format, dates.DATE_MODE, env)


@builtin("format_datetime", "datetime", "text?", "text?")
def _format_datetime(
    env: Environment, value: dt.datetime, layout: str | None, timezone: str | None
) -> object:
    tz = _zone_or_error(timezone, env)
    if isinstance(tz, XError):
        return tz
    default = f"{env.date_format} {env.time_format}"
    return _layout(value.astimezone(tz), layout, default, dates.DATETIME_MODE, env)


@builtin("format_time", "time", "text?")
def _format_time(env: Environment, value: dt.time, layout: str | None) -> object:
    moment = dt.datetime.combine(dt.date(2000, 1, 1), value, tzinfo=dt.UTC)
    return _layout(moment, layout, env.time_format, dates.TIME_MODE, env)


@builtin("format_number", "number", "integer?", "bool?")
def _format_number(env: Environment, value: Decimal, places: int | None, humanize: bool | None) -> object:
    if places is not None and not 0 <= places <= 9:
        return XError(f"must take 0-9 number of places, got {places}")
    try:
        return numbers.format_number(
            value, places, humanize is not False, env.digit_grouping_symbol, env.decimal_symbol
        )
    except NumberError as exc:
        return XError(str(exc))


@builtin("format_location", "text")
def _format_location(env: Environment, value: str) -> object:
    return value.split(">")[-1].strip(text.GO_SPACE)


# --- utilities ------------------------------------------------------------------------------------------------


@builtin("is_error", "value")
def _is_error(env: Environment, value: object) -> object:
    return isinstance(value, XError)


def _is_empty(value: object) -> bool:
    if value is None or value == "":
        return True
    if is_array(value):
        return len(value) == 0  # type: ignore[arg-type]
    if isinstance(value, Mapping):
        return not visible_keys(value) and DEFAULT not in value
    return False


@builtin("default", "value", "value")
def _default(env: Environment, value: object, fallback: object) -> object:
    return fallback if _is_empty(value) or isinstance(value, XError) else value


@builtin("legacy_add", "value", "value")
def _legacy_add(env: Environment, first: object, second: object) -> object:
    """The legacy engine's ``+``: a date plus a number of days, or two numbers."""
    first_date, second_date = to_datetime(first, env), to_datetime(second, env)
    first_number, second_number = to_number(first, env), to_number(second, env)
    first_is_date = not isinstance(first_date, XError)
    second_is_date = not isinstance(second_date, XError)
    if first_is_date and second_is_date:
        return XError("cannot operate on two dates")
    for moment, days in ((first_date, second_number), (second_date, first_number)):
        if isinstance(moment, dt.datetime) and isinstance(days, Decimal):
            whole = int(days) if days.adjusted() < 10 else None
            if whole is None or not numbers.INT32[0] <= whole <= numbers.INT32[1]:
                return XError("cannot operate on integers greater than 32 bit")
            moved = dates.add_calendar(moment, days=whole)
            return moved if moved is not None else XError("the resulting date is out of range")
    if isinstance(first_number, XError):
        return first_number
    if isinstance(second_number, XError):
        return second_number
    augend, addend = first_number, second_number
    return _number_result(lambda: numbers.add(augend, addend))


@builtin("read_chars", "text")
def _read_chars(env: Environment, value: str) -> object:
    value = value.lstrip("+")
    for size in (3, 4):
        if value and len(value) % size == 0:
            return " , ".join(" ".join(value[i : i + size]) for i in range(0, len(value), size))
    return " , ".join(value)


# --- router tests as functions --------------------------------------------------------------------------------------


def _test_as_function(name: str) -> XFunction:
    run = routertests.test_function(name)

    def call(env: Environment, args: Sequence[object]) -> object:
        outcome = run(env, args)
        if isinstance(outcome, XError):
            return outcome
        if outcome is None:
            return {DEFAULT: False, "match": ""}
        result: dict[str, object] = {DEFAULT: True, "match": outcome.match}
        if outcome.extra:
            result["extra"] = dict(outcome.extra)
        return result

    return XFunction(name, call)


for _name in routertests.KNOWN_TESTS:
    _REGISTRY[_name] = _test_as_function(_name)
