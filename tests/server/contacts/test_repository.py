"""The contact storage functions, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server import contacts
from server.contact_values import parse_value
from server.contacts import ContactChanges, ContactQuery, ImportedContact
from server.db.schema import audit_log, contact_fields, messages

MEXICO = zoneinfo.ZoneInfo("America/Mexico_City")
NOW = dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.UTC)
ANA, BETY, CARMEN = "+525512345678", "+523312345678", "+528112345678"


def changes(conn_fields: dict[str, contacts.Field], **payload: Any) -> ContactChanges:
    return contacts.read_changes(payload, conn_fields, tz=MEXICO, region="MX")


async def new_contact(conn: AsyncConnection, phone: str, **payload: Any) -> contacts.Contact:
    known = await contacts.load_fields(conn)
    return await contacts.create_contact(conn, changes(known, phone=phone, **payload), now=NOW)


async def audit_entries(conn: AsyncConnection) -> list[Any]:
    return list((await conn.execute(sa.select(audit_log).order_by(audit_log.c.id))).all())


async def test_create_and_read_a_contact(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await contacts.create_field(conn, "due_date", "Fecha probable de parto", "date", now=NOW)
        created = await new_contact(
            conn, "+52 55 1234 5678", name="Ana", language="spa", fields={"due_date": "01/03/2027"}
        )
    assert created.phone == ANA
    assert created.fields == {"due_date": "2027-03-01"}
    assert (created.status, created.created_at, created.updated_at) == ("active", NOW, NOW)
    assert created.uuid.version == 7
    async with engine.connect() as conn:
        assert await contacts.get_contact(conn, created.uuid) == created
        assert await contacts.find_contact_by_phone(conn, ANA) == created
        assert await contacts.find_contact_by_phone(conn, BETY) is None
        stored = (await conn.execute(sa.select(contact_fields))).one()
    assert stored.date_value == dt.date(2027, 3, 1)
    assert stored.text_value == "2027-03-01"


async def test_a_second_contact_with_the_same_phone_is_a_conflict(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        first = await new_contact(conn, ANA)
    with pytest.raises(contacts.Conflict) as caught:
        async with engine.begin() as conn:
            await new_contact(conn, "+5215512345678")  # the same number in its old mobile form
    assert caught.value.details == {"uuid": str(first.uuid)}


async def test_read_changes_reports_every_problem_at_once(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await contacts.create_field(conn, "due_date", "FPP", "date", now=NOW)
        known = await contacts.load_fields(conn)
    with pytest.raises(contacts.Invalid) as caught:
        changes(
            known,
            phone="12",
            language="spanish",
            timezone="Mars/Olympus",
            status="gone",
            name=7,
            fields={"due_date": "ayer", "weeks": "12"},
        )
    assert {p["field"] for p in caught.value.problems} == {
        "phone",
        "language",
        "timezone",
        "status",
        "name",
        "fields.due_date",
        "fields.weeks",
    }
    assert "create it first" in next(
        p["message"] for p in caught.value.problems if p["field"] == "fields.weeks"
    )


async def test_update_changes_only_what_is_given(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await contacts.create_field(conn, "due_date", "FPP", "date", now=NOW)
        await contacts.create_field(conn, "clinic", "Clínica", "text", now=NOW)
        ana = await new_contact(
            conn, ANA, name="Ana", language="spa", fields={"due_date": "2027-03-01", "clinic": "Norte"}
        )
    later = NOW + dt.timedelta(hours=1)
    async with engine.begin() as conn:
        known = await contacts.load_fields(conn)
        updated = await contacts.update_contact(
            conn,
            ana.uuid,
            changes(
                known, language=None, timezone="America/Merida", fields={"due_date": None, "clinic": "Sur"}
            ),
            now=later,
            actor="user:ana",
        )
    assert (updated.name, updated.language, updated.timezone) == ("Ana", None, "America/Merida")
    assert updated.fields == {"clinic": "Sur"}
    assert (updated.created_at, updated.updated_at) == (NOW, later)
    async with engine.connect() as conn:
        assert await audit_entries(conn) == []  # no status change, nothing to audit


async def test_status_changes_are_audited_without_the_phone(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ana = await new_contact(conn, ANA)
        await contacts.update_contact(
            conn, ana.uuid, changes({}, status="stopped"), now=NOW, actor="token:central"
        )
        await contacts.update_contact(
            conn, ana.uuid, changes({}, status="stopped"), now=NOW, actor="token:central"
        )
    async with engine.connect() as conn:
        (entry,) = await audit_entries(conn)
    assert (entry.action, entry.actor, entry.target) == ("contact.status", "token:central", str(ana.uuid))
    assert entry.detail == {"from": "active", "to": "stopped"}
    assert "5512345678" not in str(tuple(entry))


async def test_changing_to_a_taken_phone_is_a_conflict(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ana = await new_contact(conn, ANA)
        await new_contact(conn, BETY)
    with pytest.raises(contacts.Conflict):
        async with engine.begin() as conn:
            await contacts.update_contact(conn, ana.uuid, changes({}, phone=BETY), now=NOW, actor="cli")
    async with engine.begin() as conn:  # her own number again is no conflict
        same = await contacts.update_contact(conn, ana.uuid, changes({}, phone=ANA), now=NOW, actor="cli")
    assert same.phone == ANA


async def test_unknown_contacts_are_not_found(engine: AsyncEngine) -> None:
    nobody = uuid.uuid4()
    async with engine.begin() as conn:
        with pytest.raises(contacts.NotFound):
            await contacts.get_contact(conn, nobody)
        with pytest.raises(contacts.NotFound):
            await contacts.update_contact(conn, nobody, changes({}, name="x"), now=NOW, actor="cli")
        with pytest.raises(contacts.NotFound):
            await contacts.delete_contact(conn, nobody, now=NOW, actor="cli")


async def test_deleting_a_contact_deletes_her_values_memberships_and_messages(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await contacts.create_field(conn, "clinic", "Clínica", "text", now=NOW)
        ana = await new_contact(conn, ANA, fields={"clinic": "Norte"})
        group = await contacts.create_group(conn, "Embarazadas", now=NOW)
        await contacts.add_members(conn, group.uuid, [ana.uuid], now=NOW)
        await conn.execute(
            messages.insert().values(
                uuid=uuid.uuid4(), contact_id=ana.id, direction="in", text="hola", status="received",
                created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip
    async with engine.begin() as conn:
        await contacts.delete_contact(conn, ana.uuid, now=NOW, actor="user:admin")
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(messages))).scalar() == 0
        assert (await conn.execute(sa.select(sa.func.count()).select_from(contact_fields))).scalar() == 0
        assert (await contacts.get_group(conn, group.uuid)).members == 0
        (entry,) = await audit_entries(conn)
    assert (entry.action, entry.target, entry.detail) == ("contact.delete", str(ana.uuid), None)


async def test_search_by_phone_name_status_group_and_field(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await contacts.create_field(conn, "due_date", "FPP", "date", now=NOW)
        await contacts.create_field(conn, "weeks", "Semanas", "number", now=NOW)
        await contacts.create_field(conn, "seen", "Visto", "datetime", now=NOW)
        await contacts.create_field(conn, "clinic", "Clínica", "text", now=NOW)
        ana = await new_contact(
            conn,
            ANA,
            name="Ana María",
            fields={"due_date": "2027-03-01", "weeks": 12, "seen": "2027-01-05T10:00"},
        )
        bety = await new_contact(
            conn, BETY, name="Beatriz 100%_off", status="stopped", fields={"clinic": "Sur"}
        )
        carmen = await new_contact(conn, CARMEN, fields={"weeks": "12.0", "clinic": "Norte"})
        group = await contacts.create_group(conn, "Piloto", now=NOW)
        await contacts.add_members(conn, group.uuid, [ana.uuid, carmen.uuid], now=NOW)
        known = await contacts.load_fields(conn)

    def value(key: str, raw: str) -> tuple[contacts.Field, Any]:
        return known[key], parse_value(known[key].value_type, raw, MEXICO)

    async def phones(query: ContactQuery) -> list[str]:
        async with engine.connect() as conn:
            return [c.phone for c in await contacts.search_contacts(conn, query)]

    assert await phones(ContactQuery()) == [ANA, BETY, CARMEN]
    assert await phones(ContactQuery(phone=BETY)) == [BETY]
    assert await phones(ContactQuery(name="maría")) == [ANA]
    assert await phones(ContactQuery(name="100%_")) == [BETY]  # LIKE wildcards are matched literally
    assert await phones(ContactQuery(name="%")) == [BETY]
    assert await phones(ContactQuery(status="stopped")) == [BETY]
    assert await phones(ContactQuery(group_id=group.id)) == [ANA, CARMEN]
    assert await phones(ContactQuery(values=(value("due_date", "01/03/2027"),))) == [ANA]
    assert await phones(ContactQuery(values=(value("weeks", "12"),))) == [ANA, CARMEN]
    assert await phones(ContactQuery(values=(value("seen", "2027-01-05T16:00:00Z"),))) == [ANA]
    assert await phones(ContactQuery(values=(value("clinic", "Norte"),))) == [CARMEN]
    assert await phones(ContactQuery(group_id=group.id, values=(value("clinic", "Norte"),))) == [CARMEN]
    assert await phones(ContactQuery(name="nadie")) == []
    assert bety.status == "stopped"


async def test_search_pages_by_id(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for i in range(5):
            await new_contact(conn, f"+52551234{i:04d}")
    async with engine.connect() as conn:
        first = await contacts.search_contacts(conn, ContactQuery(), limit=2)
        second = await contacts.search_contacts(conn, ContactQuery(), after_id=first[-1].id, limit=2)
        rest = await contacts.search_contacts(conn, ContactQuery(), after_id=second[-1].id, limit=2)
    assert [len(first), len(second), len(rest)] == [2, 2, 1]
    assert len({c.uuid for c in first + second + rest}) == 5


async def test_sql_looking_text_is_stored_literally(engine: AsyncEngine) -> None:
    hostile = "Robert'); DROP TABLE contacts;--"
    async with engine.begin() as conn:
        await contacts.create_field(conn, "note", "Nota", "text", now=NOW)
        ana = await new_contact(conn, ANA, name=hostile, fields={"note": "' OR 1=1 --"})
    async with engine.connect() as conn:
        stored = await contacts.get_contact(conn, ana.uuid)
        found = await contacts.search_contacts(conn, ContactQuery(name="'); DROP"))
    assert (stored.name, stored.fields["note"]) == (hostile, "' OR 1=1 --")
    assert [c.uuid for c in found] == [ana.uuid]


async def test_fields(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        field = await contacts.create_field(conn, "due_date", "FPP", "date", now=NOW)
        with pytest.raises(contacts.Conflict):
            await contacts.create_field(conn, "due_date", "Otra", "text", now=NOW)
        renamed = await contacts.update_field(conn, "due_date", label="Fecha probable de parto")
        await contacts.create_field(conn, "weeks", "Semanas", "number", now=NOW)
        await new_contact(conn, ANA, fields={"due_date": "2027-03-01"})
    assert (renamed.id, renamed.value_type, renamed.label) == (field.id, "date", "Fecha probable de parto")
    async with engine.begin() as conn:
        assert [f.key for f in await contacts.list_fields(conn)] == ["due_date", "weeks"]
        assert [f.key for f in await contacts.list_fields(conn, after_id=field.id)] == ["weeks"]
        await contacts.delete_field(conn, "due_date", now=NOW, actor="user:admin")
        with pytest.raises(contacts.NotFound):
            await contacts.get_field(conn, "due_date")
        with pytest.raises(contacts.NotFound):
            await contacts.update_field(conn, "due_date", label="x")
        with pytest.raises(contacts.NotFound):
            await contacts.delete_field(conn, "due_date", now=NOW, actor="user:admin")
        assert (await contacts.find_contact_by_phone(conn, ANA)).fields == {}  # type: ignore[union-attr]
        (entry,) = await audit_entries(conn)
    assert (entry.action, entry.target) == ("field.delete", "due_date")


async def test_groups_and_idempotent_membership(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ana, bety = await new_contact(conn, ANA), await new_contact(conn, BETY)
        group = await contacts.create_group(conn, "Embarazadas", now=NOW)
        with pytest.raises(contacts.Conflict):
            await contacts.create_group(conn, "Embarazadas", now=NOW)
        assert await contacts.add_members(conn, group.uuid, [ana.uuid, bety.uuid, ana.uuid], now=NOW) == 2
        assert await contacts.add_members(conn, group.uuid, [ana.uuid], now=NOW) == 0
        assert (await contacts.get_group(conn, group.uuid)).members == 2
        assert [g.name for g in (await contacts.get_contact(conn, ana.uuid)).groups] == ["Embarazadas"]
        assert await contacts.remove_members(conn, group.uuid, [ana.uuid]) == 1
        assert await contacts.remove_members(conn, group.uuid, [ana.uuid]) == 0
        assert (await contacts.get_group(conn, group.uuid)).members == 1
        renamed = await contacts.rename_group(conn, group.uuid, "Puérperas")
        other = await contacts.create_group(conn, "Piloto", now=NOW)
        with pytest.raises(contacts.Conflict):
            await contacts.rename_group(conn, other.uuid, "Puérperas")
        assert [g.name for g in await contacts.list_groups(conn)] == ["Puérperas", "Piloto"]
        assert renamed.uuid == group.uuid


async def test_membership_changes_with_an_unknown_contact_change_nothing(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ana = await new_contact(conn, ANA)
        group = await contacts.create_group(conn, "Piloto", now=NOW)
    stranger = uuid.uuid4()
    async with engine.begin() as conn:
        with pytest.raises(contacts.Invalid) as caught:
            await contacts.add_members(conn, group.uuid, [ana.uuid, stranger], now=NOW)
        assert caught.value.problems == [{"field": "contacts", "message": f"no contact {stranger}"}]
        assert (await contacts.get_group(conn, group.uuid)).members == 0
        with pytest.raises(contacts.NotFound):
            await contacts.add_members(conn, uuid.uuid4(), [ana.uuid], now=NOW)


async def test_deleting_a_group_keeps_its_contacts(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ana = await new_contact(conn, ANA)
        group = await contacts.create_group(conn, "Piloto", now=NOW)
        await contacts.add_members(conn, group.uuid, [ana.uuid], now=NOW)
        await contacts.delete_group(conn, group.uuid, now=NOW, actor="user:admin")
        assert (await contacts.get_contact(conn, ana.uuid)).groups == ()
        with pytest.raises(contacts.NotFound):
            await contacts.delete_group(conn, group.uuid, now=NOW, actor="user:admin")
        (entry,) = await audit_entries(conn)
    assert (entry.action, entry.detail) == ("group.delete", {"name": "Piloto", "members": 1})


async def test_ensure_groups_creates_only_the_missing(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        existing = await contacts.create_group(conn, "Norte", now=NOW)
        ids = await contacts.ensure_groups(conn, ["Norte", "Sur", "Sur"], now=NOW)
        again = await contacts.ensure_groups(conn, ["Sur"], now=NOW)
        assert await contacts.ensure_groups(conn, [], now=NOW) == {}
    assert ids["Norte"] == existing.id
    assert again == {"Sur": ids["Sur"]}


async def test_upsert_creates_then_updates_by_phone(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        due = await contacts.create_field(conn, "due_date", "FPP", "date", now=NOW)
        weeks = await contacts.create_field(conn, "weeks", "Semanas", "number", now=NOW)
        first = [
            ImportedContact(ANA, "Ana", "spa", None, {due.id: parse_value("date", "2027-03-01", MEXICO)}),
            ImportedContact(BETY, "Bety", None, "America/Merida", {}, frozenset({"Piloto", "Norte"})),
        ]
        created = await contacts.upsert_contacts(conn, first, now=NOW)
    assert created == {ANA, BETY}
    later = NOW + dt.timedelta(days=1)
    async with engine.begin() as conn:
        second = [
            # No name: the one she has stays. A new value for one field, a first value for another.
            ImportedContact(ANA, None, None, None, {due.id: parse_value("date", "2027-04-01", MEXICO),
                                                     weeks.id: parse_value("number", "20", MEXICO)},
                            frozenset({"Piloto"})),
            ImportedContact(CARMEN, "Carmen"),
            ImportedContact(CARMEN, None, "nah"),  # the same phone twice in a batch merges
        ]  # fmt: skip
        created = await contacts.upsert_contacts(conn, second, now=later)
    assert created == {CARMEN}
    async with engine.connect() as conn:
        ana = await contacts.find_contact_by_phone(conn, ANA)
        bety = await contacts.find_contact_by_phone(conn, BETY)
        carmen = await contacts.find_contact_by_phone(conn, CARMEN)
        groups = {g.name: g.members for g in await contacts.list_groups(conn)}
        stored = (
            await conn.execute(
                sa.select(contact_fields.c.number_value).where(contact_fields.c.field_id == weeks.id)
            )
        ).scalar_one()
    assert ana is not None
    assert bety is not None
    assert carmen is not None
    assert (ana.name, ana.language, ana.created_at, ana.updated_at) == ("Ana", "spa", NOW, later)
    assert ana.fields == {"due_date": "2027-04-01", "weeks": "20"}
    assert [g.name for g in ana.groups] == ["Piloto"]
    assert (bety.timezone, [g.name for g in bety.groups]) == ("America/Merida", ["Norte", "Piloto"])
    assert (carmen.name, carmen.language) == ("Carmen", "nah")
    assert groups == {"Piloto": 2, "Norte": 1}
    assert float(stored) == 20.0


async def test_upsert_of_nothing_does_nothing(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        assert await contacts.upsert_contacts(conn, [], now=NOW) == set()
