"""Storing a programme: first load, reload in place, what a reload does to waiting conversations, refusals."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.model import Campaign, CampaignEvent, FieldDef
from server import contacts as repository
from server.clock import FixedClock
from server.db.schema import campaigns, fires, groups, programme, programme_flows, sessions
from server.programmes import Changes, ProgrammeRefused, read_programme
from server.runner import Runner
from tests.server.runner import kit

PHONE = "+525533334444"
OTHER = "+525533335555"
# Registro without the step that asks for the weeks: whoever waits there has nowhere to go on.
REGISTRO_SIN_SEMANAS = kit.REGISTRO.replace("go: pedir_semanas", "go: guardar").replace(
    """  pedir_semanas:
    send: "Gracias, @results.nombre. ¿Cuántas semanas de embarazo tienes?"
    wait: reply
    save_as: semanas
    routes:
      - has_number_between: [1, 42]
        go: guardar
      - other: pedir_semanas
""",
    "",
)


async def test_a_first_load_stores_everything(engine: AsyncEngine, clock: FixedClock) -> None:
    report = await kit.load(engine, kit.programme(), clock.now())
    assert report.revision == 1
    assert report.flows == Changes(added=("Registro", "Alerta", "Ayuda", "Consulta"))
    assert report.fields == Changes(added=("semanas",))
    assert report.groups == Changes(added=("Embarazadas",))
    assert len(report.triggers.added) == 3
    (group,) = await kit.rows(engine, groups)
    assert str(group.uuid) == kit.EMBARAZADAS.uuid  # a new group takes the uuid the flows use
    async with engine.connect() as conn:
        stored = await read_programme(conn)
    assert stored.revision == 1
    assert stored.programme.flows == kit.programme().flows  # the YAML round trip gives the same model
    assert stored.programme.triggers == kit.programme().triggers


async def test_loading_the_same_programme_again_changes_nothing(
    engine: AsyncEngine, clock: FixedClock
) -> None:
    await kit.load(engine, kit.programme(), clock.now())
    clock.advance(dt.timedelta(minutes=5))
    report = await kit.load(engine, kit.programme(), clock.now())
    assert not report.changed
    assert report.revision == 1


async def test_an_existing_group_keeps_its_uuid_and_flows_still_reach_it(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    async with engine.begin() as conn:
        existing = await repository.create_group(conn, "Embarazadas", now=clock.now())
    report = await kit.load(engine, kit.programme(), clock.now())
    assert report.groups == Changes()
    for text in ("hola", "Ana", "20"):
        await runner.handle_inbound(await kit.receive(engine, PHONE, text, clock.now()))
    contact = await kit.contact(engine, PHONE)
    assert [(g.uuid, g.name) for g in contact.groups] == [(existing.uuid, "Embarazadas")]


async def test_a_changed_flow_keeps_valid_waits_and_ends_stranded_ones(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await kit.load(engine, kit.programme(), clock.now())
    await runner.handle_inbound(
        await kit.receive(engine, PHONE, "hola", clock.now())
    )  # waits at pedir_nombre
    await runner.handle_inbound(await kit.receive(engine, OTHER, "hola", clock.now()))
    await runner.handle_inbound(
        await kit.receive(engine, OTHER, "Bea", clock.now())
    )  # waits at pedir_semanas

    report = await kit.load(engine, kit.programme(registro=REGISTRO_SIN_SEMANAS), clock.now())
    assert report.flows == Changes(changed=("Registro",))
    assert report.revision == 2
    assert report.sessions_ended == 1
    other = await kit.contact(engine, OTHER)
    notes = [a for a in await kit.audit_actions(engine) if a[0] == "session.interrupt"]
    assert notes == [
        (
            "session.interrupt",
            "programme.load",
            {"reason": "the step it was at was removed from its flow", "flow": notes[0][2]["flow"]},
        )
    ]
    remaining = await kit.rows(engine, sessions)
    assert len(remaining) == 1
    assert remaining[0].contact_id != other.id
    assert {f.contact_id for f in await kit.rows(engine, fires)} == {remaining[0].contact_id}
    # The contact still waiting goes on with the new version at once.
    assert await runner.handle_inbound(await kit.receive(engine, PHONE, "Ana", clock.now())) == "resumed"
    assert (await kit.texts(engine, PHONE))[-1] == "¡Listo, Ana! Tienes  semanas."


async def test_a_removed_flow_ends_its_conversations(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await kit.load(engine, kit.programme(), clock.now())
    await runner.handle_inbound(await kit.receive(engine, PHONE, "alerta", clock.now()))
    full = kit.programme()
    smaller = dataclasses.replace(
        full,
        flows=tuple(f for f in full.flows if f.name != "Alerta"),
        triggers=tuple(t for t in full.triggers if t.flow.name != "Alerta"),
    )
    report = await kit.load(engine, smaller, clock.now())
    assert report.flows == Changes(removed=("Alerta",))
    assert report.triggers.removed == ("alerta (only word) → Alerta",)
    assert report.sessions_ended == 1
    assert await kit.rows(engine, sessions) == []
    assert [f.name for f in await kit.rows(engine, programme_flows)] == ["Registro", "Ayuda", "Consulta"]
    assert await runner.handle_inbound(await kit.receive(engine, PHONE, "si", clock.now())) == "inbox"


async def test_a_wait_that_lost_its_timeout_loses_its_fire(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await kit.load(engine, kit.programme(), clock.now())
    await runner.handle_inbound(await kit.receive(engine, PHONE, "hola", clock.now()))
    no_timeout = kit.REGISTRO.replace("      - timeout: 1h\n        go: recordatorio\n", "")
    report = await kit.load(engine, kit.programme(registro=no_timeout), clock.now())
    assert report.sessions_ended == 0
    assert {f.kind for f in await kit.rows(engine, fires)} == {"E"}
    clock.advance(dt.timedelta(hours=2))
    assert await runner.fire_due() == 0


async def test_changing_the_type_of_a_field_in_use_refuses_the_whole_load(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await kit.load(engine, kit.programme(), clock.now())
    for text in ("hola", "Ana", "20"):
        await runner.handle_inbound(await kit.receive(engine, PHONE, text, clock.now()))
    retyped = dataclasses.replace(
        kit.programme(catch_all=True), fields=(FieldDef("semanas", "Semanas de embarazo", "text"),)
    )
    with pytest.raises(ProgrammeRefused, match="semanas"):
        await kit.load(engine, retyped, clock.now())
    async with engine.connect() as conn:
        stored = await read_programme(conn)
    assert stored.revision == 1
    assert len(stored.programme.triggers) == 3  # the catch-all of the refused load is not there


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (FieldDef("name", "Nombre"), "built-in"),
        (FieldDef("semanas", "x" * 65, "number"), "longer than 64"),
    ],
)
async def test_what_the_tables_cannot_hold_is_refused(
    engine: AsyncEngine, clock: FixedClock, definition: FieldDef, message: str
) -> None:
    bad = dataclasses.replace(kit.programme(), fields=(definition,))
    with pytest.raises(ProgrammeRefused, match=message):
        await kit.load(engine, bad, clock.now())
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(programme))).scalar() == 0


async def test_campaigns_are_stored_and_updated_in_place(engine: AsyncEngine, clock: FixedClock) -> None:
    event = CampaignEvent(str(uuid.uuid4()), "semanas_fecha", -2, "weeks", 9, message={"spa": "Hola"})
    campaign = Campaign(str(uuid.uuid4()), "Embarazo", kit.EMBARAZADAS, (event,))
    with_date = dataclasses.replace(
        kit.programme(),
        fields=(*kit.programme().fields, FieldDef("semanas_fecha", "Fecha", "date")),
        campaigns=(campaign,),
    )
    assert (await kit.load(engine, with_date, clock.now())).campaigns == Changes(added=("Embarazo",))
    moved = dataclasses.replace(campaign, events=(dataclasses.replace(event, delivery_hour=10),))
    report = await kit.load(engine, dataclasses.replace(with_date, campaigns=(moved,)), clock.now())
    assert report.campaigns == Changes(changed=("Embarazo",))
    (row,) = await kit.rows(engine, campaigns)
    assert row.definition["events"][0]["delivery_hour"] == 10
    async with engine.connect() as conn:
        assert (await read_programme(conn)).programme.campaigns == (moved,)
