"""``recado modem detect``: find the GSM modems on this machine and say what each one is and how it is doing.

A technician runs this after plugging a modem in: it probes the given ports (or every likely serial port)
with ``AT`` and prints, for each that answers, the model, IMEI, SIM state and signal. The probe only asks;
it changes no setting on the modem. Ports are listed by their stable ``/dev/serial/by-id`` name when the
system has one, because that is the name to put in the gateway's configuration.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
from dataclasses import asdict, dataclass

import click
import serial

from gateway.at import Response
from gateway.modem import ATPort, ModemUnavailable

PATTERNS = ("/dev/serial/by-id/*", "/dev/ttyUSB*", "/dev/ttyACM*")

# +CSQ RSSI index → what a technician should do about it (27.007 §8.5: dBm = -113 + 2 * rssi).
SIGNAL_WORDS = ((10, "weak: move the antenna or the modem"), (15, "usable"), (20, "good"), (32, "excellent"))


@dataclass(frozen=True)
class Probe:
    port: str
    device: str  # what the port resolves to (/dev/ttyUSB2)
    answered: bool
    manufacturer: str | None = None
    model: str | None = None
    imei: str | None = None
    sim: str | None = None
    signal: int | None = None
    error: str | None = None

    @property
    def signal_words(self) -> str:
        if self.signal is None:
            return "unknown (no network, or the modem cannot tell)"
        dbm = -113 + 2 * self.signal
        words = next(w for limit, w in SIGNAL_WORDS if self.signal < limit)
        return f"{self.signal}/31 ({dbm} dBm, {words})"


def candidate_ports() -> list[str]:
    """Likely modem ports, each device once, preferring its /dev/serial/by-id name."""
    seen: dict[str, str] = {}
    for pattern in PATTERNS:
        for path in sorted(glob.glob(pattern)):
            seen.setdefault(os.path.realpath(path), path)
    return list(seen.values())


def _first(response: Response, prefix: str = "") -> str | None:
    if not response.ok:
        return None
    for line in response.lines:
        if line.startswith(prefix):
            return line[len(prefix) :].strip() if prefix else line
    return None


async def probe(path: str, device: str, seconds: float = 2.0) -> Probe:
    try:
        port = ATPort(path)
    except (serial.SerialException, OSError) as error:
        return Probe(path, device, False, error=f"cannot open: {error}")
    try:
        if not any([(await port.run("AT", seconds)).ok for _ in range(2)]):
            return Probe(path, device, False, error="no answer to AT (not a modem's command port?)")
        ask = {name: await port.run(text, seconds) for name, text in
               (("manufacturer", "AT+CGMI"), ("model", "AT+CGMM"), ("imei", "AT+CGSN"), ("sim", "AT+CPIN?"),
                ("csq", "AT+CSQ"))}  # fmt: skip
        rssi = (_first(ask["csq"], "+CSQ:") or "").split(",")[0]
        sim = _first(ask["sim"], "+CPIN:") or (str(ask["sim"].final) if not ask["sim"].ok else None)
        return Probe(
            path,
            device,
            True,
            manufacturer=_first(ask["manufacturer"]),
            model=_first(ask["model"]),
            imei=_first(ask["imei"]),
            sim=sim,
            signal=int(rssi) if rssi.isdigit() and int(rssi) != 99 else None,
        )
    except ModemUnavailable as error:
        return Probe(path, device, False, error=str(error))
    finally:
        port.close()


async def probe_all(ports: list[tuple[str, str]]) -> list[Probe]:
    """Probe ``(path, device)`` pairs one at a time: several ports of one USB stick share its firmware."""
    return [await probe(path, device) for path, device in ports]


@click.group("modem")
def modem_group() -> None:
    """GSM USB modems: find them and check them."""


@modem_group.command("detect")
@click.option(
    "--port", "ports", multiple=True, help="Port to probe (repeatable). Default: every likely port."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per port.")
def detect(ports: tuple[str, ...], as_json: bool) -> None:
    """Probe serial ports with AT and print model, IMEI, SIM state and signal for each."""
    paths = list(ports) or candidate_ports()
    if not paths:
        click.echo("No serial ports found (looked at " + ", ".join(PATTERNS) + "). Is the modem plugged in?")
        raise SystemExit(1)
    results = asyncio.run(probe_all([(path, os.path.realpath(path)) for path in paths]))
    for result in results:
        if as_json:
            click.echo(
                json.dumps({**asdict(result), "signal_words": result.signal_words}, ensure_ascii=False)
            )
            continue
        click.echo(f"{result.port}" + (f" -> {result.device}" if result.device != result.port else ""))
        if not result.answered:
            click.echo(f"  not a modem: {result.error}")
            continue
        click.echo(f"  model:  {result.manufacturer or '?'} {result.model or '?'}")
        click.echo(f"  IMEI:   {result.imei or '?'}")
        click.echo(f"  SIM:    {result.sim or '?'}")
        click.echo(f"  signal: {result.signal_words}")
    if not any(result.answered for result in results):
        raise SystemExit(1)
