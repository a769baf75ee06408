"""`recado gateway` as a technician runs it: flags only, a modem on a pty, a clean stop; and its refusals."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.simulator import VirtualModem
from tests.gateway.process.conftest import eventually
from tests.gateway.process.fakeserver import TOKEN, FakeServer

RECADO = [sys.executable, "-m", "recado"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECADO_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.mark.slow
async def test_flags_alone_run_a_gateway_on_a_modem_and_sigterm_stops_it(
    tmp_path: Path, server: FakeServer
) -> None:
    link = tmp_path / "usb-Virtual_Modem-if00-port0"
    modem = await VirtualModem(seed=5, link=link).start()
    spool = tmp_path / "spool" / "gateway.sqlite3"
    process = await asyncio.create_subprocess_exec(
        *RECADO,
        "gateway",
        "--server",
        server.url,
        "--token",
        TOKEN,
        "--modem",
        str(link),
        "--spool",
        str(spool),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    try:
        modem.receive_sms("+529511234567", "ALTA")
        await eventually(lambda: len(server.inbound) == 1, timeout=30)
        assert next(iter(server.inbound.values()))["channel"] == link.name  # named after the stable port name
        message = server.queue("+529511234567", "¡Bienvenida!")
        await modem.wait_sent(1, timeout=30)
        await eventually(lambda: server.statuses_of(message.id) == ["accepted", "sent"], timeout=30)
        assert spool.exists()
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 30)
        await modem.stop()
    assert process.returncode == 0, err.decode()
    assert "1 channel(s)" in out.decode()
    assert b"Traceback" not in err


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--token", "t", "--modem", "/dev/null"], "no server"),
        (["--server", "http://127.0.0.1:9", "--modem", "/dev/null"], "no token"),
        (["--server", "http://127.0.0.1:9", "--token", "t"], "no channels"),
        (["--server", "nonsense", "--token", "t", "--modem", "/dev/null"], "not an http"),
    ],
)
def test_an_incomplete_command_is_a_usage_error(args: list[str], complaint: str) -> None:
    result = subprocess.run(
        [*RECADO, "gateway", *args], capture_output=True, text=True, env=_env(), timeout=60, check=False
    )
    assert result.returncode == 2
    assert complaint in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_channel_is_refused_before_anything_starts(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('server = "http://127.0.0.1:9"\ntoken = "t"\n[[channels]]\nid = "x"\nkind = "pigeon"\n')
    result = subprocess.run(
        [*RECADO, "gateway", "--config", str(config)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown kind 'pigeon'" in result.stderr


def test_a_spool_that_is_not_one_stops_the_gateway_with_a_clear_message(tmp_path: Path) -> None:
    spool = tmp_path / "spool.sqlite3"
    spool.write_bytes(b"not a database " * 200)
    result = subprocess.run(
        [
            *RECADO,
            "gateway",
            "--server",
            "http://127.0.0.1:9",
            "--token",
            "t",
            "--modem",
            "/dev/null",
            "--spool",
            str(spool),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "not a usable spool file" in result.stderr
    assert "Traceback" not in result.stderr
