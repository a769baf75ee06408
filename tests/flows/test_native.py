"""The native YAML format: loading, located errors for hostile input, and dump/load round trips."""

from __future__ import annotations

import dataclasses
import uuid as uuidlib
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flows import model as m
from flows.errors import FlowFileError, has_errors
from flows.native import (
    MAX_FILE_BYTES,
    check_flow_text,
    derive_uuid,
    dump_flow,
    flow_uuid_for,
    group_uuid_for,
    load_flow,
    load_flow_text,
)
from flows.routertests import KNOWN_TESTS
from flows.validate import arity, validate_flow

TESTDATA = Path(__file__).parent / "testdata" / "native"


def problems_of(text: str) -> list[str]:
    flow, problems = check_flow_text(text, "f.yaml")
    assert flow is None, "expected the flow to be refused"
    return [str(p) for p in problems]


# --- loading what the guide shows ---------------------------------------------------------------------------


def test_the_guides_registration_flow_loads_as_expected() -> None:
    flow = load_flow(TESTDATA / "registro.yaml")
    assert flow.name == "Registro"
    assert flow.uuid == flow_uuid_for("Registro")
    assert flow.accent_insensitive is True
    assert flow.expire_after_minutes == 7 * 24 * 60
    names = [node.name for node in flow.nodes]
    assert names[0] == "pedir_nombre"
    first = flow.nodes[0]
    assert first.router is not None
    assert first.router.wait is not None
    assert first.router.result_name == "nombre"
    timeout = first.router.wait.timeout
    assert timeout is not None
    assert timeout.seconds == 4 * 3600
    by_uuid = {c.uuid: c for c in first.router.categories}
    assert by_uuid[timeout.category_uuid].name == "No Response"
    assert [c.name for c in first.router.categories] == ["Has Text", "No Response", "Other"]
    assert first.router.cases[0].test == "has_text"
    assert first.router.cases[0].arguments == ()
    send = first.actions[0]
    assert isinstance(send, m.SendMsg)
    assert send.text.startswith("¡Hola!")
    assert flow.localization["eng"][send.uuid]["text"] == (
        "Hi! I am your clinic's nurse. What is your name?",
    )

    confirmar = flow.nodes[names.index("confirmar")]
    assert confirmar.router is not None
    yes, no = confirmar.router.cases
    assert (yes.test, yes.arguments) == ("has_any_word", ("sí si claro yes",))
    assert (no.test, no.arguments) == ("has_any_word", ("no",))
    assert flow.localization["eng"][no.uuid]["arguments"] == ("no nope",)
    assert [c.name for c in confirmar.router.categories] == ["Sí", "No", "Other"]
    replies = confirmar.actions[0]
    assert isinstance(replies, m.SendMsg)
    assert replies.quick_replies == ("Sí", "No")
    assert flow.localization["eng"][replies.uuid]["quick_replies"] == ("Yes", "No")

    recordatorio = flow.nodes[names.index("recordatorio")]
    assert recordatorio.router is not None
    assert [c.name for c in recordatorio.router.categories] == ["All Responses"]
    assert recordatorio.exits[0].destination_uuid == flow.nodes[names.index("pedir_fecha")].uuid

    guardar = flow.nodes[names.index("guardar")]
    assert [a.type for a in guardar.actions] == [
        "set_contact_name",
        "set_contact_field",
        "add_contact_groups",
        "send_msg",
    ]
    groups = guardar.actions[2]
    assert isinstance(groups, m.AddContactGroups)
    assert groups.groups == (m.GroupRef(group_uuid_for("Embarazadas"), "Embarazadas"),)
    assert guardar.exits[0].destination_uuid is None


def test_loading_twice_gives_identical_models_and_uuids_survive_edits() -> None:
    text = (TESTDATA / "registro.yaml").read_text(encoding="utf-8")
    first, second = load_flow_text(text), load_flow_text(text)
    assert first == second
    edited = load_flow_text(text.replace("¿Cómo te llamas?", "¿Cuál es tu nombre?"))
    assert [n.uuid for n in edited.nodes] == [n.uuid for n in first.nodes]
    assert edited.nodes[0].actions[0].uuid == first.nodes[0].actions[0].uuid


def test_derived_uuids_are_real_uuid5s() -> None:
    namespace = uuidlib.UUID("6f1d3c2a-8e5b-4f0d-9a7c-2e4b1d0f3a59")
    assert derive_uuid("flow", "Registro") == str(uuidlib.uuid5(namespace, "flow/Registro"))


def test_send_and_do_run_in_the_order_written() -> None:
    flow = load_flow_text(
        "flow: Orden\nnodes:\n  a:\n    send: Hola\n    do:\n      - set_name: Ana\n    go: end\n"
        "  b:\n    do:\n      - set_name: Ana\n    send: Adiós\n    go: a\n"
    )
    assert [a.type for a in flow.nodes[0].actions] == ["send_msg", "set_contact_name"]
    assert [a.type for a in flow.nodes[1].actions] == ["set_contact_name", "send_msg"]


def test_plain_words_stay_words() -> None:
    """YAML 1.1 reads `no` and `yes` as booleans; recado reads them as the words they are."""
    flow = load_flow_text(
        "flow: Palabras\nnodes:\n  q:\n    send: ok\n    quick_replies: [yes, no, 1.50, null]\n"
        "    wait: reply\n    routes:\n      - says: [no, off]\n        go: end\n"
        "      - has_number_between: [1, 10]\n        go: end\n      - other: end\n"
    )
    node = flow.nodes[0]
    send = node.actions[0]
    assert isinstance(send, m.SendMsg)
    assert send.quick_replies == ("yes", "no", "1.50", "null")
    assert node.router is not None
    assert node.router.cases[0].arguments == ("no off",)
    assert node.router.cases[1].arguments == ("1", "10")
    assert [c.name for c in node.router.categories] == ["No", "1 - 10", "Other"]


def test_every_router_test_is_usable_by_name() -> None:
    for test in sorted(KNOWN_TESTS):
        least, _ = arity(test)
        value = "true" if least == 0 else "[" + ", ".join(["uno"] * least) + "]"
        flow, problems = check_flow_text(
            f"flow: T\nnodes:\n  q:\n    wait: reply\n    routes:\n      - {test}: {value}\n        go: end\n"
            "      - other: end\n"
        )
        assert flow is not None, (test, [str(p) for p in problems])
        router = flow.nodes[0].router
        assert router is not None
        assert router.cases[0].test == test
        assert len(router.cases[0].arguments) == least


def test_all_actions_load() -> None:
    flow = load_flow_text((TESTDATA / "acciones.yaml").read_text(encoding="utf-8"))
    actions = flow.nodes[0].actions
    assert [a.type for a in actions] == [
        "set_contact_field",
        "set_contact_field",
        "set_contact_name",
        "set_contact_language",
        "set_contact_status",
        "set_contact_timezone",
        "set_run_result",
        "add_contact_groups",
        "remove_contact_groups",
        "remove_contact_groups",
        "enter_flow",
        "raise_alert",
        "call_webhook",
        "add_input_labels",
        "unsupported",
        "send_msg",
    ]
    hook = actions[12]
    assert isinstance(hook, m.CallWebhook)
    assert (hook.method, hook.result_name, dict(hook.headers)) == (
        "POST",
        "registro",
        {"Content-Type": "application/json"},
    )
    enter = actions[10]
    assert isinstance(enter, m.EnterFlow)
    assert enter.flow == m.FlowRef(flow_uuid_for("Semana a semana"), "Semana a semana")
    assert enter.terminal
    unsupported = actions[14]
    assert isinstance(unsupported, m.UnsupportedAction)
    assert unsupported.raw == {
        "addresses": ["a@b.mx"],
        "subject": "Hola",
        "count": 2,
        "ratio": 0.5,
        "on": True,
        "none": None,
    }
    removed_all = actions[9]
    assert isinstance(removed_all, m.RemoveContactGroups)
    assert removed_all.all_groups
    assert not removed_all.groups
    result = actions[6]
    assert isinstance(result, m.SetRunResult)
    assert (result.name, result.value, result.category) == ("riesgo", "alto", "Alto")
    assert flow.localization["eng"][result.uuid]["category"] == ("High",)
    assert flow.nodes[1].router is not None
    assert flow.nodes[1].router.kind == "random"
    assert dump_flow(flow)
    assert load_flow_text(dump_flow(flow)) == flow


# --- located errors for malformed and hostile input ------------------------------------------------------


def test_unknown_destination_names_node_and_suggests() -> None:
    text = (TESTDATA / "registro.yaml").read_text(encoding="utf-8").replace("go: guardar", "go: guardr")
    errors = problems_of(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "go: guardr" in row)
    assert errors == [
        f"f.yaml:{line}:13: node 'confirmar' goes to 'guardr', which does not exist; did you mean 'guardar'?"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "f.yaml:1:1: the file is empty"),
        ("# solo un comentario\n", "f.yaml:1:1: the file is empty"),
        ("flow: X\nnodes:\n\t- a\n", "f.yaml:3:1: a tab in the indentation: indent with spaces"),
        ("flow: X\nnodes:\n  a:\n    send: @contact.name hola\n", "f.yaml:4:11: a text cannot start with @"),
        (
            "flow: X\nnodes:\n  a:\n    send: 'sin cerrar\n",
            "a quoted text is never closed (it opens at line 4)",
        ),
        ("flow: X\nnodes: {a: {go: end}\n", "f.yaml:3:1:"),
        ("flow: X\nnodes:\n  a:\n    send: Hola: qué tal\n", "f.yaml:4:15: unexpected ':' here"),
        (
            "- flow: X\n",
            "f.yaml:1:1: a flow file is a set of `key: value` lines, starting with `flow: <name>`",
        ),
        ("flow: [X]\nnodes: {a: {}}\n", "f.yaml:1:7: the flow's name should be a text, not a list"),
        ("flow: X\nnodes: [a, b]\n", "f.yaml:2:8: nodes should be a set of `key: value` lines, not a list"),
        (
            "flow: X\nnodes:\n  a:\n    go: end\n    rutas: []\n",
            "f.yaml:5:5: node 'a' has no setting 'rutas'",
        ),
        ("flow: X\nnodes:\n  a:\n    sned: hola\n", "node 'a' has no setting 'sned'; did you mean 'send'?"),
        (
            "flow: X\nnodes:\n  a:\n    go: end\n  a:\n    go: end\n",
            "f.yaml:5:3: 'a' is given twice here (first on line 3)",
        ),
        ("flow: X\nflow: Y\nnodes: {a: {}}\n", "f.yaml:2:1: 'flow' is given twice here"),
        ("flow: X\n", "f.yaml:1:1: the flow needs `nodes:`"),
        ("nodes: {a: {}}\n", "f.yaml:1:1: the flow needs `flow:`"),
        ("flow: X\nnodes:\n", "f.yaml:2:7: the flow has no nodes"),
        (
            "flow: X\nnodes:\n  a:\n    do:\n      - sned: hola\n",
            "f.yaml:5:9: 'sned' is not an action; did you mean 'send'?",
        ),
        ("flow: X\nnodes:\n  a:\n    do: [set_name]\n", "an action is written `- verb: value`"),
        ("flow: X\nnodes:\n  a:\n    wait: forever\n", "f.yaml:4:11: wait is 'forever'; use one of: reply"),
        (
            "flow: X\nnodes:\n  a:\n    wait: reply\n    routes:\n      - timeout: 90\n        go: end\n",
            "the timeout should be a duration such as 30m",
        ),
        ("flow: X\nexpire_after: 0m\nnodes: {a: {go: end}}\n", "expire_after must be longer than zero"),
        (
            "flow: X\nnodes:\n  a:\n    wait: reply\n    routes:\n      - has_numbr: true\n        go: end\n",
            "did you mean 'has_number'?",
        ),
        (
            "flow: X\nnodes:\n  a:\n    wait: reply\n    routes:\n      - has_number_between: 5\n        go: end\n",
            "f.yaml:6:9: node 'a': has_number_between takes 2 values, not 1",
        ),
        (
            "flow: X\nnodes:\n  a:\n    wait: reply\n    routes:\n      - says: [sí]\n        go: b\n      - says: [si]\n        category: Sí\n        go: end\n  b: {go: end}\n",
            "two routes are filed under the category 'Sí' but go to different nodes",
        ),
        (
            "flow: X\nnodes:\n  a:\n    wait: reply\n    routes:\n      - says: [de acuerdo]\n        go: end\n",
            "each item of `says` is one word",
        ),
        (
            "flow: X\nnodes:\n  a:\n    wait: reply\n    routes:\n      - says: sí\n",
            "this route of node 'a' needs `go:`",
        ),
        ("flow: X\nnodes:\n  a:\n    send: 'Hola @(contact.name'\n    go: end\n", None),
        (
            "flow: X\nnodes:\n  a:\n    send: 'Hola @(1 +)'\n    go: end\n",
            "f.yaml:4:5: node 'a': in the message, @(1 +) has a syntax error: syntax error at end of expression",
        ),
        ("flow: X\nnodes:\n  end:\n    go: end\n", "a node cannot be called 'end'"),
        (
            "flow: X\nnodes:\n  a:\n    send:\n      eng: Hi\n    go: end\n",
            "message has no spa version, and spa is the flow's language",
        ),
        (
            "flow: X\ntype: messaging_background\nnodes:\n  a:\n    wait: reply\n    go: end\n",
            "background flows never wait",
        ),
        (
            "flow: X\nnodes:\n  a:\n    random:\n      - says: [x]\n        go: end\n",
            "a route of node 'a' has no setting 'says'",
        ),
        (
            "flow: X\nnodes:\n  a:\n    do:\n      - set_status: dormido\n    go: end\n",
            "set_status is 'dormido'; use one of: active, blocked, stopped",
        ),
        (
            "flow: X\nnodes:\n  a:\n    do:\n      - webhook: {method: FETCH, url: x}\n    go: end\n",
            "'FETCH' is not an HTTP method",
        ),
    ],
)
def test_malformed_flows_get_located_plain_errors(text: str, expected: str | None) -> None:
    flow, problems = check_flow_text(text, "f.yaml")
    if expected is None:  # an unclosed @( is plain text, as in RapidPro
        assert flow is not None
        return
    assert flow is None
    rendered = [str(p) for p in problems]
    assert any(expected in line for line in rendered), rendered
    assert all(p.line is not None for p in problems), rendered


def test_unreachable_node_is_a_located_warning_not_an_error() -> None:
    flow, problems = check_flow_text("flow: X\nnodes:\n  a:\n    go: end\n  b:\n    go: a\n", "f.yaml")
    assert flow is not None
    assert [str(p) for p in problems] == [
        "f.yaml:5:3: warning: node 'b' can never be reached: no route leads to it"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &x hola\nb: *x\n", "f.yaml:1:4: anchors (&x) are not allowed"),
        (
            "a: !!python/object:os.system ls\n",
            "f.yaml:1:4: tags (tag:yaml.org,2002:python/object:os.system) are not allowed",
        ),
        ("a: !!str x\n", "tags (tag:yaml.org,2002:str) are not allowed"),
        ("flow: X\n---\nflow: Y\n", "f.yaml:2:1: a second document (---) in one file"),
        ("a: b\x00c\n", "f.yaml:1:5: the file contains the control character U+0000"),
        ("a: b\x1bc\n", "control character U+001B"),
        ("a: ñ\x7f\n", "f.yaml:1:5: the file contains the control character U+007F"),
        ("a: b\n\ufffe\n", "f.yaml:2:1: the file contains the control character U+FFFE"),
        ("a: sí\uffff\n", "f.yaml:1:6: the file contains the control character U+FFFF"),
        ("[" * 200 + "]" * 200, "f.yaml:1:51: the file is nested more than 50 levels deep"),
        ("? [a, b]\n: c\n", "f.yaml:1:3: a key must be a plain name"),
    ],
)
def test_hostile_yaml_is_refused_with_a_location(text: str, expected: str) -> None:
    rendered = problems_of(text)
    assert any(expected in line for line in rendered), rendered


def test_a_yaml_bomb_is_refused_at_its_first_alias() -> None:
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for name, prev in zip("bcdefghi", "abcdefgh", strict=True):
        bomb += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    assert problems_of(bomb) == ["f.yaml:1:4: anchors (&a) are not allowed: write the text out in full"]


def test_very_deep_nesting_is_refused_without_recursion() -> None:
    rendered = problems_of("a: " + "[" * 1_000_000)
    assert len(rendered) == 1
    assert rendered[0].endswith(": the file is nested more than 50 levels deep")


def test_a_50_mb_file_is_refused_by_its_size_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "enorme.yaml"
    with path.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    with pytest.raises(FlowFileError) as caught:
        load_flow(path)
    assert str(caught.value) == (
        f"{path}: the file is 52.4 MB; a flow file may be at most 5 MB (a real flow is a few kilobytes)"
    )
    assert len("x" * (MAX_FILE_BYTES + 1)) > MAX_FILE_BYTES
    assert "at most 5 MB" in problems_of("x" * (MAX_FILE_BYTES + 1))[0]


def test_binary_junk_and_bad_encodings_are_refused(tmp_path: Path) -> None:
    png = tmp_path / "foto.yaml"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(FlowFileError, match="this is a binary file, not a text file"):
        load_flow(png)
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("flow: Registro\nnodes:\n  a:\n    send: ¿Cómo estás?\n".encode("latin-1"))
    with pytest.raises(FlowFileError) as caught:
        load_flow(latin1)
    assert str(caught.value) == f"{latin1}:4:11: this is not UTF-8 text (byte 0xbf); save the file as UTF-8"
    with pytest.raises(FlowFileError, match="this is a folder"):
        load_flow(tmp_path)
    with pytest.raises(FlowFileError, match="cannot read the file"):
        load_flow(tmp_path / "no-existe.yaml")


def test_a_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + b"flow: X\nnodes:\n  a:\n    go: end\n")
    assert load_flow(path).name == "X"


def test_every_problem_is_reported_not_just_the_first() -> None:
    rendered = problems_of(
        "flow: X\nnodes:\n  a:\n    sned: hola\n    go: b\n  b:\n    go: c\n  d:\n    do: [{set_nam: x}]\n"
    )
    assert len(rendered) == 3, rendered


def test_flow_file_error_lists_problems_one_per_line() -> None:
    with pytest.raises(FlowFileError) as caught:
        load_flow_text("flow: X\nnodes:\n  a:\n    go: b\n  c:\n    go: d\n", "x.yaml")
    assert str(caught.value).splitlines() == [
        "x.yaml:4:9: node 'a' goes to 'b', which does not exist",
        "x.yaml:6:9: node 'c' goes to 'd', which does not exist",
    ]
    assert len(caught.value.errors) == 2


# --- round trips --------------------------------------------------------------------------------------------


def u(n: int) -> str:
    return str(uuidlib.UUID(int=n, version=4))


def imported_flow() -> m.Flow:
    """The shape of a RapidPro import: explicit uuids everywhere, no node names, translations, a subflow
    router, a webhook router, a random split, an unsupported action and stale translations."""
    ask, sub, hook, split, bye = u(1), u(2), u(3), u(4), u(5)
    return m.Flow(
        uuid=u(100),
        name="Imported",
        language="eng",
        accent_insensitive=False,
        expire_after_minutes=4320,
        spec_version="13.1.0",
        nodes=(
            m.Node(
                uuid=ask,
                actions=(m.SendMsg(u(10), "Are you pregnant?", ("Yes", "No")),),
                router=m.Router(
                    kind="switch",
                    categories=(
                        m.Category(u(20), "Yes", u(30)),
                        m.Category(u(21), "No", u(31)),
                        m.Category(u(22), "Other", u(32)),
                        m.Category(u(23), "No Response", u(33)),
                    ),
                    cases=(
                        m.Case(u(40), "has_any_word", ("yes y",), u(20)),
                        m.Case(u(41), "has_any_word", ("no  n",), u(21)),
                        m.Case(u(42), "has_only_phrase", ("of course",), u(20)),
                    ),
                    default_category_uuid=u(22),
                    result_name="Pregnant",
                    wait=m.Wait(m.Timeout(300, u(23))),
                ),
                exits=(m.Exit(u(30), sub), m.Exit(u(31), bye), m.Exit(u(32), ask), m.Exit(u(33), None)),
            ),
            m.Node(
                uuid=sub,
                actions=(m.EnterFlow(u(11), m.FlowRef(u(101), "Child")),),
                router=m.Router(
                    kind="switch",
                    operand="@child.status",
                    categories=(m.Category(u(24), "Complete", u(34)), m.Category(u(25), "Expired", u(35))),
                    cases=(
                        m.Case(u(43), "has_only_text", ("completed",), u(24)),
                        m.Case(u(44), "has_only_text", ("expired",), u(25)),
                    ),
                    default_category_uuid=u(25),
                ),
                exits=(m.Exit(u(35), None), m.Exit(u(34), hook)),
            ),
            m.Node(
                uuid=hook,
                actions=(
                    m.CallWebhook(
                        u(12), "POST", "https://x.example/@contact.uuid", {"X-Key": "k"}, "{}", "reg"
                    ),
                    m.UnsupportedAction(
                        u(13), "send_email", {"addresses": ["a@b"], "n": [1, 2.5, None, True]}
                    ),
                ),
                router=m.Router(
                    kind="switch",
                    operand="@results.reg.category",
                    categories=(m.Category(u(26), "Success", u(36)), m.Category(u(27), "Failure", u(36))),
                    cases=(m.Case(u(45), "has_only_text", ("Success",), u(26)),),
                    default_category_uuid=u(27),
                ),
                exits=(m.Exit(u(36), split),),
            ),
            m.Node(
                uuid=split,
                router=m.Router(
                    kind="random",
                    categories=(m.Category(u(28), "Bucket 1", u(37)), m.Category(u(29), "Bucket 2", u(38))),
                    result_name="Arm",
                ),
                exits=(m.Exit(u(37), bye), m.Exit(u(38), None)),
            ),
            m.Node(
                uuid=bye,
                actions=(
                    m.SendMsg(u(14), "Bye\nsee you", ()),
                    m.AddContactGroups(u(15), (m.GroupRef(u(200), "Pregnant"),)),
                    m.SetContactField(u(16), "due_date", "Due Date", "@results.due"),
                ),
                exits=(m.Exit(u(39), None),),
            ),
        ),
        localization={
            "spa": {
                u(10): {"text": ("¿Estás embarazada?",), "quick_replies": ("Sí", "No"), "attachments": ()},
                u(40): {"arguments": ("sí si s",)},
                u(41): {"arguments": ("no",)},
                u(42): {"arguments": ("claro que sí", "extra")},
                u(20): {"name": ("Sí",)},
                u(14): {"text": ("Adiós", "dos")},
                u(999): {"text": ("stale",)},
            },
            "fra": {},
            "eng": {u(10): {"text": ("base-language translation",)}},
        },
    )


def test_an_imported_flow_round_trips_exactly() -> None:
    flow = imported_flow()
    assert not [f for f in validate_flow(flow) if f.level == "error"]
    text = dump_flow(flow)
    assert load_flow_text(text) == flow
    assert "exit_order" in text
    assert "translations:" in text
    assert "category_uuid" in text


def test_a_dumped_native_flow_reads_like_the_guide() -> None:
    flow = load_flow(TESTDATA / "registro.yaml")
    text = dump_flow(flow)
    assert "uuid" not in text
    assert "    routes:\n      - has_text: true\n        go: pedir_fecha\n" in text
    assert "      - says: [sí, si, claro, 'yes']\n" in text
    assert "\n\n  confirmar:\n" in text
    assert load_flow_text(text) == flow
    assert dump_flow(load_flow_text(text)) == text


# Texts as people write them, with YAML's troublemakers: quotes, colons, leading dashes, `#`, blank lines,
# trailing spaces, tabs, line separators, astral characters. No lone surrogates (they are not text).
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="@"), max_size=12) | st.sampled_from(
    [
        "Hola @contact.name",
        "@results.nombre",
        "sí",
        "no",
        "yes",
        "true",
        "~",
        "null",
        "0123",
        "1.5",
        "- x",
        "a: b",
        "# nota",
        "línea 1\nlínea 2\n",
        "  sangría",
        "fin  ",
        "\ttab",
        "x\u2028y",
        "😀",
        "'",
        '"',
        "",
    ]
)
NAME = TEXT.filter(lambda s: s.strip() != "" and s != "end" and "\x85" not in s)


@st.composite
def model_flows(draw: st.DrawFn) -> m.Flow:
    def explicit_or(derived: str) -> str:
        return str(draw(st.uuids(version=4))) if draw(st.booleans()) else derived

    language = draw(st.sampled_from(["spa", "eng", "yua"]))
    name = draw(NAME)
    flow_uuid = explicit_or(flow_uuid_for(name))
    flow_type = draw(st.sampled_from(["messaging", "messaging_background"]))
    count = draw(st.integers(1, 5))
    names = draw(st.lists(NAME | st.none(), min_size=count, max_size=count))
    seen: set[str] = set()
    node_uuids = []
    for i, node_name in enumerate(names):
        if node_name is not None and node_name in seen:
            names[i] = node_name = None
        if node_name is not None:
            seen.add(node_name)
            node_uuids.append(explicit_or(derive_uuid(flow_uuid, "node", node_name)))
        else:
            node_uuids.append(str(draw(st.uuids(version=4))))
    destination = st.sampled_from([None, *node_uuids])
    items: list[str] = []  # uuids that may have translations
    nodes = []
    for node_name, node_uuid in zip(names, node_uuids, strict=True):
        actions = tuple(
            dataclasses.replace(action, uuid=explicit_or(derive_uuid(node_uuid, "action", str(i))))
            for i, action in enumerate(draw(st.lists(ACTIONS, max_size=3)))
        )
        items.extend(a.uuid for a in actions)
        router_kind = draw(st.sampled_from([None, "switch", "random"]))
        if router_kind is None:
            exit_uuid = explicit_or(derive_uuid(node_uuid, "exit"))
            nodes.append(m.Node(node_uuid, actions, None, (m.Exit(exit_uuid, draw(destination)),), node_name))
            continue
        category_names = draw(st.lists(TEXT, min_size=1, max_size=4))
        categories = []
        exits: list[m.Exit] = []
        for category_name in category_names:
            derived = derive_uuid(node_uuid, "category", category_name)
            if category_names.count(category_name) > 1 or draw(st.booleans()):
                category_uuid = str(draw(st.uuids(version=4)))
            else:
                category_uuid = derived
            items.append(category_uuid)
            share: bool = draw(st.booleans())
            if exits and share:
                exit_uuid = draw(st.sampled_from(exits)).uuid
            else:
                exit_uuid = explicit_or(derive_uuid(category_uuid, "exit"))
                exits.append(m.Exit(exit_uuid, draw(destination)))
            categories.append(m.Category(category_uuid, category_name, exit_uuid))
        exits = list(draw(st.permutations(exits)))
        category_uuids = [c.uuid for c in categories]
        result_name = draw(st.none() | TEXT)
        operand = draw(st.sampled_from(["@input.text", "@fields.clinica", "@(1 + 2)"]))
        if router_kind == "random":
            router = m.Router("random", tuple(categories), operand=operand, result_name=result_name)
        else:
            cases = []
            for i in range(draw(st.integers(0, 4))):
                test = draw(st.sampled_from(sorted(KNOWN_TESTS)))
                least, most = arity(test)
                size = draw(st.integers(least, least + 2 if most is None else most))
                arguments = tuple(draw(st.lists(TEXT, min_size=size, max_size=size)))
                case_uuid = explicit_or(derive_uuid(node_uuid, "case", str(i)))
                items.append(case_uuid)
                cases.append(m.Case(case_uuid, test, arguments, draw(st.sampled_from(category_uuids))))
            wait = None
            if flow_type == "messaging" and draw(st.booleans()):
                timeout = None
                if draw(st.booleans()):
                    timeout = m.Timeout(draw(st.integers(1, 10**6)), draw(st.sampled_from(category_uuids)))
                wait = m.Wait(timeout)
            router = m.Router(
                "switch",
                tuple(categories),
                operand=operand,
                cases=tuple(cases),
                default_category_uuid=draw(st.none() | st.sampled_from(category_uuids)),
                result_name=result_name,
                wait=wait,
            )
        nodes.append(m.Node(node_uuid, actions, router, tuple(exits), node_name))
    localization: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {}
    for lang in draw(
        st.lists(st.sampled_from(["spa", "eng", "yua", "nah", "base"]), max_size=3, unique=True)
    ):
        entries = localization.setdefault(lang, {})
        for item in draw(st.lists(st.sampled_from(items), max_size=4, unique=True)) if items else []:
            props = draw(
                st.dictionaries(
                    st.sampled_from(
                        ["text", "quick_replies", "arguments", "name", "category", "attachments"]
                    ),
                    st.lists(TEXT, max_size=3).map(tuple),
                    max_size=3,
                )
            )
            entries[item] = props
    return m.Flow(
        uuid=flow_uuid,
        name=name,
        language=language,
        nodes=tuple(nodes),
        type=cast(m.FlowType, flow_type),
        expire_after_minutes=draw(st.integers(1, 60 * 24 * 60)),
        localization=localization,
        accent_insensitive=draw(st.booleans()),
        spec_version=draw(st.sampled_from(["13.6.1", "13.1.0", "14.3.1"])),
    )


def _actions() -> st.SearchStrategy[m.Action]:
    """Every action type, with an empty uuid the flow strategy fills in (derived or explicit)."""
    group = st.builds(m.GroupRef, st.uuids(version=4).map(str), NAME) | NAME.map(
        lambda n: m.GroupRef(group_uuid_for(n), n)
    )
    raw_value = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
        max_leaves=6,
    )
    return st.one_of(
        st.builds(m.SendMsg, st.just(""), TEXT, st.lists(TEXT, max_size=3).map(tuple)),
        st.builds(m.SetContactField, st.just(""), st.sampled_from(["fecha_parto", "x"]), NAME, TEXT),
        st.builds(m.SetContactName, st.just(""), TEXT),
        st.builds(m.SetContactLanguage, st.just(""), TEXT),
        st.builds(m.SetContactStatus, st.just(""), st.sampled_from(["active", "blocked", "stopped"])),
        st.builds(m.SetContactTimezone, st.just(""), TEXT),
        st.builds(m.SetRunResult, st.just(""), NAME, TEXT, TEXT),
        st.builds(m.AddContactGroups, st.just(""), st.lists(group, max_size=3).map(tuple)),
        st.builds(m.RemoveContactGroups, st.just(""), st.lists(group, max_size=2).map(tuple), st.booleans()),
        st.builds(
            m.EnterFlow,
            st.just(""),
            NAME.map(lambda n: m.FlowRef(flow_uuid_for(n), n))
            | st.builds(m.FlowRef, st.uuids().map(str), TEXT),
            st.booleans(),
        ),
        st.builds(m.RaiseAlert, st.just(""), TEXT),
        st.builds(
            m.CallWebhook,
            st.just(""),
            st.sampled_from(["GET", "POST", "PUT"]),
            NAME,
            st.dictionaries(NAME, TEXT, max_size=2),
            TEXT,
            TEXT,
        ),
        st.builds(m.AddInputLabels, st.just(""), st.lists(TEXT, max_size=3).map(tuple)),
        st.builds(m.UnsupportedAction, st.just(""), NAME, st.dictionaries(TEXT, raw_value, max_size=3)),
    )


ACTIONS = _actions()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(model_flows())
def test_any_valid_model_flow_round_trips(flow: m.Flow) -> None:
    assume(not [f for f in validate_flow(flow) if f.level == "error"])
    text = dump_flow(flow)
    loaded, problems = check_flow_text(text, "dumped.yaml")
    assert not has_errors(problems), "\n".join(map(str, problems)) + "\n" + text
    assert loaded == flow, text
