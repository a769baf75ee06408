"""Alerts for health staff: raised by flows, texted to the clinic's staff, acknowledged and resolved through the API.

A flow's ``raise_alert`` reaches :func:`record_alert` inside the runner's transaction: the alert is stored with
the contact's clinic (her ``clinica`` field at that moment) and the inbound message that led to it, and an
``alert.raised`` event is written for the webhook receivers. Texting the staff needs the server's settings,
which the runner's transaction does not carry, so it happens just after: the dispatcher
(:mod:`server.webhooks_out`) takes each alert not yet notified, queues the texts at alert priority and marks
it notified in one transaction, so a crash neither loses the texts nor sends them twice.

Staff texts say only what staff need to call her back: her name, her phone and the reason the flow gave.
"""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flows.events import AlertRaised
from flows.phones import InvalidPhoneNumber, normalise_phone
from server import audit, messages, webhooks_out
from server import contacts as repository
from server.db.schema import alerts, contact_fields, contacts, fields
from server.db.schema import messages as messages_table

log = logging.getLogger(__name__)

CLINIC_FIELD = "clinica"  # the contact field that names her clinic, as the bundled programme declares it
CLINIC_KEY_MAX = 128
DEFAULT_STAFF = "*"
STAFF_NAME = "Personal de salud"
STAFF_TEXT_SEGMENTS = 3  # a staff text is cut to fit this many SMS parts
NOTE_MAX = 1000
ACTOR = "alerts"


# --- the staff directory ------------------------------------------------------------------------------------


class InvalidStaff(ValueError):
    pass


@dataclass(frozen=True)
class StaffDirectory:
    """Who is texted about an alert: the numbers listed for her clinic, else the default list."""

    by_clinic: Mapping[str, tuple[str, ...]]  # clinic_key → E.164 numbers
    default: tuple[str, ...] = ()

    def numbers_for(self, clinic: str | None) -> tuple[str, ...]:
        key = clinic_key(clinic)
        if key and key in self.by_clinic:
            return self.by_clinic[key]
        return self.default


def clinic_key(clinic: str | None) -> str:
    """A clinic's name as it is compared: without accents, capitals or extra spaces ("Clínica  Centro" and
    "clinica centro" are one clinic), since contacts type it themselves."""
    if not clinic:
        return ""
    decomposed = unicodedata.normalize("NFKD", clinic)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())[:CLINIC_KEY_MAX]


def parse_staff(text: str, *, region: str) -> StaffDirectory:
    """The ``alert_staff`` setting: ``Clinic=+52...,+52...; *=+52...``. Every number is checked (E.164, the
    default region for national forms); a clinic given twice is an error, not a silent merge."""
    by_clinic: dict[str, tuple[str, ...]] = {}
    default: tuple[str, ...] = ()
    for entry in (part.strip() for part in text.split(";")):
        if not entry:
            continue
        clinic, sep, numbers_text = entry.partition("=")
        if not sep or not clinic.strip():
            raise InvalidStaff(f"{entry!r} is not CLINIC=PHONE,PHONE")
        numbers: list[str] = []
        for raw in (n.strip() for n in numbers_text.split(",")):
            if not raw:
                continue
            try:
                numbers.append(normalise_phone(raw, region))
            except InvalidPhoneNumber as exc:
                raise InvalidStaff(f"{clinic.strip()}: {exc.reason}") from None
        if not numbers:
            raise InvalidStaff(f"{clinic.strip()}: no phone numbers")
        if clinic.strip() == DEFAULT_STAFF:
            if default:
                raise InvalidStaff("the default list (*) is given twice")
            default = tuple(dict.fromkeys(numbers))
            continue
        key = clinic_key(clinic)
        if key in by_clinic:
            raise InvalidStaff(f"clinic {clinic.strip()!r} is given twice")
        by_clinic[key] = tuple(dict.fromkeys(numbers))
    return StaffDirectory(by_clinic, default)


# --- raising ------------------------------------------------------------------------------------------------


async def contact_clinic(conn: AsyncConnection, contact_id: int) -> str | None:
    """The contact's clinic as she gave it, or None."""
    return (
        await conn.execute(
            sa.select(contact_fields.c.text_value)
            .join(fields, fields.c.id == contact_fields.c.field_id)
            .where(contact_fields.c.contact_id == contact_id, fields.c.key == CLINIC_FIELD)
        )
    ).scalar()


async def message_handled_now(conn: AsyncConnection, contact_id: int, now: dt.datetime) -> int | None:
    """The inbound message this turn is handling: the runner marks it handled at the turn's time, in the same
    transaction. None for turns no message started (a wait timed out, a webhook answered)."""
    return (
        await conn.execute(
            sa.select(messages_table.c.id)
            .where(
                messages_table.c.contact_id == contact_id,
                messages_table.c.direction == "in",
                messages_table.c.handled_at == now,
            )
            .order_by(messages_table.c.id.desc())
            .limit(1)
        )
    ).scalar()


async def record_alert(
    conn: AsyncConnection, contact_id: int, event: AlertRaised, *, now: dt.datetime, events: bool
) -> uuid.UUID:
    """An open alert for health staff, inside the runner's transaction; returns its uuid. ``events``: whether
    webhook events are recorded (:func:`server.webhooks_out.receivers_configured`)."""
    alert_uuid = uuid.uuid4()
    clinic = await contact_clinic(conn, contact_id)
    await conn.execute(
        alerts.insert().values(
            uuid=alert_uuid,
            contact_id=contact_id,
            flow_uuid=event.flow_uuid,
            node_uuid=event.node_uuid,
            reason=event.reason,
            input=event.input,
            status="open",
            raised_at=now,
            updated_at=now,
            message_id=await message_handled_now(conn, contact_id, now),
            clinic=clinic,
            clinic_key=clinic_key(clinic) or None,
        )
    )
    alert = await get_alert(conn, alert_uuid)
    await webhooks_out.enqueue(conn, "alert.raised", alert_event(alert), now=now, wanted=events)
    return alert_uuid


# --- texting staff ------------------------------------------------------------------------------------------


def staff_text(name: str | None, phone: str, reason: str) -> messages.Text:
    """ "ALERTA: <name>, <phone>. <reason>", made GSM-7 where it can be and cut to a few SMS parts."""
    head = f"ALERTA recado: {name or 'sin nombre'}, {phone}. "
    reason = " ".join(reason.split())
    text = messages.check_text(head + reason, transliterate=True)
    while text.size.segments > STAFF_TEXT_SEGMENTS and reason:
        reason = reason[: max(0, len(reason) - 20)].rstrip()
        text = messages.check_text(head + reason + "...", transliterate=True)
    return text


async def _staff_recipients(
    conn: AsyncConnection, numbers: Sequence[str], *, now: dt.datetime
) -> list[messages.Recipient]:
    """Each staff number as a contact to queue for. A number that is not a contact yet becomes one, blocked:
    whatever staff text back is not taken as a participant's message (no flow, no campaign). The texts go
    whatever the contact's status: the setting is the authority on who must hear of alerts."""
    recipients = []
    for phone in numbers:
        found = await repository.find_contact_by_phone(conn, phone)
        if found is None:
            changes = repository.ContactChanges(
                attributes={"phone": phone, "name": STAFF_NAME, "status": "blocked"}
            )
            found = await repository.create_contact(conn, changes, now=now)
        recipients.append(messages.Recipient(found.id, found.uuid, messages.SENDABLE_CONTACT_STATUS))
    return recipients


async def text_staff(
    db: AsyncEngine, directory: StaffDirectory, *, now: dt.datetime, limit: int = 100
) -> int:
    """Queue the staff texts of alerts not yet notified, each alert in its own transaction. Returns how many
    messages were queued (the caller wakes the gateways when it is more than none)."""
    async with db.connect() as conn:
        pending = list(
            (
                await conn.execute(
                    sa.select(alerts.c.id)
                    .where(alerts.c.notified_at.is_(None))
                    .order_by(alerts.c.id)
                    .limit(limit)
                )
            ).scalars()
        )
    queued = 0
    for alert_id in pending:
        async with db.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(alerts.c.reason, alerts.c.clinic, contacts.c.name, contacts.c.phone)
                    .join(contacts, contacts.c.id == alerts.c.contact_id)
                    .where(alerts.c.id == alert_id, alerts.c.notified_at.is_(None))
                    .with_for_update(of=alerts)
                )
            ).first()
            if row is None:
                continue  # another process took it
            numbers = directory.numbers_for(row.clinic)
            sent = 0
            if numbers:
                text = staff_text(row.name, row.phone, row.reason)
                recipients = await _staff_recipients(conn, numbers, now=now)
                done = await messages.queue_outgoing(
                    conn, recipients, text, priority="alert", now=now, actor=ACTOR
                )
                sent = len(done.messages)
            else:
                log.warning(
                    "alert %s: no staff numbers for its clinic and no default list (alert_staff)", alert_id
                )
            await conn.execute(
                alerts.update().where(alerts.c.id == alert_id).values(notified_at=now, staff_texted=sent)
            )
            queued += sent
    return queued


# --- reading ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    id: int
    uuid: UUID
    status: str
    reason: str
    input: str
    clinic: str | None
    contact_uuid: UUID
    contact_name: str | None
    contact_phone: str
    message_uuid: UUID | None
    flow_uuid: str
    raised_at: dt.datetime
    updated_at: dt.datetime
    notified_at: dt.datetime | None
    staff_texted: int | None
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    resolved_at: dt.datetime | None
    resolved_by: str | None
    resolution: str | None


@dataclass(frozen=True)
class AlertQuery:
    status: str | None = None
    clinic: str | None = None  # compared as clinic_key() compares


def _select() -> sa.Select[Any]:
    return (
        sa.select(
            alerts.c.id,
            alerts.c.uuid,
            alerts.c.status,
            alerts.c.reason,
            alerts.c.input,
            alerts.c.clinic,
            contacts.c.uuid.label("contact_uuid"),
            contacts.c.name.label("contact_name"),
            contacts.c.phone.label("contact_phone"),
            messages_table.c.uuid.label("message_uuid"),
            alerts.c.flow_uuid,
            alerts.c.raised_at,
            alerts.c.updated_at,
            alerts.c.notified_at,
            alerts.c.staff_texted,
            alerts.c.acknowledged_at,
            alerts.c.acknowledged_by,
            alerts.c.resolved_at,
            alerts.c.resolved_by,
            alerts.c.resolution,
        )
        .join(contacts, contacts.c.id == alerts.c.contact_id)
        .outerjoin(messages_table, messages_table.c.id == alerts.c.message_id)
    )


async def search_alerts(
    conn: AsyncConnection, query: AlertQuery, *, after_id: int = 0, limit: int = 50
) -> list[Alert]:
    """Alerts with ``id > after_id``, oldest first, at most ``limit``."""
    stmt = _select().where(alerts.c.id > after_id).order_by(alerts.c.id).limit(limit)
    if query.status is not None:
        stmt = stmt.where(alerts.c.status == query.status)
    if query.clinic is not None:
        stmt = stmt.where(alerts.c.clinic_key == clinic_key(query.clinic))
    return [Alert(**row._asdict()) for row in await conn.execute(stmt)]


class NotFound(Exception):
    pass


class Conflict(Exception):
    def __init__(self, alert: Alert, wanted: str) -> None:
        super().__init__(f"the alert is {alert.status}; it cannot be {wanted}")
        self.alert = alert


async def get_alert(conn: AsyncConnection, alert_uuid: uuid.UUID) -> Alert:
    row = (await conn.execute(_select().where(alerts.c.uuid == alert_uuid))).first()
    if row is None:
        raise NotFound(alert_uuid)
    return Alert(**row._asdict())


# --- acting on an alert -------------------------------------------------------------------------------------

# What each action needs the alert to be, and what it makes it.
_ACTIONS: Mapping[str, tuple[frozenset[str], str]] = {
    "acknowledge": (frozenset({"open"}), "acknowledged"),
    "resolve": (frozenset({"open", "acknowledged"}), "resolved"),
}


async def act(
    conn: AsyncConnection,
    alert_uuid: uuid.UUID,
    action: str,
    *,
    actor: str,
    now: dt.datetime,
    note: str | None = None,
    events: bool,
) -> Alert:
    """Acknowledge or resolve an alert, audited and announced to the webhook receivers. Conflict when the
    alert is past that step (acknowledging twice, resolving a resolved alert): the first actor stays on record.
    The note is kept on the alert, not in the audit log, which must not hold health information."""
    allowed, to = _ACTIONS[action]
    alert = await get_alert(conn, alert_uuid)
    values: dict[str, Any] = {"status": to, "updated_at": now}
    if to == "acknowledged":
        values.update(acknowledged_at=now, acknowledged_by=actor)
    else:
        values.update(resolved_at=now, resolved_by=actor, resolution=note)
    changed = await conn.execute(
        alerts.update().where(alerts.c.id == alert.id, alerts.c.status.in_(allowed)).values(**values)
    )
    if changed.rowcount != 1:
        raise Conflict(await get_alert(conn, alert_uuid), to)
    await audit.record(
        conn,
        at=now,
        actor=actor,
        action=f"alert.{action}",
        target=str(alert_uuid),
        detail={"from": alert.status, "to": to},
    )
    updated = await get_alert(conn, alert_uuid)
    await webhooks_out.enqueue(conn, f"alert.{to}", alert_event(updated), now=now, wanted=events)
    return updated


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def alert_event(alert: Alert) -> dict[str, Any]:
    """What webhook receivers learn of an alert: enough to act on it, not her other data."""
    return {
        "alert": str(alert.uuid),
        "status": alert.status,
        "contact": str(alert.contact_uuid),
        "clinic": alert.clinic,
        "reason": alert.reason,
        "raised_at": _time(alert.raised_at),
        "acknowledged_by": alert.acknowledged_by,
        "resolved_by": alert.resolved_by,
    }
