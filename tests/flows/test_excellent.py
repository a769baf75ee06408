"""Templates and expressions: how text around ``@`` is read, operators, lookups, and how errors render
(goflow's ``excellent`` evaluator tests, run against our evaluator)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from flows.context import ResultsView
from flows.env import Environment
from flows.excellent import (
    XError,
    evaluate_expression,
    evaluate_template,
    evaluate_template_value,
    evaluator,
    format_value,
    render_value,
)
from flows.excellent.syntax import MAX_DEPTH, ParseError, parse, unquote
from flows.excellent.template import Expression, parse_template

ENV = Environment(now=dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.UTC))

CONTEXT: dict[str, object] = {
    "contact": {
        "__default__": "Ana López",
        "name": "Ana López",
        "first_name": "Ana",
        "language": "spa",
        "groups": [{"uuid": "g-1", "name": "Embarazadas"}],
        "fields": {"semanas": Decimal(20)},
    },
    "fields": {
        "semanas": Decimal(20),
        "due_date": dt.date(2027, 7, 19),
        "clinica": "Centro de Salud Tlalpan",
        "vacia": None,
    },
    "results": {
        "color": {"__default__": "rojo", "value": "rojo", "category": "Rojo", "input": "Rojo!"},
        "2factor": {"__default__": "1234", "value": "1234"},
    },
    "input": {
        "__default__": "Sí quiero",
        "text": "Sí quiero",
        "attachments": ["image/jpeg:http://x/y.jpg"],
    },
    "run": {"status": "active"},
    "webhook": {"status": Decimal(200), "json": {"ok": True, "items": [Decimal(1), Decimal(2)]}},
    "parent": None,
}

# The same results as the engine stores them, for @results as the engine shows it (a live view).
CONTEXT_RESULTS: dict[str, dict[str, object]] = {
    "color": {"name": "Color", "value": "rojo", "category": "Rojo", "input": "Rojo!"},
    "2factor": {"name": "2 Factor", "value": "1234"},
}

TEMPLATES: list[tuple[str, str, list[str]]] = [
    # plain text is returned as it is
    ("hola mundo", "hola mundo", []),
    ("", "", []),
    ("1 + 2", "1 + 2", []),
    # identifiers
    ("Hola @contact.first_name!", "Hola Ana!", []),
    ("@contact", "Ana López", []),
    ("@CONTACT.NAME", "Ana López", []),
    ("@contact.name.", "Ana López.", []),
    ("@fields.semanas semanas", "20 semanas", []),
    ("@results.color", "rojo", []),
    ("@results.color.category", "Rojo", []),
    ("@input", "Sí quiero", []),
    ("@input.text", "Sí quiero", []),
    ("@fields.vacia", "", []),
    ("@fields.due_date", "2027-07-19", []),
    ("@webhook.json.items.1", "2", []),
    ("@input.attachments", "[image/jpeg:http://x/y.jpg]", []),
    ("@input.attachments[0]", "[image/jpeg:http://x/y.jpg][0]", []),  # brackets need @(...)
    ("@contact.groups", "[{name: Embarazadas, uuid: g-1}]", []),
    # what is not an identifier stays as it is
    ("escribe a ana@example.com", "escribe a ana@example.com", []),
    ("@hola", "@hola", []),
    ("@ (contact)", "@ (contact)", []),
    ("@", "@", []),
    ("@@", "@", []),
    ("@@contact", "@contact", []),
    ("@@@contact.first_name", "@Ana", []),
    ("Hola @@contact mundo", "Hola @contact mundo", []),
    ("@contact.first_name@contact.first_name", "AnaAna", []),
    ("@contact.first_name.@contact.first_name", "Ana.Ana", []),
    ("50% @ 3pm", "50% @ 3pm", []),
    ("@(contact.first_name", "@(contact.first_name", []),
    ("@((", "@((", []),
    # expressions
    ("@(1 + 2)", "3", []),
    ("  @(1 + 2)  ", "  3  ", []),
    ('@("hola" & " " & contact.first_name)', "hola Ana", []),
    ('@( "quoted )pa)ren" )', "quoted )pa)ren", []),
    ('@("hello\\nworld")', "hello\nworld", []),
    ('@("\\"hola\\"")', '"hola"', []),
    ('@("hello\\U0001F601world")', "hello😁world", []),
    ('@("a\\qb")', "a\\qb", []),  # not a Go escape: the text is taken as written
    ('@(results["2factor"])', "1234", []),
    ('@(results["2FACTOR"].value)', "1234", []),
    ('@(results["missing"])', "", []),
    ("@(input.attachments[0])", "image/jpeg:http://x/y.jpg", []),
    ("@(input.attachments[-1])", "image/jpeg:http://x/y.jpg", []),
    ("@(webhook.json.items[1 + 0])", "2", []),
    ("@(webhook.json.ok)", "true", []),
    ("@(fields.semanas + 1)", "21", []),
    ("@(fields.semanas >= 20)", "true", []),
    ("@(-fields.semanas)", "-20", []),
    ("@(2 ^ 8)", "256", []),
    ("@(-2 ^ 2)", "4", []),
    ("@(2 ^ 3 ^ 2)", "64", []),
    (
        "@(2 ^ 0.5)",
        "1.414213562373095048801688724209698078569671875376948073176679737990732478462107038850387534327641573",
        [],
    ),
    ("@(1 + 2 * 3)", "7", []),
    ("@((1 + 2) * 3)", "9", []),
    ("@(5 - 2 + 1)", "4", []),
    ("@(4 / 2 * 4)", "8", []),
    ("@(3 / 2)", "1.5", []),
    ("@(2 / 3)", "0.6666666666666667", []),
    ("@(0.1 + 0.2)", "0.3", []),
    ("@(1.10 = 1.1)", "true", []),
    ('@(1 = "1")', "true", []),
    ('@("asdf" = "ASDF")', "false", []),
    ("@(11 = 11 = 11)", "false", []),
    ('@("a" & 1 + 2)', "a3", []),
    ("@(1 + 3 <= 1 + 4)", "true", []),
    ("@(true)", "true", []),
    ("@(FALSE)", "false", []),
    ("@(null)", "", []),
    ("@(null = NULL)", "true", []),
    ('@("hola" & null)', "hola", []),
    ("@(upper)", "upper", []),
    ("@(UPPER(contact.first_name))", "ANA", []),
    ('@(array(upper)[0]("abc"))', "ABC", []),
    ("@(contact)", "Ana López", []),
    ("@(contact.fields.semanas)", "20", []),
    ("@(parent)", "", []),
    ("line1\nline2 @contact.first_name\n@@line3", "line1\nline2 Ana\n@line3", []),
    # errors render as nothing and are reported
    ("@(1 / 0)", "", ["error evaluating @(1 / 0): division by zero"]),
    ("a@(1 / 0)b", "ab", ["error evaluating @(1 / 0): division by zero"]),
    ("@contact.nada", "", ["error evaluating @contact.nada: object has no property 'nada'"]),
    ("@(nada)", "", ["error evaluating @(nada): context has no property 'nada'"]),
    ("@(nada.x)", "", ["error evaluating @(nada.x): context has no property 'nada'"]),
    (
        "@(contact.first_name.x)",
        "",
        ['error evaluating @(contact.first_name.x): "Ana" doesn\'t support lookups'],
    ),
    ("@(parent.results)", "", ["error evaluating @(parent.results): null doesn't support lookups"]),
    ('@(1 + "a")', "", ['error evaluating @(1 + "a"): unable to convert "a" to a number']),
    ("@(1 + true)", "", ["error evaluating @(1 + true): unable to convert true to a number"]),
    ("@(1 + null)", "", ["error evaluating @(1 + null): unable to convert null to a number"]),
    ('@("a" < "b")', "", ['error evaluating @("a" < "b"): unable to convert "a" to a number']),
    ("@(1 < 2 < 3)", "", ["error evaluating @(1 < 2 < 3): unable to convert true to a number"]),
    (
        "@(input.attachments[5])",
        "",
        ["error evaluating @(input.attachments[5]): index 5 out of range for 1 items"],
    ),
    ("@((1 / 0).x)", "", ["error evaluating @((1 / 0).x): division by zero"]),
    ("@(input.attachments[1 / 0])", "", ["error evaluating @(input.attachments[1 / 0]): division by zero"]),
    (
        "@(contact.first_name())",
        "",
        ["error evaluating @(contact.first_name()): contact.first_name is not a function"],
    ),
    ("@(nada())", "", ["error evaluating @(nada()): context has no property 'nada'"]),
    ("@(9 ^ 999999)", "", ["error evaluating @(9 ^ 999999): number is out of range"]),
    ("@('x')", "", ["error evaluating @('x'): syntax error at 'x'"]),
    ("@(0 / )", "", ["error evaluating @(0 / ): syntax error at end of expression"]),
    (
        "@(0 / )@('x')",
        "",
        [
            "error evaluating @(0 / ): syntax error at end of expression",
            "error evaluating @('x'): syntax error at 'x'",
        ],
    ),
    ('@("abc".v)', "", ['error evaluating @("abc".v): syntax error at .']),
    ("@(1.1.0)", "", ["error evaluating @(1.1.0): syntax error at ."]),
    ("@(results.2factor)", "", ["error evaluating @(results.2factor): syntax error at factor"]),
    ("@(1 +)", "", ["error evaluating @(1 +): syntax error at end of expression"]),
]


@pytest.mark.parametrize(("template", "output", "errors"), TEMPLATES, ids=[t[0] for t in TEMPLATES])
def test_template(template: str, output: str, errors: list[str]) -> None:
    assert evaluate_template(template, CONTEXT, ENV) == (output, errors)


def test_error_values_do_not_stop_the_rest() -> None:
    text, errors = evaluate_template("A @(1/0) B @contact.first_name C @(x) D", CONTEXT, ENV)
    assert text == "A  B Ana C  D"
    assert len(errors) == 2


def test_escaping_applies_to_inserted_values_only() -> None:
    template = "https://x/?q=@(contact.name)&r=1"
    text, errors = evaluate_template(template, CONTEXT, ENV, escaping=lambda s: s.replace(" ", "%20"))
    assert (text, errors) == ("https://x/?q=Ana%20López&r=1", [])


def test_template_value_keeps_the_type_of_a_single_expression() -> None:
    assert evaluate_template_value("@contact.groups", CONTEXT, ENV) == (
        [{"uuid": "g-1", "name": "Embarazadas"}],
        [],
    )
    assert evaluate_template_value(" @(fields.semanas + 1) ", CONTEXT, ENV) == (Decimal(21), [])
    assert evaluate_template_value("@results.color", CONTEXT, ENV)[0] == CONTEXT["results"]["color"]  # type: ignore[index]
    assert evaluate_template_value("semana @fields.semanas", CONTEXT, ENV) == ("semana 20", [])
    assert evaluate_template_value("sin arroba", CONTEXT, ENV) == ("sin arroba", [])
    value, errors = evaluate_template_value("@(1 / 0)", CONTEXT, ENV)
    assert value == XError("division by zero")
    assert errors == ["error evaluating @(1 / 0): division by zero"]


def test_evaluate_expression() -> None:
    assert evaluate_expression("fields.semanas * 7", CONTEXT, ENV) == Decimal(140)
    assert evaluate_expression('has_any_word(input.text, "si sí")', CONTEXT, ENV) == {
        "__default__": True,
        "match": "Sí",
    }
    assert evaluate_expression("1 +", CONTEXT, ENV) == XError("syntax error at end of expression")
    assert evaluate_expression("contact.nada", CONTEXT, ENV) == XError("object has no property 'nada'")


def test_lambda_parameters_shadow_functions() -> None:
    assert evaluate_expression('foreach(array("a b"), (word) => upper(word))', CONTEXT, ENV) == ["A B"]
    assert evaluate_expression("foreach(array(1), (x, y) => x)", CONTEXT, ENV) == XError(
        "error calling FOREACH: need 2 argument(s), got 1"
    )


def test_values_render_as_rapidpro_renders_them() -> None:
    mexico = dt.timezone(dt.timedelta(hours=-6))
    assert (
        render_value(dt.datetime(2027, 3, 1, 9, 0, tzinfo=mexico), ENV) == "2027-03-01T09:00:00.000000-06:00"
    )
    assert render_value(dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC), ENV) == "2027-03-01T09:00:00.000000Z"
    assert render_value(dt.datetime(2027, 3, 1, 9, 0), ENV) == "2027-03-01T09:00:00.000000-06:00"
    assert render_value(dt.date(2027, 3, 1), ENV) == "2027-03-01"
    assert render_value(dt.time(9, 5), ENV) == "09:05:00.000000"
    assert render_value(Decimal("123.45000"), ENV) == "123.45"
    assert render_value(Decimal("1E+3"), ENV) == "1000"
    assert render_value(Decimal("-0"), ENV) == "0"
    assert render_value(7, ENV) == "7"
    assert render_value(0.5, ENV) == "0.5"
    assert render_value(True, ENV) == "true"
    assert render_value(None, ENV) == ""
    assert render_value(XError("boom"), ENV) == ""
    assert render_value(["a", Decimal(1), None, XError("e")], ENV) == "[a, 1, , e]"
    assert render_value({"b": 1, "a": "x", "__hidden": 2}, ENV) == "{a: x, b: 1}"
    assert render_value({"__default__": {"__default__": "deep"}}, ENV) == "deep"


def test_format_value_uses_the_environment() -> None:
    assert format_value(Decimal("1234567.5"), ENV) == "1,234,567.5"
    assert format_value(dt.date(2027, 3, 1), ENV) == "01-03-2027"
    assert format_value(dt.datetime(2027, 3, 1, 20, 30, tzinfo=dt.UTC), ENV) == "01-03-2027 14:30"
    assert format_value(dt.time(9, 5), ENV) == "09:05"
    assert format_value({"__default__": Decimal(1000)}, ENV) == "1,000"


def test_parsed_templates_are_cached() -> None:
    assert parse_template("Hola @contact.first_name") is parse_template("Hola @contact.first_name")


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    deep = "(" * (MAX_DEPTH + 5) + "1" + ")" * (MAX_DEPTH + 5)
    with pytest.raises(ParseError):
        parse(deep)
    text, errors = evaluate_template("@(" + deep + ")", CONTEXT, ENV)
    assert text == ""
    assert errors == [f"error evaluating @({deep}): expression is nested too deeply"]
    long_sum = "+".join(["1"] * 500)
    assert evaluate_expression(long_sum, CONTEXT, ENV) == XError("expression is too complex")
    assert evaluate_expression("+".join(["1"] * 50), CONTEXT, ENV) == Decimal(50)
    assert evaluate_expression("-" * 500 + "1", CONTEXT, ENV) == XError("expression is nested too deeply")


def test_text_size_is_bounded() -> None:
    value = evaluate_expression('repeat("x", 60000) & repeat("y", 60000)', CONTEXT, ENV)
    assert value == XError("text is longer than 100000 characters")


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ('"abc"', "abc"),
        ('"a\\"b"', 'a"b'),
        ('"tab\\there"', "tab\there"),
        ('"\\u00e1"', "á"),
        ('"\\x41"', "A"),
        ('"\\101"', "A"),
        ('"bad \\q escape"', "bad \\q escape"),
        ('"raw\nnewline \\n"', "raw\nnewline \\n"),
        ('"\\ud800"', "\\ud800"),
    ],
)
def test_text_literals(literal: str, value: str) -> None:
    assert unquote(literal) == value


def test_contexts_may_hold_any_mapping_and_sequence_types() -> None:
    from types import MappingProxyType

    context = {"fields": MappingProxyType({"lista": ("a", "b")})}
    assert evaluate_template("@(fields.lista[1]) @(count(fields.lista))", context, ENV) == ("b 2", [])


@pytest.mark.parametrize(
    "identifier",
    [
        "contact.first_name",
        "contact.fields.semanas",
        "fields.due_date",
        "fields.vacia",
        "results.color",
        "results.color.category",
        "input",
        "webhook.json.items.1",  # an index into a list: not a plain key, so the evaluator takes it
        "contact.groups.0.name",
        "CONTACT.First_Name",  # names in another case: the evaluator's case-insensitive lookup
        "contact.nickname",  # missing: the evaluator says what is missing
        "fields.due_date.year",  # a date has no properties
        "parent.name",  # a lookup into null
        "run",
    ],
)
def test_plain_paths_give_what_the_evaluator_gives(identifier: str) -> None:
    """A plain @a.b.c is looked up directly while each name is a key; whatever the shortcut cannot take
    falls back to the evaluator, so both ways give the same value, text and error."""
    context: dict[str, object] = {**CONTEXT, "results": ResultsView(CONTEXT_RESULTS)}
    (segment,) = parse_template(f"@{identifier}")
    assert isinstance(segment, Expression)
    assert segment.path is not None
    assert not isinstance(segment.tree, ParseError)
    by_evaluator = evaluator.evaluate(segment.tree, evaluator.Scope(context), ENV)
    assert evaluate_template_value(f"@{identifier}", context, ENV)[0] == by_evaluator
    rendered = evaluate_template(f"@{identifier}", context, ENV)
    if isinstance(by_evaluator, XError):
        assert rendered == ("", [f"error evaluating @{identifier}: {by_evaluator.message}"])
    else:
        assert rendered == (render_value(by_evaluator, ENV), [])


def test_only_plain_paths_take_the_shortcut() -> None:
    paths = [
        segment.path
        for segment in parse_template('@contact.name @(contact.name) @(upper(contact.name)) @(fields["x"])')
        if isinstance(segment, Expression)
    ]
    assert paths == [("contact", "name"), ("contact", "name"), None, None]
