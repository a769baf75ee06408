"""Firing: downtime and the catch-up window, start modes, crashes between fire and commit, quiet hours, an
imported RapidPro campaign, and programme loads that change a campaign."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.model import CampaignEvent, FlowRef
from flows.rapidpro import import_export
from server.campaigns import firing
from server.clock import FixedClock
from server.config import Config
from server.db.schema import campaign_fires, campaign_log, contacts, messages, sessions
from server.link.leasing import lease
from server.link.window import open_zones, parse_window
from server.runner import Runner
from server.wakeup import Wakeup
from tests.server.campaigns import kit
from tests.server.campaigns.kit import DUE, W36, W38, W39, local
from tests.server.runner.kit import receive

FIXTURES = Path("/work/shared/fixtures/rapidpro")


async def _waiting_flow(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(sessions.c.flow_uuid))).scalar()


async def _count(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


# --- downtime ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("loaded")
async def test_downtime_within_the_catch_up_window_sends_late(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    ana = await kit.enrol(engine, "+525512340101", clock.now(), due="2027-04-19")
    await kit.tick_at(runner, clock, local(2027, 3, 22, 14, 30))  # down from 08:00 to 14:30: 5½ hours late
    assert await kit.texts_of(engine, ana) == ["Semana 36: prepara tu maleta para el hospital."]
    assert await kit.log_of(engine, ana) == [(W36, "fired")]


@pytest.mark.usefixtures("loaded")
async def test_downtime_beyond_the_window_records_skips(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    ana = await kit.enrol(engine, "+525512340102", clock.now(), due="2027-04-19")
    await kit.tick_at(runner, clock, local(2027, 3, 22, 15, 30))  # 6½ hours late
    assert await kit.sent(engine, ana) == []
    assert await kit.log_of(engine, ana) == [(W36, "skipped")]
    assert await kit.row_of(engine, ana) == (W38, local(2027, 4, 5, 9))
    # Down for three weeks: weeks 38 is skipped, week 39 (two hours late) goes out.
    bea = await kit.enrol(engine, "+525512340103", local(2027, 3, 1, 10), due="2027-04-19", name="Bea")
    await kit.tick_at(runner, clock, local(2027, 4, 12, 11))
    assert await kit.texts_of(engine, bea) == ["Semana 39, Bea: ya casi conoces a tu bebé."]
    assert await kit.log_of(engine, bea) == [(W36, "skipped"), (W38, "skipped"), (W39, "fired")]


async def test_the_catch_up_window_is_configurable(
    engine: AsyncEngine, clock: FixedClock, tmp_path: Path
) -> None:
    await kit.load(engine, kit.programme(), clock.now())
    config = Config(data_dir=tmp_path, programme_timezone=kit.TZ, campaign_catch_up_hours=0).validate()
    runner = Runner(engine, config, clock, outbox_wake=Wakeup(), webhooks_in_background=False)
    ana = await kit.enrol(engine, "+525512340104", clock.now(), due="2027-04-19")
    await kit.tick_at(runner, clock, local(2027, 3, 22, 9, 1))
    assert await kit.log_of(engine, ana) == [(W36, "skipped")]
    await runner.close()


# --- start modes ------------------------------------------------------------------------------------------


async def _in_survey(engine: AsyncEngine, runner: Runner, phone: str, now: dt.datetime) -> None:
    await runner.handle_inbound(await receive(engine, phone, "encuesta", now))


async def test_a_flow_event_interrupts_a_waiting_conversation(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    loaded = kit.programme(flow_mode="interrupt")
    await kit.load(engine, loaded, clock.now())
    revision = next(f for f in loaded.flows if f.name == "Revisión")
    phone = "+525512340105"
    ana = await kit.enrol(
        engine, phone, clock.now(), due="2027-03-02"
    )  # tomorrow: only the flow event is ahead
    assert await kit.row_of(engine, ana) == (DUE, local(2027, 3, 2, 10))
    await _in_survey(engine, runner, phone, local(2027, 3, 2, 9))
    assert await kit.tick_at(runner, clock, local(2027, 3, 2, 10)) == 1
    assert await _waiting_flow(engine) == revision.uuid
    assert (await kit.texts_of(engine, ana))[-1] == "¿Cómo te sientes hoy? Responde BIEN o MAL."
    assert await kit.log_of(engine, ana) == [(DUE, "fired")]
    assert await kit.row_of(engine, ana) is None
    # The started flow runs as any other: her answer resumes it.
    assert await runner.handle_inbound(await receive(engine, phone, "bien", clock.now())) == "resumed"
    assert (await kit.texts_of(engine, ana))[-1] == "Gracias por contarnos."


@pytest.mark.parametrize("mode", ["skip", "passive"])
async def test_a_flow_event_in_skip_mode_leaves_a_waiting_conversation_alone(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, mode: Any
) -> None:
    loaded = kit.programme(flow_mode=mode)
    await kit.load(engine, loaded, clock.now())
    survey = next(f for f in loaded.flows if f.name == "Encuesta")
    busy_phone, free_phone = "+525512340106", "+525512340107"
    busy = await kit.enrol(engine, busy_phone, clock.now(), due="2027-03-02")
    free = await kit.enrol(engine, free_phone, clock.now(), due="2027-03-02")
    await _in_survey(engine, runner, busy_phone, local(2027, 3, 2, 9))
    await kit.tick_at(runner, clock, local(2027, 3, 2, 10))
    assert await kit.log_of(engine, busy) == [(DUE, "busy")]
    assert await kit.texts_of(engine, busy) == ["¿Cuántas consultas prenatales has tenido?"]
    async with engine.connect() as conn:
        flows_waiting = dict(
            (await conn.execute(sa.select(sessions.c.contact_id, sessions.c.flow_uuid))).all()
        )
    assert flows_waiting[busy] == survey.uuid
    assert await kit.log_of(engine, free) == [(DUE, "fired")]
    assert await kit.texts_of(engine, free) == ["¿Cómo te sientes hoy? Responde BIEN o MAL."]
    assert await kit.row_of(engine, busy) is None  # consumed either way


@pytest.mark.parametrize(
    ("mode", "outcome", "still_waiting"),
    [("interrupt", "fired", False), ("skip", "busy", True), ("passive", "fired", True)],
)
async def test_message_events_and_a_waiting_conversation(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, mode: Any, outcome: str, still_waiting: bool
) -> None:
    await kit.load(engine, kit.programme(message_mode=mode), clock.now())
    phone = "+525512340108"
    ana = await kit.enrol(engine, phone, clock.now(), due="2027-04-19")
    await _in_survey(engine, runner, phone, local(2027, 3, 22, 8))
    await kit.tick_at(runner, clock, local(2027, 3, 22, 9))
    assert await kit.log_of(engine, ana) == [(W36, outcome)]
    week36 = "Semana 36: prepara tu maleta para el hospital."
    assert (week36 in await kit.texts_of(engine, ana)) == (outcome == "fired")
    assert (await _waiting_flow(engine) is not None) == still_waiting


@pytest.mark.usefixtures("loaded")
async def test_a_missing_flow_or_an_unsendable_text_is_recorded_and_passed(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    texts = {**kit.TEXTS, W36: {"spa": "x" * 1601}}
    ghost = CampaignEvent(
        kit.event_uuid("ghost"), kit.FECHA, -3, "weeks", 9, flow=FlowRef(kit.event_uuid("no"), "Nada")
    )
    await kit.load(engine, kit.programme(texts=texts, extra_events=(ghost,)), clock.now())
    ana = await kit.enrol(engine, "+525512340109", clock.now(), due="2027-04-19")
    await kit.tick_at(runner, clock, local(2027, 3, 22, 9))
    await kit.tick_at(runner, clock, local(2027, 3, 29, 9))
    assert await kit.log_of(engine, ana) == [(W36, "unsendable"), (ghost.uuid, "no_flow")]
    assert await kit.sent(engine, ana) == []
    assert await kit.row_of(engine, ana) == (W38, local(2027, 4, 5, 9))


# --- crashes ----------------------------------------------------------------------------------------------


class Crash(Exception):
    pass


@pytest.mark.usefixtures("loaded")
async def test_a_crash_before_the_batch_commits_loses_and_doubles_nothing(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [await kit.enrol(engine, f"+5255123402{n:02d}", clock.now(), due="2027-04-19") for n in range(30)]
    real_write = firing._Batch.write

    async def write_then_crash(self: Any, conn: Any) -> None:
        await real_write(self, conn)  # everything written inside the transaction...
        raise Crash  # ...and the process dies before the commit

    monkeypatch.setattr(firing._Batch, "write", write_then_crash)
    clock.set(local(2027, 3, 22, 9))
    with pytest.raises(Crash):
        await runner.campaigns.fire_due()
    assert await _count(engine, messages) == 0
    assert await _count(engine, campaign_log) == 0
    assert {await kit.row_of(engine, i) for i in ids} == {(W36, local(2027, 3, 22, 9))}
    monkeypatch.setattr(firing._Batch, "write", real_write)
    assert await runner.campaigns.fire_due() == 30
    assert await runner.campaigns.fire_due() == 0
    for contact_id in ids:
        assert await kit.texts_of(engine, contact_id) == ["Semana 36: prepara tu maleta para el hospital."]
    assert await _count(engine, campaign_log) == 30


async def test_a_crash_inside_a_flow_start_loses_and_doubles_nothing(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await kit.load(engine, kit.programme(), clock.now())
    ana = await kit.enrol(engine, "+525512340110", clock.now(), due="2027-03-02")
    real_act = firing._act

    async def act_then_crash(*args: Any) -> str:
        await real_act(*args)
        raise Crash

    monkeypatch.setattr(firing, "_act", act_then_crash)
    assert await kit.tick_at(runner, clock, local(2027, 3, 2, 10)) == 0  # logged, and left for the next tick
    assert await kit.sent(engine, ana) == []
    assert await _waiting_flow(engine) is None
    assert await kit.row_of(engine, ana) == (DUE, local(2027, 3, 2, 10))
    monkeypatch.setattr(firing, "_act", real_act)
    assert await runner.campaigns.fire_due() == 1
    assert await runner.campaigns.fire_due() == 0
    assert await kit.texts_of(engine, ana) == ["¿Cómo te sientes hoy? Responde BIEN o MAL."]
    assert await kit.log_of(engine, ana) == [(DUE, "fired")]


@pytest.mark.usefixtures("loaded")
async def test_a_batch_larger_than_one_transaction_fires_everyone_once(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    ids = [await kit.enrol(engine, f"+5255123403{n:02d}", clock.now(), due="2027-04-19") for n in range(25)]
    clock.set(local(2027, 3, 22, 9))
    assert await runner.campaigns.fire_due(limit=7) == 25
    assert await _count(engine, messages) == 25
    assert {await kit.row_of(engine, i) for i in ids} == {(W38, local(2027, 4, 5, 9))}


# --- quiet hours ------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("loaded")
async def test_a_message_due_at_night_waits_in_the_queue_for_the_delivery_window(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, runner_config: Config
) -> None:
    clock.set(local(2027, 3, 1, 1))
    ana = await kit.enrol(engine, "+525512340111", clock.now(), registered="2027-03-01T01:00:00-06:00")
    assert await kit.tick_at(runner, clock, local(2027, 3, 1, 3)) == 1  # queued at 03:00, bulk

    async def leased_at(moment: dt.datetime) -> list[str]:
        async with engine.begin() as conn:
            taken = await lease(
                conn,
                "gw-test",
                want=10,
                want_parts=None,
                now=moment,
                until=moment + dt.timedelta(minutes=10),
                zones=open_zones(moment, parse_window(runner_config.delivery_window), kit.TZ),
                programme_tz=kit.TZ,
                others=(),
            )
        return [m.text for m in taken]

    assert await leased_at(local(2027, 3, 1, 3)) == []
    assert await leased_at(local(2027, 3, 1, 7, 59)) == []
    assert await leased_at(local(2027, 3, 1, 8)) == ["Bienvenida al programa de embarazo saludable."]
    assert await kit.sent(engine, ana) == [
        ("Bienvenida al programa de embarazo saludable.", local(2027, 3, 1, 3), 2)
    ]


# --- an imported campaign ---------------------------------------------------------------------------------


async def test_an_imported_rapidpro_campaign_runs_unchanged(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    text = (FIXTURES / "campaign_import_with_translations.json").read_text()
    imported, _report = import_export(json.loads(text), "campaign_import_with_translations.json")
    await kit.load(engine, imported, clock.now())
    from server import contacts as repository
    from server.campaigns.schedule import contacts_changed
    from server.contact_values import parse_value

    ids = []
    async with engine.begin() as conn:
        known = await repository.load_fields(conn)
        group = await repository.find_group_by_name(conn, "Group Chat")
        assert group is not None
        for phone, language in (("+525512340112", "eng"), ("+525512340113", None), ("+525512340114", "spa")):
            values = {known["enrolled"]: parse_value("datetime", "2027-03-01T09:00:00-06:00", dt.UTC)}
            changes = repository.ContactChanges({"phone": phone, "language": language}, values)
            created = await repository.create_contact(conn, changes, now=clock.now())
            await repository.add_members(conn, group.uuid, [created.uuid], now=clock.now())
            ids.append(created.id)
        await contacts_changed(conn, ids, now=clock.now(), timezone=kit.TZ)
    # "+15 days", delivery hour -1: the same minute fifteen calendar days later, in the programme's timezone.
    assert await kit.tick_at(runner, clock, local(2027, 3, 16, 8, 59)) == 0
    assert await kit.tick_at(runner, clock, local(2027, 3, 16, 9)) == 3
    assert [await kit.texts_of(engine, i) for i in ids] == [["Hey"], ["hello"], ["hello"]]


# --- programme loads --------------------------------------------------------------------------------------


async def test_a_load_that_changes_the_campaign_reschedules_everyone_in_its_transaction(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await kit.load(engine, kit.programme(), clock.now())
    ana = await kit.enrol(engine, "+525512340115", clock.now(), due="2027-04-19")
    bea = await kit.enrol(engine, "+525512340116", clock.now(), due="2027-04-12")
    earlier = CampaignEvent(kit.event_uuid("w30"), kit.FECHA, -10, "weeks", 9, message={"spa": "Semana 30."})
    report = await kit.load(engine, kit.programme(extra_events=(earlier,)), clock.now())
    assert report.campaigns.changed == ("Embarazo",)
    assert await kit.row_of(engine, ana) == (W36, local(2027, 3, 22, 9))  # week 30 was past: not back-filled
    clock.set(local(2027, 3, 2))
    week35 = CampaignEvent(kit.event_uuid("w35"), kit.FECHA, -5, "weeks", 9, message={"spa": "Semana 35."})
    await kit.load(engine, kit.programme(extra_events=(week35,)), clock.now())
    assert await kit.row_of(engine, ana) == (week35.uuid, local(2027, 3, 15, 9))
    assert await kit.row_of(engine, bea) == (week35.uuid, local(2027, 3, 8, 9))
    # A programme without the campaign: its rows go with it.
    without = dataclasses.replace(kit.programme(), campaigns=())
    await kit.load(engine, without, clock.now())
    assert await _count(engine, campaign_fires) == 0
    assert await runner.campaigns.fire_due() == 0


async def test_a_due_fire_survives_a_reload_that_keeps_its_event(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await kit.load(engine, kit.programme(), clock.now())
    ana = await kit.enrol(engine, "+525512340117", clock.now(), due="2027-04-19")
    clock.set(local(2027, 3, 22, 9) + dt.timedelta(seconds=30))  # due 30 seconds ago, no tick yet
    extra = CampaignEvent(kit.event_uuid("w41"), kit.FECHA, 1, "weeks", 9, message={"spa": "Semana 41."})
    await kit.load(engine, kit.programme(extra_events=(extra,)), clock.now())
    assert await kit.row_of(engine, ana) == (W36, local(2027, 3, 22, 9))
    assert await runner.campaigns.fire_due() == 1
    assert await kit.texts_of(engine, ana) == ["Semana 36: prepara tu maleta para el hospital."]


async def test_a_contact_deleted_takes_her_row_and_log(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await kit.load(engine, kit.programme(), clock.now())
    ana = await kit.enrol(engine, "+525512340118", clock.now(), due="2027-04-19")
    await kit.tick_at(runner, clock, local(2027, 3, 22, 9))
    async with engine.begin() as conn:
        await conn.execute(contacts.delete().where(contacts.c.id == ana))
    assert await _count(engine, campaign_fires) == 0
    assert await _count(engine, campaign_log) == 0
