"""The import's batches: where one ends and the next begins, rows that meet again, and what the bulk
statements store compared with the ordinary ones (on SQLite they differ: the rows travel as JSON)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import random
import shutil
import uuid
import zoneinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server import contacts, contacts_import
from server.contact_values import InvalidValue, TypedValue, clean_text, parse_value
from server.contacts import ContactChanges, ImportedContact
from server.contacts_import import ImportRefused, ImportReport, RowError, import_contacts, parse_mappings
from server.db.engine import create_engine
from server.db.schema import contacts as contacts_table

MEXICO = zoneinfo.ZoneInfo("America/Mexico_City")
NOW = dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(days=7)


async def run(engine: AsyncEngine, data: str, *maps: str, now: dt.datetime = NOW) -> ImportReport:
    return await import_contacts(
        engine,
        io.BytesIO(data.encode()),
        mappings=parse_mappings(maps),
        tz=MEXICO,
        programme_timezone=MEXICO.key,
        region="MX",
        now=now,
        actor="cli",
    )


async def everyone(engine: AsyncEngine) -> dict[str, contacts.Contact]:
    async with engine.connect() as conn:
        return {c.phone: c for c in await contacts.search_contacts(conn, contacts.ContactQuery(), limit=1000)}


def phone(i: int) -> str:
    return f"55{12_000_000 + i:08d}"


def e164(i: int) -> str:
    return "+52" + phone(i)


@pytest.fixture
def batches_of_three(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contacts_import, "BATCH_ROWS", 3)


@pytest.mark.usefixtures("batches_of_three")
async def test_a_bad_row_in_the_middle_of_a_batch_leaves_its_neighbours_whole(engine: AsyncEngine) -> None:
    data = (
        "phone,name,field:weeks:number,group\n"
        f"{phone(1)},Ana,10,Norte\n"  # row 2, batch 1
        f"{phone(2)},Bety,diez,Norte\n"  # row 3, batch 1: a bad number
        f"{phone(3)},Carmen,12,Sur\n"  # row 4, batch 1
        f"{phone(4)},Dora,13,Sur\n"  # row 5, batch 2
        f"{phone(5)},Eva\x01,14,Sur\n"  # row 6, batch 2: a control character
        f"{phone(6)},Fer,15,\n"  # row 7, batch 2
    )
    report = await run(engine, data)
    assert (report.rows, report.created, report.updated, report.failed) == (6, 4, 0, 2)
    assert report.errors == [
        RowError(3, "field:weeks:number", "weeks must be a number such as 12 or 3.5"),
        RowError(6, "name", "name contains control characters"),
    ]
    people = await everyone(engine)
    assert sorted(people) == [e164(1), e164(3), e164(4), e164(6)]
    assert {p.name: (p.fields, [g.name for g in p.groups]) for p in people.values()} == {
        "Ana": ({"weeks": "10"}, ["Norte"]),
        "Carmen": ({"weeks": "12"}, ["Sur"]),
        "Dora": ({"weeks": "13"}, ["Sur"]),
        "Fer": ({"weeks": "15"}, []),
    }


@pytest.mark.usefixtures("batches_of_three")
async def test_a_phone_repeated_within_a_batch_merges_column_by_column(engine: AsyncEngine) -> None:
    # The same woman three times in one batch, her number written three ways: later cells win, empty cells
    # leave what earlier rows said, groups add up.
    data = (
        "phone,name,language,field:weeks:number,field:clinic:text,group\n"
        f"{phone(1)},Ana,spa,10,,Norte\n"
        f"+52 1 {phone(1)},,nah,11,Centro,Sur\n"
        f"044 {phone(1)},Ana María,,,,\n"
    )
    report = await run(engine, data)
    assert (report.rows, report.created, report.updated, report.failed) == (3, 1, 2, 0)
    (ana,) = (await everyone(engine)).values()
    assert (ana.name, ana.language, ana.fields) == ("Ana María", "nah", {"clinic": "Centro", "weeks": "11"})
    assert [g.name for g in ana.groups] == ["Norte", "Sur"]


@pytest.mark.usefixtures("batches_of_three")
async def test_a_row_updates_a_contact_created_by_an_earlier_batch_of_the_same_file(
    engine: AsyncEngine,
) -> None:
    data = (
        "phone,name,field:due_date:date,group\n"
        f"{phone(1)},Ana,01/03/2027,Norte\n"
        f"{phone(2)},Bety,02/03/2027,Norte\n"
        f"{phone(3)},Carmen,03/03/2027,Norte\n"
        f"{phone(4)},Dora,04/03/2027,Sur\n"  # batch 2
        f"+52{phone(1)},,15/03/2027,Sur\n"  # batch 2: Ana again
    )
    report = await run(engine, data)
    assert (report.rows, report.created, report.updated) == (5, 4, 1)
    people = await everyone(engine)
    ana = people[e164(1)]
    assert (ana.name, ana.fields, ana.created_at) == ("Ana", {"due_date": "2027-03-15"}, NOW)
    assert [g.name for g in ana.groups] == ["Norte", "Sur"]
    assert len(people) == 4


async def test_importing_the_same_file_again_changes_only_what_changed(engine: AsyncEngine) -> None:
    header = "phone,name,field:weeks:number,field:due_date:date,field:seen:datetime,field:clinic:text\n"
    first = header + f"{phone(1)},Ana,10,01/03/2027,2027-03-01T09:30,Norte\n{phone(2)},Bety,20,,,Sur\n"
    await run(engine, first)
    again = await run(engine, first, now=LATER)
    assert (again.created, again.updated) == (0, 2)
    changed = header + (
        # Each typed column changes once, and the text with it; Bety's empty cells leave her values.
        f"{phone(1)},Ana,10.5,02/03/2027,2027-03-01T10:30-05:00,Norte\n{phone(2)},,,,,\n"
    )
    await run(engine, changed, now=LATER)
    people = await everyone(engine)
    assert people[e164(1)].fields == {
        "clinic": "Norte",
        "due_date": "2027-03-02",
        "seen": "2027-03-01T09:30:00-06:00",
        "weeks": "10.5",
    }
    assert people[e164(2)].fields == {"clinic": "Sur", "weeks": "20"}
    assert people[e164(2)].updated_at == LATER
    async with engine.connect() as conn:
        weeks = await contacts.get_field(conn, "weeks")
        found = await contacts.search_contacts(
            conn, contacts.ContactQuery(values=((weeks, parse_value("number", "10.5", MEXICO)),))
        )
    assert [c.phone for c in found] == [e164(1)]


async def test_a_refused_value_that_repeats_is_reported_on_every_row(engine: AsyncEngine) -> None:
    rows = "".join(f"{phone(i)},{lang},{day}\n" for i, (lang, day) in enumerate([("es", "31/02/2027")] * 3))
    report = await run(engine, "phone,language,field:due_date:date\n" + rows + f"{phone(9)},SPA,1/3/2027\n")
    assert report.created == 1
    assert [(e.row, e.column) for e in report.errors] == [
        (row, column) for row in (2, 3, 4) for column in ("language", "field:due_date:date")
    ]
    assert {e.message for e in report.errors} == {
        "language must be a three-letter ISO 639-3 code such as spa",
        "due_date is not a date in the calendar",
    }
    (dora,) = (await everyone(engine)).values()
    assert (dora.language, dora.fields) == ("spa", {"due_date": "2027-03-01"})


async def test_text_that_looks_like_json_or_sql_is_stored_as_written(engine: AsyncEngine) -> None:
    names = ['"],["x', "\\u0000", "Xóchitl 😀", "a'); DROP TABLE contacts;--", "[1,2]", "null"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["phone", "name", "group", "field:note:text"])
    writer.writerows([phone(i), name, name, name] for i, name in enumerate(names))
    report = await run(engine, out.getvalue())
    assert (report.created, report.failed) == (len(names), 0)
    people = await everyone(engine)
    for i, name in enumerate(names):
        person = people[e164(i)]
        assert (person.name, person.fields, [g.name for g in person.groups]) == (name, {"note": name}, [name])


async def test_imported_contacts_get_distinct_time_ordered_uuids(engine: AsyncEngine) -> None:
    numbers = list(range(50))
    random.Random(5).shuffle(numbers)
    await run(engine, "phone\n" + "".join(f"{phone(i)}\n" for i in numbers))
    async with engine.connect() as conn:
        query = sa.select(contacts_table.c.uuid).order_by(contacts_table.c.phone)
        uuids = list((await conn.execute(query)).scalars())
    assert len(set(uuids)) == 50
    millis = int(NOW.timestamp() * 1000)
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 and u.int >> 80 == millis for u in uuids)
    assert uuids == sorted(uuids)  # a batch's uuids follow its phones, so both indexes fill in sequence


async def test_the_import_writes_with_a_larger_page_cache_and_returns_the_connection_with_its_own(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(sqlite_url)
    write_batch = contacts.write_batch
    seen: list[int] = []

    async def write_and_look(conn: AsyncConnection, batch: contacts.ContactBatch, *, now: dt.datetime) -> Any:
        seen.append((await conn.exec_driver_sql("PRAGMA cache_size")).scalar_one())
        return await write_batch(conn, batch, now=now)

    async def cache_size() -> int:
        async with engine.connect() as conn:
            return int((await conn.exec_driver_sql("PRAGMA cache_size")).scalar_one())

    monkeypatch.setattr(contacts, "write_batch", write_and_look)
    try:
        usual = await cache_size()
        await run(engine, "phone\n" + "".join(f"{phone(i)}\n" for i in range(3)))
        with pytest.raises(ImportRefused):
            await run(engine, "phone,unknown\n5512345678,x\n")
        assert seen == [-contacts_import.PAGE_CACHE_KIB]
        assert await cache_size() == usual
    finally:
        await engine.dispose()


async def test_a_failed_write_stops_the_import_and_leaves_the_file_to_its_owner(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_import, "BATCH_ROWS", 2)
    write_batch = contacts.write_batch
    batches = 0

    async def failing_second(conn: AsyncConnection, batch: contacts.ContactBatch, *, now: dt.datetime) -> Any:
        nonlocal batches
        batches += 1
        if batches == 2:
            raise OSError("disk full")
        return await write_batch(conn, batch, now=now)

    monkeypatch.setattr(contacts, "write_batch", failing_second)
    source = io.BytesIO(("phone\n" + "".join(f"{phone(i)}\n" for i in range(7))).encode())
    with pytest.raises(OSError, match="disk full"):
        await import_contacts(
            engine, source, tz=MEXICO, programme_timezone=MEXICO.key, region="MX", now=NOW, actor="cli"
        )
    assert not source.closed
    assert sorted(await everyone(engine)) == [e164(0), e164(1)]  # the first batch, committed whole


# --- the bulk statements store what the ordinary ones do ----------------------------------------------------

FIELD_TYPES = {"note": "text", "weeks": "number", "due_date": "date", "seen": "datetime"}
_storable = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)


def _checked_text(raw: str, max_length: int) -> str | None:
    try:
        return clean_text(raw, max_length=max_length) or None
    except InvalidValue:
        return None


_numbers = st.one_of(
    st.decimals(
        min_value=Decimal("-1e27"), max_value=Decimal("1e27"), allow_nan=False, allow_infinity=False, places=8
    ).map(lambda d: format(d, "f")),
    # Long ones too: past fifteen significant digits, SQLite's own reading of text as a number rounds.
    st.tuples(st.integers(-(10**27) + 1, 10**27 - 1), st.integers(0, 10**8 - 1)).map(
        lambda t: f"{t[0]}.{t[1]:08d}"
    ),
    st.integers(-(10**27) + 1, 10**27 - 1).map(str),
)
_raw_values = {
    "note": _storable,
    "weeks": _numbers,
    "due_date": st.dates(dt.date(1900, 1, 1), dt.date(2200, 12, 31)).map(dt.date.isoformat),
    "seen": st.datetimes(dt.datetime(1950, 1, 1), dt.datetime(2150, 1, 1)).map(lambda d: d.isoformat()),
}
_contacts = st.fixed_dictionaries(
    {
        "name": _storable.map(lambda t: _checked_text(t, 128)),
        "language": st.sampled_from([None, "spa", "nah"]),
        "timezone": st.sampled_from([None, "America/Merida", "America/Tijuana"]),
        "values": st.fixed_dictionaries({}, optional={k: s for k, s in _raw_values.items()}),
        "groups": st.frozensets(st.sampled_from(["Norte", "Sur", 'Cl"ínica [1]', "😀"]), max_size=2),
    }
)


async def _fields(conn: AsyncConnection) -> dict[str, contacts.Field]:
    for key, value_type in FIELD_TYPES.items():
        await contacts.create_field(conn, key, key, value_type, now=NOW)
    return await contacts.load_fields(conn)


def _typed(fields: dict[str, contacts.Field], raw: dict[str, str]) -> dict[contacts.Field, TypedValue]:
    typed = {}
    for key, text in raw.items():
        try:
            typed[fields[key]] = parse_value(FIELD_TYPES[key], text, MEXICO)
        except InvalidValue:
            continue
    return typed


async def _store_in_bulk(engine: AsyncEngine, people: list[dict[str, Any]], now: dt.datetime) -> None:
    async with engine.begin() as conn:
        fields = await contacts.load_fields(conn)
        rows = [
            ImportedContact(
                e164(i),
                p["name"],
                p["language"],
                p["timezone"],
                {f.id: v for f, v in _typed(fields, p["values"]).items()},
                p["groups"],
            )
            for i, p in enumerate(people)
        ]
        await contacts.write_batch(conn, contacts.prepare_batch(rows, conn.dialect, now=now), now=now)


async def _store_one_by_one(engine: AsyncEngine, people: list[dict[str, Any]], now: dt.datetime) -> None:
    async with engine.begin() as conn:
        fields = await contacts.load_fields(conn)
        for i, p in enumerate(people):
            attributes = {k: p[k] for k in ("name", "language", "timezone") if p[k] is not None}
            changes = ContactChanges(attributes, _typed(fields, p["values"]))
            found = await contacts.find_contact_by_phone(conn, e164(i))
            if found is None:
                created = await contacts.create_contact(
                    conn, ContactChanges({**attributes, "phone": e164(i)}, changes.values), now=now
                )
                contact_uuid = created.uuid
            else:
                await contacts.update_contact(conn, found.uuid, changes, now=now, actor="cli")
                contact_uuid = found.uuid
            for name in sorted(p["groups"]):
                group = await contacts.find_group_by_name(conn, name)
                if group is None:
                    group = await contacts.create_group(conn, name, now=now)
                await contacts.add_members(conn, group.uuid, [contact_uuid], now=now)


_DUMP = {
    "contacts": "SELECT phone, name, language, timezone, status, created_at, updated_at, length(uuid), "
    "typeof(uuid) FROM contacts ORDER BY phone",
    "values": "SELECT c.phone, f.key, v.text_value, v.number_value, typeof(v.number_value), v.date_value, "
    "typeof(v.date_value), v.datetime_value, typeof(v.datetime_value) FROM contact_fields v "
    "JOIN contacts c ON c.id = v.contact_id JOIN fields f ON f.id = v.field_id ORDER BY c.phone, f.key",
    "members": "SELECT c.phone, g.name FROM group_members m JOIN contacts c ON c.id = m.contact_id "
    "JOIN groups g ON g.id = m.group_id ORDER BY c.phone, g.name",
}


async def _dump(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    async with engine.connect() as conn:
        return {name: [tuple(r) for r in await conn.exec_driver_sql(sql)] for name, sql in _DUMP.items()}


def _person(**values: str) -> dict[str, Any]:
    return {"name": "Ana", "language": None, "timezone": None, "values": values, "groups": frozenset()}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Numbers SQLite itself would read one binary digit off, were they sent as text.
@example(
    first=[_person(weeks="14.91127205")], second=[_person(weeks="0.00080489"), _person(weeks="5488.1206502")]
)
@given(
    first=st.lists(_contacts, min_size=1, max_size=8),
    second=st.lists(_contacts, min_size=1, max_size=8),
)
def test_on_sqlite_the_bulk_statements_store_exactly_what_the_ordinary_ones_store(
    sqlite_template: Path, tmp_path: Path, first: list[dict[str, Any]], second: list[dict[str, Any]]
) -> None:
    """Two imports (the second updates some of the first's contacts) through the JSON statements, and the
    same contacts through create_contact and update_contact: every stored cell is the same, byte for byte
    and type for type (a number read back from JSON is the same binary float)."""

    async def compare() -> None:
        dumps = []
        for store in (_store_in_bulk, _store_one_by_one):
            target = tmp_path / f"{uuid.uuid4().hex}.sqlite3"
            shutil.copyfile(sqlite_template, target)
            engine = create_engine(f"sqlite+aiosqlite:///{target}")
            try:
                async with engine.begin() as conn:
                    await _fields(conn)
                await store(engine, first, NOW)
                await store(engine, second, LATER)
                dumps.append(await _dump(engine))
            finally:
                await engine.dispose()
        assert dumps[0] == dumps[1]

    asyncio.run(compare())


async def test_values_past_what_a_column_remembers_are_still_checked(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_import, "MEMO_ENTRIES", 2)
    languages = ["spa", "es", "nah", "xx", "yua", "es", "spa"]
    rows = "".join(f"{phone(i)},{language}\n" for i, language in enumerate(languages))
    report = await run(engine, "phone,language\n" + rows)
    assert [e.row for e in report.errors] == [3, 5, 7]
    people = await everyone(engine)
    assert [people[e164(i)].language for i in (0, 2, 4, 6)] == ["spa", "nah", "yua", "spa"]
