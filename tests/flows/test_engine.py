"""The engine's behaviour, flow feature by flow feature, on flows built in code."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import zoneinfo
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows import engine, model
from flows.events import (
    AlertRaised,
    ContactFieldChanged,
    ContactGroupsChanged,
    ErrorEvent,
    FailureEvent,
    Ignored,
    MsgCreated,
    RunResultChanged,
    SessionEnded,
    SessionWaiting,
    WebhookCalled,
)
from flows.session import Session, SessionError
from tests.flows import kit

ASK_NAME = kit.flow(
    "Registro",
    kit.ask(
        "n1",
        kit.send("¿Cómo te llamas?"),
        cases=[("has_text", [], "Has Text", "n2")],
        other="n1",
        result="Nombre",
    ),
    kit.say("n2", kit.send("Gracias, @results.nombre. ¿Estás embarazada?", "s2")),
)


def start(flow: model.Flow, *others: model.Flow, **kw: object) -> engine.Step:
    options: dict[str, object] = {
        "env": kit.env(),
        "assets": kit.assets(flow, *others),
        "ids": kit.counter_ids(),
    }
    options.update(kw)
    contact = options.pop("contact", kit.contact())
    return engine.start(flow, contact, **options)  # type: ignore[arg-type]


def resume(step: engine.Step, event: engine.Resume, *flows: model.Flow, **kw: object) -> engine.Step:
    assert step.session is not None, "the session has ended"
    options: dict[str, object] = {
        "env": kit.env(),
        "assets": kit.assets(*flows),
        "ids": kit.counter_ids("1111"),
    }
    options.update(kw)
    return engine.resume(step.session, step.contact, event, **options)  # type: ignore[arg-type]


def of_type(step: engine.Step, kind: type) -> list:  # type: ignore[type-arg]
    return [event for event in step.events if isinstance(event, kind)]


def test_a_question_waits_then_routes_the_reply_and_records_the_result() -> None:
    first = start(ASK_NAME)
    assert first.messages == ["¿Cómo te llamas?"]
    assert first.status == "waiting"
    waiting = of_type(first, SessionWaiting)[0]
    assert waiting.kind == "msg"
    assert waiting.timeout_on is None
    assert waiting.expires_on == kit.NOW + dt.timedelta(days=7)

    second = resume(first, engine.Msg("  María  "), ASK_NAME)
    assert second.messages == ["Gracias, María. ¿Estás embarazada?"]
    (result,) = of_type(second, RunResultChanged)
    assert (result.key, result.value, result.category, result.input) == (
        "nombre",
        "María",
        "Has Text",
        "  María  ",
    )
    assert second.status == "completed"
    assert second.session is None
    assert of_type(second, SessionEnded)[0].status == "completed"


def test_the_session_is_plain_data_that_round_trips() -> None:
    step = start(ASK_NAME)
    assert step.session is not None
    text = json.dumps(step.session)
    assert Session.from_dict(json.loads(text)).as_dict() == step.session


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"version": 2},
        {"version": 1, "runs": []},
        {"version": 1, "uuid": "s", "contact_uuid": "c", "status": "waiting", "runs": [{"uuid": 1}]},
        {"version": 1, "uuid": "s", "contact_uuid": "c", "status": "dancing", "runs": [{}]},
    ],
)
def test_stored_data_that_is_not_a_session_is_refused(data: object) -> None:
    with pytest.raises(SessionError):
        engine.resume(
            data, kit.contact(), engine.Msg("hola"), env=kit.env(), assets=kit.assets(), ids=kit.counter_ids()
        )  # type: ignore[arg-type]


def _with(path: tuple[str | int, ...], value: object) -> dict[str, object]:
    """A stored waiting session with the item at ``path`` replaced."""
    step = start(ASK_NAME)
    assert step.session is not None
    data = json.loads(json.dumps(step.session))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("status",), ["waiting"], "session status must be text"),
        (("runs", 0, "status"), "running", "unknown run status 'running'"),
        (("runs", 0, "uuid"), None, "run uuid must be text"),
        (("runs", 0, "node_uuid"), 7, "run node_uuid must be text"),
        (("runs", 0, "visits"), {"q": "1"}, "run visits must be counts"),
        (("runs", 0, "results"), {"name": {"value": 5}}, "a result must be an object with its value as text"),
        (("runs", 0, "results"), {"name": ["x"]}, "a result must be an object with its value as text"),
        (("wait", "kind"), "sms", "unknown wait kind 'sms'"),
        (("wait", "expires_on"), "mañana", "wait expires_on must be an ISO 8601 time"),
        (("input",), {"text": 1}, "session input text must be text"),
    ],
)
def test_each_part_of_a_stored_session_is_checked(
    path: tuple[str | int, ...], value: object, message: str
) -> None:
    with pytest.raises(SessionError, match=message):
        Session.from_dict(_with(path, value))


def test_a_read_session_shares_nothing_it_changes_with_the_stored_data() -> None:
    stored = _with(("input",), {"text": "hola", "uuid": "", "created_on": "2027-03-01T15:00:00Z"})
    before = json.dumps(stored)
    step = engine.resume(
        stored,
        kit.contact(),
        engine.Msg("Ana"),
        env=kit.env(),
        assets=kit.assets(ASK_NAME),
        ids=kit.counter_ids(),
    )
    assert step.messages
    assert json.dumps(stored) == before


YES_NO = kit.flow(
    "Confirmar",
    kit.ask(
        "q",
        kit.send("¿Sí o no?"),
        cases=[("has_any_word", ["sí yes"], "Sí", "yes"), ("has_any_word", ["no"], "No", "no")],
        other="again",
        result="Respuesta",
    ),
    kit.say("yes", kit.send("Dijiste que sí", "y")),
    kit.say("no", kit.send("Dijiste que no", "n")),
    kit.say("again", kit.send("No entendí", "a"), to="q"),
)


@pytest.mark.parametrize(
    ("accent_insensitive", "reply", "expected"),
    [
        (False, "sí", "Dijiste que sí"),
        (False, "si", "No entendí"),  # RapidPro: lower-case only, no accent folding
        (True, "si", "Dijiste que sí"),
        (True, "SÍ, claro", "Dijiste que sí"),
        (False, "NO gracias", "Dijiste que no"),
    ],
)
def test_reply_matching_follows_the_flow_accent_setting(
    accent_insensitive: bool, reply: str, expected: str
) -> None:
    flow = dataclasses.replace(YES_NO, accent_insensitive=accent_insensitive)
    step = resume(start(flow), engine.Msg(reply), flow)
    assert step.messages[0] == expected


def test_an_unmatched_reply_asks_again_and_counts_visits() -> None:
    step = start(YES_NO)
    step = resume(step, engine.Msg("quizás"), YES_NO)
    assert step.messages == ["No entendí", "¿Sí o no?"]
    assert step.session is not None
    assert Session.from_dict(step.session).run.visits["q"] == 2
    result = of_type(step, RunResultChanged)[0]
    assert (result.value, result.category) == ("quizás", "Other")


def test_messages_are_localised_to_the_contact_language() -> None:
    flow = dataclasses.replace(
        YES_NO,
        **{
            "localization": {
                "eng": {
                    "send-q": {"text": ("Yes or no?",)},
                    "q-case0": {"arguments": ("yes",)},
                    "q-cat0": {"name": ("Yes",)},
                    "y": {"text": ("You said yes",)},
                }
            },
        },
    )
    q = flow.nodes[0]
    assert isinstance(q.actions[0], model.SendMsg)
    flow = dataclasses.replace(
        flow,
        **{
            "nodes": (
                model.Node(q.uuid, (model.SendMsg("send-q", "¿Sí o no?"),), q.router, q.exits),
                *flow.nodes[1:],
            ),
        },
    )
    english = kit.contact(language="eng")
    step = start(flow, contact=english)
    assert step.messages == ["Yes or no?"]
    assert of_type(step, MsgCreated)[0].language == "eng"
    step = resume(step, engine.Msg("YES"), flow)
    assert step.messages == ["You said yes"]
    result = of_type(step, RunResultChanged)[0]
    assert (result.category, result.category_localized) == ("Sí", "Yes")
    # A language the environment does not allow falls back to the default language.
    french = start(flow, contact=kit.contact(language="fra"))
    assert french.messages == ["¿Sí o no?"]
    assert of_type(french, MsgCreated)[0].language == "spa"


NUDGE = kit.flow(
    "Recordatorio",
    kit.ask(
        "q",
        kit.send("¿Vas a ir a tu cita?"),
        cases=[("has_any_word", ["si sí"], "Sí", None)],
        other=None,
        timeout=(7200, "nudge"),
        result="Cita",
    ),
    kit.say("nudge", kit.send("Te extrañamos, ¿todo bien?", "nudge-msg")),
)


def test_a_wait_times_out_into_its_timeout_category() -> None:
    step = start(NUDGE)
    waiting = of_type(step, SessionWaiting)[0]
    assert waiting.timeout_on == kit.NOW + dt.timedelta(hours=2)
    later = kit.env(now=kit.NOW + dt.timedelta(hours=2))
    step = resume(step, engine.TimedOut(), NUDGE, env=later)
    assert step.messages == ["Te extrañamos, ¿todo bien?"]
    result = of_type(step, RunResultChanged)[0]
    assert (result.category, result.value) == ("No Response", "")
    assert step.status == "completed"


def test_wait_times_are_reported_in_utc_whatever_the_zone_of_now() -> None:
    local_now = kit.NOW.astimezone(zoneinfo.ZoneInfo("America/Mexico_City"))
    step = start(NUDGE, env=kit.env(now=local_now))
    waiting = of_type(step, SessionWaiting)[0]
    assert step.session is not None
    wait = step.session["wait"]
    assert isinstance(wait, dict)
    assert (
        waiting.timeout_on == dt.datetime.fromisoformat(wait["timeout_on"]) == kit.NOW + dt.timedelta(hours=2)
    )
    assert waiting.expires_on == dt.datetime.fromisoformat(wait["expires_on"])
    assert waiting.timeout_on is not None
    assert waiting.timeout_on.tzinfo is dt.UTC
    assert waiting.expires_on.tzinfo is dt.UTC


def test_a_wait_across_a_change_of_clocks_lasts_the_time_it_says() -> None:
    # Tijuana moves its clocks forward at 02:00 on 14 March 2027: a day's wait is still 24 hours.
    tijuana = zoneinfo.ZoneInfo("America/Tijuana")
    before = dt.datetime(2027, 3, 13, 12, 0, tzinfo=tijuana)
    long_nudge = dataclasses.replace(NUDGE, expire_after_minutes=24 * 60)
    step = start(long_nudge, env=kit.env(now=before))
    waiting = of_type(step, SessionWaiting)[0]
    assert waiting.timeout_on is not None
    assert waiting.timeout_on - before == dt.timedelta(hours=2)
    assert waiting.expires_on - before == dt.timedelta(hours=24)
    assert waiting.expires_on.astimezone(tijuana).hour == 13  # the wall clock moved on by an hour


def test_an_environment_gives_each_later_moment_with_its_text() -> None:
    env = kit.env(now=dt.datetime(2027, 3, 1, 9, 30, tzinfo=zoneinfo.ZoneInfo("America/Mexico_City")))
    assert env.now_iso == "2027-03-01T15:30:00Z"
    moment, text = env.after(90)
    assert (moment, text) == (dt.datetime(2027, 3, 1, 15, 31, 30, tzinfo=dt.UTC), "2027-03-01T15:31:30Z")
    assert env.after(90) is env.after(90)  # remembered
    assert env.with_now(kit.NOW).after(90)[0] == kit.NOW + dt.timedelta(seconds=90)


def test_a_timeout_for_a_wait_without_one_is_ignored_and_keeps_the_session() -> None:
    step = start(ASK_NAME)
    again = resume(step, engine.TimedOut(), ASK_NAME)
    assert isinstance(again.events[0], Ignored)
    assert again.session == step.session
    assert again.status == "waiting"


def test_an_expired_session_ends_as_expired() -> None:
    step = resume(start(ASK_NAME), engine.Expired(), ASK_NAME)
    assert step.status == "expired"
    assert step.session is None
    assert [e.type for e in step.events] == ["run_ended", "session_ended"]


def test_a_keyword_start_answers_the_first_wait_with_the_triggering_message() -> None:
    flow = kit.flow(
        "Alta",
        kit.ask("k", cases=[("has_any_word", ["alta"], "Alta", "hi")], other=None),
        kit.say("hi", kit.send("¡Bienvenida! Escribiste @input", "w")),
    )
    step = start(flow, msg=engine.Msg("ALTA por favor"))
    assert step.messages == ["¡Bienvenida! Escribiste ALTA por favor"]


CHILD = kit.flow(
    "Fecha",
    kit.ask(
        "c1",
        kit.send("¿Cuándo nace tu bebé? (DD/MM/AAAA)"),
        cases=[("has_date", [], "Fecha", "c2")],
        other="c1",
        result="Fecha parto",
    ),
    kit.say("c2", model.SetContactField("c2-set", "fecha_parto", "Fecha de parto", "@results.fecha_parto")),
    uuid="flow-child",
)


def parent_flow(terminal: bool = False) -> model.Flow:
    return kit.flow(
        "Padre",
        kit.ask(
            "p1",
            model.EnterFlow("p1-enter", model.FlowRef("flow-child", "Fecha"), terminal=terminal),
            cases=[
                ("has_only_text", ["completed"], "Complete", "p2"),
                ("has_only_text", ["expired"], "Expired", None),
            ],
            operand="@child.status",
            wait=False,
        ),
        kit.say("p2", kit.send("Listo: @fields.fecha_parto, @child.results.fecha_parto.category", "p2-msg")),
    )


def test_a_flow_enters_another_and_routes_on_how_it_ended() -> None:
    parent = parent_flow()
    fields = [model.FieldDef("fecha_parto", "Fecha de parto", "date")]
    step = start(parent, CHILD, assets=kit.assets(parent, CHILD, fields=fields))
    assert step.messages == ["¿Cuándo nace tu bebé? (DD/MM/AAAA)"]
    assert [e.type for e in step.events][:2] == ["flow_entered", "flow_entered"]
    step = resume(
        step, engine.Msg("nace el 15/08/2027"), parent, CHILD, assets=kit.assets(parent, CHILD, fields=fields)
    )
    changed = of_type(step, ContactFieldChanged)[0]
    assert changed.value == dt.date(2027, 8, 15)
    assert step.contact.fields["fecha_parto"] == dt.date(2027, 8, 15)
    assert step.messages == ["Listo: 2027-08-15, Fecha"]
    assert step.status == "completed"


def test_an_expired_sub_flow_hands_back_to_its_parent() -> None:
    parent = parent_flow()
    step = start(parent, CHILD)
    step = resume(step, engine.Expired(), parent, CHILD)
    assert step.status == "completed"
    assert step.messages == []
    assert [e.status for e in step.events if e.type == "run_ended"] == ["expired", "completed"]  # type: ignore[attr-defined]


def test_a_terminal_enter_does_not_return() -> None:
    parent = parent_flow(terminal=True)
    step = start(parent, CHILD)
    step = resume(step, engine.Msg("15/08/2027"), parent, CHILD)
    assert step.messages == []
    assert step.status == "completed"


def test_a_flow_that_loops_without_waiting_fails_after_the_step_limit() -> None:
    loop = kit.flow("Bucle", kit.say("a", to="b"), kit.say("b", to="a"))
    step = start(loop)
    assert step.status == "failed"
    assert step.session is None
    failure = of_type(step, FailureEvent)[0]
    assert "more than 100 steps" in failure.text


def test_a_flow_that_enters_itself_forever_fails() -> None:
    selfish = kit.flow("Yo", kit.say("a", model.EnterFlow("e", model.FlowRef("flow-Yo", "Yo"))))
    step = start(selfish)
    assert step.status == "failed"
    assert "deep" in of_type(step, FailureEvent)[0].text


def test_entering_a_flow_that_is_missing_fails_with_its_name() -> None:
    lost = kit.flow("Perdida", kit.say("a", model.EnterFlow("e", model.FlowRef("nope", "Fantasma"))))
    step = start(lost)
    assert "'Fantasma' is not in the programme" in of_type(step, FailureEvent)[0].text


@pytest.mark.parametrize(
    ("value_type", "text", "expected"),
    [
        ("text", "hola", "hola"),
        ("number", " 12.5 ", Decimal("12.5")),
        ("date", "15/08/2027", dt.date(2027, 8, 15)),
        ("datetime", "2027-08-15T10:00:00-06:00", dt.datetime(2027, 8, 15, 16, 0, tzinfo=dt.UTC)),
        ("text", "", None),
    ],
)
def test_fields_are_typed_by_their_definition(value_type: str, text: str, expected: object) -> None:
    field = model.FieldDef("x", "Equis", value_type)  # type: ignore[arg-type]
    flow = kit.flow("F", kit.say("a", model.SetContactField("s", "x", "Equis", text)))
    start_contact = kit.contact(fields={"x": "antes"})
    step = start(flow, contact=start_contact, assets=kit.assets(flow, fields=[field]))
    assert step.contact.fields.get("x") == expected
    assert of_type(step, ContactFieldChanged)[0].value == expected


def test_a_value_a_field_cannot_hold_is_an_error_and_changes_nothing() -> None:
    field = model.FieldDef("edad", "Edad", "number")
    flow = kit.flow("F", kit.say("a", model.SetContactField("s", "edad", "Edad", "veinte")))
    step = start(
        flow, contact=kit.contact(fields={"edad": Decimal(19)}), assets=kit.assets(flow, fields=[field])
    )
    assert step.contact.fields["edad"] == Decimal(19)
    assert "holds a number" in of_type(step, ErrorEvent)[0].text
    assert step.status == "completed"


def test_groups_alerts_names_and_languages() -> None:
    pregnant = model.GroupRef("g1", "Embarazadas")
    other = model.GroupRef("g2", "Otro")
    flow = kit.flow(
        "F",
        kit.say(
            "a",
            model.AddContactGroups("ag", (pregnant, other)),
            model.RemoveContactGroups("rg", (other,)),
            model.SetContactName("sn", "María Pérez"),
            model.SetContactLanguage("sl", "eng"),
            model.RaiseAlert("al", "Sangrado: @input.text"),
            kit.send('Hola @contact.first_name, grupos: @(join(contact.groups, ","))', "m"),
        ),
    )
    step = start(flow, msg=engine.Msg("tengo sangrado"))
    changes = of_type(step, ContactGroupsChanged)
    assert changes[0].added == (pregnant, other)
    assert changes[1].removed == (other,)
    assert step.contact.groups == (pregnant,)
    assert step.contact.name == "María Pérez"
    assert step.contact.language == "eng"
    alert = of_type(step, AlertRaised)[0]
    assert (alert.reason, alert.input) == ("Sangrado: tengo sangrado", "tengo sangrado")
    assert step.messages == ["Hola María, grupos: Embarazadas"]


def test_unsupported_actions_and_template_errors_are_reported_and_the_flow_goes_on() -> None:
    flow = kit.flow(
        "F",
        kit.say(
            "a",
            model.UnsupportedAction("u", "open_ticket", {"type": "open_ticket"}),
            kit.send("Total: @(1 / 0) fin", "m"),
        ),
    )
    step = start(flow)
    errors = [e.text for e in of_type(step, ErrorEvent)]
    assert "'open_ticket' is not supported" in errors[0]
    assert errors[1].startswith("error evaluating @(1 / 0)")
    assert step.messages == ["Total:  fin"]


WEBHOOK = kit.flow(
    "Consulta",
    kit.ask(
        "w",
        model.CallWebhook(
            "call",
            "post",
            "https://example.org/c?q=@input.text",
            {"X-Id": "@contact.uuid"},
            '{"n": 1}',
            "Consulta",
        ),
        cases=[("has_only_text", ["Success"], "Success", "ok")],
        other="bad",
        operand="@results.consulta.category",
        wait=False,
    ),
    kit.say("ok", kit.send("Tu clínica: @webhook.json.clinica", "ok-m")),
    kit.say("bad", kit.send("No pudimos consultar", "bad-m")),
)


def test_a_webhook_is_an_event_and_the_session_waits_for_its_response() -> None:
    step = start(WEBHOOK, msg=engine.Msg("a b&c=d"))
    call = of_type(step, WebhookCalled)[0]
    assert call.method == "POST"
    assert call.url == "https://example.org/c?q=a%20b%26c%3Dd"
    assert call.headers == {"X-Id": kit.contact().uuid}
    assert of_type(step, SessionWaiting)[0].kind == "webhook"
    # A reply while the webhook is pending does not move the session.
    assert isinstance(resume(step, engine.Msg("hola"), WEBHOOK).events[0], Ignored)
    done = resume(step, engine.WebhookResponse(200, '{"clinica": "Centro de Salud 3"}'), WEBHOOK)
    assert done.messages == ["Tu clínica: Centro de Salud 3"]
    failed = resume(step, engine.WebhookResponse(0), WEBHOOK)
    assert failed.messages == ["No pudimos consultar"]


def test_a_random_split_uses_the_random_source_it_is_given() -> None:
    split = model.Node(
        "r",
        (),
        model.Router(
            kind="random",
            categories=(model.Category("ca", "A", "ea"), model.Category("cb", "B", "eb")),
            result_name="Brazo",
        ),
        (model.Exit("ea", "a"), model.Exit("eb", "b")),
    )
    flow = kit.flow(
        "RCT", split, kit.say("a", kit.send("brazo A", "ma")), kit.say("b", kit.send("brazo B", "mb"))
    )
    assert start(flow, env=kit.env(rand=lambda: 0.2)).messages == ["brazo A"]
    step = start(flow, env=kit.env(rand=lambda: 0.99))
    assert step.messages == ["brazo B"]
    assert of_type(step, RunResultChanged)[0].value == "1"
    assert "random" in of_type(start(flow), FailureEvent)[0].text


def test_interrupting_ends_every_run() -> None:
    parent = parent_flow()
    step = start(parent, CHILD)
    assert step.session is not None
    ended = engine.interrupt(step.session, step.contact, assets=kit.assets(parent, CHILD))
    assert [e.type for e in ended.events] == ["run_ended", "run_ended", "session_ended"]
    assert ended.status == "interrupted"
    assert ended.session is None


def test_resuming_an_ended_session_is_ignored() -> None:
    step = start(ASK_NAME)
    assert step.session is not None
    ended = {**step.session, "status": "completed"}
    outcome = engine.resume(
        ended,
        kit.contact(),
        engine.Msg("x"),
        env=kit.env(),
        assets=kit.assets(ASK_NAME),
        ids=kit.counter_ids(),
    )
    assert isinstance(outcome.events[0], Ignored)
    assert outcome.session is None


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=10_000))
def test_any_reply_ends_waiting_completed_or_in_a_reported_failure(text: str) -> None:
    step = start(YES_NO)
    outcome = resume(step, engine.Msg(text), YES_NO)
    assert outcome.status in ("waiting", "completed")
    if outcome.status == "waiting":
        assert isinstance(outcome.events[-1], SessionWaiting)
    else:
        assert isinstance(outcome.events[-1], SessionEnded)


def test_quick_replies_are_written_out_for_a_basic_phone() -> None:
    flow = kit.flow("F", kit.ask("q", kit.send("¿Vas a ir?", "m", ["Sí", "No"]), cases=[], other=None))
    (message,) = of_type(start(flow), MsgCreated)
    assert message.quick_replies == ("Sí", "No")
    assert message.sms_text == "¿Vas a ir?\n(Sí / No)"


def test_a_keyword_start_does_not_answer_a_question_the_first_node_asks() -> None:
    flow = kit.flow(
        "Alta",
        kit.ask("k", kit.send("¿Cómo te llamas?", "q"), cases=[("has_text", [], "Nombre", "hi")], other=None),
        kit.say("hi", kit.send("Hola @results.nombre", "w")),
    )
    step = start(flow, msg=engine.Msg("ALTA"))
    assert step.messages == ["¿Cómo te llamas?"]
    assert step.status == "waiting"
