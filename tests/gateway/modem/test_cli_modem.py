"""``recado modem detect`` against virtual modems in their own thread, and against ports that are not modems."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from gateway.simulator import ModemConfig, ModemThread
from gateway.simulator.profiles import HUAWEI
from recado.cli import cli


def test_detect_prints_model_imei_sim_and_signal(tmp_path: Path) -> None:
    link = tmp_path / "usb-HUAWEI_E3131-if00-port0"
    with ModemThread(ModemConfig(profile=HUAWEI, signal=9), link=link) as modem:
        modem.wait_for(lambda m: m.engine.powered)
        result = CliRunner().invoke(cli, ["modem", "detect", "--port", str(link)])
    assert result.exit_code == 0, result.output
    assert f"{link} -> /dev/pts/" in result.output
    assert "model:  huawei E3131" in result.output
    assert "IMEI:   356938035643809" in result.output
    assert "SIM:    READY" in result.output
    assert "signal: 9/31 (-95 dBm, weak: move the antenna or the modem)" in result.output


def test_detect_json_and_a_sim_waiting_for_its_pin(tmp_path: Path) -> None:
    link = tmp_path / "modem"
    with ModemThread(ModemConfig(pin="1234"), link=link) as modem:
        modem.wait_for(lambda m: m.engine.powered)
        result = CliRunner().invoke(cli, ["modem", "detect", "--port", str(link), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert (found["answered"], found["sim"], found["model"]) == (True, "SIM PIN", "Virtual GSM Modem")


def test_detect_reports_ports_that_are_not_modems(tmp_path: Path) -> None:
    master, slave = os.openpty()  # a serial port nobody answers on
    try:
        silent = os.ttyname(slave)
        missing = str(tmp_path / "gone")
        result = CliRunner().invoke(cli, ["modem", "detect", "--port", silent, "--port", missing])
    finally:
        os.close(master)
        os.close(slave)
    assert result.exit_code == 1
    assert "not a modem: no answer to AT" in result.output
    assert "not a modem: cannot open" in result.output
