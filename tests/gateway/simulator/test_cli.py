"""``recado sim modem`` as a real process: prints its pty, answers on it, serves control, stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from recado.cli import cli
from tests.gateway.simulator.conftest import Port

RECADO = [sys.executable, "-m", "recado"]


def test_sim_modem_serves_a_pty_until_ctrl_c(tmp_path: Path) -> None:
    link = tmp_path / "ttyUSB-virtual"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"timing": {"boot": 0, "command": 0, "submit": 0}}))
    with subprocess.Popen(
        [*RECADO, "sim", "modem", "--link", str(link), "--profile", "simcom", "--faults", str(plan),
         "--control", "127.0.0.1:0", "--pin", "1234"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:  # fmt: skip
        _drive(process, link)


def _drive(process: subprocess.Popen[str], link: Path) -> None:
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        path = process.stdout.readline().strip()
        assert path.startswith("/dev/pts/")
        assert os.readlink(link) == path
        control = ""
        while not control:
            match = re.search(r"control (http://\S+)", process.stderr.readline())
            control = match.group(1) if match else ""
        port = Port(str(link))
        try:
            assert port.command("ATE0;+CGMM;+CPIN?\r") == (
                b"ATE0;+CGMM;+CPIN?\r\r\nSIMCOM_SIM800L\r\n\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
            )
        finally:
            port.close()
        with urllib.request.urlopen(control, timeout=5) as response:  # noqa: S310 - loopback URL we started
            status = json.load(response)
        assert status["profile"] == "simcom"
        assert status["port"] == path
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert not os.path.lexists(link)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--control", "0.0.0.0:8000"], "loopback only"),
        (["--control", "127.0.0.1:http"], "invalid literal"),
        (["--profile", "nokia"], "Invalid value for '--profile'"),
        (["--faults", "{plan}"], "unknown key"),
        (["--faults", "{missing}"], "No such file"),
    ],
)
def test_sim_modem_refuses_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text("[timming]\nsubmit = 1\n")
    args = [a.replace("{plan}", str(plan)).replace("{missing}", str(tmp_path / "none.toml")) for a in args]
    result = CliRunner().invoke(cli, ["sim", "modem", *args])
    assert result.exit_code == 2
    assert message in result.output
