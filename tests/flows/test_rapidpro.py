"""The RapidPro importer: every fixture export, each action/router/campaign/trigger mapping as a table, the spec
migrations, hostile files, and a property: whatever JSON comes in, the only exception is ``FlowFileError``."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows import model
from flows.errors import FlowFileError
from flows.rapidpro import MAX_DEPTH, MAX_EXPORT_BYTES, ImportReport, import_export

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "rapidpro"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"fixture exports not found at {FIXTURES}")

Json = dict[str, Any]


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


# --- builders for small exports ---------------------------------------------------------------------------


def uid(n: int, kind: str = "0") -> str:
    return f"{kind * 8}-0000-4000-8000-{n:012d}"


def node(
    n: int, actions: list[Json] | None = None, router: Json | None = None, exits: list[Json] | None = None
) -> Json:
    built: Json = {"uuid": uid(n, "a"), "actions": actions or []}
    if router is not None:
        built["router"] = router
    built["exits"] = exits if exits is not None else [{"uuid": uid(n, "e"), "destination_uuid": None}]
    return built


def flow(*nodes: Json, name: str = "Prueba", spec: str = "13.1.0", n: int = 1, **extra: Any) -> Json:
    built: Json = {
        "uuid": uid(n, "f"),
        "name": name,
        "spec_version": spec,
        "language": "spa",
        "type": "messaging",
        "nodes": list(nodes) or [node(1)],
    }
    built.update(extra)
    return built


def export(*flows: Json, **extra: Any) -> Json:
    return {"version": "13", "site": "https://app.rapidpro.io", "flows": list(flows), **extra}


def one_action(action: Json, **flow_extra: Any) -> tuple[model.Action, ImportReport]:
    programme, report = import_export(export(flow(node(1, [action]), **flow_extra)), "test.json")
    return programme.flows[0].nodes[0].actions[0], report


def switch(
    *cases: tuple[str, list[str]], operand: str = "@input.text", wait: Json | None = None, **extra: Any
) -> Json:
    """A switch router whose cases go to categories 1..n and whose default is the last category."""
    categories = [
        {"uuid": uid(i, "c"), "name": f"Cat {i}", "exit_uuid": uid(i, "e")} for i in range(len(cases) + 1)
    ]
    router: Json = {
        "type": "switch",
        "operand": operand,
        "cases": [
            {"uuid": uid(i, "d"), "type": test, "arguments": arguments, "category_uuid": uid(i, "c")}
            for i, (test, arguments) in enumerate(cases)
        ],
        "categories": categories,
        "default_category_uuid": uid(len(cases), "c"),
    }
    if wait is not None:
        router["wait"] = wait
    router.update(extra)
    return router


def router_node(router: Json, actions: list[Json] | None = None) -> Json:
    exits = [{"uuid": category["exit_uuid"], "destination_uuid": None} for category in router["categories"]]
    return node(1, actions, router, exits)


def import_router(router: Json, **flow_extra: Any) -> tuple[model.Flow, ImportReport]:
    programme, report = import_export(export(flow(router_node(router), **flow_extra)), "test.json")
    return programme.flows[0], report


def refusal(data: Any, source: str = "export.json") -> str:
    with pytest.raises(FlowFileError) as caught:
        import_export(data, source)
    assert caught.value.problems, "a refusal says what is wrong"
    return str(caught.value)


def subjects(report: ImportReport) -> list[str]:
    return [entry.subject for entry in report.entries]


# --- the fixture files ------------------------------------------------------------------------------------


@needs_fixtures
def test_every_fixture_file_is_covered_below() -> None:
    covered = set(IMPORTS) | set(REFUSALS)
    assert {path.name for path in FIXTURES.glob("*.json")} == covered


IMPORTS = {
    "favorites_v13.json",
    "color_v13.json",
    "rating_10.json",
    "cataclysm.json",
    "campaign_import_with_translations.json",
}

REFUSALS = {
    "survey_campaign.json": ["legacy format", '"Survey One"', "export again", "open each flow"],
    "two_questions.json": ["goflow assets file", "not a RapidPro export"],
    "all_actions.json": ["goflow assets file", "not a RapidPro export"],
    "number_quiz.json": ["goflow assets file", "not a RapidPro export"],
    "random.json": ["router test case file", "not a RapidPro export"],
}


@needs_fixtures
@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_fixture_refused_with_a_clear_message(name: str) -> None:
    message = refusal((FIXTURES / name).read_bytes(), name)
    assert message.startswith(f"{name}: ")
    for words in REFUSALS[name]:
        assert words in message


@needs_fixtures
@pytest.mark.parametrize("name", sorted(IMPORTS))
def test_fixture_imports_text_and_parsed_alike(name: str) -> None:
    from_bytes = import_export((FIXTURES / name).read_bytes(), name)
    from_text = import_export((FIXTURES / name).read_text(encoding="utf-8"), name)
    from_json = import_export(fixture(name), name)
    assert from_bytes == from_text == from_json
    programme, report = from_bytes
    assert programme.name == name.removesuffix(".json")
    assert report.summary().startswith(f"{name}: imported ")
    for imported in programme.flows:
        assert imported.accent_insensitive is False


def localization_as_model(raw: Json) -> dict[str, dict[str, dict[str, tuple[str, ...]]]]:
    return {
        language: {
            item: {prop: tuple(values) for prop, values in props.items()} for item, props in items.items()
        }
        for language, items in raw.items()
    }


@needs_fixtures
def test_favorites_keeps_its_graph_translations_and_settings() -> None:
    raw = fixture("favorites_v13.json")["flows"][0]
    programme, report = import_export(fixture("favorites_v13.json"), "favorites_v13.json")
    (favorites,) = programme.flows
    assert (favorites.name, favorites.uuid, favorites.language) == ("Favorites", raw["uuid"], "eng")
    assert favorites.spec_version == "13.0.0"
    assert favorites.expire_after_minutes == 720
    assert favorites.localization == localization_as_model(raw["localization"])
    assert [n.uuid for n in favorites.nodes] == [n["uuid"] for n in raw["nodes"]]
    color = next(n for n in favorites.nodes if n.router is not None and n.router.result_name == "Color")
    assert color.router is not None
    assert color.router.wait == model.Wait()
    assert color.router.operand == "@input"
    assert [c.test for c in color.router.cases] == ["has_any_word"] * 5
    assert [c.arguments for c in color.router.cases][:2] == [("Red",), ("Green",)]
    assert programme.languages == ("eng", "spa")
    assert report.entries == ()


@needs_fixtures
def test_color_base_language_becomes_und_and_french_stays() -> None:
    raw = fixture("color_v13.json")["flows"][0]
    programme, _ = import_export(fixture("color_v13.json"), "color_v13.json")
    (colors,) = programme.flows
    assert colors.language == "und"
    assert colors.localization == localization_as_model(raw["localization"])
    assert programme.languages == ("fra",)


@needs_fixtures
def test_rating_old_keyword_trigger_and_number_router() -> None:
    programme, report = import_export(fixture("rating_10.json"), "rating_10.json")
    (rate,) = programme.flows
    assert programme.triggers == (
        model.Trigger(kind="keyword", flow=model.FlowRef(rate.uuid, "Rate us"), keywords=("rating",)),
    )
    router = rate.nodes[2].router
    assert router is not None
    assert [c.test for c in router.cases] == ["has_number"]
    assert router.result_name == "Result 1"
    assert report.counts.triggers == 1


@needs_fixtures
def test_cataclysm_fields_groups_and_unsupported_actions_by_node() -> None:
    programme, report = import_export(fixture("cataclysm.json"), "cataclysm.json")
    assert programme.fields == (
        model.FieldDef("likes_cats", "Really Likes Cats", "text"),
        model.FieldDef("facts_per_day", "Facts-Per-Day", "number"),
    )
    assert [g.name for g in programme.groups] == [
        "Cat Alerts",
        "Cat Facts",
        "Cat Blasts",
        "Cat Fanciers",
        "Catnado",
    ]
    smart = [e for e in report.entries if "smart group" in e.message]
    assert [e.subject for e in smart] == ['group "Cat Blasts"', 'group "Cat Fanciers"']
    unsupported = report.of("unsupported")
    assert [(e.flow, e.subject) for e in unsupported] == [
        ("Cataclysmic", "action set_contact_channel"),
        ("Cataclysmic", "action send_broadcast"),
        ("Cataclysmic", "action start_session"),
    ]
    cataclysmic = programme.flows[0]
    kept = {
        a.action_type: (n.uuid, a)
        for n in cataclysmic.nodes
        for a in n.actions
        if isinstance(a, model.UnsupportedAction)
    }
    for entry in unsupported:
        action_type = entry.subject.removeprefix("action ")
        assert kept[action_type][0] == entry.node
        assert kept[action_type][1].raw["type"] == action_type
    router = cataclysmic.nodes[0].router
    assert router is not None
    assert router.operand == "@contact.groups"
    assert router.cases[0].test == "has_group"
    assert router.cases[0].arguments == ("c7bc1eef-b7aa-4959-ab90-3e33e0d3b1f9", "Cat Facts")


@needs_fixtures
def test_campaign_only_export_with_translations() -> None:
    programme, report = import_export(fixture("campaign_import_with_translations.json"), "c.json")
    (campaign,) = programme.campaigns
    assert campaign.name == "When"
    assert campaign.group == model.GroupRef("2ebabf9e-5974-4958-a34b-7e91769e80e9", "Group Chat")
    assert campaign.events == (
        model.CampaignEvent(
            uuid="baf793c2-f020-4af9-b916-85ccbaa9d427",
            relative_to="enrolled",
            offset=15,
            unit="days",
            delivery_hour=None,
            message={"swa": "hello", "eng": "Hey"},
            start_mode="interrupt",
            base_language="swa",
        ),
    )
    assert programme.fields == (model.FieldDef("enrolled", "enrolled", "datetime"),)
    assert programme.groups == (campaign.group,)
    assert programme.languages == ("swa", "eng")
    assert "legacy export without flows" in report.render()


# Real flows from goflow's assets files, put in an export envelope: the flows themselves are spec 13 flows.


@needs_fixtures
def test_two_questions_wait_timeout_webhook_and_translations() -> None:
    assets = fixture("two_questions.json")
    programme, _report = import_export(export(*assets["flows"]), "two_questions.json")
    (two,) = programme.flows
    first = two.nodes[0].router
    assert first is not None
    assert first.wait == model.Wait(model.Timeout(600, "1024833c-91aa-4873-a3b5-3bac1ef55812"))
    webhook_node = next(n for n in two.nodes if any(isinstance(a, model.CallWebhook) for a in n.actions))
    call, after = webhook_node.actions
    assert isinstance(call, model.CallWebhook)
    assert call.method == "POST"
    assert call.body == '{ "contact": @(json(contact.uuid)), "soda": @(json(results.soda.value)) }'
    assert isinstance(after, model.SendMsg)
    assert after.text.endswith("Webhook status was @results.webhook.value")
    assert webhook_node.router is None
    raw = assets["flows"][0]["localization"]["fra"]
    assert two.localization["fra"]["e97cd6d5-3354-4dbd-85bc-6c1f87849eec"]["text"] == tuple(
        raw["e97cd6d5-3354-4dbd-85bc-6c1f87849eec"]["text"]
    )


@needs_fixtures
def test_all_actions_maps_or_reports_every_action() -> None:
    assets = fixture("all_actions.json")
    programme, report = import_export(
        export(*assets["flows"], fields=[], groups=assets["groups"]), "all.json"
    )
    actions = programme.flows[0].nodes[0].actions
    raw_types = [a["type"] for a in assets["flows"][0]["nodes"][0]["actions"]]
    assert len(actions) == len(raw_types)
    kinds = [a.action_type if isinstance(a, model.UnsupportedAction) else a.type for a in actions]
    assert kinds == raw_types
    unsupported = sorted({e.subject for e in report.of("unsupported") if e.flow == "All Actions"})
    assert unsupported == [
        "action add_contact_groups",  # the name_match group
        "action add_contact_urn",
        "action add_input_labels",  # the name_match label
        "action enter_flow",  # enters "Registration Flow", which has no nodes and is left out
        "action send_broadcast",
        "action send_email",
        "action set_contact_channel",
        "action set_run_local",
        "action start_session",
    ]
    for entry in report.of("unsupported")[1:]:
        assert entry.node == programme.flows[0].nodes[0].uuid
        assert entry.flow == "All Actions"
    changed = " ".join(e.message for e in report.of("changed"))
    assert "attachments are not sent" in changed
    assert "phone number only" in changed
    assert programme.flows[0].localization["spa"]["ac110f56-a66c-4462-921c-b2c6d1c6dadb"] == {
        "text": ("Hola @contact.name, ¿estás listo?",)
    }
    assert [f.name for f in programme.flows] == ["All Actions"]
    assert report.about_flow("Registration Flow")[0].subject == "empty flow"
    # the field that set_contact_field writes is declared, as RapidPro creates it
    assert "activation_token" in {f.key for f in programme.fields}


@needs_fixtures
def test_number_quiz_visit_count_router() -> None:
    assets = fixture("number_quiz.json")
    programme, report = import_export(export(*assets["flows"]), "quiz.json")
    routers = [n.router for n in programme.flows[0].nodes if n.router is not None]
    retry = next(r for r in routers if r.operand == "@node.visit_count")
    assert [(c.test, c.arguments) for c in retry.cases] == [("has_number_gte", ("3",))]
    assert report.of("unsupported") == ()


# --- actions, as tables -----------------------------------------------------------------------------------

U = uid(9, "b")
SUPPORTED_ACTIONS: list[tuple[Json, model.Action]] = [
    (
        {"type": "send_msg", "text": "Hola @contact.name", "quick_replies": ["Sí", "No"], "attachments": []},
        model.SendMsg(U, "Hola @contact.name", ("Sí", "No")),
    ),
    ({"type": "send_msg", "text": "Hola"}, model.SendMsg(U, "Hola")),
    (
        {
            "type": "set_contact_field",
            "field": {"key": "due_date", "name": "Due Date"},
            "value": "@results.fecha",
        },
        model.SetContactField(U, "due_date", "Due Date", "@results.fecha"),
    ),
    ({"type": "set_contact_name", "name": "@results.nombre"}, model.SetContactName(U, "@results.nombre")),
    ({"type": "set_contact_language", "language": "eng"}, model.SetContactLanguage(U, "eng")),
    ({"type": "set_contact_status", "status": "stopped"}, model.SetContactStatus(U, "stopped")),
    ({"type": "set_contact_status", "status": "active"}, model.SetContactStatus(U, "active")),
    ({"type": "set_contact_status", "status": "blocked"}, model.SetContactStatus(U, "blocked")),
    (
        {"type": "set_contact_timezone", "timezone": "America/Cancun"},
        model.SetContactTimezone(U, "America/Cancun"),
    ),
    (
        {"type": "set_run_result", "name": "Gender", "value": "m", "category": "Male"},
        model.SetRunResult(U, "Gender", "m", "Male"),
    ),
    ({"type": "set_run_result", "name": "Edad", "value": "@input"}, model.SetRunResult(U, "Edad", "@input")),
    (
        {"type": "add_contact_groups", "groups": [{"uuid": uid(1, "9"), "name": "Embarazadas"}]},
        model.AddContactGroups(U, (model.GroupRef(uid(1, "9"), "Embarazadas"),)),
    ),
    (
        {"type": "remove_contact_groups", "groups": [{"uuid": uid(1, "9"), "name": "Embarazadas"}]},
        model.RemoveContactGroups(U, (model.GroupRef(uid(1, "9"), "Embarazadas"),)),
    ),
    (
        {"type": "remove_contact_groups", "all_groups": True},
        model.RemoveContactGroups(U, (), all_groups=True),
    ),
    (
        {
            "type": "call_webhook",
            "method": "post",
            "url": "https://clinica.example/api?c=@contact.uuid",
            "headers": {"Authorization": "Token abc"},
            "body": "@(json(results))",
            "result_name": "Respuesta",
        },
        model.CallWebhook(
            U,
            "POST",
            "https://clinica.example/api?c=@contact.uuid",
            {"Authorization": "Token abc"},
            "@(json(results))",
            "Respuesta",
        ),
    ),
    ({"type": "call_webhook", "method": "GET", "url": "http://x"}, model.CallWebhook(U, "GET", "http://x")),
    (
        {"type": "add_input_labels", "labels": [{"uuid": uid(2, "9"), "name": "Urgente"}]},
        model.AddInputLabels(U, ("Urgente",)),
    ),
]


@pytest.mark.parametrize(("raw", "expected"), SUPPORTED_ACTIONS, ids=lambda v: getattr(v, "type", ""))
def test_action_mapping(raw: Json, expected: model.Action) -> None:
    action, report = one_action({"uuid": U, **raw})
    assert action == expected
    assert report.of("unsupported") == ()


def test_enter_flow_resolves_to_a_flow_of_the_export() -> None:
    target = flow(name="Semana a semana", n=2)
    enter = {
        "uuid": U,
        "type": "enter_flow",
        "flow": {"uuid": target["uuid"], "name": "Semana a semana"},
        "terminal": True,
    }
    programme, report = import_export(export(flow(node(1, [enter])), target), "x.json")
    assert programme.flows[0].nodes[0].actions[0] == model.EnterFlow(
        U, model.FlowRef(target["uuid"], "Semana a semana"), True
    )
    # the uuid finds the flow first, whatever name the reference has
    enter["flow"] = {"uuid": target["uuid"], "name": "Old name"}
    programme, _ = import_export(export(flow(node(1, [enter])), target), "x.json")
    assert programme.flows[0].nodes[0].actions[0] == model.EnterFlow(
        U, model.FlowRef(target["uuid"], "Semana a semana"), True
    )
    # from another workspace the uuid differs, and the name finds the flow, as RapidPro does
    enter["flow"] = {"uuid": uid(99, "f"), "name": "semana a SEMANA"}
    programme, _ = import_export(export(flow(node(1, [enter])), target), "x.json")
    entered = programme.flows[0].nodes[0].actions[0]
    assert isinstance(entered, model.EnterFlow)
    assert entered.flow.uuid == target["uuid"]
    assert report.of("unsupported") == ()


UNSUPPORTED_ACTIONS: list[Json] = [
    {"type": "send_broadcast", "text": "Hola", "urns": ["tel:+525512345678"]},
    {"type": "start_session", "flow": {"uuid": uid(1, "f"), "name": "Prueba"}, "groups": []},
    {"type": "send_email", "addresses": ["a@b.mx"], "subject": "s", "body": "b"},
    {"type": "add_contact_urn", "scheme": "tel", "path": "+5255"},
    {"type": "set_contact_channel", "channel": {"uuid": uid(1, "7"), "name": "Modem"}},
    {"type": "set_run_local", "local": "n", "value": "1", "operation": "increment"},
    {"type": "call_resthook", "resthook": "nueva", "result_name": "r"},
    {"type": "open_ticket", "topic": {"uuid": uid(1, "6"), "name": "General"}, "note": "x"},
    {"type": "transfer_airtime", "amounts": {"MXN": 50}},
    {
        "type": "call_llm",
        "llm": {"uuid": uid(1, "5"), "name": "x"},
        "instructions": "i",
        "input": "@input",
        "output_local": "o",
    },
    {"type": "call_classifier", "classifier": {"uuid": uid(1, "4"), "name": "c"}, "input": "@input"},
    {"type": "request_optin", "optin": {"uuid": uid(1, "3"), "name": "o"}},
    {"type": "say_msg", "text": "Hola"},
    {"type": "play_audio", "audio_url": "http://x/a.mp3"},
    {"type": "some_future_action", "whatever": [1, {"nested": True}]},
    {"type": "set_contact_status", "status": "archived"},
    {"type": "add_contact_groups", "groups": [{"name_match": "@fields.clinica"}]},
    {"type": "remove_contact_groups", "groups": [{"name_match": "@fields.clinica"}]},
    {"type": "add_input_labels", "labels": [{"name_match": "@fields.clinica"}]},
    {"type": "enter_flow", "flow": {"uuid": uid(5, "f"), "name": "No existe"}},
]


@pytest.mark.parametrize("raw", UNSUPPORTED_ACTIONS, ids=lambda raw: raw["type"])
def test_unsupported_action_is_kept_raw_and_reported_by_flow_and_node(raw: Json) -> None:
    full = {"uuid": U, **raw}
    action, report = one_action(copy.deepcopy(full))
    assert action == model.UnsupportedAction(U, raw["type"], full)
    (entry,) = report.of("unsupported")
    assert (entry.severity, entry.subject, entry.flow, entry.node) == (
        "unsupported",
        f"action {raw['type']}",
        "Prueba",
        uid(1, "a"),
    )
    assert "will not run" in entry.message
    rendered = report.render()
    assert f"node {uid(1, 'a')}: unsupported action {raw['type']}" in rendered


def test_send_msg_details_sms_cannot_carry_are_reported() -> None:
    raw = {
        "uuid": U,
        "type": "send_msg",
        "text": "Hola",
        "attachments": ["image/jpeg:https://x/y.jpg"],
        "quick_replies": [str(i) for i in range(12)],
        "all_urns": True,
        "templating": {"template": {"uuid": uid(1, "2"), "name": "t"}, "variables": []},
    }
    action, report = one_action(raw)
    assert isinstance(action, model.SendMsg)
    assert action.quick_replies == tuple(str(i) for i in range(10))
    assert sorted(subjects(report)) == ["all_urns", "attachments", "quick replies", "template"]
    assert all(e.severity == "changed" and e.node == uid(1, "a") for e in report.entries)


def test_long_result_names_are_cut_as_rapidpro_does() -> None:
    action, report = one_action(
        {"uuid": U, "type": "set_run_result", "name": "x" * 70, "value": "1", "category": "c" * 40}
    )
    assert action == model.SetRunResult(U, "x" * 64, "1", "c" * 36)
    assert subjects(report) == ["result name"]


def test_groups_named_by_actions_are_declared_and_matched_by_name() -> None:
    declared = {"uuid": uid(1, "9"), "name": "Embarazadas", "query": None}
    add = {
        "uuid": U,
        "type": "add_contact_groups",
        "groups": [{"uuid": uid(7, "9"), "name": "embarazadas"}, {"uuid": uid(8, "9"), "name": "Nueva"}],
    }
    programme, _ = import_export(export(flow(node(1, [add])), groups=[declared]), "x.json")
    assert programme.groups == (
        model.GroupRef(uid(1, "9"), "Embarazadas"),
        model.GroupRef(uid(8, "9"), "Nueva"),
    )
    action = programme.flows[0].nodes[0].actions[0]
    assert isinstance(action, model.AddContactGroups)
    assert action.groups == programme.groups


# --- routers, cases and waits -----------------------------------------------------------------------------

KNOWN_CASES = [
    ("has_text", []),
    ("has_only_text", ["completed"]),
    ("has_any_word", ["sí si yes"]),
    ("has_all_words", ["dolor cabeza"]),
    ("has_phrase", ["me duele"]),
    ("has_only_phrase", ["sí"]),
    ("has_beginning", ["baja"]),
    ("has_pattern", ["^[0-9]{5}$"]),
    ("has_number", []),
    ("has_number_between", ["1", "40"]),
    ("has_number_lt", ["5"]),
    ("has_number_lte", ["5"]),
    ("has_number_eq", ["5"]),
    ("has_number_gte", ["5"]),
    ("has_number_gt", ["5"]),
    ("has_date", []),
    ("has_date_lt", ["@(today())"]),
    ("has_date_eq", ["@(today())"]),
    ("has_date_gt", ["@(today())"]),
    ("has_time", []),
    ("has_phone", ["MX"]),
    ("has_email", []),
    ("has_group", [uid(1, "9"), "Embarazadas"]),
    ("has_category", ["Sí", "No"]),
    ("has_error", []),
    ("has_value", []),
]


@pytest.mark.parametrize(("test", "arguments"), KNOWN_CASES)
def test_known_router_tests_carry_over(test: str, arguments: list[str]) -> None:
    imported, report = import_router(switch((test, arguments), wait={"type": "msg"}, result_name="Respuesta"))
    router = imported.nodes[0].router
    assert router is not None
    assert (router.kind, router.operand, router.result_name, router.wait) == (
        "switch",
        "@input.text",
        "Respuesta",
        model.Wait(),
    )
    assert router.cases == (model.Case(uid(0, "d"), test, tuple(arguments), uid(0, "c")),)
    assert router.default_category_uuid == uid(1, "c")
    assert [c.name for c in router.categories] == ["Cat 0", "Cat 1"]
    assert report.of("unsupported") == ()


@pytest.mark.parametrize(
    "test", ["has_state", "has_district", "has_ward", "has_intent", "has_top_intent", "has_magic"]
)
def test_unknown_router_tests_are_kept_and_reported(test: str) -> None:
    imported, report = import_router(switch((test, ["x"]), ("has_text", [])))
    router = imported.nodes[0].router
    assert router is not None
    assert router.cases[0].test == test
    (entry,) = report.of("unsupported")
    assert (entry.subject, entry.node) == (f"test {test}", uid(1, "a"))
    assert uid(0, "d") in entry.message
    assert not any(test in e.message for e in report.of("problem")), "validation does not repeat it"


@pytest.mark.parametrize(
    "test",
    [
        "has_any_word",
        "has_all_words",
        "has_phrase",
        "has_only_phrase",
        "has_beginning",
        "has_only_text",
        "has_pattern",
    ],
)
def test_text_tests_with_several_arguments_get_one_as_in_spec_14_3_1(test: str) -> None:
    router = switch((test, ["coke", "coca cola"]))
    raw_flow = flow(router_node(router), localization={"eng": {uid(0, "d"): {"arguments": ["coke", "cola"]}}})
    programme, _ = import_export(export(raw_flow), "x.json")
    imported_router = programme.flows[0].nodes[0].router
    assert imported_router is not None
    assert imported_router.cases[0].arguments == ("coke coca cola",)
    assert programme.flows[0].localization["eng"][uid(0, "d")]["arguments"] == ("coke cola",)


def test_random_router() -> None:
    categories = [{"uuid": uid(i, "c"), "name": f"Bucket {i}", "exit_uuid": uid(i, "e")} for i in range(3)]
    imported, report = import_router({"type": "random", "result_name": "Grupo", "categories": categories})
    router = imported.nodes[0].router
    assert router == model.Router(
        kind="random",
        categories=tuple(model.Category(uid(i, "c"), f"Bucket {i}", uid(i, "e")) for i in range(3)),
        result_name="Grupo",
    )
    assert report.entries == ()


def test_wait_with_timeout() -> None:
    router = switch(
        ("has_text", []), wait={"type": "msg", "timeout": {"seconds": 7200, "category_uuid": uid(1, "c")}}
    )
    imported, _ = import_router(router)
    assert imported.nodes[0].router is not None
    assert imported.nodes[0].router.wait == model.Wait(model.Timeout(7200, uid(1, "c")))


@pytest.mark.parametrize(
    ("wait", "subject", "severity"),
    [
        ({"type": "dial", "phone": "+52"}, "wait dial", "unsupported"),
        ({"type": "msg", "hint": {"type": "image"}}, "wait hint", "changed"),
        ({"type": "msg", "hint": {"type": "digits", "count": 1}}, "wait hint", "changed"),
    ],
)
def test_waits_sms_cannot_do_are_reported(wait: Json, subject: str, severity: str) -> None:
    imported, report = import_router(switch(("has_text", []), wait=wait))
    assert imported.nodes[0].router is not None
    assert imported.nodes[0].router.wait == model.Wait()
    (entry,) = report.entries
    assert (entry.subject, entry.severity, entry.node) == (subject, severity, uid(1, "a"))


def test_empty_and_long_category_names() -> None:
    router = switch(("has_text", []))
    router["categories"][0]["name"] = ""
    router["categories"][1]["name"] = "y" * 50
    imported, _ = import_router(router, spec="13.5.0")
    assert imported.nodes[0].router is not None
    assert [c.name for c in imported.nodes[0].router.categories] == ["Match", "y" * 36]


# --- spec migrations --------------------------------------------------------------------------------------

WEBHOOK_ACTION = {
    "uuid": U,
    "type": "call_webhook",
    "method": "GET",
    "url": "http://x",
    "result_name": "Resultado",
}


def webhook_router_flow(spec: str, operand: str, cases: list[tuple[str, list[str]]]) -> Json:
    router = switch(*cases, operand=operand)
    localization = {"eng": {uid(0, "d"): {"arguments": ["Éxito"]}}}
    return flow(router_node(router, [dict(WEBHOOK_ACTION)]), spec=spec, localization=localization)


@pytest.mark.parametrize(
    ("spec", "operand", "cases"),
    [
        ("13.0.0", "@results.resultado.category", [("has_only_text", ["Success"])]),
        (
            "13.2.0",
            "@results.resultado.category",
            [("has_only_text", ["Success"]), ("has_only_text", ["Failure"])],
        ),
        ("13.6.1", "@webhook.json.status", [("has_text", [])]),
        ("14.1.0", "@webhook.status", [("has_number_between", ["200", "299"])]),
    ],
)
def test_webhook_routers_of_every_spec_become_the_current_form(
    spec: str, operand: str, cases: list[tuple[str, list[str]]]
) -> None:
    programme, _ = import_export(export(webhook_router_flow(spec, operand, cases)), "x.json")
    imported = programme.flows[0]
    router = imported.nodes[0].router
    assert router is not None
    assert router.operand == "@(default(webhook.status, 0))"
    assert router.cases == (model.Case(uid(0, "d"), "has_number_between", ("200", "299"), uid(0, "c")),)
    assert imported.localization["eng"] == {}


def test_webhook_router_of_spec_14_4_1_only_gains_default_and_14_4_2_is_left_alone() -> None:
    raw = webhook_router_flow("14.4.1", "@webhook.status", [("has_number_between", ["200", "299"])])
    programme, _ = import_export(export(raw), "x.json")
    router = programme.flows[0].nodes[0].router
    assert router is not None
    assert router.operand == "@(default(webhook.status, 0))"
    assert programme.flows[0].localization["eng"] == {uid(0, "d"): {"arguments": ("Éxito",)}}
    raw = webhook_router_flow(
        "14.4.2", "@(default(webhook.status, 0))", [("has_number_between", ["200", "299"])]
    )
    programme, _ = import_export(export(raw), "x.json")
    assert programme.flows[0].nodes[0].router == router


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "13.0.0",
            'Body: @webhook.json and @webhook.json.id, @(upper(webhook.json.name)), @@webhook, "webhook"',
        ),
        (
            "13.2.0",
            'Body: @webhook.json and @webhook.json.id, @(upper(webhook.json.name)), @@webhook, "webhook"',
        ),
        ("13.3.0", 'Body: @webhook and @webhook.id, @(upper(webhook.name)), @@webhook, "webhook"'),
        ("14.0.0", 'Body: @webhook and @webhook.id, @(upper(webhook.name)), @@webhook, "webhook"'),
    ],
)
def test_webhook_references_gain_json_before_spec_13_3(spec: str, expected: str) -> None:
    text = 'Body: @webhook and @webhook.id, @(upper(webhook.name)), @@webhook, "webhook"'
    raw = flow(
        node(1, [{"uuid": U, "type": "send_msg", "text": text}]),
        spec=spec,
        localization={"eng": {U: {"text": [text]}}},
    )
    programme, _ = import_export(export(raw), "x.json")
    assert programme.flows[0].nodes[0].actions[0] == model.SendMsg(U, expected)
    assert programme.flows[0].localization["eng"][U]["text"] == (expected,)


def test_long_result_lookups_are_cut_before_spec_13_6_1() -> None:
    long_name = "Pregunta " * 9  # 81 characters, cut to 64 by 13.6.0
    key = long_name.strip().lower().replace(" ", "_")
    result = {"uuid": uid(2, "b"), "type": "set_run_result", "name": long_name, "value": "1"}
    send = {"uuid": U, "type": "send_msg", "text": f"@results.{key} @(results.{key}.category)"}
    for spec, cut in (("13.5.0", True), ("13.6.1", False)):
        programme, _ = import_export(export(flow(node(1, [result, send]), spec=spec)), "x.json")
        text = programme.flows[0].nodes[0].actions[1]
        assert isinstance(text, model.SendMsg)
        short = key[:64].rstrip("_") if cut else key
        assert text.text == f"@results.{short} @(results.{short}.category)"


def test_language_and_translation_keys_that_are_not_iso_639_3() -> None:
    localization = {
        "base": {U: {"text": ["x"]}},
        "und": {U: {"text": ["y"]}},
        "fra": {U: {"text": ["Bonjour"]}},
        "en": {U: {"text": ["z"]}},
    }
    raw = flow(
        node(1, [{"uuid": U, "type": "send_msg", "text": "Hola"}]), language="base", localization=localization
    )
    programme, report = import_export(export(raw), "x.json")
    assert programme.flows[0].language == "und"
    assert programme.flows[0].localization == {"fra": {U: {"text": ("Bonjour",)}}}
    assert sorted(e.message.split("'")[1] for e in report.entries if e.subject == "translation") == [
        "base",
        "en",
        "und",
    ]


@pytest.mark.parametrize(
    ("flow_type", "raw_expire", "expected_type", "expected_expire", "reported"),
    [
        ("messaging", 720, "messaging", 720, []),
        ("messaging", 43200, "messaging", 20160, ["expiry"]),
        ("messaging", 0, "messaging", 10080, ["expiry"]),
        ("messaging_background", 43200, "messaging_background", 43200, []),
        ("messaging_offline", 720, "messaging", 720, ["flow type messaging_offline"]),
        ("voice", 5, "messaging", 5, ["flow type voice"]),
    ],
)
def test_flow_types_and_expiry(
    flow_type: str, raw_expire: int, expected_type: str, expected_expire: int, reported: list[str]
) -> None:
    raw = flow(type=flow_type, expire_after_minutes=raw_expire)
    programme, report = import_export(export(raw), "x.json")
    imported = programme.flows[0]
    assert (imported.type, imported.expire_after_minutes) == (expected_type, expected_expire)
    assert [e.subject for e in report.entries if e.severity != "problem"] == reported
    assert all(e.flow == "Prueba" and e.node is None for e in report.entries)


def test_flow_without_expiry_or_type_gets_the_defaults() -> None:
    raw = flow()
    del raw["type"]
    programme, _ = import_export(export(raw), "x.json")
    assert (programme.flows[0].type, programme.flows[0].expire_after_minutes) == ("messaging", 10080)


def test_editor_layout_metadata_and_translation_bookkeeping_are_ignored() -> None:
    raw = flow(
        node(1, [{"uuid": U, "type": "send_msg", "text": "Hola"}]),
        _ui={"nodes": {}},
        metadata={"revision": 3},
        revision=9,
        localization={"eng": {U: {"text": ["Hi"], "_ui": {"auto_translated": ["text"]}}}},
    )
    programme, report = import_export(export(raw), "x.json")
    assert programme.flows[0].localization == {"eng": {U: {"text": ("Hi",)}}}
    assert report.entries == ()


# --- fields and groups ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_type", "value_type", "reported"),
    [
        ("text", "text", False),
        ("number", "number", False),
        ("datetime", "datetime", False),
        ("state", "text", True),
        ("district", "text", True),
        ("ward", "text", True),
        ("T", "text", False),
        ("N", "number", False),
        ("D", "datetime", False),
        ("gps", "text", True),
    ],
)
def test_field_types(raw_type: str, value_type: str, reported: bool) -> None:
    programme, report = import_export(export(fields=[{"key": "k", "name": "K", "type": raw_type}]), "x.json")
    assert programme.fields == (model.FieldDef("k", "K", value_type),)  # type: ignore[arg-type]
    assert bool(report.entries) == reported


def test_old_field_form_with_label_and_value_type() -> None:
    programme, _ = import_export(
        export(fields=[{"key": "fpp", "label": "Fecha", "value_type": "D"}]), "x.json"
    )
    assert programme.fields == (model.FieldDef("fpp", "Fecha", "datetime"),)


def test_groups_static_and_smart() -> None:
    groups = [
        {"uuid": uid(1, "9"), "name": "A", "query": None},
        {"uuid": uid(2, "9"), "name": "B", "query": ""},
        {"uuid": uid(3, "9"), "name": "C", "query": "edad > 18"},
        {"name": "Sin uuid"},
    ]
    programme, report = import_export(export(groups=groups), "x.json")
    assert [g.name for g in programme.groups] == ["A", "B", "C", "Sin uuid"]
    assert programme.groups[3].uuid == import_export(export(groups=groups), "y.json")[0].groups[3].uuid
    (entry,) = report.entries
    assert entry.subject == 'group "C"'
    assert "edad > 18" in entry.message


# --- campaigns --------------------------------------------------------------------------------------------


def campaign_export(*events: Json, **extra: Any) -> Json:
    campaign = {
        "uuid": uid(1, "3"),
        "name": "Embarazo",
        "group": {"uuid": uid(1, "9"), "name": "Embarazadas"},
        "events": list(events),
    }
    return export(
        flow(name="Revisión"),
        fields=[{"key": "due_date", "name": "Due Date", "type": "datetime"}],
        groups=[{"uuid": uid(1, "9"), "name": "Embarazadas", "query": None}],
        campaigns=[campaign],
        **extra,
    )


def event(**overrides: Any) -> Json:
    built: Json = {
        "uuid": uid(1, "4"),
        "offset": -14,
        "unit": "D",
        "event_type": "M",
        "delivery_hour": 9,
        "relative_to": {"label": "Due Date", "key": "due_date"},
        "start_mode": "P",
        "message": {"spa": "Faltan dos semanas", "eng": "Two weeks to go"},
        "base_language": "spa",
    }
    built.update(overrides)
    return {key: value for key, value in built.items() if value is not DROP}


DROP = object()


def one_event(**overrides: Any) -> tuple[model.CampaignEvent | None, ImportReport]:
    programme, report = import_export(campaign_export(event(**overrides)), "x.json")
    events = programme.campaigns[0].events
    return (events[0] if events else None), report


@pytest.mark.parametrize(
    ("unit", "expected"), [("M", "minutes"), ("H", "hours"), ("D", "days"), ("W", "weeks")]
)
def test_campaign_units_m_is_minutes(unit: str, expected: str) -> None:
    imported, _ = one_event(unit=unit)
    assert imported is not None
    assert imported.unit == expected


@pytest.mark.parametrize(("hour", "expected"), [(-1, None), (0, 0), (9, 9), (23, 23), (DROP, None)])
def test_campaign_delivery_hour(hour: Any, expected: int | None) -> None:
    imported, _ = one_event(delivery_hour=hour)
    assert imported is not None
    assert imported.delivery_hour == expected


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("I", "interrupt"), ("S", "skip"), ("P", "passive"), (DROP, "interrupt"), (None, "interrupt")],
)
def test_campaign_start_modes_default_to_interrupt(mode: Any, expected: str) -> None:
    imported, _ = one_event(start_mode=mode)
    assert imported is not None
    assert imported.start_mode == expected


@pytest.mark.parametrize(
    ("message", "base", "expected_message", "expected_base"),
    [
        ({"spa": "Hola", "eng": "Hi"}, "spa", {"spa": "Hola", "eng": "Hi"}, "spa"),
        ('{"spa": "Hola", "eng": "Hi"}', "eng", {"spa": "Hola", "eng": "Hi"}, "eng"),
        ("Hola @contact.first_name", DROP, {"und": "Hola @contact.first_name"}, "und"),
        ({"base": "Hola"}, "base", {"und": "Hola"}, "und"),
        ({"swa": "hello", "eng": "Hey"}, "fra", {"swa": "hello", "eng": "Hey"}, "swa"),
        ("[1, 2]", DROP, {"und": "[1, 2]"}, "und"),
    ],
)
def test_campaign_message_forms(
    message: Any, base: Any, expected_message: dict[str, str], expected_base: str
) -> None:
    imported, _ = one_event(message=message, base_language=base)
    assert imported is not None
    assert (imported.message, imported.base_language, imported.flow) == (
        expected_message,
        expected_base,
        None,
    )


def test_campaign_flow_event_resolves_its_flow() -> None:
    data = campaign_export(
        event(event_type="F", message=None, flow={"uuid": uid(50, "f"), "name": "revisión"}, start_mode="S")
    )
    programme, report = import_export(data, "x.json")
    (imported,) = programme.campaigns[0].events
    assert imported.flow == model.FlowRef(uid(1, "f"), "Revisión")
    assert imported.message is None
    assert imported.start_mode == "skip"
    assert report.entries == ()


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        (
            {"event_type": "F", "message": None, "flow": {"uuid": uid(60, "f"), "name": "Otra"}},
            "not in this export",
        ),
        ({"unit": "Y"}, "unknown offset unit"),
        ({"delivery_hour": 24}, "delivery hour 24"),
        ({"start_mode": "X"}, "unknown start mode"),
        ({"message": ""}, "no text"),
        ({"message": {"spa": " "}}, "no text"),
        ({"event_type": "Z"}, "unknown event type"),
        ({"relative_to": {"key": "created_on", "label": "Created On"}}, "created_on"),
        ({"relative_to": {"key": "last_seen_on", "label": "Last Seen On"}}, "last_seen_on"),
    ],
)
def test_campaign_events_that_cannot_be_imported_are_reported(overrides: Json, why: str) -> None:
    imported, report = one_event(**overrides)
    assert imported is None
    (entry,) = report.of("unsupported")
    assert entry.subject == 'campaign "Embarazo" event 1'
    assert why in entry.message


def test_campaign_relative_to_undeclared_or_text_field_becomes_datetime() -> None:
    data = campaign_export(
        event(relative_to={"key": "birth_date", "label": "Birth Date"}),
        event(uuid=uid(2, "4"), relative_to={"key": "nota", "label": "Nota"}),
    )
    data["fields"].append({"key": "nota", "name": "Nota", "type": "text"})
    programme, report = import_export(data, "x.json")
    fields = {f.key: f for f in programme.fields}
    assert fields["birth_date"] == model.FieldDef("birth_date", "Birth Date", "datetime")
    assert fields["nota"].value_type == "datetime"
    assert [e.subject for e in report.of("changed")] == ["field nota"]


def test_campaign_event_without_uuid_or_event_type() -> None:
    imported, _ = one_event(uuid=DROP, event_type=DROP)
    again, _ = one_event(uuid=DROP, event_type=DROP)
    assert imported is not None
    assert again is not None
    assert imported.uuid == again.uuid
    assert imported.message == {"spa": "Faltan dos semanas", "eng": "Two weeks to go"}


def test_legacy_expressions_in_old_campaign_messages_are_pointed_out() -> None:
    data = {
        "version": "10",
        "campaigns": campaign_export(event(message="Hola @contact.first_name, @flow.edad"))["campaigns"],
        "flows": [],
    }
    programme, report = import_export(data, "x.json")
    assert programme.campaigns[0].events[0].message == {"und": "Hola @contact.first_name, @flow.edad"}
    assert any("legacy engine" in e.message for e in report.entries)


# --- triggers ---------------------------------------------------------------------------------------------


def trigger_export(*triggers: Json) -> Json:
    return export(
        flow(name="Registro"), triggers=list(triggers), groups=[{"uuid": uid(1, "9"), "name": "Embarazadas"}]
    )


REGISTRO = {"uuid": uid(1, "f"), "name": "Registro"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"trigger_type": "K", "flow": REGISTRO, "keywords": ["Alta", "registro"], "match_type": "F"},
            model.Trigger(
                "keyword", model.FlowRef(uid(1, "f"), "Registro"), ("alta", "registro"), "first_word"
            ),
        ),
        (
            {"trigger_type": "K", "flow": REGISTRO, "keywords": ["baja"], "match_type": "O"},
            model.Trigger("keyword", model.FlowRef(uid(1, "f"), "Registro"), ("baja",), "only_word"),
        ),
        (
            {"trigger_type": "K", "flow": REGISTRO, "keyword": "rating", "groups": []},
            model.Trigger("keyword", model.FlowRef(uid(1, "f"), "Registro"), ("rating",)),
        ),
        (
            {
                "trigger_type": "K",
                "flow": REGISTRO,
                "keywords": ["🤰"],
                "groups": [{"uuid": uid(1, "9"), "name": "Embarazadas"}],
                "exclude_groups": [{"name": "Salieron"}],
            },
            model.Trigger(
                "keyword",
                model.FlowRef(uid(1, "f"), "Registro"),
                ("🤰",),
                groups=(model.GroupRef(uid(1, "9"), "Embarazadas"),),
                exclude_groups=(model.GroupRef(model.GroupRef("", "").uuid or "", "Salieron"),),
            ),
        ),
        (
            {"trigger_type": "C", "flow": {"uuid": uid(9, "f"), "name": "registro"}, "channel": None},
            model.Trigger("catch_all", model.FlowRef(uid(1, "f"), "Registro")),
        ),
    ],
)
def test_trigger_mapping(raw: Json, expected: model.Trigger) -> None:
    programme, report = import_export(trigger_export(raw), "x.json")
    (imported,) = programme.triggers
    if expected.exclude_groups:  # a group named only by name gets a stable uuid and is declared
        (excluded,) = imported.exclude_groups
        assert excluded.name == "Salieron"
        assert excluded in programme.groups
        imported = model.Trigger(
            imported.kind, imported.flow, imported.keywords, imported.match, imported.groups
        )
        expected = model.Trigger(
            expected.kind, expected.flow, expected.keywords, expected.match, expected.groups
        )
    assert imported == expected
    assert report.entries == ()


@pytest.mark.parametrize("kind", ["S", "V", "M", "N", "R", "T", "I", "O", "Q"])
def test_other_trigger_types_are_reported(kind: str) -> None:
    programme, report = import_export(trigger_export({"trigger_type": kind, "flow": REGISTRO}), "x.json")
    assert programme.triggers == ()
    (entry,) = report.of("unsupported")
    assert entry.subject == f"trigger 1 ({kind})"
    assert entry.flow is None


def test_trigger_keywords_rapidpro_would_refuse_are_dropped() -> None:
    raw = {"trigger_type": "K", "flow": REGISTRO, "keywords": ["dos palabras", "x" * 17, "ok"]}
    programme, report = import_export(trigger_export(raw), "x.json")
    assert programme.triggers[0].keywords == ("ok",)
    assert len(report.of("changed")) == 2
    programme, report = import_export(trigger_export({**raw, "keywords": ["dos palabras"]}), "x.json")
    assert programme.triggers == ()
    assert "no valid keyword" in report.render()


def test_trigger_for_a_flow_not_in_the_export_and_channel_limit() -> None:
    missing = {"trigger_type": "K", "flow": {"uuid": uid(5, "f"), "name": "Otro"}, "keywords": ["x"]}
    channel = {"trigger_type": "C", "flow": REGISTRO, "channel": {"uuid": uid(1, "7"), "name": "Modem"}}
    programme, report = import_export(trigger_export(missing, channel), "x.json")
    assert [t.kind for t in programme.triggers] == ["catch_all"]
    assert [e.severity for e in report.entries] == ["unsupported", "changed"]


# --- the report -------------------------------------------------------------------------------------------


def test_report_renders_by_flow_with_node_then_programme_then_summary() -> None:
    first = flow(
        node(1, [{"uuid": U, "type": "send_email", "addresses": [], "subject": "", "body": ""}]), name="Uno"
    )
    second = flow(router_node(switch(("has_state", ["x"]))), name="Dos", n=2)
    data = export(first, second, groups=[{"uuid": uid(1, "9"), "name": "Lista", "query": "edad > 1"}])
    _, report = import_export(data, "prog.json")
    lines = report.render().splitlines()
    assert lines[0] == 'flow "Uno"'
    assert lines[1].startswith(f"  node {uid(1, 'a')}: unsupported action send_email: recado sends no email")
    assert lines[2] == 'flow "Dos"'
    assert lines[3].startswith(f"  node {uid(1, 'a')}: unsupported test has_state: case {uid(0, 'd')}")
    assert "programme" in lines
    assert lines[-1] == (
        "prog.json: imported 2 flows, 0 fields, 1 group, 0 campaigns (0 events), 0 triggers; "
        "2 unsupported, 1 changed, 0 problems, 0 warnings"
    )


def test_validation_findings_are_reported_not_raised() -> None:
    unreachable = node(2, [{"uuid": uid(2, "b"), "type": "send_msg", "text": "@(1 + )"}])
    programme, report = import_export(export(flow(node(1), unreachable)), "x.json")
    assert len(programme.flows[0].nodes) == 2
    problems = report.of("problem") + report.of("warning")
    assert {e.node for e in problems} == {uid(2, "a")}
    assert any("never be reached" in e.message for e in problems)
    assert any("syntax error" in e.message for e in problems)
    assert all(not e.message.startswith("node ") for e in problems)


# --- refusals: legacy, other files, newer specs -----------------------------------------------------------

LEGACY_FLOW = {
    "entry": uid(1, "a"),
    "action_sets": [],
    "rule_sets": [],
    "base_language": "eng",
    "flow_type": "F",
    "version": "11.4",
    "metadata": {"name": "Encuesta", "uuid": uid(1, "f")},
}


@pytest.mark.parametrize(
    "data",
    [
        {"version": "11.12", "flows": [LEGACY_FLOW]},
        {"version": 10, "flows": [LEGACY_FLOW]},
        {
            "version": "3",
            "flows": [
                {"name": "Encuesta", "definition": {"entry": "x", "action_sets": []}, "flow_type": "F"}
            ],
        },
        {"version": "13", "flows": [LEGACY_FLOW]},
        {
            "version": "8",
            "flows": [{"name": "Encuesta", "uuid": uid(1, "f"), "spec_version": "13.0.0", "nodes": []}],
        },
    ],
)
def test_legacy_exports_are_refused_with_how_to_reexport(data: Json) -> None:
    message = refusal(data)
    assert "legacy format" in message
    assert '"Encuesta"' in message
    assert "open each flow in the flow editor and save it, then export again" in message


def test_legacy_single_flow_and_legacy_spec_version() -> None:
    assert "legacy format" in refusal({"action_sets": [], "rule_sets": [], "entry": None})
    message = refusal(export(flow(spec="12.0.0")))
    assert "legacy format" in message
    assert "flows[0].spec_version" in message


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"flows": [], "channels": []}, "goflow assets file"),
        ({"flows": [], "fields": [{"uuid": "x", "key": "k"}]}, "goflow assets file"),
        ([{"description": "d", "router": {}}], "router test case file"),
        ([1, 2], "holds a JSON list"),
        ("just text", "holds text"),
        (42, "holds a number"),
        (None, "holds null"),
        ({"uuid": "x", "nodes": [], "spec_version": "13.0.0"}, "single flow definition"),
        ({"contacts": []}, "no 'version' key (top-level keys: contacts)"),
        ({}, "no 'version' key (top-level keys: none)"),
        ({"version": "trece", "flows": []}, "version: expected an export version"),
        ({"version": True, "flows": []}, "version: expected an export version"),
    ],
)
def test_files_that_are_not_exports_say_what_they_are(data: Any, words: str) -> None:
    assert words in refusal(json.dumps(data))


def test_spec_15_is_refused_and_export_version_14_is_a_warning() -> None:
    message = refusal(export(flow(spec="15.0.0")))
    assert "flow spec 15.0.0 is newer than recado understands" in message
    programme, report = import_export({**export(flow(spec="14.4.2")), "version": "14"}, "x.json")
    assert len(programme.flows) == 1
    assert "newer than the export versions" in report.render()


# --- hostile input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('{"version": "13", "flows": [}', 1, 29),
        ('{\n  "version": "13",\n  "flows": [\n    {"name": "x",}\n  ]\n}', 4, 18),
        ('{"version": "13"', 1, 17),
        ('{"version": NaN}', None, None),
        ('{"version": 1' + "0" * 5000 + "}", None, None),
    ],
)
def test_bad_json_is_located(text: str, line: int | None, column: int | None) -> None:
    with pytest.raises(FlowFileError) as caught:
        import_export(text, "bad.json")
    (problem,) = caught.value.problems
    assert (problem.source, problem.line, problem.column) == ("bad.json", line, column)
    assert problem.message.startswith("not valid JSON")


def test_encoding_problems() -> None:
    with pytest.raises(FlowFileError) as caught:
        import_export(b'{\n"version": "13", "x": "\xff"}', "latin.json")
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (2, 24)
    assert "not UTF-8" in problem.message
    assert "empty" in refusal(b"   \n")
    programme, _ = import_export("\ufeff" + json.dumps(export(flow())), "bom.json")
    assert len(programme.flows) == 1
    programme, _ = import_export(b"\xef\xbb\xbf" + json.dumps(export(flow())).encode(), "bom.json")
    assert len(programme.flows) == 1


def test_fifty_megabyte_file_is_refused_before_parsing() -> None:
    big = b'{"version": "13", "flows": [], "pad": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    message = refusal(big)
    assert "52.4 MB" in message
    assert f"{MAX_EXPORT_BYTES // (1024 * 1024)} MB" in message


def test_deep_nesting_is_refused_as_text_and_as_data() -> None:
    assert "nested more than" in refusal("[" * 200_000 + "]" * 200_000)
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 5):
        deep = {"x": deep}
    assert "nested more than" in refusal(export(flow(node(1, [{"uuid": U, "type": "x", "deep": deep}]))))
    assert "nested more than" in refusal(
        json.dumps(export(flow(node(1, [{"uuid": U, "type": "x", "deep": deep}]))))
    )


Mutation = Callable[[Json], None]


def base_export() -> Json:
    router = switch(
        ("has_any_word", ["sí"]),
        wait={"type": "msg", "timeout": {"seconds": 60, "category_uuid": uid(1, "c")}},
        result_name="R",
    )
    first = router_node(router, [{"uuid": U, "type": "send_msg", "text": "¿Sí?", "quick_replies": ["Sí"]}])
    return export(
        flow(first, localization={"eng": {U: {"text": ["Yes?"]}}}),
        fields=[{"key": "fpp", "name": "FPP", "type": "datetime"}],
        groups=[{"uuid": uid(1, "9"), "name": "G", "query": None}],
        campaigns=[
            {
                "uuid": uid(1, "3"),
                "name": "C",
                "group": {"uuid": uid(1, "9"), "name": "G"},
                "events": [event(relative_to={"key": "fpp", "label": "FPP"})],
            }
        ],
        triggers=[{"trigger_type": "K", "flow": {"uuid": uid(1, "f"), "name": "Prueba"}, "keywords": ["si"]}],
    )


def set_at(path: str, value: Any) -> Mutation:
    def mutate(data: Json) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return mutate


def delete_at(path: str) -> Mutation:
    def mutate(data: Json) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]

    return mutate


HOSTILE: list[tuple[str, Mutation, str]] = [
    ("flows not a list", set_at("flows", {"a": 1}), "flows: expected a list, found an object"),
    ("flow not an object", set_at("flows.0", "flow"), "flows[0]: expected an object, found text"),
    ("flow name missing", delete_at("flows.0.name"), "flows[0]: missing required key 'name'"),
    ("flow uuid a number", set_at("flows.0.uuid", 7), "flows[0].uuid: expected text, found a number"),
    ("spec missing", delete_at("flows.0.spec_version"), "flows[0].spec_version"),
    (
        "nodes text",
        set_at("flows.0.nodes", "n"),
        'flows[0].nodes (flow "Prueba"): expected a list, found text',
    ),
    ("nodes missing", delete_at("flows.0.nodes"), "missing required key 'nodes'"),
    (
        "node a list",
        set_at("flows.0.nodes.0", []),
        'flows[0].nodes[0] (flow "Prueba"): expected an object, found a list',
    ),
    ("exits missing", delete_at("flows.0.nodes.0.exits"), "missing required key 'exits'"),
    ("exits empty", set_at("flows.0.nodes.0.exits", []), "a node needs at least one exit"),
    (
        "action text a number",
        set_at("flows.0.nodes.0.actions.0.text", 5),
        'flows[0].nodes[0].actions[0].text (flow "Prueba", node ',
    ),
    ("action type missing", delete_at("flows.0.nodes.0.actions.0.type"), "missing required key 'type'"),
    ("quick replies numbers", set_at("flows.0.nodes.0.actions.0.quick_replies", [1]), "quick_replies[0]"),
    ("router type", set_at("flows.0.nodes.0.router.type", "loop"), "unknown router type 'loop'"),
    (
        "categories missing",
        delete_at("flows.0.nodes.0.router.categories"),
        "missing required key 'categories'",
    ),
    ("categories empty", set_at("flows.0.nodes.0.router.categories", []), "at least one category"),
    (
        "category exit dangling",
        set_at("flows.0.nodes.0.router.categories.0.exit_uuid", "nope"),
        "exit nope is not one of the node's exits",
    ),
    (
        "case category dangling",
        set_at("flows.0.nodes.0.router.cases.0.category_uuid", "nope"),
        "category nope is not one of",
    ),
    (
        "default dangling",
        set_at("flows.0.nodes.0.router.default_category_uuid", "nope"),
        "default category nope",
    ),
    ("case arguments text", set_at("flows.0.nodes.0.router.cases.0.arguments", "sí"), "cases[0].arguments"),
    ("operand missing", delete_at("flows.0.nodes.0.router.operand"), "missing required key 'operand'"),
    ("timeout seconds text", set_at("flows.0.nodes.0.router.wait.timeout.seconds", "60"), "timeout.seconds"),
    (
        "timeout negative",
        set_at("flows.0.nodes.0.router.wait.timeout.seconds", -5),
        "positive number of seconds",
    ),
    (
        "timeout dangling",
        set_at("flows.0.nodes.0.router.wait.timeout.category_uuid", "nope"),
        "category nope",
    ),
    ("wait type missing", delete_at("flows.0.nodes.0.router.wait.type"), 'router.wait (flow "Prueba", node'),
    (
        "destination dangling",
        set_at("flows.0.nodes.0.exits.0.destination_uuid", "nope"),
        "leads to nope, which is not a node",
    ),
    (
        "duplicate node",
        lambda d: d["flows"][0]["nodes"].append(copy.deepcopy(d["flows"][0]["nodes"][0])),
        "a second node with uuid",
    ),
    (
        "too many nodes",
        lambda d: d["flows"][0]["nodes"].extend([node(10 + i) for i in range(1001)]),
        "RapidPro allows at most 1000",
    ),
    (
        "too many actions",
        set_at("flows.0.nodes.0.actions", [{"uuid": U, "type": "send_msg", "text": "x"}] * 101),
        "at most 100",
    ),
    ("too many arguments", set_at("flows.0.nodes.0.router.cases.0.arguments", ["x"] * 11), "at most 10"),
    ("localization text", set_at("flows.0.localization.eng", "Yes?"), "localization.eng"),
    (
        "translation not list",
        set_at(f"flows.0.localization.eng.{U}.text", "Yes?"),
        f'localization.eng.{U}.text (flow "Prueba"): expected a list',
    ),
    ("expire text", set_at("flows.0.expire_after_minutes", "7d"), "expire_after_minutes"),
    ("duplicate flow name", lambda d: d["flows"].append(flow(n=2)), 'a second flow named "Prueba"'),
    ("duplicate flow uuid", lambda d: d["flows"].append(flow(name="Otro")), "a second flow with uuid"),
    ("empty flow name", set_at("flows.0.name", " "), "a flow needs a name"),
    ("field key missing", delete_at("fields.0.key"), "fields[0]: missing required key 'key'"),
    ("group name number", set_at("groups.0.name", 3), "groups[0].name"),
    ("campaign group missing", delete_at("campaigns.0.group"), "missing required key 'group'"),
    ("campaign group empty", set_at("campaigns.0.group", {}), "a group reference needs a uuid or a name"),
    ("campaign events object", set_at("campaigns.0.events", {}), 'events (campaign "C"): expected a list'),
    (
        "offset text",
        set_at("campaigns.0.events.0.offset", "-14"),
        'offset (campaign "C"): expected a whole number',
    ),
    ("offset bool", set_at("campaigns.0.events.0.offset", True), "expected a whole number, found true"),
    ("offset fraction", set_at("campaigns.0.events.0.offset", 1.5), "expected a whole number"),
    (
        "relative_to text",
        set_at("campaigns.0.events.0.relative_to", "fpp"),
        'relative_to (campaign "C"): expected an object',
    ),
    ("message list", set_at("campaigns.0.events.0.message", ["x"]), "expected the message as text"),
    ("message numbers", set_at("campaigns.0.events.0.message", {"spa": 1}), "languages and texts to be text"),
    ("trigger type number", set_at("triggers.0.trigger_type", 1), "triggers[0].trigger_type"),
    ("trigger keywords text", set_at("triggers.0.keywords", "si"), "triggers[0].keywords"),
    ("trigger flow missing", delete_at("triggers.0.flow"), "missing required key 'flow'"),
]


@pytest.mark.parametrize(
    ("mutate", "words"), [(m, w) for _, m, w in HOSTILE], ids=[name for name, _, _ in HOSTILE]
)
def test_wrong_types_and_missing_keys_are_located(mutate: Mutation, words: str) -> None:
    data = base_export()
    assert import_export(copy.deepcopy(data), "ok.json")  # the unmutated export imports
    mutate(data)
    message = refusal(data, "hostile.json")
    assert message.startswith("hostile.json: ")
    assert words in message


def test_float_offsets_that_are_whole_numbers_are_accepted() -> None:
    data = base_export()
    data["campaigns"][0]["events"][0]["offset"] = -14.0
    programme, _ = import_export(data, "x.json")
    assert programme.campaigns[0].events[0].offset == -14


# --- properties -------------------------------------------------------------------------------------------

KEYS = st.sampled_from(
    [
        "version",
        "flows",
        "fields",
        "groups",
        "campaigns",
        "triggers",
        "uuid",
        "name",
        "spec_version",
        "nodes",
        "actions",
        "exits",
        "router",
        "type",
        "text",
        "categories",
        "cases",
        "arguments",
        "localization",
        "wait",
        "timeout",
        "seconds",
        "category_uuid",
        "exit_uuid",
        "destination_uuid",
        "operand",
        "events",
        "unit",
        "offset",
        "relative_to",
        "key",
        "message",
        "flow",
        "keywords",
        "trigger_type",
        "group",
        "language",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(
        ["13", "13.0.0", "14.4.2", "11", "15.0", "send_msg", "switch", "msg", "K", "M", "D", "F", uid(1, "f")]
    ),
)
JSONISH = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(KEYS | st.text(max_size=5), children, max_size=6)
    ),
    max_leaves=40,
)


def attempt(data: Any) -> tuple[model.Programme, ImportReport] | FlowFileError:
    """The import's result, or its refusal; any other exception escapes and fails the test."""
    try:
        return import_export(data, "fuzz.json")
    except FlowFileError as exc:
        return exc


def assert_imported_or_refused(data: Any) -> None:
    outcome = attempt(data)
    if isinstance(outcome, FlowFileError):
        assert outcome.problems
        assert all(problem.source == "fuzz.json" and problem.message for problem in outcome.problems)
    else:
        programme, report = outcome
        assert isinstance(programme, model.Programme)
        assert report.summary().startswith("fuzz.json: imported ")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSONISH)
def test_arbitrary_json_raises_only_flow_file_error(value: Any) -> None:
    for data in (value, {"version": "13", "flows": value}, {"version": "13", "flows": [value]}):
        assert_imported_or_refused(json.dumps(data))
        assert_imported_or_refused(data)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


BASE_PATHS = _paths(base_export())[1:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(BASE_PATHS), JSONISH)
def test_a_real_export_with_any_part_replaced_raises_only_flow_file_error(
    path: tuple[Any, ...], value: Any
) -> None:
    data = base_export()
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert_imported_or_refused(data)


# --- template rewriting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("@webhook", "@webhook.json"),
        ("@WEBHOOK.id", "@webhook.json.id"),
        ("@(default(webhook, 0))", "@(default(webhook.json, 0))"),
        ('@(webhook.x & "webhook")', '@(webhook.json.x & "webhook")'),
        ("@(contact.webhook)", "@(contact.webhook)"),
        ("@(webhook(1))", "@(webhook(1))"),
        ("@(foreach(items, (webhook, i) => i))", "@(foreach(items, (webhook, i) => i))"),
        ("@@webhook and @webhookx", "@@webhook and @webhookx"),
        ("@(json(webhook)", "@(json(webhook)"),
        ("@(1 + + )", "@(1 + + )"),
        ("no expressions", "no expressions"),
        ("mail@example.com @contact.name @", "mail@example.com @contact.name @"),
    ],
)
def test_webhook_rename_touches_only_references_to_webhook(template: str, expected: str) -> None:
    from flows.rapidpro.templates import webhook_to_json

    assert webhook_to_json(template) == expected


# --- the API's edges --------------------------------------------------------------------------------------


def test_programme_name_and_languages() -> None:
    raw = flow(localization={"eng": {}, "nah": {}})
    programme, _ = import_export(export(raw), "/datos/exports/Prospera Digital.json")
    assert programme.name == "Prospera Digital"
    assert programme.languages == ("spa", "eng", "nah")
    assert import_export(export(raw), "<stdin>")[0].name == "imported"
    assert import_export(export(raw), "x.json", name="Prospera")[0].name == "Prospera"


def test_parsed_input_need_not_be_dicts_and_keys_must_be_text() -> None:
    from types import MappingProxyType

    frozen = MappingProxyType({"version": "13", "flows": (MappingProxyType(flow()),)})
    programme, _ = import_export(frozen, "x.json")
    assert programme.flows[0].name == "Prueba"
    assert "object keys must be text" in refusal({"version": "13", "flows": [{1: "x"}]})
