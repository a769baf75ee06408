"""A small programme for the runner tests, and the database moves the gateway link makes (storing an inbound
SMS) or that a test inspects (what was queued, what was recorded)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.model import FieldDef, FlowRef, GroupRef, Programme, Trigger
from flows.native import group_uuid_for, load_flow_text
from server import contacts as repository
from server.db.schema import audit_log, contacts, messages
from server.programmes import LoadReport, store_programme

REGISTRO = """
flow: Registro
nodes:
  bienvenida:
    send: "¡Hola! ¿Cómo te llamas?"
    go: pedir_nombre
  pedir_nombre:
    wait: reply
    save_as: nombre
    routes:
      - has_text: true
        go: pedir_semanas
      - timeout: 1h
        go: recordatorio
  recordatorio:
    send: "¿Sigues ahí? Escribe tu nombre."
    go: pedir_nombre_otra_vez
  pedir_nombre_otra_vez:
    wait: reply
    save_as: nombre
    go: pedir_semanas
  pedir_semanas:
    send: "Gracias, @results.nombre. ¿Cuántas semanas de embarazo tienes?"
    wait: reply
    save_as: semanas
    routes:
      - has_number_between: [1, 42]
        go: guardar
      - other: pedir_semanas
  guardar:
    do:
      - set_name: "@results.nombre"
      - set_field: {semanas: "@results.semanas"}
      - add_groups: [Embarazadas]
    send: "¡Listo, @contact.first_name! Tienes @fields.semanas semanas."
    go: end
"""

ALERTA = """
flow: Alerta
nodes:
  preguntar:
    send: "¿Tienes sangrado? Responde SI o NO."
    go: confirmar
  confirmar:
    wait: reply
    routes:
      - says: [si]
        go: avisar
      - other: tranquila
  avisar:
    do:
      - raise_alert: "Sangrado: @input.text"
    send: "Avisamos a tu clínica. Te llamarán pronto."
    go: end
  tranquila:
    send: "Gracias. Cuídate mucho."
    go: end
"""

AYUDA = """
flow: Ayuda
nodes:
  ayuda:
    send: "No entendí. Escribe HOLA para registrarte."
    go: end
"""

CONSULTA = """
flow: Consulta
nodes:
  llamar:
    do:
      - webhook:
          method: POST
          url: "{url}"
          body: '{{"semanas": "@fields.semanas"}}'
          result: clinica
    go: decidir
  decidir:
    operand: "@results.clinica.category"
    routes:
      - has_only_text: Success
        go: bien
      - other: mal
  bien:
    send: "Tu clínica respondió: @webhook"
    go: end
  mal:
    send: "No pudimos hablar con tu clínica."
    go: end
"""

EMBARAZADAS = GroupRef(group_uuid_for("Embarazadas"), "Embarazadas")


def programme(
    *,
    catch_all: bool = False,
    webhook_url: str = "http://127.0.0.1:9/clinica",
    registro: str = REGISTRO,
    extra_triggers: Sequence[Trigger] = (),
) -> Programme:
    flows = [
        load_flow_text(registro),
        load_flow_text(ALERTA),
        load_flow_text(AYUDA),
        load_flow_text(CONSULTA.format(url=webhook_url)),
    ]
    by_name = {flow.name: FlowRef(flow.uuid, flow.name) for flow in flows}
    triggers = [
        Trigger("keyword", by_name["Registro"], keywords=("hola", "registro")),
        Trigger("keyword", by_name["Alerta"], keywords=("alerta",), match="only_word"),
        Trigger("keyword", by_name["Consulta"], keywords=("consulta",)),
        *extra_triggers,
    ]
    if catch_all:
        triggers.append(Trigger("catch_all", by_name["Ayuda"]))
    return Programme(
        name="Prueba",
        flows=tuple(flows),
        fields=(FieldDef("semanas", "Semanas de embarazo", "number"),),
        groups=(EMBARAZADAS,),
        triggers=tuple(triggers),
        languages=("spa",),
    )


async def load(engine: AsyncEngine, loaded: Programme, now: dt.datetime) -> LoadReport:
    async with engine.begin() as conn:
        return await store_programme(conn, loaded, now=now, actor="test")


async def receive(engine: AsyncEngine, phone: str, text: str, now: dt.datetime) -> int:
    """Store an inbound SMS the way the gateway link does (a contact created for an unknown number)."""
    async with engine.begin() as conn:
        found = await repository.find_contact_by_phone(conn, phone)
        if found is None:
            changes = repository.ContactChanges(attributes={"phone": phone})
            found = await repository.create_contact(conn, changes, now=now)
        inserted = await conn.execute(
            messages.insert()
            .values(
                uuid=uuid.uuid4(),
                contact_id=found.id,
                direction="in",
                text=text,
                status="received",
                gateway="gw-test",
                external_id=str(uuid.uuid4()),
                created_at=now,
                updated_at=now,
            )
            .returning(messages.c.id)
        )
        return int(inserted.scalar_one())


@dataclass(frozen=True)
class Sent:
    text: str
    priority: int
    status: str


async def outbox(engine: AsyncEngine, phone: str) -> list[Sent]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(messages.c.text, messages.c.priority, messages.c.status)
            .join(contacts, contacts.c.id == messages.c.contact_id)
            .where(contacts.c.phone == phone, messages.c.direction == "out")
            .order_by(messages.c.id)
        )
        return [Sent(*row) for row in rows]


async def texts(engine: AsyncEngine, phone: str) -> list[str]:
    return [sent.text for sent in await outbox(engine, phone)]


async def rows(engine: AsyncEngine, table: sa.Table, *where: Any) -> list[sa.Row[Any]]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.select(table).where(*where))).all())


async def contact(engine: AsyncEngine, phone: str) -> repository.Contact:
    async with engine.connect() as conn:
        found = await repository.find_contact_by_phone(conn, phone)
    assert found is not None
    return found


async def audit_actions(engine: AsyncEngine) -> list[tuple[str, str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            sa.select(audit_log.c.action, audit_log.c.actor, audit_log.c.detail).order_by(audit_log.c.id)
        )
        return [tuple(row) for row in result]
