"""``recado phone chat`` driven by a script against a whole site: texts go out through the modem, answers are
printed one line each, and the slash commands reach the demo clock and the alerts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.fullstack.stack import Stack
from tests.processes import RECADO, free_port, recado_env

pytestmark = pytest.mark.slow

PHONE = "+525511110006"


def chat(stack: Stack, script: Path, *extra: str) -> list[str]:
    result = subprocess.run(
        [
            *RECADO,
            "phone",
            "chat",
            PHONE,
            "--data-dir",
            str(stack.data_dir),
            "--control",
            stack.control,  # the harness runs the modem itself, so the demo did not write its address
            "--script",
            str(script),
            "--quiet",
            "0.5",
            *extra,
        ],
        capture_output=True,
        text=True,
        env=recado_env(),
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_a_scripted_chat_raises_an_alert_and_moves_the_clock(stack: Stack, tmp_path: Path) -> None:
    before = stack.now()
    script = tmp_path / "chat.txt"
    script.write_text(
        "# an unregistered mother in trouble\n"
        "ALERTA me duele mucho la cabeza\n"
        "Sí\n"
        "/alerts\n"
        "/advance 3d\n"
        "/advance\n"
        "/snooze\n"
        "/quit\n"
        "this line is never sent\n"
    )
    lines = chat(stack, script)
    assert lines[0] == "sent: ALERTA me duele mucho la cabeza"
    assert any(line.startswith("received: ") and "¿Avisamos al personal de salud?" in line for line in lines)
    assert any(line.startswith("received: ") and "ya avisamos al personal de salud" in line for line in lines)
    alerts = [line for line in lines if line.startswith("alert: ")]
    assert len(alerts) == 1
    assert alerts[0].startswith("alert: open ")
    assert "me duele mucho la cabeza" in alerts[0]
    assert [line for line in lines if line.startswith("error: ")] == [
        "error: /advance needs a duration, e.g. /advance 7d",
        "error: unknown command /snooze. Type a message to text it. /advance 7d (or 2h, 3d, 1w) moves the clock; "
        "/alerts, /clock, /quit.",
    ]
    assert "sent: this line is never sent" not in lines
    assert (stack.now() - before).days >= 3


def test_a_chat_without_the_demo_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [*RECADO, "phone", "chat", "--data-dir", str(tmp_path / "nothing"), "--script", "-"],
        input="ALTA\n",
        capture_output=True,
        text=True,
        env=recado_env(),
        timeout=60,
    )
    assert result.returncode == 1
    assert "start the demo first" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_chat_whose_modem_does_not_answer_says_so(tmp_path: Path) -> None:
    settings = {"server": "http://127.0.0.1:1", "user": "demo-chat", "password": "x", "phone": PHONE}
    (tmp_path / "demo-chat.json").write_text(
        json.dumps({**settings, "control": f"http://127.0.0.1:{free_port()}"})
    )
    result = subprocess.run(
        [*RECADO, "phone", "chat", "--data-dir", str(tmp_path), "--script", "-"],
        input="ALTA\n",
        capture_output=True,
        text=True,
        env=recado_env(),
        timeout=60,
    )
    assert result.returncode == 1
    assert "the virtual modem" in result.stderr
    assert "is the demo running?" in result.stderr
    assert "Traceback" not in result.stderr
