"""The demo's story through the whole stack: phones text a virtual modem on a pty, a gateway process carries the
messages to a server process and back, and the demo clock moves the weeks.

One site serves the module (starting it is most of the cost); each test has a mother of its own and times
everything from the site's clock as it finds it, so the tests hold in any order and alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fullstack.stack import MEXICO_CITY, MOTHER, STAFF, Stack
from tests.processes import wait_until

pytestmark = pytest.mark.slow

CLINIC = "Centro de Salud San Miguel"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(Path(tmp_path_factory.mktemp("story"))) as started:
        yield started


def local_now(site: Stack) -> dt.datetime:
    return site.now().astimezone(MEXICO_CITY)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=MEXICO_CITY)


def register(site: Stack, phone: str, name: str, due: dt.date) -> None:
    """ALTA and the registration questions, answered as a pregnant mother with this due date."""
    site.say("ALTA", "cuál es tu nombre", phone)
    site.say(name, "Responde 1 si estás embarazada", phone)
    site.say("1", "fecha probable de parto", phone)
    site.say(due.strftime("%d/%m/%Y"), "¿Es correcto?", phone)
    site.say("Sí", "¿En qué clínica", phone)
    site.say(CLINIC, "escribe ALERTA", phone)


def outbound(site: Stack, phone: str) -> list[dict[str, object]]:
    return site.messages(phone, direction="out")


def test_registration_then_three_weeks_of_messages_at_nine_her_time(site: Stack) -> None:
    phone = "+525511110001"
    today = local_now(site).date()
    # Week 22 of her pregnancy (18 weeks before the due date) starts three days from now.
    due = today + dt.timedelta(days=3, weeks=18)
    register(site, phone, "Ana López", due)
    ana = site.contact(phone)
    assert ana is not None
    assert ana["name"] == "Ana López"
    assert ana["fields"]["fecha_parto"] == due.isoformat()
    assert ana["fields"]["clinica"] == CLINIC

    # Week 1: the week-22 message, sent at nine in the morning of its day, her time.
    site.advance_to(at(today + dt.timedelta(days=7), 10))
    site.wait_for_text("¿cómo te sientes?", phone)
    weekly = [m for m in outbound(site, phone) if "cómo te sientes" in str(m["text"])]
    assert len(weekly) == 1
    sent_at = dt.datetime.fromisoformat(str(weekly[0]["created_at"])).astimezone(MEXICO_CITY)
    assert (sent_at.date(), sent_at.hour) == (today + dt.timedelta(days=3), 9)

    # Week 2: nothing is due for week 23, and nothing comes.
    before = len(outbound(site, phone))
    site.advance("7d")
    assert len(outbound(site, phone)) == before

    # Week 3: week 24 starts the savings conversation at nine; her answer picks the branch for beginners.
    site.advance_to(at(today + dt.timedelta(days=17), 9, 30))
    site.wait_for_text("¿Ya estás guardando dinero", phone)
    site.say("2", "puedes empezar hoy", phone)
    site.say("50", "", phone)
    assert {(r["key"], r["category"]) for r in site.results() if r["contact"] == ana["uuid"]} >= {
        ("ya_ahorra", "No")
    }
    assert not any("Guarda tu ahorro en un lugar seguro" in t for t in site.inbox(phone))  # the other branch

    # Quiet hours: none of the three weeks' bulk messages was queued outside 08:00-20:00 her time.
    for message in outbound(site, phone):
        if message["priority"] == "bulk":
            hour = dt.datetime.fromisoformat(str(message["created_at"])).astimezone(MEXICO_CITY).hour
            assert 8 <= hour < 20, message


def test_a_bulk_message_at_night_waits_for_the_morning(site: Stack) -> None:
    phone = "+525511110002"
    today = local_now(site).date()
    register(site, phone, "Berta Ruiz", today + dt.timedelta(weeks=20, days=3))
    bertha = site.contact(phone)
    assert bertha is not None
    night = at(today + dt.timedelta(days=1), 22)
    site.advance_to(night)
    for text, priority in (
        ("Mañana hay jornada de vacunación.", "bulk"),
        ("Aviso urgente de la clínica.", "alert"),
    ):
        site.api(
            "POST", "/api/v1/messages", {"contacts": [bertha["uuid"]], "text": text, "priority": priority}
        )
    # The alert goes out at once; the bulk message stays queued at the server through the night ...
    before = len(site.inbox(phone))
    site.wait_for_text("Aviso urgente", phone, after=before)
    assert [m["status"] for m in outbound(site, phone) if "vacunación" in str(m["text"])] == ["queued"]
    assert not any("vacunación" in t for t in site.inbox(phone))
    # ... and reaches her phone when the delivery window opens at eight.
    site.advance_to(at(today + dt.timedelta(days=2), 8, 1))
    site.wait_for_text("jornada de vacunación", phone, after=before)


def test_alerta_with_confirmation_raises_an_alert_and_texts_the_staff(site: Stack) -> None:
    phone = "+525511110003"
    register(site, phone, "Carmen Díaz", local_now(site).date() + dt.timedelta(weeks=20, days=3))
    carmen = site.contact(phone)
    assert carmen is not None
    site.say("ALERTA tengo sangrado", "¿Avisamos al personal de salud?", phone)
    assert [a for a in site.alerts() if a["contact"]["uuid"] == carmen["uuid"]] == []  # not without a yes
    staff_before = len(site.inbox(STAFF))
    site.say("Sí", "ya avisamos al personal de salud", phone)
    raised = [a for a in site.alerts() if a["contact"]["uuid"] == carmen["uuid"]]
    assert len(raised) == 1
    assert "sangrado" in raised[0]["reason"]
    assert raised[0]["clinic"] == CLINIC
    staff = site.wait_for_text("sangrado", STAFF, after=staff_before)
    assert any("Carmen" in text for text in staff)
    wait_until(
        lambda: [a for a in site.alerts() if a["uuid"] == raised[0]["uuid"] and a["staff_texted"]],
        "the alert to record that staff were texted",
        alive=site.dead,
    )


def test_appointment_reminder_nudges_without_reply_and_the_rating_is_anonymous(site: Stack) -> None:
    phone = "+525511110004"
    today = local_now(site).date()
    register(site, phone, "Dora Vega", today + dt.timedelta(weeks=20, days=3))
    dora = site.contact(phone)
    assert dora is not None
    appointment = today + dt.timedelta(days=3)
    site.api("PATCH", f"/api/v1/contacts/{dora['uuid']}", {"fields": {"fecha_cita": appointment.isoformat()}})

    # The day before at ten: the reminder. She does not answer; four hours later it asks once more.
    eve = appointment - dt.timedelta(days=1)
    site.advance_to(at(eve, 10, 30))
    site.wait_for_text("¿Podrás ir?", phone)
    before = len(site.inbox(phone))
    site.advance_to(at(eve, 13, 30))
    assert len(site.inbox(phone)) == before
    site.advance_to(at(eve, 14, 30))
    site.wait_for_text("solo queremos saber si podrás ir", phone, after=before)
    site.say("Sí", "Lleva tu carnet", phone)
    assert ("asistira", "Sí") in {
        (r["key"], r["category"]) for r in site.results() if r["contact"] == dora["uuid"]
    }

    # The day after at noon: the clinic survey, answered and kept only as a count for the clinic.
    site.advance_to(at(appointment + dt.timedelta(days=1), 12, 30))
    site.wait_for_text("Del 1 al 5", phone)
    site.say("4", "¿Quieres contarnos algo más", phone)
    site.say("Me atendieron rápido", "anónima", phone)
    ratings = site.ratings(clinic=CLINIC, question="calificacion")["items"]
    assert [(r["answer"], r["count"]) for r in ratings] == [("4", 1)]
    mine = {r["key"] for r in site.results() if r["contact"] == dora["uuid"]}
    assert not mine & {"calificacion", "comentario"}
    with site.database() as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(clinic_ratings)")}
        rows = db.execute("SELECT * FROM clinic_ratings").fetchall()
    assert not any("contact" in c or "phone" in c for c in columns)
    assert not any(phone in str(row) or dora["uuid"] in str(row) for row in rows)


def test_baja_stops_every_message_and_alta_brings_her_back(site: Stack) -> None:
    phone = MOTHER
    today = local_now(site).date()
    register(site, phone, "Elena Mora", today + dt.timedelta(days=3, weeks=18))  # week 22 in three days
    site.say("BAJA", "Ya no recibirás mensajes", phone)
    elena = site.contact(phone)
    assert elena is not None
    assert elena["status"] == "stopped"
    before_server, before_phone = len(outbound(site, phone)), len(site.inbox(phone))
    site.advance("7d")  # her week-22 message would have gone out
    assert len(outbound(site, phone)) == before_server
    assert len(site.inbox(phone)) == before_phone
    site.say("ALTA", "Bienvenida de nuevo", phone)
    elena = site.contact(phone)
    assert elena is not None
    assert elena["status"] == "active"
    # Her programme goes on: week 24, two weeks after the week she missed, comes at nine as for everyone.
    site.advance_to(at(today + dt.timedelta(days=17), 9, 30))
    site.wait_for_text("¿Ya estás guardando dinero", phone)


def test_a_restart_keeps_her_registration_and_the_demo_time(site: Stack) -> None:
    phone = "+525511110005"
    register(site, phone, "Fernanda Gil", local_now(site).date() + dt.timedelta(weeks=20, days=3))
    moved = site.advance("1h")
    site.restart("server")
    assert site.now() >= moved
    fernanda = site.contact(phone)
    assert fernanda is not None
    assert fernanda["name"] == "Fernanda Gil"
    site.say("ALERTA", "Cuéntanos en un mensaje", phone)  # the gateway found the server again


def test_the_whole_story_logged_no_error(site: Stack) -> None:
    """Gateways giving up long polls, restarts, clock moves: none of it is an error on either side."""
    for part in ("server", "gateway"):
        log = site.log(part, tail=10_000_000)
        assert " ERROR " not in log, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
