"""The CSV import engine (shared by the command line and the API), on SQLite and on PostgreSQL."""

from __future__ import annotations

import codecs
import datetime as dt
import io
import zoneinfo
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server import contacts, contacts_import
from server.contacts_import import ImportRefused, ImportReport, RowError, import_contacts, parse_mappings
from server.db.schema import audit_log
from server.db.schema import contacts as contacts_table

MEXICO = zoneinfo.ZoneInfo("America/Mexico_City")
NOW = dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.UTC)


async def run(
    engine: AsyncEngine,
    data: str | bytes,
    *maps: str,
    encoding: str | None = None,
    progress: Any = None,
    now: dt.datetime = NOW,
) -> ImportReport:
    raw = data.encode() if isinstance(data, str) else data
    return await import_contacts(
        engine,
        io.BytesIO(raw),
        mappings=parse_mappings(maps),
        encoding=encoding,
        tz=MEXICO,
        programme_timezone=MEXICO.key,
        region="MX",
        now=now,
        actor="user:ana",
        progress=progress,
    )


async def everyone(engine: AsyncEngine) -> dict[str, contacts.Contact]:
    async with engine.connect() as conn:
        return {c.phone: c for c in await contacts.search_contacts(conn, contacts.ContactQuery(), limit=1000)}


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(contacts_table))).scalar_one())


@pytest.fixture
async def due_date(engine: AsyncEngine) -> contacts.Field:
    async with engine.begin() as conn:
        return await contacts.create_field(conn, "due_date", "Fecha probable de parto", "date", now=NOW)


async def test_a_register_imports_with_its_own_column_names(
    engine: AsyncEngine, due_date: contacts.Field
) -> None:
    seen: list[tuple[int, int]] = []
    report = await run(
        engine,
        "Teléfono,Nombre,idioma,due_date,Grupo,Semanas\n"
        "55 1234 5678,Ana,spa,01/03/2027,Embarazadas,12\n"
        "+52 33 1234 5678,Bety,,2027-04-15,Embarazadas,20\n",
        "Semanas=field:weeks:number",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert report == ImportReport(rows=2, created=2, updated=0, failed=0, errors=[])
    people = await everyone(engine)
    ana, bety = people["+525512345678"], people["+523312345678"]
    assert (ana.name, ana.language, ana.fields) == ("Ana", "spa", {"due_date": "2027-03-01", "weeks": "12"})
    assert [g.name for g in ana.groups] == ["Embarazadas"]
    assert (bety.language, bety.fields["due_date"]) == (None, "2027-04-15")
    assert seen[-1] == (3, 3)
    async with engine.connect() as conn:
        weeks = await contacts.get_field(conn, "weeks")
        entry = (await conn.execute(sa.select(audit_log))).one()
    assert (weeks.label, weeks.value_type) == ("Semanas", "number")
    assert (entry.action, entry.actor) == ("contact.import", "user:ana")
    assert entry.detail == {"rows": 2, "created": 2, "updated": 0, "failed": 0}


async def test_importing_again_updates_instead_of_duplicating(
    engine: AsyncEngine, due_date: contacts.Field
) -> None:
    first = "phone,name,due_date\n5512345678,Ana,01/03/2027\n3312345678,Bety,02/03/2027\n"
    await run(engine, first)
    later = NOW + dt.timedelta(days=7)
    # Ana's number written another way; an empty name leaves hers; Carmen is new.
    report = await run(
        engine, "phone,name,due_date\n+5215512345678,,15/03/2027\n8112345678,Carmen,\n", now=later
    )
    assert (report.created, report.updated, report.failed) == (1, 1, 0)
    people = await everyone(engine)
    assert len(people) == 3
    ana = people["+525512345678"]
    assert (ana.name, ana.fields, ana.created_at, ana.updated_at) == (
        "Ana",
        {"due_date": "2027-03-15"},
        NOW,
        later,
    )
    assert people["+528112345678"].fields == {}


async def test_a_phone_twice_in_one_file_is_one_contact(engine: AsyncEngine) -> None:
    report = await run(engine, "phone,name,language\n5512345678,Ana,\n55-1234-5678,,nah\n")
    assert (report.rows, report.created, report.updated) == (2, 1, 1)
    (ana,) = (await everyone(engine)).values()
    assert (ana.name, ana.language) == ("Ana", "nah")


async def test_bad_rows_are_reported_and_never_stop_or_half_write_the_good_ones(
    engine: AsyncEngine, due_date: contacts.Field
) -> None:
    huge = "x" * 1_000_000
    report = await run(
        engine,
        "phone,name,due_date,group\n"
        "5512345678,Ana,01/03/2027,Piloto\n"  # row 2: good
        "12345,Bety,01/03/2027,Piloto\n"  # row 3: phone
        "3312345678,Carmen,31/02/2027,Piloto\n"  # row 4: date (and nothing of Carmen is written)
        ",Dora,01/03/2027,\n"  # row 5: no phone
        '8112345678,"Eva"x,01/03/2027,\n'  # row 6: broken quoting
        f'9991234567,"{huge}",01/03/2027,\n'  # row 7: a million-character cell
        "9511234567,Fer\x00nanda,01/03/2027,\n"  # row 8: a NUL byte
        "2221234567,Gaby,01/03/2027,Piloto,extra\n"  # row 9: a cell beyond the header
        "6641234567,Hilda,,\n"  # row 10: good, no date
        "\n"  # a blank line, skipped
        ",,,\n"  # an empty row, skipped
        "9991234567,Inés,abc,\n",  # row 13: date
    )
    assert (report.rows, report.created, report.updated, report.failed) == (10, 2, 0, 8)
    assert [(e.row, e.column) for e in report.errors] == [
        (3, "phone"),
        (4, "due_date"),
        (5, "phone"),
        (6, None),
        (7, None),
        (8, "name"),
        (9, None),
        (13, "due_date"),
    ]
    messages = {e.row: e.message for e in report.errors}
    assert messages[3] == "phone is too short for a number in +52 (MX)"
    assert messages[4] == "due_date is not a date in the calendar"
    assert messages[5] == "phone is missing"
    assert "cannot be read as CSV" in messages[6]
    assert "field larger than field limit" in messages[7]
    assert messages[8] == "name contains control characters"
    assert messages[9] == "has a value in a column without a name in the header"
    people = await everyone(engine)
    assert sorted(people) == ["+525512345678", "+526641234567"]
    async with engine.connect() as conn:
        piloto = await contacts.find_group_by_name(conn, "Piloto")
    assert piloto is not None
    assert piloto.members == 1


async def test_a_quote_left_open_at_the_end_is_a_row_error(engine: AsyncEngine) -> None:
    report = await run(engine, 'phone,name\n5512345678,Ana\n3312345678,"Bety\n')
    assert (report.created, report.failed) == (1, 1)
    assert report.errors == [RowError(3, None, "cannot be read as CSV: unexpected end of data")]


async def test_a_long_text_value_is_a_row_error(engine: AsyncEngine) -> None:
    report = await run(engine, f"phone,name\n5512345678,{'n' * 129}\n")
    assert report.errors == [RowError(2, "name", "name is longer than 128 characters")]


async def test_bad_language_and_timezone(engine: AsyncEngine) -> None:
    report = await run(
        engine, "phone,language,timezone\n5512345678,es,America/Merida\n3312345678,spa,Hora/Local\n"
    )
    assert [(e.row, e.column) for e in report.errors] == [(2, "language"), (3, "timezone")]
    assert await count(engine) == 0


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
async def test_a_file_from_excel_imports_when_its_encoding_is_given(
    engine: AsyncEngine, encoding: str
) -> None:
    data = "teléfono,nombre\n5512345678,María Xóchitl Peña\n".encode(encoding)
    with pytest.raises(ImportRefused) as caught:
        await run(engine, data)
    assert "line 1" in str(caught.value)
    assert "0xE9" in str(caught.value)
    assert "cp1252" in str(caught.value)
    assert await count(engine) == 0
    report = await run(engine, data, encoding=encoding)
    assert report.created == 1
    assert [c.name for c in (await everyone(engine)).values()] == ["María Xóchitl Peña"]


async def test_an_undecodable_byte_deep_in_the_file_refuses_it_before_any_write(engine: AsyncEngine) -> None:
    rows = "".join(f"55{i:08d},Ana\n" for i in range(12_000_000, 12_003_000))
    data = ("phone,name\n" + rows).encode() + "5599999999,Peña\n".encode("cp1252")
    with pytest.raises(ImportRefused, match="line 3002"):
        await run(engine, data)
    assert await count(engine) == 0


@pytest.mark.parametrize("name", ["klingon", "base64", "rot13", ""])
async def test_an_unknown_encoding_is_refused(engine: AsyncEngine, name: str) -> None:
    with pytest.raises(ImportRefused, match="unknown text encoding"):
        await run(engine, "phone\n5512345678\n", encoding=name)


@pytest.mark.parametrize(
    ("bom", "encoding"),
    [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")],
)
async def test_byte_order_marks_are_understood(engine: AsyncEngine, bom: bytes, encoding: str) -> None:
    data = bom + "teléfono\tnombre\r\n5512345678\tÁngela\r\n".encode(encoding)
    report = await run(engine, data)
    assert (report.created, report.failed) == (1, 0)
    assert [c.name for c in (await everyone(engine)).values()] == ["Ángela"]


async def test_semicolons_are_recognised(engine: AsyncEngine) -> None:
    report = await run(engine, "phone;name\n5512345678;Ana, la de la tienda\n")
    assert report.created == 1
    assert [c.name for c in (await everyone(engine)).values()] == ["Ana, la de la tienda"]


async def test_the_charset_of_a_file_decides_the_line_count(engine: AsyncEngine) -> None:
    seen: list[tuple[int, int]] = []
    await run(engine, "phone\n5512345678\n3312345678", progress=lambda d, t: seen.append((d, t)))
    assert seen == [(3, 3)]  # no newline after the last row, still three lines


@pytest.mark.parametrize(
    ("data", "maps", "message"),
    [
        ("", (), "the file is empty"),
        ("\n\nphone\n", (), "starts blank"),
        ('phone,"name\n', (), "the header row cannot be read"),
        ("phone,name,name\n", (), "more than once: name"),
        ("name\nAna\n", (), "no column is mapped to phone"),
        ("phone,Notas,Edad\n", (), "not mapped to anything: Notas, Edad"),
        ("phone,Notas\n", ("Nota=ignore",), "not in the file: Nota"),
        ("phone,tel\n", (), "more than one column is mapped to phone"),
        ("phone,FPP\n", ("FPP=field:fpp",), "field 'fpp' does not exist"),
        ("phone,FPP\n", ("FPP=field:due_date:number",), "holds date values, not number"),
        (
            "phone,FPP,F2\n",
            ("FPP=field:due_date", "F2=field:due_date"),
            "more than one column is mapped to field:due_date",
        ),
    ],
)
async def test_files_that_cannot_be_imported_are_refused_whole(
    engine: AsyncEngine, due_date: contacts.Field, data: str, maps: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ImportRefused, match=message):
        await run(engine, data + "5512345678,x,y\n" if data else data, *maps)
    assert await count(engine) == 0


@pytest.mark.parametrize(
    ("maps", "message"),
    [
        (("phone",), "must be COLUMN=TARGET"),
        (("=phone",), "must be COLUMN=TARGET"),
        (("a=phone", "a=name"), "mapped twice"),
        (("a=email",), "is not one of"),
        (("a=field:Due Date",), "field key or type must be lower case"),
        (("a=field:due_date:money",), "field key or type must be one of"),
        (("a=field:x:date:extra",), "is not one of"),
    ],
)
def test_bad_mappings_are_refused(maps: tuple[str, ...], message: str) -> None:
    with pytest.raises(ImportRefused, match=message):
        parse_mappings(maps)


def test_a_column_name_may_hold_an_equals_sign() -> None:
    assert parse_mappings(["a=b=field:x"]) == {"a=b": contacts_import.Target("field", "x")}


async def test_ignored_and_nameless_columns(engine: AsyncEngine) -> None:
    report = await run(
        engine, "phone,Notas,,name\n5512345678,algo,,Ana\n3312345678,,perdido,Bety\n", "Notas=ignore"
    )
    assert report.created == 1
    assert report.errors == [RowError(3, None, "has a value in a column without a name in the header")]


async def test_field_columns_named_field_key_map_themselves(engine: AsyncEngine) -> None:
    report = await run(engine, "phone,field:clinic:text,field:due_date:date\n5512345678,Norte,2027-03-01\n")
    assert report.created == 1
    (ana,) = (await everyone(engine)).values()
    assert ana.fields == {"clinic": "Norte", "due_date": "2027-03-01"}


async def test_a_header_only_file_imports_nothing(engine: AsyncEngine) -> None:
    assert await run(engine, "phone,name\n") == ImportReport()


async def test_batches_commit_one_by_one_and_count_repeats_as_updates(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_import, "BATCH_ROWS", 3)
    seen: list[tuple[int, int]] = []
    rows = [f"55{i:08d},Contact {i}\n" for i in range(12_000_000, 12_000_007)]
    data = "phone,name\n" + "".join(rows) + rows[0]  # the first contact again, in the last batch
    report = await run(engine, data, progress=lambda d, t: seen.append((d, t)))
    assert (report.rows, report.created, report.updated) == (8, 7, 1)
    assert seen == [(4, 9), (7, 9), (9, 9)]
    assert await count(engine) == 7


async def test_a_bad_row_does_not_stop_a_later_batch(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_import, "BATCH_ROWS", 2)
    report = await run(engine, "phone\n5512345678\nbad\n3312345678\nworse\n8112345678\n")
    assert (report.created, report.failed) == (3, 2)
    assert [e.row for e in report.errors] == [3, 5]


async def test_sql_looking_cells_are_stored_literally(engine: AsyncEngine) -> None:
    report = await run(engine, "phone,name,group\n5512345678,\"x'); DROP TABLE contacts;--\",' OR 1=1 --\n")
    assert report.created == 1
    (ana,) = (await everyone(engine)).values()
    assert ana.name == "x'); DROP TABLE contacts;--"
    assert [g.name for g in ana.groups] == ["' OR 1=1 --"]
