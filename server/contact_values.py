"""What a contact attribute or field value may be, and how text becomes a typed value.

The API and the CSV import both read contact data through these functions, so a value refused by one is
refused by the other, for the same reason, in the same words. Dates and naive datetimes are read in the
programme timezone: "01/03/2027" on a register in Oaxaca is the first of March there.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from decimal import Context, Decimal, InvalidOperation
from typing import NamedTuple

from server.db.schema import CONTACT_STATUSES, FIELD_TYPES

NAME_MAX = 128  # RapidPro's contact name limit
VALUE_MAX = 640  # RapidPro's field value limit
FIELD_KEY_MAX = 36
FIELD_LABEL_MAX = 64
GROUP_NAME_MAX = 64
TIMEZONE_MAX = 64
NUMBER_INTEGER_DIGITS = 28  # contact_fields.number_value is NUMERIC(36, 8)
NUMBER_DECIMALS = 8

_NUMBER_STEP = Decimal(1).scaleb(-NUMBER_DECIMALS)
_NUMBER_CONTEXT = Context(prec=NUMBER_INTEGER_DIGITS + NUMBER_DECIMALS)
_FIELD_KEY = re.compile(r"[a-z][a-z0-9_]*")
# Names that contact expressions (@contact.name, @contact.groups, ...) already use; a field by one of these
# names could never be reached from a flow.
RESERVED_FIELD_KEYS = frozenset(
    {
        "id", "uuid", "ref", "name", "first_name", "display", "language", "timezone", "status", "groups",
        "fields", "urn", "urns", "tel", "phone", "channel", "created_on", "modified_on", "last_seen_on",
        "created_at", "updated_at", "last_seen_at", "is", "has",
    }
)  # fmt: skip
_LANGUAGE = re.compile(r"[a-z]{3}")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
# Day first, as Mexico writes dates: 01/03/2027, 1/3/2027, 01-03-2027, 01.03.2027.
_DAY_FIRST = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})")
_TIME = r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
_OFFSET = r"(Z|[+-]\d{2}:?\d{2})?"
_ISO_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2})[T ]" + _TIME + _OFFSET, re.IGNORECASE)
_DAY_FIRST_DATETIME = re.compile(r"(\d{1,2}([/.-])\d{1,2}\2\d{4})[T ]" + _TIME)
# C0 controls other than tab and newlines, and lone surrogates: PostgreSQL refuses NUL in text, and neither
# backend can store half a surrogate pair.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class InvalidValue(ValueError):
    """One value cannot be used; ``reason`` says why without repeating the value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TypedValue(NamedTuple):
    """A field value as stored: ``text`` always, plus the typed column for the field's type.

    A tuple rather than a dataclass: an import builds one per cell, and tuples are built several times faster.
    """

    text: str
    number: Decimal | None = None
    date: dt.date | None = None
    datetime: dt.datetime | None = None


def clean_text(value: str, *, max_length: int) -> str:
    """Trimmed text, refused when too long or holding characters no database can keep."""
    text = value.strip()
    if len(text) > max_length:
        raise InvalidValue(f"is longer than {max_length} characters")
    if _UNSTORABLE.search(text):
        raise InvalidValue("contains control characters")
    return text


def check_field_key(key: str) -> str:
    if not key:
        raise InvalidValue("is empty")
    if len(key) > FIELD_KEY_MAX:
        raise InvalidValue(f"is longer than {FIELD_KEY_MAX} characters")
    if not _FIELD_KEY.fullmatch(key):
        raise InvalidValue("must be lower case letters, digits and _, starting with a letter")
    if key in RESERVED_FIELD_KEYS:
        raise InvalidValue(f"{key!r} is a built-in contact attribute")
    return key


def check_value_type(value_type: str) -> str:
    if value_type not in FIELD_TYPES:
        raise InvalidValue(f"must be one of {', '.join(FIELD_TYPES)}")
    return value_type


def check_language(value: str) -> str:
    """An ISO 639-3 code (``spa``, ``nah``, ``yua``); written in any case, stored lower case."""
    code = value.strip().lower()
    if not _LANGUAGE.fullmatch(code):
        raise InvalidValue("must be a three-letter ISO 639-3 code such as spa")
    return code


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(value: str) -> str:
    name = value.strip()
    if len(name) > TIMEZONE_MAX or name not in _timezones():
        raise InvalidValue("must be an IANA timezone name such as America/Mexico_City")
    return name


def check_status(value: str) -> str:
    if value not in CONTACT_STATUSES:
        raise InvalidValue(f"must be one of {', '.join(CONTACT_STATUSES)}")
    return value


def parse_value(value_type: str, raw: str | int | float | Decimal, tz: dt.tzinfo) -> TypedValue:
    """Read a field value of ``value_type``. Text comes from CSV cells and JSON; numbers from JSON too."""
    if isinstance(raw, bool):  # a JSON true is not the number 1
        raise InvalidValue(f"must be a {value_type}, not true or false")
    if not isinstance(raw, str):
        if value_type != "number":
            raise InvalidValue(f"must be a {value_type} written as text")
        return _number(Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw), str(raw))
    if len(raw) > VALUE_MAX:  # never keep a huge cell in the cache below, even one that trims to a value
        return _parse_text.__wrapped__(value_type, raw, tz)
    return _parse_text(value_type, raw, tz)


# Columns of a register repeat their values (a few hundred due dates, a handful of clinics); reading each once
# halves the cost of an import. Only successes are kept, and they are immutable.
@functools.lru_cache(maxsize=4096)
def _parse_text(value_type: str, raw: str, tz: dt.tzinfo) -> TypedValue:
    text = clean_text(raw, max_length=VALUE_MAX)
    if not text:
        raise InvalidValue("is empty")
    if value_type == "text":
        return TypedValue(text)
    if value_type == "number":
        if not _NUMBER.fullmatch(text):
            raise InvalidValue("must be a number such as 12 or 3.5")
        return _number(Decimal(text), text)
    if value_type == "date":
        day = parse_date(text, tz)
        return TypedValue(day.isoformat(), date=day)
    if value_type == "datetime":
        moment = parse_datetime(text, tz)
        return TypedValue(moment.astimezone(tz).isoformat(), datetime=moment.astimezone(dt.UTC))
    raise InvalidValue(f"has an unknown field type {value_type!r}")


def _number(number: Decimal, text: str) -> TypedValue:
    if not number.is_finite():
        raise InvalidValue("must be a finite number")
    try:
        rounded = number.quantize(_NUMBER_STEP, context=_NUMBER_CONTEXT)
    except InvalidOperation:
        rounded = None
    if rounded is None or rounded.adjusted() >= NUMBER_INTEGER_DIGITS:
        raise InvalidValue(f"must have at most {NUMBER_INTEGER_DIGITS} digits before the decimal point")
    return TypedValue(text, number=rounded)


def parse_date(text: str, tz: dt.tzinfo) -> dt.date:
    """ISO ``2027-03-01``, day-first ``01/03/2027``, or a datetime (its date in the programme timezone)."""
    text = text.strip()
    try:
        if match := _ISO_DATE.fullmatch(text):
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        if match := _DAY_FIRST.fullmatch(text):
            return dt.date(int(match[4]), int(match[3]), int(match[1]))
    except ValueError:
        raise InvalidValue("is not a date in the calendar") from None
    if _ISO_DATETIME.fullmatch(text) or _DAY_FIRST_DATETIME.fullmatch(text):
        return parse_datetime(text, tz).astimezone(tz).date()
    raise InvalidValue("must be a date written 2027-03-01 or 01/03/2027 (day first)")


def parse_datetime(text: str, tz: dt.tzinfo) -> dt.datetime:
    """ISO 8601; a naive time, or a date alone (midnight), is read in the programme timezone."""
    text = text.strip()
    try:
        if match := _ISO_DATETIME.fullmatch(text):
            moment = dt.datetime.fromisoformat(text.replace("z", "Z"))
        elif match := _DAY_FIRST_DATETIME.fullmatch(text):
            day = parse_date(match[1], tz)
            moment = dt.datetime.combine(day, dt.time.fromisoformat(text[len(match[1]) + 1 :]))
        elif _ISO_DATE.fullmatch(text) or _DAY_FIRST.fullmatch(text):
            moment = dt.datetime.combine(parse_date(text, tz), dt.time())
        else:
            raise InvalidValue("must be a date and time such as 2027-03-01T09:30 or 2027-03-01T09:30-06:00")
    except ValueError as exc:
        if isinstance(exc, InvalidValue):
            raise
        raise InvalidValue("is not a time in the calendar") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)
