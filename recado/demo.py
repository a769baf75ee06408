"""``recado demo`` (what ``make run`` starts): a whole site on one machine, in one terminal.

The server with the bundled maternal-health programme, a virtual GSM modem on a pty, and a gateway that owns
that modem and syncs with the server. The modem's control interface lets anyone play the mother's phone
(``recado phone chat``, or curl). The modem and the gateway run as child processes (the server and the gateway
only ever meet over the link, as on a real site) and stop with the server.

The demo's clock moves on request (the ``demo_clock`` setting), so that a week of the programme takes a second;
alerts text a virtual staff phone unless ``alert_staff`` says otherwise. What ``recado phone chat`` needs (the
control and API addresses, a demo admin's login) is kept in ``demo-chat.json`` in the data directory, readable
by its owner only, like the gateway's token.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.resources import as_file, files
from pathlib import Path

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.cli_chat import CHAT_FILE
from server.auth.keys import load_keyring
from server.auth.service import create_token
from server.cli import data_dir_option, initialise, make_config, serve, with_database
from server.cli_flows import describe, load_into, read_programme_dir
from server.config import Config

PHONE = "+525512345678"
# The clinic's virtual phone: texted about alerts unless alert_staff names others.
STAFF_PHONE = "+525500000911"
DEMO_MARK = "demo-site"
TOKEN_FILE = "demo-gateway.token"  # noqa: S105 - the name of the file that holds it
GATEWAY_CONFIG_FILE = "demo-gateway.toml"
MODEM_TIMING_FILE = "demo-modem.toml"
CHAT_USER = "demo-chat"  # an admin of its own, so the chat never needs the first admin's password


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text, encoding="utf-8")


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
    _write_private(path, token)
    return token


def save_chat_settings(config: Config, control_url: str | None) -> Path:
    """Write what ``recado phone chat`` needs; the demo admin is made the first time, its password kept here."""
    path = config.data_dir / CHAT_FILE
    saved: dict[str, object] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    password = saved.get("password")
    if not isinstance(password, str):
        password = initialise(config, admin_username=CHAT_USER)
        if password is None:
            raise click.ClickException(
                f"{path} is missing but the {CHAT_USER!r} user exists: "
                f"remove that user or start with a new data directory"
            )
    settings = {
        "server": f"http://{config.host}:{config.port}",
        "control": control_url,
        "user": CHAT_USER,
        "password": password,
        "phone": PHONE,
        "staff_phone": STAFF_PHONE,
    }
    _write_private(path, json.dumps(settings, indent=2))
    return path


def demo_config(data_dir: Path | None, host: str | None, port: int | None) -> Config:
    """The site's configuration with the demo clock on, and alerts going to the virtual staff phone."""
    config = make_config(data_dir, host=host, port=port, demo_clock=True)
    if not config.alert_staff:
        config = dataclasses.replace(config, alert_staff=f"*={STAFF_PHONE}").validate()
    return config


def claim_for_the_demo(config: Config) -> None:
    """The demo turns the clock on, adds an admin and loads the sample programme: never on a site's data. A
    directory the demo made carries its mark (or, made by an earlier version, its gateway token); one that
    holds a database without either is a site's, and is refused before anything is written."""
    if (config.data_dir / DEMO_MARK).exists() or (config.data_dir / TOKEN_FILE).exists():
        return
    if config.database_url:
        raise click.ClickException(
            "the demo keeps its data in its own SQLite file: unset database_url (RECADO_DATABASE_URL) for it"
        )
    if config.sqlite_path.exists():
        raise click.ClickException(
            f"{config.data_dir} holds a site's data (the demo did not make it): the demo would move its clock"
            " and load the sample programme into it. Give the demo a directory of its own with --data-dir."
        )
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (config.data_dir / DEMO_MARK).write_text(
        "Made by `recado demo`: sample data, and a clock that moves. Never a site's data directory.\n",
        encoding="utf-8",
    )


def chat_command_line(config: Config) -> str:
    """The exact command that opens the chat: the recado next to this Python (the venv's) when there is one."""
    beside = Path(sys.executable).with_name("recado")
    program = str(beside) if beside.exists() else "recado"
    return f"{program} phone chat --data-dir {config.data_dir.resolve()}"


def _recado(*args: str) -> list[str]:
    return [sys.executable, "-m", "recado", *args]


def _wait_for(path: Path, child: subprocess.Popen[bytes], seconds: float) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        if child.poll() is not None or time.monotonic() > end:
            raise click.ClickException(f"the virtual modem did not start (no {path})")
        time.sleep(0.05)


def write_modem_timing(config: Config) -> Path:
    """A quicker modem than a real one (1 s per SMS, 1 s to boot): a person waits for the answers in a demo, and
    a gateway that opens the port while the firmware boots spends its first seconds on AT retries."""
    path = config.data_dir / MODEM_TIMING_FILE
    path.write_text("[timing]\nsubmit = 0.2\nboot = 0.05\nreboot = 0.5\n", encoding="utf-8")
    return path


def write_gateway_config(config: Config, link: Path) -> Path:
    """The demo gateway's ``gateway.toml``: its token by file (never on a command line that ``ps`` shows) and
    a short long-poll, so that stopping the demo does not wait for a poll to run out."""
    path = config.data_dir / GATEWAY_CONFIG_FILE
    lines = [
        f"server = {json.dumps(f'http://127.0.0.1:{config.port}')}",
        f"token_file = {json.dumps(str(config.data_dir / TOKEN_FILE))}",
        f"spool = {json.dumps(str(config.data_dir / 'gateway-spool.sqlite3'))}",
        "[link]",
        "wait_s = 5.0",
        "[[channels]]",
        'id = "demo-modem"',
        'kind = "modem"',
        f"port = {json.dumps(str(link))}",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextlib.contextmanager
def radio_side(config: Config, control_port: int) -> Iterator[None]:
    """A virtual modem and a gateway on it, for as long as the block runs."""
    link = config.data_dir / "modem0"
    children: list[subprocess.Popen[bytes]] = []
    try:
        modem = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
            _recado(
                "sim",
                "modem",
                "--link",
                str(link),
                "--control",
                f"127.0.0.1:{control_port}",
                "--faults",
                str(write_modem_timing(config)),
            ),
            stdout=subprocess.DEVNULL,
        )
        children.append(modem)
        _wait_for(link, modem, 30)
        gateway = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
            _recado("gateway", "--config", str(write_gateway_config(config, link))),
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


def how_to_talk(config: Config, control_port: int) -> str:
    control = f"http://127.0.0.1:{control_port}"
    return "\n".join(
        [
            "Play the mother's phone (a virtual phone texting the virtual modem), in another terminal:",
            f"  {chat_command_line(config)}",
            "  then type ALTA and answer; /advance 7d moves the demo clock a week, /alerts lists alerts, /quit.",
            "Keywords: ALTA (register), ALERTA (raise an alert), CALIFICAR, AHORRO, BAJA (stop).",
            "Or with curl:",
            f"  curl -s -X POST {control}/phones/{PHONE}/sms -H 'Content-Type: application/json' -d '{{\"text\": \"ALTA\"}}'",
            f"  curl -s {control}/phones/{PHONE}/inbox      # what the programme answered",
            f"  curl -s {control}/phones/{STAFF_PHONE}/inbox      # the clinic staff's phone (alerts)",
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
    config = demo_config(data_dir, host, port)
    claim_for_the_demo(config)
    password = initialise(config)
    if password:
        click.echo(f"admin user: admin, password (shown once): {password}")
    else:
        click.echo("admin user: admin (its password was shown when this data directory was made)")
    with as_file(files("flows") / "library") as library:
        for line in describe(load_into(config, read_programme_dir(library))):
            click.echo(f"sample programme: {line}")
    click.echo(f"API: http://{config.host}:{config.port}/api/v1 (document: /api/v1/openapi.json)")
    gateway_token(config)  # made before serving, so that a gateway can be started on its own (--no-radio)
    if no_radio:
        save_chat_settings(config, None)
        serve(config)
        return
    save_chat_settings(config, f"http://127.0.0.1:{control_port}")
    with radio_side(config, control_port):
        click.echo(how_to_talk(config, control_port))
        click.echo("Ctrl-C stops everything; running it again keeps the data and the demo's time.")
        serve(config)
