"""``recado demo`` (what ``make run`` starts): a whole site on one machine, in one terminal.

The server with the bundled maternal-health programme, a virtual GSM modem on a pty, and a gateway that owns
that modem and syncs with the server. The modem's control interface lets anyone play the mother's phone with
curl. The modem and the gateway run as child processes (the server and the gateway only ever meet over the
link, as on a real site) and stop with the server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.resources import as_file, files
from pathlib import Path

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from server.auth.keys import load_keyring
from server.auth.service import create_token
from server.cli import data_dir_option, initialise, make_config, serve, with_database
from server.cli_flows import describe, load_into, read_programme_dir
from server.config import Config

PHONE = "+525512345678"
TOKEN_FILE = "demo-gateway.token"  # noqa: S105 - the name of the file that holds it


def gateway_token(config: Config) -> str:
    """The demo gateway's token, made once and kept in the data directory (readable by its owner only)."""
    path = config.data_dir / TOKEN_FILE
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    keyring = load_keyring(config.keys_dir)

    async def work(engine: AsyncEngine) -> str:
        async with engine.begin() as conn:
            issued = await create_token(
                conn,
                keyring,
                config,
                role="gateway",
                name="demo-gateway",
                scopes=None,
                actor="demo",
                now=dt.datetime.now(dt.UTC),
            )
        return issued.jwt

    token = with_database(config, work)
    path.touch(mode=0o600)
    path.write_text(token, encoding="ascii")
    return token


def _recado(*args: str) -> list[str]:
    return [sys.executable, "-m", "recado", *args]


def _wait_for(path: Path, child: subprocess.Popen[bytes], seconds: float) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        if child.poll() is not None or time.monotonic() > end:
            raise click.ClickException(f"the virtual modem did not start (no {path})")
        time.sleep(0.05)


@contextlib.contextmanager
def radio_side(config: Config, control_port: int) -> Iterator[None]:
    """A virtual modem and a gateway on it, for as long as the block runs."""
    link = config.data_dir / "modem0"
    server_url = f"http://127.0.0.1:{config.port}"
    children: list[subprocess.Popen[bytes]] = []
    try:
        modem = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
            _recado("sim", "modem", "--link", str(link), "--control", f"127.0.0.1:{control_port}"),
            stdout=subprocess.DEVNULL,
        )
        children.append(modem)
        _wait_for(link, modem, 30)
        gateway = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
            _recado(
                "gateway",
                "--server",
                server_url,
                "--token",
                gateway_token(config),
                "--modem",
                f"demo-modem={link}",
                "--spool",
                str(config.data_dir / "gateway-spool.sqlite3"),
            ),
            env={**os.environ, "RECADO_LOG_LEVEL": os.environ.get("RECADO_LOG_LEVEL", "WARNING")},
        )
        children.append(gateway)
        yield
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=10)


def how_to_talk(control_port: int) -> str:
    control = f"http://127.0.0.1:{control_port}"
    return "\n".join(
        [
            "Play the mother's phone (a virtual phone texting the virtual modem):",
            f"  curl -s -X POST {control}/phones/{PHONE}/sms -H 'Content-Type: application/json' -d '{{\"text\": \"ALTA\"}}'",
            f"  curl -s {control}/phones/{PHONE}/inbox      # what the programme answered",
            "Keywords: ALTA (register), ALERTA (raise an alert), CALIFICAR, AHORRO, BAJA (stop).",
        ]
    )


@click.command("demo")
@data_dir_option
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8080).")
@click.option(
    "--control-port", type=int, default=8090, show_default=True, help="The virtual modem's control API."
)
@click.option("--no-radio", is_flag=True, help="Run the server only, without the virtual modem and gateway.")
def demo_command(
    data_dir: Path | None, host: str | None, port: int | None, control_port: int, no_radio: bool
) -> None:
    """Run a whole demo site: the server with the sample programme, a virtual modem and a gateway."""
    config = make_config(data_dir, host=host, port=port)
    password = initialise(config)
    if password:
        click.echo(f"admin user: admin, password (shown once): {password}")
    with as_file(files("flows") / "library") as library:
        for line in describe(load_into(config, read_programme_dir(library))):
            click.echo(f"sample programme: {line}")
    if no_radio:
        serve(config)
        return
    with radio_side(config, control_port):
        click.echo(how_to_talk(control_port))
        serve(config)
