"""Golden conversations: each script in ``conversations/`` drives a flow through the simulator, and every event
of every step is checked against ``<script>.expected.json`` beside it.

A script names its flow and what happens, step by step::

    source: {fixture: favorites_v13.json}      # or {library: true}: the bundled programme
    flow: Favorites                            # the flow's name
    contact: {name: Ben, language: spa, fields: {fecha_parto: "2027-08-15"}, groups: [Embarazadas]}
    now: 2027-03-01T15:00:00Z                  # optional
    languages: [eng, spa]                      # optional: the languages the environment allows
    steps:
      - start: null                            # or start: "ALTA" (started by a keyword message)
      - reply: roja
      - wait: 2h                               # a timeout or expiry within it fires
      - travel: 2027-04-01T10:00:00-06:00      # move the clock without firing anything

Run ``pytest tests/flows/test_conversations.py --update-goldens`` to write the expected files after a change
you have checked; the diff of the expected files is then the behaviour change to review.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from flows.contact import Assets, Contact
from flows.env import Environment
from flows.model import FieldDef, Programme
from flows.simulator import Simulator, parse_duration

HERE = Path(__file__).parent / "conversations"
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "rapidpro"
LIBRARY = Path(__file__).resolve().parents[2] / "flows" / "library"
SCRIPTS = sorted(HERE.glob("*.yaml"))


def load_source(source: Mapping[str, object]) -> Programme:
    if "fixture" in source:
        from flows.rapidpro import import_export

        name = str(source["fixture"])
        programme, _ = import_export((FIXTURES / name).read_text(encoding="utf-8"), name)
        return programme
    if source.get("library"):
        from flows.programme import load_programme

        return load_programme(LIBRARY)
    raise ValueError(f"unknown source {source!r}")


def typed_fields(fields: Mapping[str, object], definitions: tuple[FieldDef, ...]) -> dict[str, object]:
    types = {definition.key: definition.value_type for definition in definitions}
    typed: dict[str, object] = {}
    for key, value in fields.items():
        kind = types.get(key, "text")
        text = str(value)
        if kind == "number":
            typed[key] = Decimal(text)
        elif kind == "date":
            typed[key] = dt.date.fromisoformat(text)
        elif kind == "datetime":
            typed[key] = dt.datetime.fromisoformat(text)
        else:
            typed[key] = text
    return typed


def simulator_for(script: Mapping[str, object]) -> Simulator:
    programme = load_source(script["source"])  # type: ignore[arg-type]
    flow = next(flow for flow in programme.flows if flow.name == script["flow"])
    person = dict(script.get("contact") or {})  # type: ignore[call-overload]
    groups = {group.name: group for group in programme.groups}
    contact = Contact(
        uuid="c0000000-0000-4000-8000-000000000001",
        name=str(person.get("name", "")),
        language=person.get("language"),
        phone=person.get("phone", "+525512345678"),
        fields=typed_fields(person.get("fields", {}), programme.fields),
        groups=tuple(groups[name] for name in person.get("groups", ())),
    )
    now = dt.datetime.fromisoformat(
        str(script.get("now", "2027-03-01T15:00:00+00:00")).replace("Z", "+00:00")
    )
    languages = tuple(script.get("languages") or programme.languages)  # type: ignore[arg-type]
    env = Environment(now=now, allowed_languages=languages, default_language=languages[0], rand=lambda: 0.5)
    return Simulator(flow, Assets.from_programme(programme), contact, env)


def play(script: Mapping[str, object]) -> list[dict[str, object]]:
    simulator = simulator_for(script)
    transcript: list[dict[str, object]] = []
    for step in script["steps"]:  # type: ignore[attr-defined]
        ((action, argument),) = step.items()
        if action == "start":
            events = simulator.start(None if argument is None else str(argument))
        elif action == "reply":
            events = simulator.reply(str(argument))
        elif action == "wait":
            events = simulator.wait(parse_duration(str(argument)))
        elif action == "travel":
            simulator.travel(dt.datetime.fromisoformat(str(argument)))
            events = []
        else:
            raise ValueError(f"unknown step {action!r}")
        transcript.append({action: argument, "events": [event.as_dict() for event in events]})
    return transcript


@pytest.mark.parametrize("path", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_conversation_matches_its_golden(path: Path, update_goldens: bool) -> None:
    script = yaml.safe_load(path.read_text(encoding="utf-8"))
    transcript = json.loads(json.dumps(play(script), ensure_ascii=False, default=str))
    expected_path = path.with_suffix(".expected.json")
    if update_goldens or not expected_path.exists():
        expected_path.write_text(
            json.dumps(transcript, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
        if not update_goldens:
            pytest.fail(f"wrote {expected_path.name}: review it and run again")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    for number, (got, want) in enumerate(zip(transcript, expected, strict=False), 1):
        assert got == want, f"step {number} of {path.name} differs"
    assert len(transcript) == len(expected)


def test_there_are_conversations() -> None:
    assert len(SCRIPTS) >= 3
