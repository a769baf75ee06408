"""Programme folders: programme.yaml plus flows/*.yaml, loaded with every problem of every file, and written back."""

from __future__ import annotations

import dataclasses
import uuid as uuidlib
from pathlib import Path

import pytest

from flows import model as m
from flows.errors import FlowFileError
from flows.native import flow_uuid_for, group_uuid_for
from flows.programme import (
    check_programme,
    flow_file_names,
    load_programme,
    slugify,
    write_programme,
)
from flows.rapidpro import import_export

NATIVE = Path(__file__).parent / "testdata" / "native"
RAPIDPRO = Path("/work/shared/fixtures/rapidpro")

PROGRAMME = """\
programme: Prospera
languages: [spa, eng]

fields:
  fecha_parto: {name: Fecha probable de parto, type: date}
  clinica: text

groups: [Embarazadas, {name: Madres, uuid: 5b0c1f0e-8d0a-4a57-9a0e-3f9d7d1c2a10}]

triggers:
  - keywords: [hola, registro]
    flow: Registro
  - catch_all: true
    flow: Semana
    match: only_word
    exclude_groups: [Madres]

campaigns:
  - campaign: Embarazo
    group: Embarazadas
    events:
      - relative_to: fecha_parto
        offset: -26
        unit: weeks
        delivery_hour: 9
        message:
          spa: "Semana 14"
          eng: "Week 14"
      - relative_to: fecha_parto
        offset: -2
        unit: weeks
        flow: Semana
        start_mode: skip
"""

SEMANA = """\
flow: Semana
uuid: 0b6d2c3a-1111-4222-8333-444455556666
nodes:
  hola:
    send: "Hola @contact.name"
    do:
      - enter_flow: Registro
      - add_groups: [Madres]
    go: end
"""


def make(folder: Path, programme: str = PROGRAMME, **flows: str) -> Path:
    (folder / "flows").mkdir(parents=True, exist_ok=True)
    (folder / "programme.yaml").write_text(programme, encoding="utf-8")
    files = {"registro.yaml": (NATIVE / "registro.yaml").read_text(encoding="utf-8"), "semana.yaml": SEMANA}
    for name, text in {**files, **flows}.items():
        (folder / "flows" / name).write_text(text, encoding="utf-8")
    return folder


def test_a_programme_folder_loads_with_references_resolved(tmp_path: Path) -> None:
    programme = load_programme(make(tmp_path))
    assert programme.name == "Prospera"
    assert programme.languages == ("spa", "eng")
    assert [f.name for f in programme.flows] == ["Registro", "Semana"]
    assert programme.fields == (
        m.FieldDef("fecha_parto", "Fecha probable de parto", "date"),
        m.FieldDef("clinica", "clinica", "text"),
    )
    madres = m.GroupRef("5b0c1f0e-8d0a-4a57-9a0e-3f9d7d1c2a10", "Madres")
    assert programme.groups == (m.GroupRef(group_uuid_for("Embarazadas"), "Embarazadas"), madres)
    semana = programme.flows[1]
    keyword, catch_all = programme.triggers
    assert keyword == m.Trigger(
        "keyword", m.FlowRef(flow_uuid_for("Registro"), "Registro"), ("hola", "registro")
    )
    assert catch_all.kind == "catch_all"
    assert catch_all.match == "only_word"
    # Named alone, references find the flow's or group's own uuid, even when it is not derived.
    assert catch_all.flow == m.FlowRef(semana.uuid, "Semana")
    assert catch_all.exclude_groups == (madres,)
    actions = semana.nodes[0].actions
    assert isinstance(actions[2], m.AddContactGroups)
    assert actions[2].groups == (madres,)
    [campaign] = programme.campaigns
    first, second = campaign.events
    assert (first.offset, first.unit, first.delivery_hour, first.message) == (
        -26,
        "weeks",
        9,
        {"spa": "Semana 14", "eng": "Week 14"},
    )
    assert second.flow == m.FlowRef(semana.uuid, "Semana")
    assert second.start_mode == "skip"
    assert first.uuid != second.uuid
    assert load_programme(tmp_path / "programme.yaml") == programme


def test_event_uuids_survive_inserting_an_event_and_rewording(tmp_path: Path) -> None:
    before = load_programme(make(tmp_path / "a")).campaigns[0].events
    edited = PROGRAMME.replace(
        "    events:\n",
        "    events:\n      - relative_to: fecha_parto\n        offset: -30\n        unit: weeks\n        message: Nuevo\n",
    ).replace("Semana 14", "Semana catorce")
    after = load_programme(make(tmp_path / "b", edited)).campaigns[0].events
    assert [e.uuid for e in after[1:]] == [e.uuid for e in before]


def test_load_write_load_gives_the_same_programme(tmp_path: Path) -> None:
    programme = load_programme(make(tmp_path / "src"))
    write_programme(programme, tmp_path / "out")
    assert load_programme(tmp_path / "out") == programme
    assert sorted(p.name for p in (tmp_path / "out" / "flows").iterdir()) == ["registro.yaml", "semana.yaml"]


@pytest.mark.parametrize(
    "fixture", ["color_v13", "favorites_v13", "rating_10", "cataclysm", "campaign_import_with_translations"]
)
def test_imported_rapidpro_exports_write_and_load_back_exactly(tmp_path: Path, fixture: str) -> None:
    path = RAPIDPRO / f"{fixture}.json"
    if not path.exists():
        pytest.skip("the shared RapidPro fixtures are not available")
    programme, _ = import_export(path.read_bytes(), str(path))
    write_programme(programme, tmp_path)
    loaded, problems = check_programme(tmp_path)
    assert not [p for p in problems if p.level == "error"], problems
    assert loaded == programme


def test_a_model_programme_with_explicit_uuids_and_odd_order_round_trips(tmp_path: Path) -> None:
    def u(n: int) -> str:
        return str(uuidlib.UUID(int=n, version=4))

    def flow(name: str, uuid: str) -> m.Flow:
        node = m.Node(
            u(hash(name) % 1000 + 10),
            actions=(m.SendMsg(u(hash(name) % 1000 + 2000), name),),
            exits=(m.Exit(u(hash(name) % 1000 + 3000), None),),
        )
        return m.Flow(uuid=uuid, name=name, language="eng", nodes=(node,))

    flows = (flow("Zeta", u(1)), flow("alpha", u(2)), flow("Alpha!", u(3)), flow("CON", u(4)))
    group = m.GroupRef(u(5), "Pregnant")
    event = m.CampaignEvent(
        u(6), "due", 3, "days", None, {"eng": "hi", "spa": "hola"}, None, "passive", "eng"
    )
    flow_event = m.CampaignEvent(
        u(7), "due", 3, "days", None, None, m.FlowRef(u(2), "alpha"), "interrupt", "spa"
    )
    programme = m.Programme(
        name="Imported",
        flows=flows,
        fields=(m.FieldDef("due", "Due Date", "datetime"),),
        groups=(group,),
        triggers=(m.Trigger("keyword", m.FlowRef(u(1), "Zeta"), ("join",), "only_word", (group,)),),
        campaigns=(m.Campaign(u(8), "Pregnancy", group, (event, flow_event)),),
        languages=("spa", "eng"),
    )
    assert flow_file_names(flows) == ["zeta.yaml", "alpha.yaml", "alpha-2.yaml", "con-flow.yaml"]
    write_programme(programme, tmp_path)
    assert load_programme(tmp_path) == programme
    text = (tmp_path / "programme.yaml").read_text(encoding="utf-8")
    assert "\nflows: [zeta.yaml, alpha.yaml, alpha-2.yaml, con-flow.yaml]\n" in text
    write_programme(programme, tmp_path)  # writing again over itself is fine and stable
    assert load_programme(tmp_path) == programme


def test_slugs_are_plain_ascii() -> None:
    assert slugify("Califica tu clínica") == "califica-tu-clinica"
    assert slugify("¿Año nuevo? ¡Sí!") == "ano-nuevo-si"
    assert slugify("😀") == "flow"
    assert slugify("aux") == "aux-flow"


def test_write_refuses_to_leave_stale_flow_files_unless_told(tmp_path: Path) -> None:
    programme = load_programme(make(tmp_path / "src"))
    out = tmp_path / "out"
    (out / "flows").mkdir(parents=True)
    (out / "flows" / "vieja.yaml").write_text("flow: Vieja\nnodes: {a: {go: end}}\n", encoding="utf-8")
    with pytest.raises(FlowFileError, match=r"vieja\.yaml: this flow file is not part of the programme"):
        write_programme(programme, out)
    write_programme(programme, out, replace=True)
    assert not (out / "flows" / "vieja.yaml").exists()
    assert load_programme(out) == programme


def test_every_problem_of_every_file_is_reported_in_order(tmp_path: Path) -> None:
    broken_programme = (
        PROGRAMME.replace("flow: Registro", "flow: Registr")
        .replace("relative_to: fecha_parto\n        offset: -2", "relative_to: clinica\n        offset: -2")
        .replace("triggers:", "trigers: []\ntriggers:")
    )
    folder = make(
        tmp_path,
        broken_programme,
        **{
            "semana.yaml": SEMANA.replace("enter_flow: Registro", "enter_flow: Registr").replace(
                "[Madres]", "[Madre]"
            ),
            "otra.yaml": "flow: Otra\nnodes:\n  a:\n    go: b\n",
            "rota.yaml": "flow: Rota\nnodes:\n  a: [\n",
        },
    )
    with pytest.raises(FlowFileError) as caught:
        load_programme(folder)
    lines = str(caught.value).splitlines()
    flows = folder / "flows"
    main = folder / "programme.yaml"
    assert lines == [
        f"{flows / 'otra.yaml'}:4:9: node 'a' goes to 'b', which does not exist",
        f"{flows / 'rota.yaml'}:4:1: a list or mapping written with [ ] or {{ }} is not closed properly",
        f"{flows / 'semana.yaml'}:7:9: node 'hola' enters the flow 'Registr', which is not in this programme; did you mean 'Registro'?",
        f"{flows / 'semana.yaml'}:8:9: node 'hola' uses the group 'Madre', which programme.yaml does not declare; did you mean 'Madres'?",
        f"{main}:10:1: programme.yaml has no setting 'trigers'; did you mean 'triggers'?",
        f"{main}:13:11: the trigger starts the flow 'Registr', which is not in this programme; did you mean 'Registro'?",
        f"{main}:23:22: the event is timed from the field 'clinica', which is a text field: declare it with type date or datetime",
        f"{main}:30:22: the event is timed from the field 'clinica', which is a text field: declare it with type date or datetime",
    ]


def test_a_flow_that_fails_to_load_is_not_also_reported_missing(tmp_path: Path) -> None:
    folder = make(tmp_path, **{"semana.yaml": SEMANA.replace("go: end", "go: nowhere")})
    _, problems = check_programme(folder)
    assert [p.message for p in problems] == ["node 'hola' goes to 'nowhere', which does not exist"]


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda p: p, "this is not a programme folder: it has no programme.yaml"),
        (lambda p: p / "nada", "no such folder"),
        (lambda p: (p / "x.txt").write_text("x") and p / "x.txt", "this is a file; a programme is a folder"),
    ],
)
def test_not_a_programme(tmp_path: Path, setup: object, expected: str) -> None:
    path = setup(tmp_path)  # type: ignore[operator]
    _, problems = check_programme(path)
    assert [p.message for p in problems] == [expected]


def test_programme_yaml_shapes_are_checked(tmp_path: Path) -> None:
    text = "programme: P\nlanguages: spa\nfields:\n  fecha: fecha\ngroups: {a: b}\ntriggers:\n  - flow: Registro\ncampaigns:\n  - campaign: C\n    group: G\n    events:\n      - relative_to: x\n        offset: pronto\n        unit: days\n"
    _, problems = check_programme(make(tmp_path, text))
    main = tmp_path / "programme.yaml"
    assert [str(p) for p in problems if str(p).startswith(str(main))] == [
        f"{main}:4:10: the type of field 'fecha' is 'fecha'; use one of: text, number, date, datetime",
        f"{main}:5:9: groups should be a list, not a set of `key: value` lines",
        f"{main}:7:5: a trigger needs `keywords:` (or `catch_all: true`)",
        f"{main}:13:17: offset should be a whole number",
    ]


def test_flow_order_can_be_given(tmp_path: Path) -> None:
    folder = make(tmp_path, PROGRAMME + "\nflows: [semana.yaml, faltante.yaml]\n")
    _, problems = check_programme(folder)
    assert [p.message for p in problems] == [
        "the flow file flows/faltante.yaml does not exist; the folder has registro.yaml, semana.yaml"
    ]
    folder = make(tmp_path, PROGRAMME + "\nflows: [semana.yaml]\n")
    assert [f.name for f in load_programme(folder).flows] == ["Semana", "Registro"]


def test_dataclasses_replace_keeps_programme_equality_meaningful(tmp_path: Path) -> None:
    programme = load_programme(make(tmp_path))
    renamed = dataclasses.replace(programme, name="Otro")
    assert renamed != programme
