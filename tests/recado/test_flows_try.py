"""``recado flows try`` as a content author scripts it: the real command, replies on standard input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "rapidpro"

FLOW = """\
flow: Cita
language: spa
nodes:
  preguntar:
    send: "Hola @contact.first_name, ¿vas a ir a tu cita del @(format_date(fields.cita, \\"DD/MM\\"))?"
    quick_replies: [Sí, "No"]
    wait: reply
    save_as: asistira
    routes:
      - says: [si, sí]
        go: gracias
      - says: ["no"]
        go: end
      - timeout: 4h
        go: recordatorio
      - other: preguntar
  recordatorio:
    send: "¿Todo bien?\\nResponde SI o NO"
    wait: reply
    go: gracias
  gracias:
    do:
      - set_field: {confirmo: "@results.asistira"}
    send: "¡Gracias! Te esperamos."
    go: end
"""


def run(source: Path, *args: str, replies: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recado", "flows", "try", str(source), "--now", "2027-03-01T10:00", *args],
        input=replies,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "cita.yaml"
    path.write_text(FLOW, encoding="utf-8")
    return path


def test_each_message_the_flow_sends_is_one_line(flow_file: Path) -> None:
    done = run(flow_file, "--name", "Ana López", "--contact", "cita=15/03/2027", replies="sí\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Hola Ana, ¿vas a ir a tu cita del 15/03?",
        "¡Gracias! Te esperamos.",
    ]
    assert "# quick replies: Sí | No" in done.stderr
    assert "# conversation completed" in done.stderr


def test_wait_lets_the_timeout_fire_and_line_breaks_stay_on_one_line(flow_file: Path) -> None:
    done = run(flow_file, "--contact", "cita=15/03/2027", replies="/wait 3h\n/wait 2h\nsí\n/fields\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == ["¿Todo bien?\\nResponde SI o NO", "¡Gracias! Te esperamos."]
    assert "# it is now 2027-03-01T15:00:00-06:00" in done.stderr
    # The timeout's result has no value, so saving it clears the field rather than setting it.
    assert "# cita = 15/03/2027" in done.stderr
    assert "confirmo" not in done.stderr


def test_now_results_restart_and_unknown_commands(flow_file: Path) -> None:
    replies = "quizás\n/results\n/now 2027-03-05\n/restart\n/bailar\nno\nhola\n"
    done = run(flow_file, "--contact", "cita=15/03/2027", replies=replies)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("¿vas a ir a tu cita del 15/03?") == 3
    assert "# asistira = 'quizás' (Other)" in done.stderr
    assert "# it is now 2027-03-05T00:00:00-06:00" in done.stderr
    assert "# unknown command /bailar; /help lists them" in done.stderr
    assert "# the conversation has ended; /restart to begin again" in done.stderr


def test_a_rapidpro_export_runs_by_flow_name_in_the_contact_language() -> None:
    done = run(
        FIXTURES / "favorites_v13.json", "--flow", "favorites", "--language", "spa", replies="rojo\nred\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "¿Cuál es tu color favorito?",
        "I don't know that color. Try again.",
        "Good choice, I like Red too! What is your favorite beer?",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--flow", "Nope"), "there is no flow named 'Nope'; the flows are 'Cita'"),
        (("--contact", "cita=mañana"), "cita is a date field"),
        (("--contact", "sinigual"), "write field=value"),
        (("--now", "ayer"), "is not a date"),
        (("--timezone", "Mars/Olympus"), "unknown timezone"),
    ],
)
def test_bad_options_are_refused_with_the_reason(
    flow_file: Path, args: tuple[str, ...], message: str
) -> None:
    programme = flow_file.parent
    (programme / "programme.yaml").write_text(
        "programme: Citas\nlanguages: [spa]\nfields:\n  cita: {name: Cita, type: date}\n  confirmo: text\n",
        encoding="utf-8",
    )
    (programme / "flows").mkdir()
    flow_file.rename(programme / "flows" / "cita.yaml")
    done = run(programme, *args)
    assert done.returncode != 0
    assert message in done.stderr


def test_a_broken_flow_file_is_a_located_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "rota.yaml"
    path.write_text("flow: Rota\nnodes:\n  a:\n    send: hola\n    go: b\n", encoding="utf-8")
    done = run(path)
    assert done.returncode == 1
    assert "rota.yaml:5:" in done.stderr
    assert "Traceback" not in done.stderr
