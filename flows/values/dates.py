"""Dates and times as RapidPro reads and writes them.

Reading what people type (goflow ``envs/dates.go``):

- A strict ISO datetime (``2017-01-15T10:30:00-06:00``) is taken as it is.
- Otherwise the text may start with an ISO date (``2017-01-15``), or hold a date in the environment's order
  anywhere: day first in Mexico, so ``15/01/2017``, ``15-1-17`` and ``15.01.2017`` are all 15 January 2017.
  Separators are ``-`` ``.`` ``/`` ``\\`` ``_`` and space; a two-digit year later than this year's last two
  digits is in the 1900s. Month names are not read (goflow reads only numbers).
- A time is looked for in what follows the date: ``10:30``, ``10:30:45``, ``1030``, ``10 pm``, ``10:30pm``;
  ``24:00`` is midnight. When there is none, ``has_date`` fills in the current time of day.

Writing: datetimes render as ISO 8601 with microseconds (``2017-01-15T10:30:00.000000-06:00``, ``Z`` for
UTC); layouts such as ``DD/MM/YYYY tt:mm`` format and parse them, with month and day names in Spanish or
English.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from flows.env import Environment

_DAY_FIRST = re.compile(r"\b([0-9]{1,2})[-.\\/_ ]([0-9]{1,2})[-.\\/_ ]([0-9]{4}|[0-9]{2})\b", re.ASCII)
_YEAR_FIRST = re.compile(r"\b([0-9]{4}|[0-9]{2})[-.\\/_ ]([0-9]{1,2})[-.\\/_ ]([0-9]{1,2})\b", re.ASCII)
# (group index of day, month, year) for each date format
_DATE_PATTERNS = {
    "DD-MM-YYYY": (_DAY_FIRST, 1, 2, 3),
    "MM-DD-YYYY": (_DAY_FIRST, 2, 1, 3),
    "YYYY-MM-DD": (_YEAR_FIRST, 3, 2, 1),
}
_TIME = re.compile(
    r"\b(\d{1,2})(?:(?:\:)?(\d{2})(?:\:(\d{2})(?:\.(\d+))?)?)?\W*([aApP][mM])?\b",
    re.ASCII,
)
_ISO_DATE_PREFIX = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_ISO_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
_ISO_TIME = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?", re.ASCII)


# --- rendering ---------------------------------------------------------------------------------------------


def offset_text(value: dt.datetime, *, zulu: bool, colon: bool = True) -> str:
    offset = value.utcoffset() or dt.timedelta(0)
    if zulu and not offset:
        return "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{':' if colon else ''}{minutes:02d}"


def render_datetime(value: dt.datetime) -> str:
    """``2017-01-15T10:30:00.000000-06:00``: the form RapidPro gives a datetime in messages and results."""
    return f"{value.year:04d}-{value:%m-%dT%H:%M:%S.%f}{offset_text(value, zulu=True)}"


def render_date(value: dt.date) -> str:
    return f"{value.year:04d}-{value:%m-%d}"


def render_time(value: dt.time) -> str:
    return value.strftime("%H:%M:%S.%f")


# --- calendar arithmetic as Go does it ----------------------------------------------------------------------


def make_date(year: int, month: int, day: int) -> dt.date | None:
    """A date with overflowing months and days carried over (31 February → 3 March), or None if out of range."""
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        return None
    try:
        return dt.date(year, month, 1) + dt.timedelta(days=day - 1)
    except OverflowError:
        return None


def add_calendar(value: dt.datetime, *, years: int = 0, months: int = 0, days: int = 0) -> dt.datetime | None:
    """Add calendar units keeping the wall-clock time; overflowing days carry over, as in Go's ``AddDate``."""
    shifted = make_date(value.year + years, value.month + months, value.day)
    if shifted is None:
        return None
    try:
        moved = dt.datetime.combine(shifted, value.timetz()) + dt.timedelta(days=days)
    except OverflowError:
        return None
    return normalise(moved)


def normalise(value: dt.datetime) -> dt.datetime:
    """Resolve a wall-clock time that a DST change skipped, by a round trip through UTC."""
    if value.tzinfo is None or value.tzinfo is dt.UTC or isinstance(value.tzinfo, dt.timezone):
        return value
    try:
        return value.astimezone(dt.UTC).astimezone(value.tzinfo)
    except OverflowError:
        return value


def days_between(later: dt.datetime, earlier: dt.datetime) -> int:
    """Calendar days between the local dates of two datetimes."""
    return (later.date() - earlier.date()).days


def months_between(later: dt.datetime, earlier: dt.datetime) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def week_number(value: dt.date) -> int:
    """Weeks start on Sunday and the week holding 1 January is week 1."""
    first_weekday = (dt.date(value.year, 1, 1).weekday() + 1) % 7
    return (value.timetuple().tm_yday - 1 + first_weekday) // 7 + 1


def weekday(value: dt.date) -> int:
    """Sunday is 0."""
    return (value.weekday() + 1) % 7


# --- reading what people type -------------------------------------------------------------------------------


def parse_time_text(text: str) -> dt.time | None:
    """The first believable time of day in ``text``."""
    for match in _TIME.finditer(text):
        hour_text, minute_text, second_text, fraction, meridiem = match.groups()
        hour = int(hour_text)
        minute = int(minute_text or 0)
        second = int(second_text or 0)
        meridiem = (meridiem or "").lower()
        if hour < 12 and meridiem == "pm":
            hour += 12
        elif hour == 12 and meridiem == "am":
            hour = 0
        nanos = int(fraction[:9].ljust(9, "0")) if fraction else 0
        if hour == 24 and minute == 0 and second == 0 and nanos == 0:
            hour = 0
        if hour > 23 or minute > 59 or second > 59:
            # Go accepts 24:xx and :60 here and rolls them over; Python's time cannot hold them, and no one
            # types them, so they do not count as times.
            continue
        return dt.time(hour, minute, second, nanos // 1000)
    return None


def _two_digit_year(year: int, env: Environment) -> int:
    if year > env.now.astimezone(dt.UTC).year % 1000:
        return year + 1900
    return year + 2000


def parse_date_text(text: str, env: Environment) -> tuple[dt.date, str] | None:
    """The date at the start (ISO) or anywhere in ``text`` (the environment's order), and the text after it."""
    text = text.strip(" \n\r\t")
    iso = _ISO_DATE_PREFIX.match(text)
    if iso:
        try:
            return dt.date(int(iso[1]), int(iso[2]), int(iso[3])), text[10:]
        except ValueError:
            pass
    pattern, day_group, month_group, year_group = _DATE_PATTERNS[env.date_format]
    for match in pattern.finditer(text):
        day = int(match[day_group])
        month = int(match[month_group])
        if not 1 <= day <= 31 or not 1 <= month <= 12:
            continue
        year_text = match[year_group]
        year = int(year_text)
        if len(year_text) == 2:
            year = _two_digit_year(year, env)
        date = make_date(year, month, day)
        if date is None:
            continue
        return date, text[match.end() :]
    return None


def parse_iso_datetime(text: str, env: Environment) -> dt.datetime | None:
    match = _ISO_DATETIME.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if offset == "Z":
        tzinfo: dt.tzinfo = dt.UTC
    else:
        sign = -1 if offset[0] == "-" else 1
        delta = dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
        if delta >= dt.timedelta(hours=24):
            return None
        tzinfo = dt.timezone(sign * delta)
    try:
        value = dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "")[:6].ljust(6, "0")),
            tzinfo=tzinfo,
        )
    except ValueError:
        return None
    if offset != "Z":
        # When the offset is the environment's own at that moment, the time belongs to its timezone.
        local = value.astimezone(env.tz)
        if local.utcoffset() == value.utcoffset():
            return local
    return value


def parse_datetime_text(text: str, env: Environment, *, fill_time: bool = False) -> dt.datetime | None:
    """A datetime from what a person typed, in the environment's timezone unless the text says otherwise."""
    text = text.strip(" \n\r\t")
    iso = parse_iso_datetime(text, env)
    if iso is not None:
        return iso
    found = parse_date_text(text, env)
    if found is None:
        return None
    date, rest = found
    time = parse_time_text(rest)
    if time is None:
        time = env.local_now().time().replace(tzinfo=None) if fill_time else dt.time()
    return dt.datetime.combine(date, time, tzinfo=env.tz)


def parse_iso_time(text: str) -> dt.time | None:
    match = _ISO_TIME.fullmatch(text)
    if not match:
        return None
    try:
        return dt.time(int(match[1]), int(match[2]), int(match[3]), int((match[4] or "")[:6].ljust(6, "0")))
    except ValueError:
        return None


# --- layouts: DD-MM-YYYY, tt:mm, EEEE D 'de' MMMM ... --------------------------------------------------------

DATE_MODE = "date"
TIME_MODE = "time"
DATETIME_MODE = "datetime"

_IGNORED = frozenset(" :/.,T-_")
# sequence → (kind, parseable)
_SEQUENCES: dict[str, tuple[str, bool]] = {
    "YY": (DATE_MODE, True),
    "YYYY": (DATE_MODE, True),
    "M": (DATE_MODE, True),
    "MM": (DATE_MODE, True),
    "MMM": (DATE_MODE, False),
    "MMMM": (DATE_MODE, False),
    "D": (DATE_MODE, True),
    "DD": (DATE_MODE, True),
    "EEE": (DATE_MODE, False),
    "EEEE": (DATE_MODE, False),
    "fff": (TIME_MODE, True),
    "ffffff": (TIME_MODE, True),
    "fffffffff": (TIME_MODE, True),
    "h": (TIME_MODE, True),
    "hh": (TIME_MODE, True),
    "t": (TIME_MODE, True),
    "tt": (TIME_MODE, True),
    "m": (TIME_MODE, True),
    "mm": (TIME_MODE, True),
    "s": (TIME_MODE, True),
    "ss": (TIME_MODE, True),
    "aa": (TIME_MODE, True),
    "AA": (TIME_MODE, True),
    "Z": (DATETIME_MODE, True),
    "ZZZ": (DATETIME_MODE, True),
}


@dataclass(frozen=True)
class _Names:
    months: tuple[str, ...]
    short_months: tuple[str, ...]
    days: tuple[str, ...]  # Sunday first
    short_days: tuple[str, ...]
    am_pm: tuple[str, str]


_ENGLISH = _Names(
    months=(
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    short_months=("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    days=("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"),
    short_days=("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"),
    am_pm=("AM", "PM"),
)
_SPANISH = _Names(
    months=(
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ),
    short_months=("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"),
    days=("domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"),
    short_days=("dom", "lun", "mar", "mié", "jue", "vie", "sáb"),
    am_pm=("AM", "PM"),
)


def _names(locale: str) -> _Names:
    return _SPANISH if locale.startswith("es") else _ENGLISH


class LayoutError(ValueError):
    pass


def _layout_sequences(layout: str, mode: str, parseable: bool) -> list[tuple[str, bool]]:
    """Split a layout into (sequence, is_literal) pieces, checking each sequence is allowed in ``mode``."""
    pieces = []
    i = 0
    while i < len(layout):
        char = layout[i]
        j = i + 1
        if char in _IGNORED:
            while j < len(layout) and layout[j] in _IGNORED:
                j += 1
            pieces.append((layout[i:j], True))
        else:
            while j < len(layout) and layout[j] == char:
                j += 1
            sequence = layout[i:j]
            known = _SEQUENCES.get(sequence)
            allowed = known is not None and (mode == DATETIME_MODE or known[0] == mode)
            if not allowed or (parseable and known is not None and not known[1]):
                raise LayoutError(f"'{sequence}' is not valid in a {mode} format")
            pieces.append((sequence, False))
        i = j
    return pieces


def check_layout(layout: str, mode: str) -> str | None:
    """An error message when ``layout`` is not a valid format for ``mode``."""
    try:
        _layout_sequences(layout, mode, False)
    except LayoutError as exc:
        return str(exc)
    return None


def _format_piece(sequence: str, value: dt.datetime, names: _Names) -> str:
    hour12 = value.hour % 12 or 12
    match sequence:
        case "YY":
            return f"{value.year % 100:02d}"
        case "YYYY":
            return f"{value.year:04d}"
        case "M":
            return str(value.month)
        case "MM":
            return f"{value.month:02d}"
        case "MMM":
            return names.short_months[value.month - 1]
        case "MMMM":
            return names.months[value.month - 1]
        case "D":
            return str(value.day)
        case "DD":
            return f"{value.day:02d}"
        case "EEE":
            return names.short_days[weekday(value)]
        case "EEEE":
            return names.days[weekday(value)]
        case "h":
            return str(hour12)
        case "hh":
            return f"{hour12:02d}"
        case "t":
            return str(value.hour)
        case "tt":
            return f"{value.hour:02d}"
        case "m":
            return str(value.minute)
        case "mm":
            return f"{value.minute:02d}"
        case "s":
            return str(value.second)
        case "ss":
            return f"{value.second:02d}"
        case "fff" | "ffffff" | "fffffffff":
            return f"{value.microsecond:06d}000"[: len(sequence)]
        case "aa":
            return names.am_pm[value.hour >= 12].lower()
        case "AA":
            return names.am_pm[value.hour >= 12].upper()
        case "Z":
            return offset_text(value, zulu=True)
        case _:  # "ZZZ"
            return offset_text(value, zulu=False)


def format_layout(value: dt.datetime, layout: str, mode: str, locale: str) -> str:
    """Format with a RapidPro layout (``DD-MM-YYYY``, ``h:mm aa``, ``EEEE D MMMM``...)."""
    names = _names(locale)
    return "".join(
        sequence if literal else _format_piece(sequence, value, names)
        for sequence, literal in _layout_sequences(layout, mode, False)
    )


_DIGITS = {
    "YYYY": r"\d{4}",
    "YY": r"\d{2}",
    "M": r"\d{1,2}",
    "MM": r"\d{2}",
    "D": r"\d{1,2}",
    "DD": r"\d{2}",
    "h": r"\d{1,2}",
    "hh": r"\d{2}",
    "t": r"\d{1,2}",
    "tt": r"\d{1,2}",
    "m": r"\d{1,2}",
    "mm": r"\d{2}",
    "s": r"\d{1,2}",
    "ss": r"\d{2}",
    "fff": r"\d{3}",
    "ffffff": r"\d{6}",
    "fffffffff": r"\d{9}",
    "aa": "am|pm",
    "AA": "AM|PM",
    "Z": r"Z|[+-]\d{2}:\d{2}",
    "ZZZ": r"[+-]\d{2}:\d{2}",
}


def parse_layout(text: str, layout: str, mode: str, tz: dt.tzinfo) -> dt.datetime:
    """Parse ``text`` with a RapidPro layout; the result is in ``tz``. ``LayoutError`` says why it failed."""
    pieces = _layout_sequences(layout, mode, True)
    pattern = []
    fraction_follows = {i for i, (s, _) in enumerate(pieces) if s.startswith("f")}
    for index, (sequence, literal) in enumerate(pieces):
        if literal:
            pattern.append(re.escape(sequence))
            continue
        pattern.append(f"(?P<p{index}>{_DIGITS[sequence]})")
        if sequence in ("s", "ss") and index + 2 not in fraction_follows:
            # Go reads fractional seconds after the seconds even when the layout does not mention them.
            pattern.append(r"(?:[.,](?P<frac>\d+))?")
    match = re.fullmatch("".join(pattern), text, re.ASCII)
    if not match:
        raise LayoutError(f'cannot parse "{text}" as "{layout}"')
    # Go starts from year 0, which Python cannot hold; a layout without a year gets year 1.
    fields = {"year": 2000 if mode == TIME_MODE else 1, "month": 1, "day": 1}
    fields |= {"hour": 0, "minute": 0, "second": 0, "micro": 0}
    meridiem = ""
    tzinfo: dt.tzinfo = tz
    for index, (sequence, literal) in enumerate(pieces):
        if literal:
            continue
        found = match[f"p{index}"]
        _read_field(sequence, found, fields)
        if sequence in ("aa", "AA"):
            meridiem = found.lower()
        elif sequence in ("Z", "ZZZ"):
            tzinfo = dt.UTC if found == "Z" else _fixed_offset(found)
    if match.groupdict().get("frac"):
        fields["micro"] = int(match["frac"][:6].ljust(6, "0"))
    hour = fields["hour"]
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    try:
        value = dt.datetime(
            fields["year"],
            fields["month"],
            fields["day"],
            hour,
            fields["minute"],
            fields["second"],
            fields["micro"],
            tzinfo=tzinfo,
        )
    except ValueError as exc:
        raise LayoutError(f'cannot parse "{text}" as "{layout}": {exc}') from exc
    try:
        return value.astimezone(tz) if tzinfo is not tz else normalise(value)
    except OverflowError as exc:
        raise LayoutError(f'cannot parse "{text}" as "{layout}": out of range') from exc


def _fixed_offset(text: str) -> dt.tzinfo:
    sign = -1 if text[0] == "-" else 1
    delta = dt.timedelta(hours=int(text[1:3]), minutes=int(text[4:6]))
    if delta >= dt.timedelta(hours=24):
        raise LayoutError(f"offset {text} is out of range")
    return dt.timezone(sign * delta)


def _read_field(sequence: str, found: str, fields: dict[str, int]) -> None:
    if sequence == "YY":
        year = int(found)
        fields["year"] = year + (1900 if year >= 69 else 2000)
    elif sequence == "YYYY":
        fields["year"] = int(found)
    elif sequence in ("M", "MM"):
        fields["month"] = int(found)
    elif sequence in ("D", "DD"):
        fields["day"] = int(found)
    elif sequence in ("h", "hh"):
        fields["hour"] = _hour12(int(found))
    elif sequence in ("t", "tt"):
        fields["hour"] = int(found)
    elif sequence in ("m", "mm"):
        fields["minute"] = int(found)
    elif sequence in ("s", "ss"):
        fields["second"] = int(found)
    elif sequence.startswith("f"):
        fields["micro"] = int(found[:6].ljust(6, "0"))


def _hour12(hour: int) -> int:
    if not 1 <= hour <= 12:
        raise LayoutError(f"hour {hour} is out of range")
    return hour
