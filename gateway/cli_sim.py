"""``recado sim``: virtual devices for demos, technician training and tests, started from a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import tomllib
from pathlib import Path
from typing import Any

import click

from gateway.simulator.control import require_loopback, serve_control
from gateway.simulator.engine import ModemConfig
from gateway.simulator.faults import FaultPlan, Timing
from gateway.simulator.modem import VirtualModem
from gateway.simulator.profiles import PROFILES, profile_named

# A terminal user (a technician in training, a demo) gets the pace of a real modem unless a plan says otherwise.
INTERACTIVE_TIMING = Timing(command=0.02, submit=1.0, link_setup=0.5, ussd=1.5, reboot=2.0, boot=1.0)


@click.group("sim")
def sim_group() -> None:
    """Virtual devices: a GSM modem on a pseudo-terminal."""


def _load_plan(path: Path | None, submit_time: float | None, report_after: float | None) -> FaultPlan:
    data: dict[str, Any] = {}
    if path is not None:
        try:
            raw = path.read_bytes()
            data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"{path}: {exc}", param_hint="--faults") from exc
    timing = dict(vars(INTERACTIVE_TIMING))
    timing.update(data.get("timing", {}))
    if submit_time is not None:
        timing["submit"] = submit_time
    if report_after is not None:
        timing["report_after"] = report_after
    try:
        return FaultPlan.from_mapping({**data, "timing": timing})
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--faults") from exc


def _control_address(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    try:
        require_loopback(host or "127.0.0.1")
        return host or "127.0.0.1", int(port)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--control") from exc


@sim_group.command("modem")
@click.option(
    "--link", type=click.Path(dir_okay=False, path_type=Path), help="Symlink to the pty, kept across reboots."
)
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default="generic", show_default=True)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed for every random fault and reference."
)
@click.option("--control", metavar="HOST:PORT", help="Serve the HTTP control interface (loopback only).")
@click.option("--pin", help="SIM PIN the modem asks for after every power-up.")
@click.option("--faults", type=click.Path(dir_okay=False, path_type=Path), help="Fault plan, TOML or JSON.")
@click.option("--submit-time", type=float, help="Network seconds per +CMGS submit (default 1.0).")
@click.option(
    "--report-after", type=float, help="Send a delivery report this many seconds after each submit."
)
def modem_command(
    link: Path | None,
    profile: str,
    seed: int,
    control: str | None,
    pin: str | None,
    faults: Path | None,
    submit_time: float | None,
    report_after: float | None,
) -> None:
    """Serve a virtual GSM modem on a pty, print its path and run until Ctrl-C."""
    plan = _load_plan(faults, submit_time, report_after)
    address = _control_address(control)
    config = ModemConfig(profile=profile_named(profile), pin=pin)
    asyncio.run(_serve(VirtualModem(config, plan, seed=seed, link=link), address))


async def _serve(modem: VirtualModem, address: tuple[str, int] | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await modem.start()
    click.echo(modem.path)
    if modem.link is not None:
        click.echo(f"link {modem.link} -> {modem.path}", err=True)
    runner = None
    if address is not None:
        runner, port = await serve_control(modem, *address)
        click.echo(f"control http://{address[0]}:{port}/modem", err=True)
    known = len(modem.ports)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            if len(modem.ports) != known:
                known = len(modem.ports)
                click.echo(f"rebooted: now serving {modem.ports[-1]}", err=True)
    finally:
        if runner is not None:
            await runner.cleanup()
        await modem.stop()
