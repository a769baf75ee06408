"""Contacts, their field values, fields and groups: the storage every caller (API, import, runner) goes through.

Every function works on an ``AsyncConnection`` inside the caller's transaction, so a change and its audit
entry commit together. Contacts are found by ``uuid`` (what the API shows) or by E.164 phone; internal ids
only join tables and page lists. Deletions and status changes are audited without phone numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from flows.phones import InvalidPhoneNumber, normalise_phone
from server import audit
from server.contact_values import (
    NAME_MAX,
    InvalidValue,
    TypedValue,
    check_language,
    check_status,
    check_timezone,
    clean_text,
    parse_value,
)
from server.db.ids import uuid7, uuid7_hexes, uuid7s
from server.db.schema import contact_fields, contacts, fields, group_members, groups
from server.db.statements import insert_for

CONTACT_ATTRIBUTES = ("phone", "name", "language", "timezone", "status")


@dataclass(frozen=True)
class Field:
    id: int
    key: str
    label: str
    value_type: str
    created_at: dt.datetime


@dataclass(frozen=True)
class Group:
    id: int
    uuid: uuid.UUID
    name: str
    created_at: dt.datetime
    members: int = 0


@dataclass(frozen=True)
class GroupRef:
    uuid: uuid.UUID
    name: str


@dataclass(frozen=True)
class Contact:
    id: int
    uuid: uuid.UUID
    phone: str
    name: str | None
    language: str | None
    timezone: str | None
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    last_seen_at: dt.datetime | None
    fields: Mapping[str, str] = field(default_factory=dict)  # key → value as shown
    groups: tuple[GroupRef, ...] = ()


class ContactsError(Exception):
    pass


class NotFound(ContactsError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Conflict(ContactsError):
    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Invalid(ContactsError):
    """Input that cannot be stored; ``problems`` names each field, as the API's 422 details do."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['message']}" for p in problems))
        self.problems = problems


# --- reading input ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactChanges:
    """Validated contact data. Only the keys given are present (PATCH semantics); a value of None clears."""

    attributes: Mapping[str, str | None] = field(default_factory=dict)
    values: Mapping[Field, TypedValue | None] = field(default_factory=dict)


def read_changes(
    payload: Mapping[str, Any], known_fields: Mapping[str, Field], *, tz: dt.tzinfo, region: str
) -> ContactChanges:
    """Check every key of ``payload`` (API JSON) and report all problems at once."""
    problems: list[dict[str, str]] = []
    attributes: dict[str, str | None] = {}
    for name in CONTACT_ATTRIBUTES:
        if name not in payload:
            continue
        raw = payload[name]
        if raw is None and name in ("name", "language", "timezone"):
            attributes[name] = None
            continue
        try:
            if not isinstance(raw, str):
                raise InvalidValue("must be text")
            attributes[name] = check_attribute(name, raw, region=region)
        except (InvalidValue, InvalidPhoneNumber) as exc:
            problems.append({"field": name, "message": exc.reason})
    values: dict[Field, TypedValue | None] = {}
    given = payload.get("fields") or {}
    for key, raw in given.items():
        known = known_fields.get(key)
        if known is None:
            problems.append(
                {
                    "field": f"fields.{key}",
                    "message": "unknown field; create it first with POST /api/v1/fields",
                }
            )
            continue
        try:
            values[known] = None if raw is None else parse_value(known.value_type, raw, tz)
        except InvalidValue as exc:
            problems.append({"field": f"fields.{key}", "message": exc.reason})
    if problems:
        raise Invalid(problems)
    return ContactChanges(attributes, values)


def check_attribute(name: str, raw: str, *, region: str) -> str | None:
    """One contact attribute from text; an empty name, language or timezone means none."""
    if name == "phone":
        return normalise_phone(raw, region)
    if name == "status":
        return check_status(raw)
    if not raw.strip():
        return None
    if name == "name":
        return clean_text(raw, max_length=NAME_MAX)
    if name == "language":
        return check_language(raw)
    if name == "timezone":
        return check_timezone(raw)
    raise InvalidValue(f"unknown contact attribute {name!r}")


# --- contacts -----------------------------------------------------------------------------------------------


async def create_contact(conn: AsyncConnection, changes: ContactChanges, *, now: dt.datetime) -> Contact:
    phone = changes.attributes.get("phone")
    if phone is None:
        raise Invalid([{"field": "phone", "message": "is required"}])
    await _refuse_taken_phone(conn, phone)
    attributes = {k: v for k, v in changes.attributes.items() if v is not None}
    insert = contacts.insert().values(uuid=uuid7(now), created_at=now, updated_at=now, **attributes)
    contact_id: int = (await conn.execute(insert.returning(contacts.c.id))).scalar_one()
    await _write_values(conn, contact_id, changes.values)
    return await _contact_by(conn, contacts.c.id == contact_id)


async def get_contact(conn: AsyncConnection, contact_uuid: uuid.UUID) -> Contact:
    return await _contact_by(conn, contacts.c.uuid == contact_uuid)


async def find_contact_by_phone(conn: AsyncConnection, phone: str) -> Contact | None:
    """``phone`` in E.164, as stored."""
    try:
        return await _contact_by(conn, contacts.c.phone == phone)
    except NotFound:
        return None


async def update_contact(
    conn: AsyncConnection, contact_uuid: uuid.UUID, changes: ContactChanges, *, now: dt.datetime, actor: str
) -> Contact:
    row = (
        await conn.execute(
            sa.select(contacts.c.id, contacts.c.phone, contacts.c.status).where(
                contacts.c.uuid == contact_uuid
            )
        )
    ).first()
    if row is None:
        raise NotFound("contact")
    new_phone = changes.attributes.get("phone")
    if new_phone is not None and new_phone != row.phone:
        await _refuse_taken_phone(conn, new_phone)
    await conn.execute(
        contacts.update().where(contacts.c.id == row.id).values(updated_at=now, **changes.attributes)
    )
    await _write_values(conn, row.id, changes.values)
    new_status = changes.attributes.get("status")
    if new_status is not None and new_status != row.status:
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="contact.status",
            target=str(contact_uuid),
            detail={"from": row.status, "to": new_status},
        )
    return await _contact_by(conn, contacts.c.id == row.id)


async def delete_contact(
    conn: AsyncConnection, contact_uuid: uuid.UUID, *, now: dt.datetime, actor: str
) -> None:
    """Delete a contact with her field values, memberships and messages (the foreign keys cascade)."""
    result = await conn.execute(contacts.delete().where(contacts.c.uuid == contact_uuid))
    if result.rowcount == 0:
        raise NotFound("contact")
    await audit.record(conn, at=now, actor=actor, action="contact.delete", target=str(contact_uuid))


async def _refuse_taken_phone(conn: AsyncConnection, phone: str) -> None:
    taken = (await conn.execute(sa.select(contacts.c.uuid).where(contacts.c.phone == phone))).scalar()
    if taken is not None:
        raise Conflict("a contact with this phone number already exists", {"uuid": str(taken)})


async def _write_values(
    conn: AsyncConnection, contact_id: int, values: Mapping[Field, TypedValue | None]
) -> None:
    cleared = [f.id for f, v in values.items() if v is None]
    if cleared:
        await conn.execute(
            contact_fields.delete().where(
                contact_fields.c.contact_id == contact_id, contact_fields.c.field_id.in_(cleared)
            )
        )
    rows = [
        {
            "contact_id": contact_id,
            "field_id": f.id,
            "text_value": v.text,
            "number_value": v.number,
            "date_value": v.date,
            "datetime_value": v.datetime,
        }
        for f, v in values.items()
        if v is not None
    ]
    if rows:
        await conn.execute(_upsert_values_statement(conn), rows)


def _upsert_values_statement(conn: AsyncConnection) -> sqlite.Insert | postgresql.Insert:
    """Set field values, replacing every typed column of a value the contact had for that field."""
    stmt = insert_for(conn, contact_fields)
    return stmt.on_conflict_do_update(
        index_elements=[contact_fields.c.contact_id, contact_fields.c.field_id],
        set_={
            name: stmt.excluded[name]
            for name in ("text_value", "number_value", "date_value", "datetime_value")
        },
    )


# --- search ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactQuery:
    """All given conditions must hold. ``name`` matches anywhere in the name, ignoring case."""

    phone: str | None = None
    name: str | None = None
    status: str | None = None
    group_id: int | None = None
    values: tuple[tuple[Field, TypedValue], ...] = ()


_TYPED_COLUMNS: dict[str, sa.Column[Any]] = {
    "number": contact_fields.c.number_value,
    "date": contact_fields.c.date_value,
    "datetime": contact_fields.c.datetime_value,
}


def _typed_column(value_type: str) -> sa.Column[Any]:
    return _TYPED_COLUMNS.get(value_type, contact_fields.c.text_value)


def _typed_value(value_type: str, value: TypedValue) -> Any:
    return {"number": value.number, "date": value.date, "datetime": value.datetime}.get(
        value_type, value.text
    )


async def search_contacts(
    conn: AsyncConnection, query: ContactQuery, *, after_id: int = 0, limit: int = 50
) -> list[Contact]:
    """Contacts with ``id > after_id`` in id order, at most ``limit`` of them (a page of a cursor)."""
    stmt = sa.select(contacts).where(contacts.c.id > after_id).order_by(contacts.c.id).limit(limit)
    if query.phone is not None:
        stmt = stmt.where(contacts.c.phone == query.phone)
    if query.name is not None:
        stmt = stmt.where(contacts.c.name.icontains(query.name, autoescape=True))
    if query.status is not None:
        stmt = stmt.where(contacts.c.status == query.status)
    if query.group_id is not None:
        stmt = stmt.where(
            sa.exists().where(
                group_members.c.group_id == query.group_id, group_members.c.contact_id == contacts.c.id
            )
        )
    for known, value in query.values:
        stmt = stmt.where(
            sa.exists().where(
                contact_fields.c.contact_id == contacts.c.id,
                contact_fields.c.field_id == known.id,
                _typed_column(known.value_type) == _typed_value(known.value_type, value),
            )
        )
    rows = (await conn.execute(stmt)).all()
    return await _hydrate(conn, rows)


async def _contact_by(conn: AsyncConnection, condition: sa.ColumnElement[bool]) -> Contact:
    rows = (await conn.execute(sa.select(contacts).where(condition))).all()
    if not rows:
        raise NotFound("contact")
    return (await _hydrate(conn, rows))[0]


async def _hydrate(conn: AsyncConnection, rows: Sequence[sa.Row[Any]]) -> list[Contact]:
    """Contacts with their field values and groups, in two queries for the whole page."""
    ids = [row.id for row in rows]
    values: dict[int, dict[str, str]] = {i: {} for i in ids}
    memberships: dict[int, list[GroupRef]] = {i: [] for i in ids}
    if ids:
        value_rows = await conn.execute(
            sa.select(contact_fields.c.contact_id, fields.c.key, contact_fields.c.text_value)
            .join(fields, fields.c.id == contact_fields.c.field_id)
            .where(contact_fields.c.contact_id.in_(ids))
            .order_by(fields.c.key)
        )
        for contact_id, key, text in value_rows:
            values[contact_id][key] = text
        group_rows = await conn.execute(
            sa.select(group_members.c.contact_id, groups.c.uuid, groups.c.name)
            .join(groups, groups.c.id == group_members.c.group_id)
            .where(group_members.c.contact_id.in_(ids))
            .order_by(groups.c.name)
        )
        for contact_id, group_uuid, name in group_rows:
            memberships[contact_id].append(GroupRef(group_uuid, name))
    return [
        Contact(
            id=row.id,
            uuid=row.uuid,
            phone=row.phone,
            name=row.name,
            language=row.language,
            timezone=row.timezone,
            status=row.status,
            created_at=row.created_at,
            updated_at=row.updated_at,
            last_seen_at=row.last_seen_at,
            fields=values[row.id],
            groups=tuple(memberships[row.id]),
        )
        for row in rows
    ]


# --- bulk upsert (the CSV import) --------------------------------------------------------------------------


class ImportedContact(NamedTuple):
    """One checked row of an import. None and absent values leave what the contact has unchanged."""

    phone: str
    name: str | None = None
    language: str | None = None
    timezone: str | None = None
    values: Mapping[int, TypedValue] = MappingProxyType({})  # field id → value
    groups: frozenset[str] = frozenset()  # names of groups to join, created when missing


# A field value as a batch keeps it: (field id, text, number, date, datetime), the field id and then the
# columns of TypedValue, in the order the value statements take them.
BatchValue = tuple[int, str, Decimal | None, dt.date | None, dt.datetime | None]
# What a batch keeps of a contact: name, language, timezone, her values, her groups.
_BatchContact = tuple[str | None, str | None, str | None, tuple[BatchValue, ...], tuple[str, ...]]


def batch_value(field_id: int, value: TypedValue) -> BatchValue:
    return (field_id, value.text, value.number, value.date, value.datetime)


class ContactBatch:
    """Import rows merged by phone: a later row wins column by column and value by value, and group lists
    add up. ``prepare`` then puts them in phone order (index pages fill in sequence, which makes SQLite's
    inserts a third cheaper) and, for SQLite, encodes them for the statements that write them.

    Preparing is CPU work that needs no connection, so the import does it off the event loop while the
    previous batch is being written. A batch holds each contact as a tuple of plain values, not as objects
    of its own: it lives while the next batch is read, and ten thousand containers per batch, scanned again
    and again by the cyclic garbage collector, would cost an import about a sixth of its time.
    """

    def __init__(self) -> None:
        self._contacts: dict[str, _BatchContact] = {}
        self.sqlite: _SqliteRows | None = None

    def add(
        self,
        phone: str,
        name: str | None,
        language: str | None,
        timezone: str | None,
        values: tuple[BatchValue, ...] = (),
        groups: tuple[str, ...] = (),
    ) -> None:
        before = self._contacts.get(phone)
        if before is None:
            self._contacts[phone] = (name, language, timezone, values, groups)
            return
        old_name, old_language, old_timezone, old_values, old_groups = before
        merged_values = {v[0]: v for v in (*old_values, *values)}
        self._contacts[phone] = (
            old_name if name is None else name,
            old_language if language is None else language,
            old_timezone if timezone is None else timezone,
            tuple(merged_values.values()),
            tuple(dict.fromkeys((*old_groups, *groups))),
        )

    def add_row(self, row: ImportedContact) -> None:
        values = tuple(batch_value(field_id, value) for field_id, value in row.values.items())
        self.add(row.phone, row.name, row.language, row.timezone, values, tuple(row.groups))

    def prepare(self, dialect: Dialect, *, now: dt.datetime) -> None:
        self._contacts = self.in_phone_order()
        if dialect.name == "sqlite" and self._contacts:
            self.sqlite = _encode_for_sqlite(self._contacts, dialect, now)

    def in_phone_order(self) -> dict[str, _BatchContact]:
        by_phone = self._contacts
        return {phone: by_phone[phone] for phone in sorted(by_phone)}

    @property
    def phones(self) -> list[str]:
        return list(self._contacts)

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(name for contact in self._contacts.values() for name in contact[4])

    def __len__(self) -> int:
        return len(self._contacts)

    def items(self) -> Iterable[tuple[str, _BatchContact]]:
        return self._contacts.items()


class _SqliteRows(NamedTuple):
    """JSON arrays of arrays, one per statement, read on the database side by ``json_each``."""

    phones: str  # [phone, ...]
    contacts: str  # [[uuid, phone, name, language, timezone], ...]
    values: str  # [[phone, field id, text, number, date, datetime], ...]
    members: str  # [[phone, group name], ...]


def prepare_batch(rows: Iterable[ImportedContact], dialect: Dialect, *, now: dt.datetime) -> ContactBatch:
    """Merge the rows by phone, and encode them for SQLite when that is where they go."""
    batch = ContactBatch()
    for row in rows:
        batch.add_row(row)
    batch.prepare(dialect, now=now)
    return batch


def _bind_processor(column: sa.Column[Any], dialect: Dialect) -> Callable[[Any], Any]:
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _same


def _same(value: Any) -> Any:
    return value


def _encode_for_sqlite(
    merged: Mapping[str, _BatchContact], dialect: Dialect, now: dt.datetime
) -> _SqliteRows:
    """Each value is stored exactly as an ordinary statement would store it: field values go through their
    columns' bind processors (the same text for dates and times, the same binary float for numbers: JSON
    carries a float's shortest round-trip form, which SQLite reads back to the same bits), and uuids are
    the hex digits the uuid column's processor writes."""
    as_number = _bind_processor(contact_fields.c.number_value, dialect)
    as_date = _bind_processor(contact_fields.c.date_value, dialect)
    as_datetime = _bind_processor(contact_fields.c.datetime_value, dialect)
    # Import columns repeat their values (and the import shares one tuple per distinct cell): convert each once.
    cells: dict[BatchValue, tuple[Any, ...]] = {}
    contacts_rows: list[tuple[Any, ...]] = []
    values: list[tuple[Any, ...]] = []
    members: list[tuple[str, str]] = []
    # In order, like the phones: each batch's inserts then walk the uuid index once instead of jumping about it.
    uuids = uuid7_hexes(len(merged), now)
    for contact_uuid, (phone, contact) in zip(uuids, merged.items(), strict=True):
        name, language, timezone, contact_values, contact_groups = contact
        contacts_rows.append((contact_uuid, phone, name, language, timezone))
        for value in contact_values:
            converted = cells.get(value)
            if converted is None:
                field_id, text, number, date, moment = value
                converted = cells[value] = (
                    field_id,
                    text,
                    None if number is None else as_number(number),
                    None if date is None else as_date(date),
                    None if moment is None else as_datetime(moment),
                )
            values.append((phone, *converted))
        for group in contact_groups:
            members.append((phone, group))
    encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
    return _SqliteRows(
        phones=encode(list(merged)),
        contacts=encode(contacts_rows),
        values=encode(values),
        members=encode(members),
    )


# One statement per table for a whole batch: the rows travel as one JSON parameter and SQLite unpacks them
# with json_each, so the batch is written in a single step that never returns to Python (and so never waits
# for the interpreter lock) until it is done. json_extract rather than ->>, which needs SQLite 3.38. The
# "WHERE true" is how SQLite tells an upsert's ON CONFLICT from a join's ON.
_SQLITE_EXISTING = "SELECT phone FROM contacts WHERE phone IN (SELECT value FROM json_each(?1))"
_SQLITE_CONTACTS = """
INSERT INTO contacts (uuid, phone, name, language, timezone, created_at, updated_at)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
       json_extract(value, '$[3]'), json_extract(value, '$[4]'), ?2, ?2
FROM json_each(?1) WHERE true
ON CONFLICT (phone) DO UPDATE SET
    name = coalesce(excluded.name, contacts.name),
    language = coalesce(excluded.language, contacts.language),
    timezone = coalesce(excluded.timezone, contacts.timezone),
    updated_at = excluded.updated_at
RETURNING id
"""
_SQLITE_VALUES = """
INSERT INTO contact_fields (contact_id, field_id, text_value, number_value, date_value, datetime_value)
SELECT contacts.id, json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'),
       json_extract(value, '$[4]'), json_extract(value, '$[5]')
FROM json_each(?1) JOIN contacts ON contacts.phone = json_extract(value, '$[0]') WHERE true
ON CONFLICT (contact_id, field_id) DO UPDATE SET
    text_value = excluded.text_value,
    number_value = excluded.number_value,
    date_value = excluded.date_value,
    datetime_value = excluded.datetime_value
WHERE (contact_fields.text_value, contact_fields.number_value, contact_fields.date_value,
       contact_fields.datetime_value)
   IS NOT (excluded.text_value, excluded.number_value, excluded.date_value, excluded.datetime_value)
"""
_SQLITE_MEMBERS = """
INSERT INTO group_members (group_id, contact_id, added_at)
SELECT groups.id, contacts.id, ?2
FROM json_each(?1)
JOIN contacts ON contacts.phone = json_extract(value, '$[0]')
JOIN groups ON groups.name = json_extract(value, '$[1]') WHERE true
ON CONFLICT DO NOTHING
"""


async def _write_sqlite(
    conn: AsyncConnection, rows: _SqliteRows, now: dt.datetime
) -> tuple[set[str], list[int]]:
    stamp = _bind_processor(contacts.c.created_at, conn.dialect)(now)
    existing = set((await conn.exec_driver_sql(_SQLITE_EXISTING, (rows.phones,))).scalars())
    # RETURNING makes every change in the statement's first step, so the batch is still written in one go.
    ids = list((await conn.exec_driver_sql(_SQLITE_CONTACTS, (rows.contacts, stamp))).scalars())
    if rows.values != "[]":
        await conn.exec_driver_sql(_SQLITE_VALUES, (rows.values,))
    if rows.members != "[]":
        await conn.exec_driver_sql(_SQLITE_MEMBERS, (rows.members, stamp))
    return existing, ids


async def _executemany(
    conn: AsyncConnection,
    stmt: sqlite.Insert | postgresql.Insert,
    keys: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    """Run an INSERT once per row (``rows`` hold values in ``keys`` order) through the driver's executemany.

    At import volumes SQLAlchemy's per-row parameter handling costs more than the database's own work, so
    the statement is compiled once and each value goes through its column's bind processor directly: the
    same conversions SQLAlchemy would apply, without the bookkeeping around them.
    """
    dialect = conn.dialect
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys), for_executemany=True)
    table_rows = list(rows)
    if not table_rows:
        return
    # Column by column: map() and zip() run in C, which matters at a hundred thousand rows.
    columns: list[Sequence[Any]] = list(zip(*table_rows, strict=True))
    ordered = []
    for name in compiled.positiontup or ():
        column = columns[keys.index(name)]
        process = stmt.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        ordered.append(column if process is None else _convert(process, column))
    await conn.exec_driver_sql(compiled.string, list(zip(*ordered, strict=True)))


def _convert(process: Callable[[Any], Any], column: Sequence[Any]) -> list[Any]:
    """Import columns repeat values (the batch's timestamp, a few hundred dates): convert each once."""
    converted = {value: process(value) for value in set(column)}
    return [converted[value] for value in column]


_CONTACT_KEYS = ("uuid", "phone", "name", "language", "timezone", "created_at", "updated_at")
_VALUE_KEYS = ("contact_id", "field_id", "text_value", "number_value", "date_value", "datetime_value")
_MEMBER_KEYS = ("group_id", "contact_id", "added_at")


async def _write_executemany(
    conn: AsyncConnection, batch: ContactBatch, group_ids: Mapping[str, int], now: dt.datetime
) -> tuple[set[str], list[int]]:
    """The general path (PostgreSQL): asyncpg pipelines an executemany, so each table is one round trip."""
    phones = batch.phones
    existing = set(
        (await conn.execute(sa.select(contacts.c.phone).where(contacts.c.phone.in_(phones)))).scalars()
    )
    upsert = insert_for(conn, contacts)
    upsert = upsert.on_conflict_do_update(
        index_elements=[contacts.c.phone],
        set_={
            "name": sa.func.coalesce(upsert.excluded.name, contacts.c.name),
            "language": sa.func.coalesce(upsert.excluded.language, contacts.c.language),
            "timezone": sa.func.coalesce(upsert.excluded.timezone, contacts.c.timezone),
            "updated_at": upsert.excluded.updated_at,
        },
    )
    uuids = uuid7s(len(batch), now)
    await _executemany(
        conn,
        upsert,
        _CONTACT_KEYS,
        (
            (contact_uuid, phone, *contact[:3], now, now)
            for contact_uuid, (phone, contact) in zip(uuids, batch.items(), strict=True)
        ),
    )
    id_rows = await conn.execute(
        sa.select(contacts.c.phone, contacts.c.id).where(contacts.c.phone.in_(phones))
    )
    ids: dict[str, int] = {phone: contact_id for phone, contact_id in id_rows}
    await _executemany(
        conn,
        _import_values_statement(conn),
        _VALUE_KEYS,
        ((ids[phone], *value) for phone, contact in batch.items() for value in contact[3]),
    )
    await _executemany(
        conn,
        insert_for(conn, group_members).on_conflict_do_nothing(),
        _MEMBER_KEYS,
        ((group_ids[name], ids[phone], now) for phone, contact in batch.items() for name in contact[4]),
    )
    return existing, list(ids.values())


def _import_values_statement(conn: AsyncConnection) -> sqlite.Insert | postgresql.Insert:
    """Like ``_upsert_values_statement``, but a value that is already stored is not written again: importing
    the same register twice then rewrites no value rows (and leaves no dead tuples on PostgreSQL)."""
    stmt = insert_for(conn, contact_fields)
    names = ("text_value", "number_value", "date_value", "datetime_value")
    return stmt.on_conflict_do_update(
        index_elements=[contact_fields.c.contact_id, contact_fields.c.field_id],
        set_={name: stmt.excluded[name] for name in names},
        where=sa.or_(*(contact_fields.c[name].is_distinct_from(stmt.excluded[name]) for name in names)),
    )


class BatchWritten(NamedTuple):
    created: set[str]  # the phones of the contacts the batch created
    contact_ids: list[int]  # every contact it created or updated, for what follows them (campaign rows)


async def write_batch(conn: AsyncConnection, batch: ContactBatch, *, now: dt.datetime) -> BatchWritten:
    """Create or update the batch's contacts by phone, with their values and memberships. A handful of
    statements whatever the batch's size."""
    if not batch:
        return BatchWritten(set(), [])
    group_ids = await ensure_groups(conn, batch.groups, now=now)
    if conn.dialect.name == "sqlite":
        encoded = batch.sqlite or _encode_for_sqlite(batch.in_phone_order(), conn.dialect, now)
        existing, ids = await _write_sqlite(conn, encoded, now)
    else:
        existing, ids = await _write_executemany(conn, batch, group_ids, now)
    return BatchWritten(set(batch.phones) - existing, ids)


async def upsert_contacts(
    conn: AsyncConnection, batch: Sequence[ImportedContact], *, now: dt.datetime
) -> set[str]:
    """Create or update contacts by phone, with their values and memberships. Returns the phones created."""
    return (await write_batch(conn, prepare_batch(batch, conn.dialect, now=now), now=now)).created


# --- fields ------------------------------------------------------------------------------------------------


def _field(row: sa.Row[Any]) -> Field:
    return Field(row.id, row.key, row.label, row.value_type, row.created_at)


async def load_fields(conn: AsyncConnection) -> dict[str, Field]:
    return {f.key: f for f in await list_fields(conn, limit=None)}


async def list_fields(conn: AsyncConnection, *, after_id: int = 0, limit: int | None = 50) -> list[Field]:
    stmt = sa.select(fields).where(fields.c.id > after_id).order_by(fields.c.id).limit(limit)
    return [_field(row) for row in await conn.execute(stmt)]


async def get_field(conn: AsyncConnection, key: str) -> Field:
    row = (await conn.execute(sa.select(fields).where(fields.c.key == key))).first()
    if row is None:
        raise NotFound("field")
    return _field(row)


async def create_field(
    conn: AsyncConnection, key: str, label: str, value_type: str, *, now: dt.datetime
) -> Field:
    """``key``, ``label`` and ``value_type`` already checked (contact_values)."""
    taken = (await conn.execute(sa.select(fields.c.id).where(fields.c.key == key))).first()
    if taken is not None:
        raise Conflict(f"a field with key {key!r} already exists", {"key": key})
    await conn.execute(fields.insert().values(key=key, label=label, value_type=value_type, created_at=now))
    return await get_field(conn, key)


async def update_field(conn: AsyncConnection, key: str, *, label: str) -> Field:
    result = await conn.execute(fields.update().where(fields.c.key == key).values(label=label))
    if result.rowcount == 0:
        raise NotFound("field")
    return await get_field(conn, key)


async def delete_field(conn: AsyncConnection, key: str, *, now: dt.datetime, actor: str) -> None:
    """Delete a field and every contact's value for it."""
    result = await conn.execute(fields.delete().where(fields.c.key == key))
    if result.rowcount == 0:
        raise NotFound("field")
    await audit.record(conn, at=now, actor=actor, action="field.delete", target=key)


# --- groups ------------------------------------------------------------------------------------------------

_member_count = (
    sa.select(sa.func.count())
    .select_from(group_members)
    .where(group_members.c.group_id == groups.c.id)
    .scalar_subquery()
)


def _group(row: sa.Row[Any]) -> Group:
    return Group(row.id, row.uuid, row.name, row.created_at, row.members)


async def list_groups(conn: AsyncConnection, *, after_id: int = 0, limit: int = 50) -> list[Group]:
    stmt = (
        sa.select(groups, _member_count.label("members"))
        .where(groups.c.id > after_id)
        .order_by(groups.c.id)
        .limit(limit)
    )
    return [_group(row) for row in await conn.execute(stmt)]


async def get_group(conn: AsyncConnection, group_uuid: uuid.UUID) -> Group:
    return await _group_by(conn, groups.c.uuid == group_uuid)


async def find_group_by_name(conn: AsyncConnection, name: str) -> Group | None:
    try:
        return await _group_by(conn, groups.c.name == name)
    except NotFound:
        return None


async def _group_by(conn: AsyncConnection, condition: sa.ColumnElement[bool]) -> Group:
    row = (await conn.execute(sa.select(groups, _member_count.label("members")).where(condition))).first()
    if row is None:
        raise NotFound("group")
    return _group(row)


async def _refuse_taken_group_name(conn: AsyncConnection, name: str) -> None:
    taken = (await conn.execute(sa.select(groups.c.uuid).where(groups.c.name == name))).scalar()
    if taken is not None:
        raise Conflict(f"a group named {name!r} already exists", {"uuid": str(taken)})


async def create_group(conn: AsyncConnection, name: str, *, now: dt.datetime) -> Group:
    await _refuse_taken_group_name(conn, name)
    group_uuid = uuid.uuid4()
    await conn.execute(groups.insert().values(uuid=group_uuid, name=name, created_at=now))
    return await get_group(conn, group_uuid)


async def rename_group(conn: AsyncConnection, group_uuid: uuid.UUID, name: str) -> Group:
    group = await get_group(conn, group_uuid)
    if name != group.name:
        await _refuse_taken_group_name(conn, name)
        await conn.execute(groups.update().where(groups.c.id == group.id).values(name=name))
    return await get_group(conn, group_uuid)


async def delete_group(conn: AsyncConnection, group_uuid: uuid.UUID, *, now: dt.datetime, actor: str) -> None:
    """Delete a group; its members stay, only the membership goes."""
    group = await get_group(conn, group_uuid)
    await conn.execute(groups.delete().where(groups.c.id == group.id))
    await audit.record(
        conn,
        at=now,
        actor=actor,
        action="group.delete",
        target=str(group_uuid),
        detail={"name": group.name, "members": group.members},
    )


async def ensure_groups(conn: AsyncConnection, names: Iterable[str], *, now: dt.datetime) -> dict[str, int]:
    """Ids of the named groups, creating those that do not exist yet."""
    wanted = set(names)
    if not wanted:
        return {}
    select = sa.select(groups.c.name, groups.c.id).where(groups.c.name.in_(wanted))
    found: dict[str, int] = {name: group_id for name, group_id in await conn.execute(select)}
    missing = sorted(wanted - found.keys())
    if missing:
        await conn.execute(
            insert_for(conn, groups).on_conflict_do_nothing(index_elements=[groups.c.name]),
            [{"uuid": uuid.uuid4(), "name": name, "created_at": now} for name in missing],
        )
        found = {name: group_id for name, group_id in await conn.execute(select)}
    return found


async def _contact_ids(conn: AsyncConnection, contact_uuids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Internal ids for the given contacts; Invalid naming every uuid that is not a contact."""
    wanted = list(dict.fromkeys(contact_uuids))
    rows = await conn.execute(sa.select(contacts.c.uuid, contacts.c.id).where(contacts.c.uuid.in_(wanted)))
    found: dict[uuid.UUID, int] = {contact_uuid: contact_id for contact_uuid, contact_id in rows}
    missing = [u for u in wanted if u not in found]
    if missing:
        raise Invalid([{"field": "contacts", "message": f"no contact {u}"} for u in missing])
    return found


async def add_members(
    conn: AsyncConnection, group_uuid: uuid.UUID, contact_uuids: Sequence[uuid.UUID], *, now: dt.datetime
) -> int:
    """Add contacts to a group; those already in it stay as they are. Returns how many joined."""
    group = await get_group(conn, group_uuid)
    ids = set((await _contact_ids(conn, contact_uuids)).values())
    already = set(
        (
            await conn.execute(
                sa.select(group_members.c.contact_id).where(
                    group_members.c.group_id == group.id, group_members.c.contact_id.in_(ids)
                )
            )
        ).scalars()
    )
    joining = sorted(ids - already)
    if joining:
        await conn.execute(
            insert_for(conn, group_members).on_conflict_do_nothing(),
            [{"group_id": group.id, "contact_id": i, "added_at": now} for i in joining],
        )
    return len(joining)


async def remove_members(
    conn: AsyncConnection, group_uuid: uuid.UUID, contact_uuids: Sequence[uuid.UUID]
) -> int:
    """Take contacts out of a group; those not in it are ignored. Returns how many left."""
    group = await get_group(conn, group_uuid)
    ids = set((await _contact_ids(conn, contact_uuids)).values())
    result = await conn.execute(
        group_members.delete().where(
            group_members.c.group_id == group.id, group_members.c.contact_id.in_(ids)
        )
    )
    return int(result.rowcount)
