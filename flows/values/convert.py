"""The values expressions and router tests work with, and every conversion between them, in one place.

Values are plain Python: ``None`` (null), ``str`` (text), ``Decimal`` (number; ``int`` and ``float`` are accepted
and read as numbers), ``bool``, ``datetime.date``, ``datetime.datetime`` (aware), ``datetime.time``, lists
(arrays), mappings (objects) and two of our own: ``XError``, an error travelling as a value, and ``XFunction``.

An object may carry a ``"__default__"`` key: the value that stands for the object when it is rendered, compared
or converted (``@contact`` is the contact's name, ``@results.color`` the result's value). Keys starting with
``__`` are never listed, counted or serialised. Property lookups ignore case, as in RapidPro.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from flows.env import Environment
from flows.values import dates, numbers
from flows.values.numbers import NumberError

DEFAULT = "__default__"


@dataclass(frozen=True)
class XError:
    """An error as a value: it flows through expressions until something renders it (as nothing) or tests it."""

    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, eq=False)
class XFunction:
    """A callable value: a built-in function, a router test, or an anonymous ``(x) => ...`` function."""

    name: str
    call: Callable[[Environment, Sequence[object]], object]

    def __call__(self, env: Environment, args: Sequence[object]) -> object:
        return self.call(env, args)


def call_error(function: str, error: XError) -> XError:
    """An error from calling a function, named as RapidPro names it: ``error calling UPPER: ...``."""
    return XError(f"error calling {function.upper()}: {error.message}")


def arity_problem(given: int, low: int, high: int | None) -> str | None:
    """Why ``given`` arguments do not fit a function taking ``low`` to ``high`` (None: any number more)."""
    if high is None:
        if given < low:
            return f"need at least {low} argument(s), got {given}"
    elif not low <= given <= high:
        need = str(low) if low == high else f"{low} to {high}"
        return f"need {need} argument(s), got {given}"
    return None


# --- inspecting values ----------------------------------------------------------------------------------------


def is_array(value: object) -> bool:
    return isinstance(value, list | tuple)


def is_object(value: object) -> bool:
    return isinstance(value, Mapping)


def visible_keys(value: Mapping[str, object]) -> list[str]:
    return [k for k in value if not k.startswith("__")]


def default_of(value: Mapping[str, object]) -> tuple[bool, object]:
    if DEFAULT in value:
        return True, value[DEFAULT]
    return False, None


def get_property(value: Mapping[str, object], key: str) -> tuple[bool, object]:
    """Look up a property ignoring case (an exact match wins)."""
    if key in value:
        return True, value[key]
    folded = key.lower()
    for candidate, found in value.items():
        if candidate.lower() == folded:
            return True, found
    return False, None


def as_number(value: object) -> Decimal | None:
    """The number a value holds natively (``Decimal``, ``int``, ``float``; never ``bool``), else None."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else None
    return None


def describe(value: object) -> str:
    """How a value is named in error messages."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    number = as_number(value)
    if number is not None:
        return numbers.render(number)
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time"
    if is_array(value):
        return "array"
    if isinstance(value, XFunction):
        return "function"
    if isinstance(value, XError):
        return "error"
    return "object"


def with_zone(value: dt.datetime, env: Environment) -> dt.datetime:
    """Datetimes are meant to be aware; a naive one is read as local time in the environment's timezone."""
    return value if value.tzinfo is not None else value.replace(tzinfo=env.tz)


# --- conversions ------------------------------------------------------------------------------------------------


def to_text(value: object, env: Environment) -> str | XError:
    """The text of a value, as RapidPro renders it in a message (``XError`` if the value is an error)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, XError):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    number = as_number(value)
    if number is not None:
        return numbers.render(number)
    if isinstance(value, dt.datetime):
        return dates.render_datetime(with_zone(value, env))
    if isinstance(value, dt.date):
        return dates.render_date(value)
    if isinstance(value, dt.time):
        return dates.render_time(value)
    if isinstance(value, XFunction):
        return value.name
    if is_array(value):
        assert isinstance(value, list | tuple)
        return "[" + ", ".join(_text_or_message(item, env) for item in value) + "]"
    if isinstance(value, Mapping):
        has_default, default = default_of(value)
        if has_default:
            return to_text(default, env)
        pairs = (f"{key}: {_text_or_message(value[key], env)}" for key in sorted(visible_keys(value)))
        return "{" + ", ".join(pairs) + "}"
    return XError(f"unable to convert {type(value).__name__} to text")


def _text_or_message(value: object, env: Environment) -> str:
    text = to_text(value, env)
    return text.message if isinstance(text, XError) else text


def render_value(value: object, env: Environment) -> str:
    """The text a value becomes in a message; an error becomes nothing (as in a RapidPro template)."""
    text = to_text(value, env)
    return "" if isinstance(text, XError) else text


def format_value(value: object, env: Environment) -> str | XError:
    """A value formatted for people (the ``format()`` function): numbers grouped, dates in the environment's
    date and time formats and timezone."""
    if isinstance(value, XError):
        return value
    number = as_number(value)
    if number is not None:
        return numbers.format_number(number, None, True, env.digit_grouping_symbol, env.decimal_symbol)
    if isinstance(value, dt.datetime):
        layout = f"{env.date_format} {env.time_format}"
        return dates.format_layout(
            with_zone(value, env).astimezone(env.tz), layout, dates.DATETIME_MODE, env.locale
        )
    if isinstance(value, dt.date):
        midnight = dt.datetime.combine(value, dt.time(), tzinfo=env.tz)
        return dates.format_layout(midnight, env.date_format, dates.DATE_MODE, env.locale)
    if isinstance(value, dt.time):
        moment = dt.datetime.combine(dt.date(2000, 1, 1), value.replace(tzinfo=None), tzinfo=dt.UTC)
        return dates.format_layout(moment, env.time_format, dates.TIME_MODE, env.locale)
    if isinstance(value, Mapping):
        has_default, default = default_of(value)
        if has_default:
            return format_value(default, env)
    return to_text(value, env)


def to_number(value: object, env: Environment) -> Decimal | XError:
    number = as_number(value)
    if number is not None:
        return number
    if isinstance(value, XError):
        return value
    if isinstance(value, str):
        parsed = numbers.parse_strict(value)
        if parsed is not None:
            return parsed
    elif isinstance(value, Mapping):
        has_default, default = default_of(value)
        if has_default:
            return to_number(default, env)
    return XError(f"unable to convert {describe(value)} to a number")


def to_integer(value: object, env: Environment) -> int | XError:
    number = to_number(value, env)
    if isinstance(number, XError):
        return number
    try:
        return numbers.to_int(number)
    except NumberError as exc:
        return XError(str(exc))


def to_bool(value: object, env: Environment) -> bool | XError:
    """Truthiness: false, 0, empty text, "false", empty arrays and objects, and null are false."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, XError):
        return value
    if isinstance(value, str):
        return value != "" and value.lower() != "false"
    number = as_number(value)
    if number is not None:
        return not number.is_zero()
    if isinstance(value, dt.time):
        return value != dt.time()
    if is_array(value):
        return len(value) > 0  # type: ignore[arg-type]
    if isinstance(value, Mapping):
        has_default, default = default_of(value)
        if has_default:
            return to_bool(default, env)
        return len(visible_keys(value)) > 0
    return True


def to_datetime(value: object, env: Environment, *, fill_time: bool = False) -> dt.datetime | XError:
    if isinstance(value, dt.datetime):
        return with_zone(value, env)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=env.tz)
    if isinstance(value, XError):
        return value
    if isinstance(value, str):
        parsed = dates.parse_datetime_text(value, env, fill_time=fill_time)
        if parsed is not None:
            return parsed
    elif isinstance(value, Mapping):
        has_default, default = default_of(value)
        if has_default:
            return to_datetime(default, env, fill_time=fill_time)
    return XError(f"unable to convert {describe(value)} to a datetime")


def to_date(value: object, env: Environment) -> dt.date | XError:
    if isinstance(value, dt.datetime):
        return with_zone(value, env).astimezone(env.tz).date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, XError):
        return value
    if isinstance(value, str):
        found = dates.parse_date_text(value, env)
        if found is not None:
            return found[0]
    elif isinstance(value, Mapping):
        has_default, default = default_of(value)
        if has_default:
            return to_date(default, env)
    return XError(f"unable to convert {describe(value)} to a date")


def to_time(value: object, env: Environment) -> dt.time | XError:
    if isinstance(value, dt.time):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.datetime):
        return with_zone(value, env).time()
    if isinstance(value, XError):
        return value
    number = as_number(value)
    if number is not None:
        hour = int(number) if number.adjusted() < 3 else -1
        if 0 <= hour <= 23:
            return dt.time(hour)
        if hour == 24:
            return dt.time()
    elif isinstance(value, str):
        parsed = dates.parse_iso_time(value) or dates.parse_time_text(value)
        if parsed is not None:
            return parsed
    elif isinstance(value, Mapping):
        has_default, default = default_of(value)
        if has_default:
            return to_time(default, env)
    return XError(f"unable to convert {describe(value)} to a time")


def to_array(value: object) -> Sequence[object] | XError:
    if value is None:
        return []
    if isinstance(value, XError):
        return value
    if isinstance(value, list | tuple):
        return value
    return XError(f"unable to convert {describe(value)} to an array")


def to_object(value: object) -> Mapping[str, object] | XError:
    if value is None:
        return {}
    if isinstance(value, XError):
        return value
    if isinstance(value, Mapping):
        return value
    return XError(f"unable to convert {describe(value)} to an object")


# --- comparing --------------------------------------------------------------------------------------------------


def _reduce(value: object) -> object:
    while isinstance(value, Mapping) and DEFAULT in value:
        value = value[DEFAULT]
    number = as_number(value)
    return number if number is not None else value


def equals(a: object, b: object, env: Environment) -> bool:
    """Typed equality (used by ``unique`` and ``contains``): values of different types are never equal."""
    a, b = _reduce(a), _reduce(b)
    if a is None or b is None:
        return a is b
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a == b
    if type(a) is not type(b) and not (is_array(a) and is_array(b)):
        return False
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return with_zone(a, env) == with_zone(b, env)
    if isinstance(a, str | bool | dt.date | dt.time | XError):
        return a == b
    return to_json(a, env) == to_json(b, env)


def compare(a: object, b: object, env: Environment) -> int | XError:
    """Order two values of the same sortable type (numbers, text, dates, datetimes, times)."""
    a, b = _reduce(a), _reduce(b)
    for value in (a, b):
        if not isinstance(value, Decimal | str | dt.date | dt.time) or isinstance(value, bool):
            return XError(f"{describe(value)} isn't a comparable type")
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        a, b = with_zone(a, env), with_zone(b, env)
    elif type(a) is not type(b):
        return XError(f"can't compare {describe(a)} and {describe(b)}")
    assert isinstance(a, Decimal | str | dt.date | dt.time)
    return (a > b) - (a < b)  # type: ignore[operator]


# --- JSON -----------------------------------------------------------------------------------------------------


def to_json(value: object, env: Environment) -> str | XError:
    """Compact JSON with sorted keys, numbers exactly as rendered (``1234.5678``), dates as ISO text."""
    try:
        return _json(value, env)
    except _Unjsonable as exc:
        return XError(str(exc))
    except RecursionError:
        return XError("value is too deeply nested to convert to JSON")


class _Unjsonable(Exception):
    pass


def _json_text(text: str) -> str:
    # Go's encoder also escapes the two Unicode line separators.
    return json.dumps(text, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _json(value: object, env: Environment) -> str:
    if value is None or isinstance(value, XFunction):
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _json_text(value)
    number = as_number(value)
    if number is not None:
        return numbers.render(number)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return _json_text(render_value(value, env))
    if isinstance(value, XError):
        raise _Unjsonable(value.message)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json(item, env) for item in value) + "]"
    if isinstance(value, Mapping):
        keys = sorted(str(k) for k in value if not str(k).startswith("__"))
        return "{" + ",".join(f"{_json_text(k)}:{_json(value[k], env)}" for k in keys) + "}"
    raise _Unjsonable(f"unable to convert {type(value).__name__} to JSON")


def from_json(text: str) -> object | XError:
    """JSON text as values (numbers become ``Decimal``)."""

    def refuse(name: str) -> object:
        raise ValueError(f"{name} is not valid JSON")

    try:
        parsed: object = json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=refuse)
    except (ValueError, RecursionError) as exc:
        return XError(f"unable to parse JSON: {exc}")
    if _nesting(parsed) > MAX_JSON_NESTING:
        return XError(f"unable to parse JSON: nested deeper than {MAX_JSON_NESTING} levels")
    return parsed


MAX_JSON_NESTING = 64


def _nesting(value: object) -> int:
    deepest = 0
    stack = [(value, 0)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(current, list):
            stack.extend((item, level + 1) for item in current)
        elif isinstance(current, dict):
            stack.extend((item, level + 1) for item in current.values())
    return deepest
