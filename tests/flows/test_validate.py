"""Semantic checks on the model, independent of any file format."""

from __future__ import annotations

import uuid as uuidlib

from flows import model as m
from flows.validate import Finding, arity_text, cross_check_programme, validate_flow, validate_programme

WAIT = m.Wait()


def u(n: int) -> str:
    return str(uuidlib.UUID(int=n, version=4))


def question(
    node_uuid: str,
    *,
    cases: tuple[m.Case, ...] = (),
    wait: m.Wait | None = WAIT,
    categories: tuple[m.Category, ...] = (m.Category(u(500), "Other", u(600)),),
    exits: tuple[m.Exit, ...] = (m.Exit(u(600), None),),
    default: str | None = u(500),
    actions: tuple[m.Action, ...] = (),
    name: str = "q",
) -> m.Node:
    router = m.Router(
        kind="switch", categories=categories, cases=cases, default_category_uuid=default, wait=wait
    )
    return m.Node(node_uuid, actions=actions, router=router, exits=exits, name=name)


def flow_of(*nodes: m.Node, **kw: object) -> m.Flow:
    return m.Flow(uuid=u(1), name="F", language="spa", nodes=nodes, **kw)  # type: ignore[arg-type]


def messages(findings: list[Finding], level: str = "error") -> list[str]:
    return [f.message for f in findings if f.level == level]


def test_a_sound_flow_has_no_findings() -> None:
    assert validate_flow(flow_of(question(u(2)))) == []


def test_empty_flow_and_bad_expiry() -> None:
    assert messages(validate_flow(flow_of(expire_after_minutes=0))) == [
        "the flow has no nodes: a flow needs at least one step",
        "expire_after must be longer than zero",
    ]


def test_unknown_destination_is_located_at_the_exit() -> None:
    flow = flow_of(m.Node(u(2), exits=(m.Exit(u(3), u(99)),), name="a"))
    [finding] = validate_flow(flow)
    assert finding.message == f"node 'a' goes to {u(99)}, which is not a node of this flow"
    assert (finding.flow_uuid, finding.node_uuid, finding.item_uuid) == (u(1), u(2), u(3))


def test_duplicate_names_and_uuids() -> None:
    a = m.Node(u(2), exits=(m.Exit(u(3), None),), name="a")
    again = m.Node(u(4), exits=(m.Exit(u(3), None),), name="a")
    found = messages(validate_flow(flow_of(a, again)))
    assert "there are two nodes called 'a'" in found
    assert f"node 'a': the uuid {u(3)} of an exit is already used by an exit of node 'a'" in found


def test_exits_and_categories_must_match() -> None:
    node = question(
        u(2),
        categories=(m.Category(u(500), "Other", u(601)),),
        exits=(m.Exit(u(600), None),),
    )
    found = messages(validate_flow(flow_of(node)))
    assert found == [
        "node 'q': category 'Other' has no exit to say where it goes",
        f"node 'q': exit {u(600)} is not used by any category",
    ]
    no_exit = m.Node(u(3), name="b")
    two = m.Node(u(4), exits=(m.Exit(u(5), None), m.Exit(u(6), None)), name="c")
    found = messages(validate_flow(flow_of(no_exit, two)))
    assert "node 'b' has no exit: say where it goes, or `go: end`" in found
    assert "node 'c' has 2 exits but no routes: only the first would ever be taken" in found


def test_router_tests_are_known_and_take_the_right_number_of_values() -> None:
    cases = (
        m.Case(u(10), "has_numbr", (), u(500)),
        m.Case(u(11), "has_number_between", ("1",), u(500)),
        m.Case(u(12), "has_text", ("x",), u(500)),
        m.Case(u(13), "has_category", (), u(500)),
        m.Case(u(14), "has_any_word", ("@(1 +)",), u(500)),
    )
    found = messages(validate_flow(flow_of(question(u(2), cases=cases))))
    assert found == [
        "node 'q': 'has_numbr' is not a test; did you mean 'has_number'?",
        "node 'q': has_number_between takes 2 values, not 1",
        "node 'q': has_text takes no values, not 1",
        "node 'q': has_category takes at least 1 value, not 0",
        "node 'q': in a has_any_word value, @(1 +) has a syntax error: syntax error at end of expression",
    ]
    assert arity_text("has_phone") == "at most 1 value"


def test_template_errors_in_actions_and_translations() -> None:
    send = m.SendMsg(u(20), "Hola @(contact.name + )", ("@(1 2)",))
    flow = flow_of(
        question(u(2), actions=(send,)), localization={"eng": {u(20): {"text": ("Hi @(", "@(x y)")}}}
    )
    found = messages(validate_flow(flow))
    assert found == [
        "node 'q': in the message, @(contact.name + ) has a syntax error: syntax error at end of expression",
        "node 'q': in a quick reply, @(1 2) has a syntax error: syntax error at 2",
        "node 'q': in the eng translation, @(x y) has a syntax error: syntax error at y",
    ]


def test_timeouts_must_be_positive_and_lead_somewhere() -> None:
    node = question(u(2), wait=m.Wait(m.Timeout(0, u(999))))
    assert messages(validate_flow(flow_of(node))) == [
        "node 'q': the timeout must be longer than zero",
        "node 'q': the timeout goes to a category the node does not have",
    ]
    background = flow_of(question(u(2)), type="messaging_background")
    assert messages(validate_flow(background)) == [
        "node 'q' waits for a reply, but background flows never wait"
    ]


def test_random_splits_have_no_tests_and_do_not_wait() -> None:
    node = m.Node(
        u(2),
        router=m.Router(
            "random",
            (m.Category(u(500), "A", u(600)),),
            cases=(m.Case(u(10), "has_text", (), u(500)),),
            wait=m.Wait(),
        ),
        exits=(m.Exit(u(600), None),),
        name="r",
    )
    assert messages(validate_flow(flow_of(node))) == [
        "node 'r': a random split has no tests and no `other` route",
        "node 'r': a random split cannot wait for a reply",
    ]


def test_warnings_unreachable_unchosen_unsupported_and_stale_translations() -> None:
    extra = m.Category(u(501), "Nunca", u(601))
    first = question(
        u(2),
        categories=(m.Category(u(500), "Other", u(600)), extra),
        exits=(m.Exit(u(600), None), m.Exit(u(601), None)),
        actions=(m.UnsupportedAction(u(21), "send_email"),),
    )
    lonely = m.Node(u(3), exits=(m.Exit(u(4), None),), name="sola")
    flow = flow_of(first, lonely, localization={"eng": {u(999): {"text": ("x",)}}, "english": {}})
    findings = validate_flow(flow)
    assert messages(findings) == []
    assert messages(findings, "warning") == [
        "node 'q': recado cannot run 'send_email' actions: this one will be skipped",
        "node 'q': no test chooses the category 'Nunca'",
        "node 'sola' can never be reached: no route leads to it",
        f"the eng translations name {u(999)}, which is not in this flow",
        "translations for 'english', which is not a three-letter language code",
    ]


def test_uuids_must_be_uuids_and_end_is_reserved() -> None:
    flow = m.Flow(
        uuid="x", name="F", language="spa", nodes=(m.Node("n", exits=(m.Exit(u(3), None),), name="end"),)
    )
    found = messages(validate_flow(flow))
    assert found == [
        "the flow's uuid 'x' is not a uuid",
        "a node cannot be called 'end': `go: end` finishes the flow",
        "node 'end': 'n', the uuid of the node, is not a uuid",
    ]


def test_a_uuid_that_hides_two_uuids_on_two_lines_is_not_a_uuid() -> None:
    two = f"{u(5)}\n{u(6)}"
    node = m.Node(u(2), actions=(m.SendMsg(two, "Hola"),), exits=(m.Exit(u(3), None),), name="a")
    found = messages(validate_flow(m.Flow(uuid=u(1), name="F", language="spa", nodes=(node,))))
    assert found == [f"node 'a': '{two}', the uuid of a send_msg action, is not a uuid"]


def programme(**kw: object) -> m.Programme:
    enter = m.EnterFlow(u(30), m.FlowRef(u(77), "Semana"))
    groups = m.AddContactGroups(u(31), (m.GroupRef(u(88), "Embarazads"),))
    field = m.SetContactField(u(32), "fecha_part", "Fecha", "x")
    flow = flow_of(m.Node(u(2), actions=(enter, groups, field), exits=(m.Exit(u(3), None),), name="a"))
    base = {
        "name": "P",
        "flows": (flow,),
        "fields": (m.FieldDef("fecha_parto", "Fecha", "date"), m.FieldDef("clinica", "Clínica", "text")),
        "groups": (m.GroupRef(u(89), "Embarazadas"),),
    }
    return m.Programme(**{**base, **kw})  # type: ignore[arg-type]


def test_programme_cross_checks_name_what_is_missing() -> None:
    event = m.CampaignEvent(u(40), "clinica", -2, "weeks", delivery_hour=25, message={"spa": "hola"})
    stray = m.CampaignEvent(u(41), "fecha_nacimiento", 1, "days", flow=m.FlowRef(u(42), "Semana"))
    campaign = m.Campaign(u(50), "Embarazo", m.GroupRef(u(89), "Embarazadas"), (event, stray))
    trigger = m.Trigger(
        "keyword", m.FlowRef(u(1), "F"), keywords=("hola amiga",), groups=(m.GroupRef(u(90), "Madres"),)
    )
    found = cross_check_programme(programme(campaigns=(campaign,), triggers=(trigger,)))
    by_message = {f.message: f for f in found}
    assert set(by_message) == {
        "node 'a' enters the flow 'Semana', which is not in this programme",
        "node 'a' uses the group 'Embarazads', which programme.yaml does not declare; did you mean 'Embarazadas'?",
        "node 'a' sets the field 'fecha_part', which programme.yaml does not declare; did you mean 'fecha_parto'?",
        "the trigger uses the group 'Madres', which programme.yaml does not declare",
        "the keyword 'hola amiga' must be one word",
        "the event is timed from the field 'clinica', which is a text field: declare it with type date or datetime",
        "delivery_hour is an hour of the day, from 0 to 23",
        "the event is timed from the field 'fecha_nacimiento', which programme.yaml does not declare; did you mean 'fecha_parto'?",
        "the event starts the flow 'Semana', which is not in this programme",
    }
    assert by_message["the keyword 'hola amiga' must be one word"].path == ("triggers", 0, "keywords", 0)
    enter = by_message["node 'a' enters the flow 'Semana', which is not in this programme"]
    assert (enter.flow_uuid, enter.node_uuid, enter.item_uuid) == (u(1), u(2), u(30))
    assert by_message["delivery_hour is an hour of the day, from 0 to 23"].path == (
        "campaigns",
        0,
        "events",
        0,
        "delivery_hour",
    )


def test_programme_duplicates_and_validate_programme_includes_flow_checks() -> None:
    flow = programme().flows[0]
    twice = programme(flows=(flow, flow), fields=(m.FieldDef("Fecha Parto", "x", "date"),))
    found = [f.message for f in validate_programme(twice) if f.level == "error"]
    assert "two flows are called 'F'" in found
    assert f"two flows have the uuid {u(1)}" in found
    assert (
        "the field key 'Fecha Parto' must be lower-case letters, digits and _, starting with a letter"
        in found
    )
