"""A contact as the engine sees it, read from the contact tables inside the turn's transaction.

Field values come back typed (text, ``Decimal``, ``date``, aware ``datetime``), as flows expect them. Groups are
shown to the engine under the uuids the programme's flows use for them: a group the programme declares keeps
its declared uuid in the flows even when the server's row for that name has another (it existed before the
programme was loaded), so the name is what joins the two.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
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


async def load_contact(
    conn: AsyncConnection, contact_id: int, declared_groups: Mapping[str, str]
) -> tuple[ContactRecord, Contact] | None:
    """The contact with this id, or None when it is gone. ``declared_groups`` maps group name → the uuid the
    programme's flows use for it."""
    row = (await conn.execute(sa.select(contacts).where(contacts.c.id == contact_id))).first()
    if row is None:
        return None
    contact = Contact(
        uuid=str(row.uuid),
        name=row.name or "",
        language=row.language,
        phone=row.phone,
        timezone=row.timezone,
        status=_status(row.status),
        fields=await _typed_values(conn, contact_id),
        groups=await _groups(conn, contact_id, declared_groups),
        created_on=row.created_at,
    )
    return ContactRecord(row.id, row.uuid, row.status), contact


def _status(value: str) -> ContactStatus:
    if value == "stopped":
        return "stopped"
    if value == "blocked":
        return "blocked"
    return "active"


async def _typed_values(conn: AsyncConnection, contact_id: int) -> dict[str, object]:
    rows = await conn.execute(
        sa.select(
            fields.c.key,
            fields.c.value_type,
            contact_fields.c.text_value,
            contact_fields.c.number_value,
            contact_fields.c.date_value,
            contact_fields.c.datetime_value,
        )
        .join(fields, fields.c.id == contact_fields.c.field_id)
        .where(contact_fields.c.contact_id == contact_id)
    )
    values: dict[str, object] = {}
    for key, value_type, text, number, day, moment in rows:
        typed = {"number": _number(text, number), "date": day, "datetime": moment}.get(value_type, text)
        if typed is not None:
            values[key] = typed
    return values


def _number(text: str, stored: Decimal | None) -> Decimal | None:
    """The number as written ("12", not the column's "12.00000000"), when the text is a plain number."""
    try:
        return Decimal(text)
    except InvalidOperation:
        return stored


async def _groups(
    conn: AsyncConnection, contact_id: int, declared_groups: Mapping[str, str]
) -> tuple[GroupRef, ...]:
    rows = await conn.execute(
        sa.select(groups.c.name, groups.c.uuid)
        .join(group_members, group_members.c.group_id == groups.c.id)
        .where(group_members.c.contact_id == contact_id)
        .order_by(groups.c.name)
    )
    return tuple(GroupRef(declared_groups.get(name, str(group_uuid)), name) for name, group_uuid in rows)
