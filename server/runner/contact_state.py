"""A contact as the engine sees it, read from the contact tables inside the turn's transaction.

Field values come back typed (text, ``Decimal``, ``date``, aware ``datetime``), as flows expect them. Groups are
shown to the engine under the uuids the programme's flows use for them: a group the programme declares keeps
its declared uuid in the flows even when the server's row for that name has another (it existed before the
programme was loaded), so the name is what joins the two.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flows.contact import Contact
from flows.model import ContactStatus, GroupRef
from server.db.schema import contact_fields, contacts, fields, group_members, groups


@dataclass(frozen=True)
class ContactRecord:
    """What the runner needs of the stored contact besides the engine's view."""

    id: int
    uuid: uuid.UUID
    status: str


# Every turn of the runner reads its contacts with these: built once (see server.db.statements).
_IDS: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
_CONTACTS = sa.select(contacts).where(contacts.c.id.in_(_IDS))
_VALUES = (
    sa.select(
        contact_fields.c.contact_id,
        fields.c.key,
        fields.c.value_type,
        contact_fields.c.text_value,
        contact_fields.c.number_value,
        contact_fields.c.date_value,
        contact_fields.c.datetime_value,
    )
    .join(fields, fields.c.id == contact_fields.c.field_id)
    .where(contact_fields.c.contact_id.in_(_IDS))
)
_GROUPS = (
    sa.select(group_members.c.contact_id, groups.c.name, groups.c.uuid)
    .join(group_members, group_members.c.group_id == groups.c.id)
    .where(group_members.c.contact_id.in_(_IDS))
    .order_by(groups.c.name)
)


async def load_contact(
    conn: AsyncConnection, contact_id: int, declared_groups: Mapping[str, str]
) -> tuple[ContactRecord, Contact] | None:
    """The contact with this id, or None when it is gone. ``declared_groups`` maps group name → the uuid the
    programme's flows use for it."""
    return (await load_contacts(conn, [contact_id], declared_groups)).get(contact_id)


async def load_contacts(
    conn: AsyncConnection, contact_ids: Collection[int], declared_groups: Mapping[str, str]
) -> dict[int, tuple[ContactRecord, Contact]]:
    """The contacts with these ids that exist, in three queries however many they are."""
    wanted = list(contact_ids)
    rows = (await conn.execute(_CONTACTS, {"ids": wanted})).all()
    if not rows:
        return {}
    values = await _typed_values(conn, wanted)
    memberships = await _groups(conn, wanted, declared_groups)
    loaded: dict[int, tuple[ContactRecord, Contact]] = {}
    for row in rows:
        contact = Contact(
            uuid=str(row.uuid),
            name=row.name or "",
            language=row.language,
            phone=row.phone,
            timezone=row.timezone,
            status=_status(row.status),
            fields=values.get(row.id, {}),
            groups=tuple(memberships.get(row.id, ())),
            created_on=row.created_at,
        )
        loaded[row.id] = (ContactRecord(row.id, row.uuid, row.status), contact)
    return loaded


def _status(value: str) -> ContactStatus:
    if value == "stopped":
        return "stopped"
    if value == "blocked":
        return "blocked"
    return "active"


async def _typed_values(conn: AsyncConnection, contact_ids: list[int]) -> dict[int, dict[str, object]]:
    rows = await conn.execute(_VALUES, {"ids": contact_ids})
    values: dict[int, dict[str, object]] = {}
    for contact_id, key, value_type, text, number, day, moment in rows:
        typed = {"number": _number(text, number), "date": day, "datetime": moment}.get(value_type, text)
        if typed is not None:
            values.setdefault(contact_id, {})[key] = typed
    return values


def _number(text: str, stored: Decimal | None) -> Decimal | None:
    """The number as written ("12", not the column's "12.00000000"), when the text is a plain number."""
    try:
        return Decimal(text)
    except InvalidOperation:
        return stored


async def _groups(
    conn: AsyncConnection, contact_ids: list[int], declared_groups: Mapping[str, str]
) -> dict[int, list[GroupRef]]:
    rows = await conn.execute(_GROUPS, {"ids": contact_ids})
    memberships: dict[int, list[GroupRef]] = {}
    for contact_id, name, group_uuid in rows:
        memberships.setdefault(contact_id, []).append(
            GroupRef(declared_groups.get(name, str(group_uuid)), name)
        )
    return memberships
