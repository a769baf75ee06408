"""Contact import from CSV, shared by ``recado contacts import`` and ``POST /api/v1/contacts/import``.

The file as a whole is checked before anything is written: it must decode in the given encoding, and every
column must map onto a contact attribute, a field, a group, or be ignored on purpose. Then each row is
checked on its own; good rows are written in batches of ten thousand, one transaction each (which also
recomputes the campaign rows of that batch's contacts, and of no one else), and a bad row is reported with
its row number, column and reason without stopping or half-writing any other. Rows are
matched to contacts by phone, so importing a file again updates those contacts instead of duplicating them;
an empty cell leaves what the contact has.

Reading and checking is Python work and writing is database work, so they overlap: a worker thread reads
and prepares the next batch while the current one is written (on SQLite, in statements that run without
the interpreter lock; see ``contacts.write_batch``).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import csv
import datetime as dt
import functools
import io
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flows.phones import InvalidPhoneNumber, normalise_phone
from server import audit, contacts
from server.campaigns import schedule
from server.contact_values import (
    FIELD_LABEL_MAX,
    GROUP_NAME_MAX,
    VALUE_MAX,
    InvalidValue,
    TypedValue,
    check_field_key,
    check_value_type,
    clean_text,
    parse_value,
)
from server.db.engine import write_transaction

# Bigger batches commit (and checkpoint the WAL) less often; smaller ones hold SQLite's write lock for less
# time (about a third of a second at this size) and start writing sooner.
BATCH_ROWS = 10_000
SCAN_CHUNK_BYTES = 1 << 20
# SQLite's page cache while an import writes (KiB; its usual one is 2 MB). Every batch goes through the same
# index pages (phone, uuid, name, field values); a cache that holds them saves reading them again and again.
PAGE_CACHE_KIB = 64 * 1024
DEFAULT_ENCODING = "utf-8-sig"  # plain UTF-8, with or without the byte-order mark Excel writes
TARGETS_HELP = "phone, name, language, timezone, group, field:KEY, field:KEY:TYPE or ignore"
ATTRIBUTES = ("phone", "name", "language", "timezone")
# Column names that map themselves, in English and in Spanish, compared in lower case.
AUTO_TARGETS = {
    "phone": "phone",
    "tel": "phone",
    "telefono": "phone",
    "teléfono": "phone",
    "celular": "phone",
    "name": "name",
    "nombre": "name",
    "language": "language",
    "idioma": "language",
    "timezone": "timezone",
    "zona horaria": "timezone",
    "group": "group",
    "grupo": "group",
}
_DELIMITERS = (",", ";", "\t")
_ENCODING_NAMES = {"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "utf-16": "UTF-16"}


class ImportRefused(Exception):
    """The file cannot be imported as it is; nothing was written. The message says what to change."""


@dataclass(frozen=True)
class Target:
    kind: str  # one of ATTRIBUTES, "field", "group", "ignore"
    key: str | None = None  # the field key, for "field"
    value_type: str | None = None  # given in "field:KEY:TYPE": create the field when it does not exist

    def __str__(self) -> str:
        return ":".join(p for p in ("field" if self.key else self.kind, self.key, self.value_type) if p)


@dataclass(frozen=True)
class RowError:
    row: int  # as a spreadsheet numbers it: the header is row 1
    column: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class ImportReport:
    rows: int = 0  # data rows read, blank ones not counted
    created: int = 0
    updated: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self, max_errors: int | None = None) -> dict[str, Any]:
        shown = self.errors if max_errors is None else self.errors[:max_errors]
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "failed": self.failed,
            "errors": [e.as_dict() for e in shown],
            "errors_truncated": len(shown) < len(self.errors),
        }


# Called after each batch with the lines read so far and the lines the file has.
Progress = Callable[[int, int], None]


def parse_target(text: str) -> Target:
    """``phone``, ``name``, ``language``, ``timezone``, ``group``, ``ignore``, ``field:KEY``, ``field:KEY:TYPE``."""
    parts = text.strip().split(":")
    kind = parts[0].lower()
    try:
        if kind in (*ATTRIBUTES, "group", "ignore") and len(parts) == 1:
            return Target(kind)
        if kind == "field" and len(parts) in (2, 3):
            key = check_field_key(parts[1])
            value_type = check_value_type(parts[2]) if len(parts) == 3 else None
            return Target("field", key, value_type)
    except InvalidValue as exc:
        raise ImportRefused(f"target {text!r}: field key or type {exc.reason}") from None
    raise ImportRefused(f"target {text!r} is not one of {TARGETS_HELP}")


def parse_mappings(items: Iterable[str]) -> dict[str, Target]:
    """``COLUMN=TARGET`` pairs; the column is what the header says, the target comes after the last ``=``."""
    mapping: dict[str, Target] = {}
    for item in items:
        column, sep, target = item.rpartition("=")
        if not sep or not column.strip():
            raise ImportRefused(f"mapping {item!r} must be COLUMN=TARGET, where TARGET is {TARGETS_HELP}")
        if column.strip() in mapping:
            raise ImportRefused(f"column {column.strip()!r} is mapped twice")
        try:
            mapping[column.strip()] = parse_target(target)
        except ImportRefused as exc:
            raise ImportRefused(f"mapping {item!r}: {exc}") from None
    return mapping


def check_encoding(name: str) -> str:
    """The codec's canonical name; ImportRefused for names Python does not know or that are not text."""
    try:
        "".encode(name)
        return codecs.lookup(name).name
    except (LookupError, ValueError):  # ValueError: a name with a NUL in it
        raise ImportRefused(
            f"unknown text encoding {name!r}; use one such as utf-8, cp1252 or latin-1"
        ) from None


def _choose_encoding(source: BinaryIO, encoding: str | None) -> str:
    if encoding is not None:
        return check_encoding(encoding)
    start = source.read(2)
    source.seek(0)
    # Excel's "Unicode text" is UTF-16 with a byte-order mark; UTF-8 would refuse it line by line.
    return "utf-16" if start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else DEFAULT_ENCODING


def _count_lines(source: BinaryIO, encoding: str) -> int:
    """Decode the whole file once, so a wrong encoding is refused before any row is written."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines = 0
    last = ""
    while True:
        chunk = source.read(SCAN_CHUNK_BYTES)
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            line = lines + chunk[: exc.start].decode(encoding, errors="replace").count("\n") + 1
            bad = exc.object[exc.start : exc.start + 1].hex().upper()
            raise ImportRefused(
                f"the file is not {_ENCODING_NAMES.get(encoding, encoding)} text: line {line} has the byte "
                f"0x{bad}. Say which encoding the file uses (files saved by Excel on Windows are usually cp1252)"
            ) from None
        lines += text.count("\n")
        last = text[-1:] or last
        if not chunk:
            break
    source.seek(0)
    return lines + (1 if last not in ("", "\n") else 0)


# Where a column's checked value goes: the contact's attributes by position, then field values, then groups.
_SLOTS = {"phone": 0, "name": 1, "language": 2, "timezone": 3, "field": 4, "group": 5}
_VALUE_SLOT = _SLOTS["field"]


class _Column(NamedTuple):
    position: int  # in the record
    slot: int  # _SLOTS[kind]
    read: Callable[[str], Any]  # the checked value; InvalidValue or InvalidPhoneNumber
    name: str  # as the header says, for the error report
    subject: str  # what an error message calls the value: the attribute or the field key


@dataclass
class _Batch:
    contacts: contacts.ContactBatch
    good: int  # rows added to ``contacts`` (a phone repeated in the batch counts each time)
    errors: list[RowError]
    read: int  # data rows read, good or bad
    lines: int  # the reader's position in the file
    done: bool


class _Reader:
    """CSV records with their spreadsheet row numbers; a record the csv module cannot read is a row error."""

    def __init__(self, text: io.TextIOBase) -> None:
        first = text.readline()
        counts = {d: first.count(d) for d in _DELIMITERS}
        delimiter = max(_DELIMITERS, key=lambda d: counts[d]) if any(counts.values()) else ","
        self._records = csv.reader(itertools.chain([first], text), delimiter=delimiter, strict=True)
        self.row = 0

    @property
    def lines(self) -> int:
        return self._records.line_num

    def __iter__(self) -> Iterator[list[str] | RowError]:
        while True:
            try:
                record = next(self._records)
            except StopIteration:
                return
            except csv.Error as exc:
                self.row += 1
                yield RowError(self.row, None, f"cannot be read as CSV: {exc}")
                continue
            self.row += 1
            yield record


def _header(reader: _Reader) -> list[str]:
    first = next(iter(reader), None)
    if first is None or (isinstance(first, list) and not any(cell.strip() for cell in first)):
        raise ImportRefused("the first row must name the columns, but the file is empty or starts blank")
    if isinstance(first, RowError):
        raise ImportRefused(f"the header row {first.message}")
    names = [name.strip() for name in first]
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        raise ImportRefused(f"the header names these columns more than once: {', '.join(repeated)}")
    return names


def _auto_target(name: str, known: Mapping[str, contacts.Field]) -> Target | None:
    lowered = name.lower()
    if lowered in AUTO_TARGETS:
        return Target(AUTO_TARGETS[lowered])
    if lowered.startswith("field:"):
        return parse_target(name)
    if name in known:
        return Target("field", name)
    return None


def _plan(
    header: list[str], mappings: Mapping[str, Target], known: Mapping[str, contacts.Field]
) -> tuple[list[tuple[int, str, Target]], dict[str, tuple[str, str]]]:
    """The column each target reads from, and the fields to create (key → label, type)."""
    absent = [c for c in mappings if c not in header]
    if absent:
        raise ImportRefused(
            f"mapped column(s) not in the file: {', '.join(absent)}; its columns are: {', '.join(header)}"
        )
    planned: list[tuple[int, str, Target]] = []
    unmapped: list[str] = []
    for index, name in enumerate(header):
        if not name:
            continue  # a nameless column may only hold empty cells (checked row by row)
        target = mappings.get(name) or _auto_target(name, known)
        if target is None:
            unmapped.append(name)
        elif target.kind != "ignore":
            planned.append((index, name, target))
    if unmapped:
        raise ImportRefused(
            f"column(s) not mapped to anything: {', '.join(unmapped)}. Map each as COLUMN=TARGET, where "
            f"TARGET is {TARGETS_HELP}"
        )
    single = [str(t) for _, _, t in planned if t.kind != "group"]
    twice = sorted({t for t in single if single.count(t) > 1})
    if twice:
        raise ImportRefused(f"more than one column is mapped to {', '.join(twice)}")
    if "phone" not in single:
        raise ImportRefused("no column is mapped to phone; name a column phone, or map one as COLUMN=phone")
    to_create: dict[str, tuple[str, str]] = {}
    for _, name, target in planned:
        if target.kind != "field" or target.key is None:
            continue
        existing = known.get(target.key)
        if existing is None and target.value_type is None:
            raise ImportRefused(
                f"field {target.key!r} does not exist; create it first, or map the column as "
                f"field:{target.key}:TYPE (text, number, date or datetime) to create it"
            )
        if existing is not None and target.value_type not in (None, existing.value_type):
            raise ImportRefused(
                f"field {target.key!r} holds {existing.value_type} values, not {target.value_type}"
            )
        if existing is None and target.value_type is not None:
            to_create[target.key] = (_label(name, target.key), target.value_type)
    return planned, to_create


def _label(column: str, key: str) -> str:
    """A new field's label: the column's name as far as it fits, or the key."""
    try:
        return clean_text(column[:FIELD_LABEL_MAX], max_length=FIELD_LABEL_MAX) or key
    except InvalidValue:
        return key


@dataclass(frozen=True)
class _Layout:
    columns: list[_Column]
    width: int  # columns in the header
    nameless: frozenset[int]  # columns without a name, which must stay empty


# Values a memoised column remembers; past this, new values are checked every time they occur.
MEMO_ENTRIES = 10_000


def _memoised(read: Callable[[str], Any]) -> Callable[[str], Any]:
    """A group, language or due date column repeats a few hundred values down the whole register: check
    each once, and hand out the same object each time it occurs. A refused value is remembered by its
    reason and raised afresh, so no traceback is shared."""
    seen: dict[str, Any] = {}
    refused: dict[str, str] = {}

    def memo(raw: str) -> Any:
        found = seen.get(raw, seen)
        if found is not seen:
            return found
        reason = refused.get(raw)
        if reason is not None:
            raise InvalidValue(reason)
        room = len(seen) + len(refused) < MEMO_ENTRIES and len(raw) <= VALUE_MAX
        try:
            found = read(raw)
        except InvalidValue as exc:
            if room:
                refused[raw] = exc.reason
            raise
        if room:
            seen[raw] = found
        return found

    return memo


def _field_value(field_id: int, parse: Callable[[str], TypedValue], raw: str) -> contacts.BatchValue:
    return contacts.batch_value(field_id, parse(raw))


def _layout(
    header: list[str],
    planned: list[tuple[int, str, Target]],
    known: Mapping[str, contacts.Field],
    tz: dt.tzinfo,
    region: str,
) -> _Layout:
    """How to read each planned column. Phones and names are mostly unique, so only the others are
    memoised."""
    columns: list[_Column] = []
    for index, name, target in planned:
        kind = target.kind
        read: Callable[[str], Any]
        if target.key is not None:
            known_field = known[target.key]
            parse = functools.partial(parse_value, known_field.value_type, tz=tz)
            read = _memoised(functools.partial(_field_value, known_field.id, parse))
            columns.append(_Column(index, _SLOTS["field"], read, name, target.key))
            continue
        if kind == "phone":
            read = functools.partial(normalise_phone, region=region)
        elif kind == "group":
            read = _memoised(functools.partial(clean_text, max_length=GROUP_NAME_MAX))
        else:
            read = functools.partial(contacts.check_attribute, kind, region=region)
            read = read if kind == "name" else _memoised(read)
        columns.append(_Column(index, _SLOTS[kind], read, name, kind))
    named = {i for i, name in enumerate(header) if name}
    return _Layout(columns, len(header), frozenset(range(len(header))) - named)


def _check_row(row: int, cells: list[str], layout: _Layout, batch: contacts.ContactBatch) -> list[RowError]:
    """Add the row to ``batch``, or return its problems (all of them) and add nothing."""
    errors: list[RowError] = []
    if len(cells) > layout.width or layout.nameless:
        stray = [c for i, c in enumerate(cells) if i >= layout.width or i in layout.nameless]
        if "".join(stray).strip():
            errors.append(RowError(row, None, "has a value in a column without a name in the header"))
    attributes: list[str | None] = [None, None, None, None]  # phone, name, language, timezone
    values: list[contacts.BatchValue] = []
    groups: list[str] = []
    width = len(cells)
    for position, slot, read, column, subject in layout.columns:
        raw = cells[position] if position < width else ""
        if not raw or raw.isspace():
            if slot == 0:
                errors.append(RowError(row, column, "phone is missing"))
            continue
        try:
            value = read(raw)
        except (InvalidValue, InvalidPhoneNumber) as exc:
            errors.append(RowError(row, column, f"{subject} {exc.reason}"))
            continue
        if slot < _VALUE_SLOT:
            attributes[slot] = value
        elif slot == _VALUE_SLOT:
            values.append(value)
        else:
            groups.append(value)
    phone = attributes[0]
    if errors or phone is None:
        return errors or [RowError(row, None, "phone is missing")]
    _, name, language, timezone = attributes
    joins = tuple(groups) if len(groups) < 2 else tuple(dict.fromkeys(groups))  # two columns, one group
    batch.add(phone, name, language, timezone, tuple(values), joins)
    return errors


def _read_batch(
    records: Iterator[list[str] | RowError],
    reader: _Reader,
    layout: _Layout,
    dialect: Dialect,
    now: dt.datetime,
) -> _Batch:
    """Up to BATCH_ROWS checked rows, prepared for writing (CPU work, run off the event loop)."""
    rows = contacts.ContactBatch()
    errors: list[RowError] = []
    read = good = 0
    done = True
    for record in records:
        if isinstance(record, RowError):
            errors.append(record)
            read += 1
        elif "".join(record).strip():  # blank lines and rows of empty cells are skipped
            read += 1
            problems = _check_row(reader.row, record, layout, rows)
            if problems:
                errors.extend(problems)
            else:
                good += 1
        if read >= BATCH_ROWS:
            done = False
            break
    rows.prepare(dialect, now=now)
    return _Batch(rows, good, errors, read, reader.lines, done)


async def import_contacts(
    db: AsyncEngine,
    source: BinaryIO,
    *,
    mappings: Mapping[str, Target] | None = None,
    encoding: str | None = None,
    tz: dt.tzinfo,
    programme_timezone: str,
    region: str,
    now: dt.datetime,
    actor: str,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a CSV file (``source`` is binary and seekable). ImportRefused before any write when the file as
    a whole cannot be imported; otherwise a report of what was created, updated and refused, row by row.

    ``tz`` reads dates and times written without an offset; ``programme_timezone`` places campaign events for
    contacts who have no timezone of their own."""
    codec = await asyncio.to_thread(_choose_encoding, source, encoding)
    total_lines = await asyncio.to_thread(_count_lines, source, codec)
    text = io.TextIOWrapper(source, encoding=codec, newline="")
    reading: asyncio.Future[_Batch] | None = None
    try:
        reader = _Reader(text)
        header = _header(reader)
        async with db.connect() as conn, _page_cache_for_batches(conn):
            async with write_transaction(conn):
                known = await contacts.load_fields(conn)
                planned, to_create = _plan(header, mappings or {}, known)
                for key, (label, value_type) in to_create.items():
                    await contacts.create_field(conn, key, label, value_type, now=now)
                known = await contacts.load_fields(conn) if to_create else known
            layout = _layout(header, planned, known, tz, region)
            report = ImportReport()
            records = iter(reader)
            read_next = functools.partial(_read_batch, records, reader, layout, db.dialect, now)
            reading = asyncio.ensure_future(asyncio.to_thread(read_next))
            while True:
                batch = await reading
                # The next batch is read while this one is written: one thread each, one core each.
                reading = None if batch.done else asyncio.ensure_future(asyncio.to_thread(read_next))
                report.rows += batch.read
                report.failed += batch.read - batch.good
                report.errors.extend(batch.errors)
                if batch.contacts:
                    async with write_transaction(conn):
                        written = await contacts.write_batch(conn, batch.contacts, now=now)
                        # Only this batch's contacts, and in its transaction: a crash between batches leaves
                        # no contact without the campaign rows her values call for.
                        await schedule.contacts_changed(
                            conn, written.contact_ids, now=now, timezone=programme_timezone
                        )
                    created = len(written.created)
                    report.created += created
                    report.updated += batch.good - created  # a phone repeated in the file is an update
                if progress is not None:
                    progress(batch.lines, total_lines)
                if reading is None:
                    break
            async with write_transaction(conn):
                await audit.record(
                    conn,
                    at=now,
                    actor=actor,
                    action="contact.import",
                    detail={
                        "rows": report.rows,
                        "created": report.created,
                        "updated": report.updated,
                        "failed": report.failed,
                    },
                )
    finally:
        if reading is not None and not reading.done():
            await asyncio.wait([reading])  # a thread cannot be cancelled; let it finish with the file
        text.detach()  # the caller owns ``source`` and closes it
    return report


@contextlib.asynccontextmanager
async def _page_cache_for_batches(conn: AsyncConnection) -> AsyncIterator[None]:
    """On SQLite, a page cache of PAGE_CACHE_KIB for the import's connection, and the usual one again when it
    goes back to the pool (one that cannot be reset is closed instead)."""
    if conn.dialect.name != "sqlite":
        yield
        return
    async with conn.begin():
        usual = int((await conn.exec_driver_sql("PRAGMA cache_size")).scalar_one())
        await conn.exec_driver_sql(f"PRAGMA cache_size = {-PAGE_CACHE_KIB}")
    try:
        yield
    finally:
        try:
            async with conn.begin():
                await conn.exec_driver_sql(f"PRAGMA cache_size = {usual}")
        except sa.exc.SQLAlchemyError:
            await conn.invalidate()
