"""Alerts raised by the bundled Alerta flow: stored with clinic and raising message, texted once to the clinic's
staff at alert priority with only her name, phone and the reason."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server import alerts
from server.clock import FixedClock
from server.db.schema import PRIORITIES, contacts, messages
from server.db.schema import alerts as alerts_table
from server.runner import Runner
from tests.server.alerts.conftest import register, say
from tests.server.runner import kit

PHONE = "+525512345678"
NURSE = "+525587654321"
ON_CALL = "+525500000001"
pytestmark = pytest.mark.usefixtures("library")

DIRECTORY = alerts.parse_staff(f"Clínica Centro = {NURSE} ; * = {ON_CALL}", region="MX")


async def raise_alert(engine: AsyncEngine, runner: Runner, clock: FixedClock, *, clinic: str) -> None:
    await register(engine, PHONE, name="Ana López", clinic=clinic, now=clock.now())
    assert await say(engine, runner, clock, PHONE, "ALERTA tengo sangrado") == "trigger"
    assert await say(engine, runner, clock, PHONE, "Sí, por favor") == "resumed"


async def test_a_confirmed_alert_is_stored_with_clinic_and_the_message_that_raised_it(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await raise_alert(engine, runner, clock, clinic="clínica  centro")
    async with engine.connect() as conn:
        [alert] = await alerts.search_alerts(conn, alerts.AlertQuery())
        confirmation = (
            await conn.execute(sa.select(messages.c.uuid).where(messages.c.text == "Sí, por favor"))
        ).scalar_one()
    assert alert.status == "open"
    assert alert.clinic == "clínica  centro"
    assert alert.message_uuid == confirmation
    assert alert.contact_phone == PHONE
    assert "tengo sangrado" in alert.reason
    assert alert.notified_at is None  # the dispatcher texts staff after the runner's commit
    async with engine.connect() as conn:
        found = await alerts.search_alerts(conn, alerts.AlertQuery(clinic="Clinica Centro"))
        assert [a.uuid for a in found] == [alert.uuid]
        assert await alerts.search_alerts(conn, alerts.AlertQuery(clinic="Otra")) == []


async def test_staff_of_her_clinic_get_one_text_at_alert_priority(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await raise_alert(engine, runner, clock, clinic="CLINICA CENTRO")
    assert await alerts.text_staff(engine, DIRECTORY, now=clock.now()) == 1
    assert await alerts.text_staff(engine, DIRECTORY, now=clock.now()) == 0  # once, not at every round
    [sent] = await kit.outbox(engine, NURSE)
    assert sent.priority == PRIORITIES["alert"]
    assert sent.text.startswith(f"ALERTA recado: Ana Lopez, {PHONE}. ")
    assert "tengo sangrado" in sent.text
    assert "2027-06-01" not in sent.text  # her other fields stay out of staff texts
    assert await kit.outbox(engine, ON_CALL) == []
    [alert] = await kit.rows(engine, alerts_table)
    assert (alert.staff_texted, alert.notified_at) == (1, clock.now())


async def test_an_unlisted_clinic_goes_to_the_default_list_and_none_to_nobody(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await raise_alert(engine, runner, clock, clinic="Hospital del Valle")
    assert await alerts.text_staff(engine, DIRECTORY, now=clock.now()) == 1
    assert len(await kit.outbox(engine, ON_CALL)) == 1
    assert await alerts.text_staff(engine, alerts.StaffDirectory({}), now=clock.now()) == 0


async def test_an_alert_with_no_staff_to_text_is_still_marked_notified(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await raise_alert(engine, runner, clock, clinic="Hospital del Valle")
    assert await alerts.text_staff(engine, alerts.StaffDirectory({}), now=clock.now()) == 0
    [alert] = await kit.rows(engine, alerts_table)
    assert (alert.staff_texted, alert.notified_at) == (0, clock.now())


async def test_staff_become_blocked_contacts_whose_replies_start_nothing(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    await raise_alert(engine, runner, clock, clinic="Clínica Centro")
    await alerts.text_staff(engine, DIRECTORY, now=clock.now())
    [nurse] = await kit.rows(engine, contacts, contacts.c.phone == NURSE)
    assert (nurse.status, nurse.name) == ("blocked", alerts.STAFF_NAME)
    assert await say(engine, runner, clock, NURSE, "ALTA") == "ignored"
    assert len(await kit.outbox(engine, NURSE)) == 1


async def test_a_staff_number_that_is_a_stopped_contact_is_still_texted(
    engine: AsyncEngine, runner: Runner, clock: FixedClock
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            contacts.insert().values(
                uuid=uuid.uuid4(),
                phone=NURSE,
                status="stopped",
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
    await raise_alert(engine, runner, clock, clinic="Clínica Centro")
    assert await alerts.text_staff(engine, DIRECTORY, now=clock.now()) == 1


def test_a_long_reason_is_cut_to_three_sms_parts() -> None:
    text = alerts.staff_text("Ana", PHONE, "dolor " * 200)
    assert text.size.segments <= alerts.STAFF_TEXT_SEGMENTS
    assert text.text.endswith("...")
    assert alerts.staff_text(None, PHONE, "sangrado").text == f"ALERTA recado: sin nombre, {PHONE}. sangrado"


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("Centro", "not CLINIC=PHONE"),
        ("=+525587654321", "not CLINIC=PHONE"),
        ("Centro=12", "Centro"),
        ("Centro=", "no phone numbers"),
        ("Centro=+525587654321; centro=+525500000001", "given twice"),
        ("*=+525587654321; *=+525500000001", "default list"),
    ],
)
def test_bad_staff_settings_are_refused(setting: str, problem: str) -> None:
    with pytest.raises(alerts.InvalidStaff, match=problem):
        alerts.parse_staff(setting, region="MX")


def test_staff_numbers_are_normalised_and_clinics_compared_loosely() -> None:
    directory = alerts.parse_staff("Clínica Centro=55 8765 4321, +5215587654321", region="MX")
    assert directory.numbers_for("  CLINICA   centro ") == (NURSE,)
    assert directory.numbers_for(None) == ()
