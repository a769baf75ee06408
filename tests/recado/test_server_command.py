"""`recado init` + `recado server` as a person runs them: a real process on a real port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

RECADO = [sys.executable, "-m", "recado"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECADO_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _wait_for_health(url: str, proc: subprocess.Popen[str], deadline_s: float = 20) -> dict[str, str]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {proc.communicate()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback URL built above
                body: dict[str, str] = json.load(resp)
                return body
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not answer /healthz in time")


def test_init_then_server_answers_healthz_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    init = subprocess.run(
        [*RECADO, "init", "--data-dir", str(data_dir)], capture_output=True, text=True, env=_env(), check=True
    )
    assert "admin password" in init.stdout
    port = _free_port()
    proc = subprocess.Popen(
        [*RECADO, "server", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert _wait_for_health(f"http://127.0.0.1:{port}/healthz", proc) == {"status": "ok"}
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}" in out
    assert "Traceback" not in err


def test_server_refuses_an_uninitialised_data_dir(tmp_path: Path) -> None:
    result = subprocess.run(
        [*RECADO, "server", "--data-dir", str(tmp_path / "nothing"), "--port", str(_free_port())],
        capture_output=True,
        text=True,
        env=_env(),
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
        env=_env(),
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
    result = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=60, check=True)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any("Running upgrade" in line for line in lines)  # the first start migrates, and says so
    if flag:
        assert all(json.loads(line)["level"] in {"debug", "info"} for line in lines)
    else:
        assert not any(line.startswith("{") for line in lines)


def _json(method: str, url: str, body: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - loopback URL built in the test
        return json.load(resp)


def test_demo_runs_a_whole_site_a_virtual_phone_can_talk_to(tmp_path: Path) -> None:
    """What `make run` runs: the server with the sample programme, a virtual modem and a gateway. A virtual
    phone texts ALTA to the modem and the registration flow's first messages come back to it over the radio."""
    data_dir = tmp_path / "demo"
    port, control = _free_port(), _free_port()
    proc = subprocess.Popen(
        [*RECADO, "demo", "--data-dir", str(data_dir), "--port", str(port), "--control-port", str(control)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    phone = f"http://127.0.0.1:{control}/phones/+525512345678"
    try:
        assert _wait_for_health(f"http://127.0.0.1:{port}/healthz", proc, deadline_s=90) == {"status": "ok"}
        for _ in range(300):  # the modem comes up with the server; wait until it takes an SMS
            try:
                _json("POST", f"{phone}/sms", {"text": "ALTA"})
                break
            except OSError:
                time.sleep(0.2)
        texts: list[str] = []
        for _ in range(600):  # gateway sync, runner, outbox, next sync, radio
            texts = [m["text"] for m in _json("GET", f"{phone}/inbox")["messages"]]
            if any("nombre" in t for t in texts):
                break
            time.sleep(0.2)
        assert any("nombre" in t for t in texts), texts
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "admin user: admin, password (shown once):" in out
    assert "sample programme: flows: added" in out
    assert "Play the mother's phone" in out
