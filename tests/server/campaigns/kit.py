"""A pregnancy campaign for the tests, and the moves they make: enrol a contact the way the contacts API does
(and then tell the scheduler), run the campaign tick at chosen moments, read what was queued and logged.

The shared clock starts on Monday 2027-03-01 at 15:00 UTC, 09:00 in Mexico City (UTC-6 all year since 2022).
A contact due on Monday 2027-04-19 is sent week 36 on 2027-03-22, week 38 on 04-05 and week 39 on 04-12, each
at 09:00 local, and the check-up flow starts on her due date at 10:00.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.model import Campaign, CampaignEvent, FieldDef, FlowRef, Programme, StartMode, Trigger
from flows.native import load_flow_text
from server import contacts as repository
from server.campaigns.schedule import contacts_changed
from server.contact_values import TypedValue, parse_value
from server.db.schema import campaign_fires, campaign_log, contacts, messages
from server.programmes import LoadReport, store_programme
from server.runner import Runner
from tests.server.runner.kit import EMBARAZADAS

TZ = "America/Mexico_City"
UTC = dt.UTC
FECHA = "fecha_parto"
REGISTRADA = "registrada"

REGISTRO = """
flow: Registro
nodes:
  pedir_fecha:
    send: "¿Cuál es tu fecha probable de parto?"
    wait: reply
    save_as: fecha
    go: guardar
  guardar:
    do:
      - set_field: {fecha_parto: "@results.fecha"}
      - add_groups: [Embarazadas]
    send: "Gracias, ya estás inscrita."
    go: end
"""

SALIR = """
flow: Salir
nodes:
  salir:
    do:
      - remove_groups: [Embarazadas]
    send: "Ya no recibirás los consejos del embarazo."
    go: end
"""

ENCUESTA = """
flow: Encuesta
nodes:
  preguntar:
    send: "¿Cuántas consultas prenatales has tenido?"
    wait: reply
    save_as: consultas
    go: end
"""

REVISION = """
flow: Revisión
nodes:
  preguntar:
    send: "¿Cómo te sientes hoy? Responde BIEN o MAL."
    wait: reply
    save_as: estado
    go: gracias
  gracias:
    send: "Gracias por contarnos."
    go: end
"""


def event_uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"recado-test-event:{name}"))


W36, W38, W39, DUE, BIENVENIDA = (event_uuid(n) for n in ("w36", "w38", "w39", "due", "bienvenida"))
CAMPAIGN_UUID = str(uuid.uuid5(uuid.NAMESPACE_URL, "recado-test-campaign:embarazo"))

TEXTS: Mapping[str, Mapping[str, str]] = {
    W36: {"spa": "Semana 36: prepara tu maleta para el hospital.", "eng": "Week 36: pack your hospital bag."},
    W38: {"spa": "Semana 38: ten listo tu plan de traslado."},
    W39: {"spa": "Semana 39, @contact.first_name: ya casi conoces a tu bebé."},
    BIENVENIDA: {"spa": "Bienvenida al programa de embarazo saludable."},
}


def programme(
    *,
    flow_mode: StartMode = "interrupt",
    message_mode: StartMode = "interrupt",
    texts: Mapping[str, Mapping[str, str]] = TEXTS,
    extra_events: Sequence[CampaignEvent] = (),
) -> Programme:
    flows = {flow.name: flow for flow in (load_flow_text(t) for t in (REGISTRO, SALIR, ENCUESTA, REVISION))}
    ref = {name: FlowRef(flow.uuid, name) for name, flow in flows.items()}

    def message(name: str, offset: int, unit: Any, hour: int | None, field: str = FECHA) -> CampaignEvent:
        return CampaignEvent(
            name, field, offset, unit, hour, message=texts[name], start_mode=message_mode, base_language="spa"
        )

    events = (
        message(W36, -4, "weeks", 9),
        message(W38, -2, "weeks", 9),
        message(W39, -1, "weeks", 9),
        CampaignEvent(DUE, FECHA, 0, "days", 10, flow=ref["Revisión"], start_mode=flow_mode),
        message(BIENVENIDA, 2, "hours", None, REGISTRADA),
        *extra_events,
    )
    return Programme(
        name="Embarazo saludable",
        flows=tuple(flows.values()),
        fields=(
            FieldDef(FECHA, "Fecha probable de parto", "date"),
            FieldDef(REGISTRADA, "Registro", "datetime"),
        ),
        groups=(EMBARAZADAS,),
        triggers=(
            Trigger("keyword", ref["Registro"], keywords=("hola",)),
            Trigger("keyword", ref["Salir"], keywords=("salir",)),
            Trigger("keyword", ref["Encuesta"], keywords=("encuesta",)),
        ),
        campaigns=(Campaign(CAMPAIGN_UUID, "Embarazo", EMBARAZADAS, events),),
        languages=("spa", "eng"),
    )


async def load(engine: AsyncEngine, loaded: Programme, now: dt.datetime) -> LoadReport:
    async with engine.begin() as conn:
        return await store_programme(conn, loaded, now=now, actor="test", timezone=TZ)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, tz: str = TZ) -> dt.datetime:
    """A wall-clock time in ``tz`` as an aware UTC datetime."""
    from zoneinfo import ZoneInfo

    return dt.datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz)).astimezone(UTC)


async def enrol(
    engine: AsyncEngine,
    phone: str,
    now: dt.datetime,
    *,
    due: str | None = None,
    registered: str | None = None,
    name: str | None = None,
    language: str | None = None,
    timezone: str | None = None,
    group: bool = True,
) -> int:
    """Create a contact with her values and membership as the contacts API does, then reschedule her in the
    same transaction (the call the API makes after a change)."""
    async with engine.begin() as conn:
        known = await repository.load_fields(conn)
        values = {}
        tz = dt.UTC
        if due is not None:
            values[known[FECHA]] = parse_value("date", due, tz)
        if registered is not None:
            values[known[REGISTRADA]] = parse_value("datetime", registered, tz)
        attributes = {"phone": phone, "name": name, "language": language, "timezone": timezone}
        created = await repository.create_contact(
            conn, repository.ContactChanges(attributes=attributes, values=values), now=now
        )
        if group:
            found = await repository.find_group_by_name(conn, EMBARAZADAS.name)
            assert found is not None
            await repository.add_members(conn, found.uuid, [created.uuid], now=now)
        await contacts_changed(conn, [created.id], now=now, timezone=TZ)
        return created.id


async def change(
    engine: AsyncEngine,
    contact_id: int,
    now: dt.datetime,
    *,
    attributes: Mapping[str, str | None] | None = None,
    due: str | None = None,
    clear_due: bool = False,
    leave: bool = False,
) -> None:
    """Change a contact as the API does, and reschedule her."""
    async with engine.begin() as conn:
        row = (await conn.execute(sa.select(contacts.c.uuid).where(contacts.c.id == contact_id))).one()
        known = await repository.load_fields(conn)
        values: dict[repository.Field, TypedValue | None] = {}
        if due is not None:
            values[known[FECHA]] = parse_value("date", due, dt.UTC)
        if clear_due:
            values[known[FECHA]] = None
        changes = repository.ContactChanges(attributes=dict(attributes or {}), values=values)
        await repository.update_contact(conn, row.uuid, changes, now=now, actor="test")
        if leave:
            found = await repository.find_group_by_name(conn, EMBARAZADAS.name)
            assert found is not None
            await repository.remove_members(conn, found.uuid, [row.uuid])
        await contacts_changed(conn, [contact_id], now=now, timezone=TZ)


async def row_of(engine: AsyncEngine, contact_id: int) -> tuple[str, dt.datetime] | None:
    """Her campaign row: (event uuid, due time), or None."""
    async with engine.connect() as conn:
        found = (
            await conn.execute(
                sa.select(campaign_fires.c.event_uuid, campaign_fires.c.due_at).where(
                    campaign_fires.c.contact_id == contact_id
                )
            )
        ).first()
    return None if found is None else (found[0], found[1])


async def sent(engine: AsyncEngine, contact_id: int) -> list[tuple[str, dt.datetime, int]]:
    """Her outbound messages: (text, created at, priority), oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(messages.c.text, messages.c.created_at, messages.c.priority)
            .where(messages.c.contact_id == contact_id, messages.c.direction == "out")
            .order_by(messages.c.id)
        )
        return [(r[0], r[1], r[2]) for r in rows]


async def texts_of(engine: AsyncEngine, contact_id: int) -> list[str]:
    return [text for text, _, _ in await sent(engine, contact_id)]


async def log_of(engine: AsyncEngine, contact_id: int) -> list[tuple[str, str]]:
    """Her campaign log: (event uuid, outcome), in order."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(campaign_log.c.event_uuid, campaign_log.c.outcome)
            .where(campaign_log.c.contact_id == contact_id)
            .order_by(campaign_log.c.id)
        )
        return [(r[0], r[1]) for r in rows]


async def tick_at(runner: Runner, clock: Any, when: dt.datetime) -> int:
    clock.set(when)
    return await runner.campaigns.fire_due()
