"""The bundled programme in ``flows/library``: it loads without problems, ships with the package, every flow
can be started, keyword flows do not swallow their keyword, every message is a sane size, and every flow has
a golden conversation in ``conversations/library_*.yaml``.
"""

from __future__ import annotations

import importlib.resources
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from flows import sms
from flows.excellent.template import Expression, parse_template
from flows.model import EnterFlow, Flow, Programme, SendMsg
from flows.programme import check_programme, load_programme

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "flows" / "library"
CONVERSATIONS = Path(__file__).parent / "conversations"
MAX_SEGMENTS = 3
# What an expression is measured as: about a first name, a date (15/08/2027) or a short clinic name.
EXPRESSION_STAND_IN = "x" * 12


@pytest.fixture(scope="module")
def programme() -> Programme:
    return load_programme(LIBRARY)


def messages(programme: Programme) -> Iterator[tuple[str, str]]:
    """(where, text) of every message in the programme's first language, as written (expressions included)."""
    for flow in programme.flows:
        for node in flow.nodes:
            for action in node.actions:
                if isinstance(action, SendMsg):
                    yield f"{flow.name} / {node.name}", action.text
    for campaign in programme.campaigns:
        for number, event in enumerate(campaign.events, 1):
            if event.message is not None:
                yield f"{campaign.name} / event {number}", event.message[event.base_language]


def as_sent(template: str) -> str:
    """An estimate of the text a template becomes, each expression standing in for a typical value."""
    return "".join(
        EXPRESSION_STAND_IN if isinstance(segment, Expression) else segment.value
        for segment in parse_template(template)
    )


def test_the_library_has_no_problems() -> None:
    programme, problems = check_programme(LIBRARY)
    assert [str(problem) for problem in problems] == []
    assert programme is not None


def test_the_library_declares_what_its_flows_use(programme: Programme) -> None:
    assert programme.languages == ("spa",)
    assert {field.key: field.value_type for field in programme.fields} == {
        "fecha_parto": "date",
        "fecha_nacimiento_bebe": "date",
        "clinica": "text",
        "fecha_cita": "date",
    }
    assert {group.name for group in programme.groups} == {"Participantes", "Embarazadas", "Mamás"}
    keywords = {keyword for trigger in programme.triggers for keyword in trigger.keywords}
    assert {"alta", "alerta", "baja", "alto"} <= keywords
    assert any(trigger.kind == "catch_all" for trigger in programme.triggers)


def test_every_flow_can_be_started(programme: Programme) -> None:
    by_uuid = {flow.uuid: flow for flow in programme.flows}
    started = {trigger.flow.uuid for trigger in programme.triggers}
    started |= {
        event.flow.uuid for campaign in programme.campaigns for event in campaign.events if event.flow
    }
    reached: set[str] = set()
    pending = [uuid for uuid in started if uuid in by_uuid]
    while pending:
        uuid = pending.pop()
        if uuid in reached:
            continue
        reached.add(uuid)
        pending.extend(entered_flows(by_uuid[uuid]))
    assert sorted(flow.name for flow in programme.flows if flow.uuid not in reached) == []


def entered_flows(flow: Flow) -> Iterator[str]:
    for node in flow.nodes:
        for action in node.actions:
            if isinstance(action, EnterFlow):
                yield action.flow.uuid


def test_keyword_flows_do_not_take_their_keyword_as_an_answer(programme: Programme) -> None:
    """A flow started by a message answers its first wait with that message: "ALTA" would become her name."""
    by_uuid = {flow.uuid: flow for flow in programme.flows}
    for trigger in programme.triggers:
        first = by_uuid[trigger.flow.uuid].nodes[0]
        assert first.router is None or first.router.wait is None, trigger.flow.name


def test_every_message_is_at_most_three_sms_as_written(programme: Programme) -> None:
    found = list(messages(programme))
    assert len(found) > 30
    too_long = {where: sms.size(as_sent(text)) for where, text in found}
    assert {where: size for where, size in too_long.items() if size.segments > MAX_SEGMENTS} == {}


def test_every_message_fits_one_sms_once_transliterated(programme: Programme) -> None:
    """Accents (á, í, ó, ú) make most Spanish texts UCS-2, two or three SMS as written; transliterated, each
    must be one GSM-7 SMS, so nothing in them may lack a GSM-7 equivalent (no emoji)."""
    not_one_sms = {}
    for where, text in messages(programme):
        sent = sms.transliterate(as_sent(text))
        if sent.blocking or sms.size(sent.text) != sms.Size("gsm7", sms.size(sent.text).units, 1):
            not_one_sms[where] = (sent.blocking, sms.size(sent.text))
    assert not_one_sms == {}


def test_the_library_ships_with_the_package() -> None:
    installed = importlib.resources.files("flows").joinpath("library")
    assert installed.joinpath("programme.yaml").is_file()
    files = sorted(path.relative_to(LIBRARY).as_posix() for path in LIBRARY.rglob("*.yaml"))
    assert len(files) >= 7
    for name in files:
        assert installed.joinpath(name).is_file(), name
    # An editable install finds the files in the source tree whatever the build says; the wheel only gets
    # what the package-data patterns match.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["flows"]
    packaged = {path for pattern in patterns for path in (ROOT / "flows").glob(pattern)}
    assert [name for name in files if LIBRARY / name not in packaged] == []


def test_every_flow_has_a_golden_conversation(programme: Programme) -> None:
    scripts = [
        yaml.safe_load(path.read_text(encoding="utf-8")) for path in CONVERSATIONS.glob("library_*.yaml")
    ]
    assert all(script["source"] == {"library": True} for script in scripts)
    covered = {script["flow"] for script in scripts}
    assert sorted(flow.name for flow in programme.flows if flow.name not in covered) == []
