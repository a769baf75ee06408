"""`recado init` + `recado server` as a person runs them: a real process on a real port."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
from pathlib import Path

import pytest

from tests.processes import RECADO, HttpError, free_port, http_json, recado_env, wait_for_health, wait_until


def test_init_then_server_answers_healthz_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    init = subprocess.run(
        [*RECADO, "init", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=recado_env(),
        check=True,
    )
    assert "admin password" in init.stdout
    port = free_port()
    proc = subprocess.Popen(
        [*RECADO, "server", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=recado_env(),
    )
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}/healthz", proc) == {"status": "ok"}
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}" in out
    assert "Traceback" not in err


def test_server_refuses_an_uninitialised_data_dir(tmp_path: Path) -> None:
    result = subprocess.run(
        [*RECADO, "server", "--data-dir", str(tmp_path / "nothing"), "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=recado_env(),
        timeout=30,
    )
    assert result.returncode == 2
    assert "recado init" in result.stderr


def test_bad_configuration_is_a_clear_usage_error(tmp_path: Path) -> None:
    (tmp_path / "recado.toml").write_text("port = 'eighty'\n")
    result = subprocess.run(
        [*RECADO, "server", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=recado_env(),
        timeout=30,
    )
    assert result.returncode == 2
    assert "port" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("flag", ["--log-json", None])
def test_logs_go_to_stderr_in_the_chosen_form(tmp_path: Path, flag: str | None) -> None:
    args = [
        *RECADO,
        *([flag] if flag else []),
        "--log-level",
        "DEBUG",
        "init",
        "--data-dir",
        str(tmp_path / "d"),
    ]
    result = subprocess.run(args, capture_output=True, text=True, env=recado_env(), timeout=60, check=True)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any("Running upgrade" in line for line in lines)  # the first start migrates, and says so
    if flag:
        assert all(json.loads(line)["level"] in {"debug", "info"} for line in lines)
    else:
        assert not any(line.startswith("{") for line in lines)


@pytest.mark.slow
def test_demo_runs_a_whole_site_a_scripted_chat_registers_on(tmp_path: Path) -> None:
    """What `make run` runs: the server with the sample programme, a virtual modem and a gateway. The chat it
    tells people to open, driven by a script, is a mother registering: every answer comes back over the radio."""
    data_dir = tmp_path / "demo"
    port, control = free_port(), free_port()
    proc = subprocess.Popen(
        [*RECADO, "demo", "--data-dir", str(data_dir), "--port", str(port), "--control-port", str(control)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=recado_env(),
    )
    due = (dt.date.today() + dt.timedelta(days=120)).strftime("%d/%m/%Y")
    script = tmp_path / "chat.txt"
    script.write_text(
        "\n".join(
            ["ALTA", "Ana López", "1", due, "Sí", "Centro de Salud San Miguel", "/advance 2h", "/alerts"]
        )
    )
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}/healthz", proc, deadline_s=90) == {"status": "ok"}
        wait_until(
            lambda: _answers(f"http://127.0.0.1:{control}/modem"), "the virtual modem's control API", 60
        )
        chat = subprocess.run(
            [
                *RECADO,
                "phone",
                "chat",
                "--data-dir",
                str(data_dir),
                "--script",
                str(script),
            ],
            capture_output=True,
            text=True,
            env=recado_env(),
            timeout=120,
        )
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert chat.returncode == 0, chat.stderr
    lines = chat.stdout.splitlines()
    assert lines[0] == "sent: ALTA"
    received = [line for line in lines if line.startswith("received: ")]
    for expected in (
        "¿cuál es tu nombre?",
        "Mucho gusto, Ana",
        "fecha probable de parto",
        due,
        "¿En qué clínica",
    ):
        assert any(expected in line for line in received), (expected, lines)
    assert any("¡Listo, Ana!" in line for line in received), lines
    assert any(line.startswith("clock: ") for line in lines)
    assert "alert: none" in lines
    assert not any(line.startswith("error: ") for line in lines), lines

    assert proc.returncode == 0, err
    assert "admin user: admin, password (shown once):" in out
    assert "sample programme: flows: added" in out
    assert f"recado phone chat --data-dir {data_dir.resolve()}" in out
    assert f"recado server on http://127.0.0.1:{port}" in out
    for private in ("demo-chat.json", "demo-gateway.token"):
        assert (data_dir / private).stat().st_mode & 0o777 == 0o600


def _answers(url: str) -> bool:
    try:
        return bool(http_json("GET", url, timeout=1))
    except (OSError, HttpError):
        return False
