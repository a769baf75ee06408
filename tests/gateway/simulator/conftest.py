"""A virtual modem on a real pty and a pyserial port on it, as a driver would open it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial

from gateway.simulator import FaultPlan, ModemConfig, ModemThread

FINAL = re.compile(rb"(\r\n(OK|ERROR|\+CM[ES] ERROR: [^\r]*|COMMAND NOT SUPPORT)\r\n|\r\n> )$")


class Port:
    """A pyserial port with the two reads AT tests need: up to a final result, and whatever is pending."""

    def __init__(self, path: str, timeout: float = 3.0) -> None:
        self.serial = serial.Serial(path, 115200, timeout=timeout, rtscts=True, dsrdtr=True)

    def read_final(self) -> bytes:
        data = bytearray()
        while not FINAL.search(data):
            chunk = bytes(self.serial.read(self.serial.in_waiting or 1))
            if not chunk:
                raise TimeoutError(f"no final result after {bytes(data)!r}")
            data.extend(chunk)
        return bytes(data)

    def command(self, line: str | bytes) -> bytes:
        self.serial.write(line.encode() if isinstance(line, str) else line)
        return self.read_final()

    def read_until(self, marker: bytes) -> bytes:
        data = bytes(self.serial.read_until(marker))
        if not data.endswith(marker):
            raise TimeoutError(f"no {marker!r} after {data!r}")
        return data

    def pending(self, wait: float = 0.05) -> bytes:
        """What arrives within ``wait`` seconds (for asserting that nothing, or something, came unasked)."""
        self.serial.timeout = wait
        try:
            return bytes(self.serial.read(4096))
        finally:
            self.serial.timeout = 3.0

    def close(self) -> None:
        self.serial.close()


def utf16_units(text: str) -> str:
    """``text`` with every character outside the BMP as its surrogate pair, which gsmmodem.pdu can encode."""
    units: list[str] = []
    for char in text:
        value = ord(char) - 0x10000
        units.extend((chr(0xD800 + (value >> 10)), chr(0xDC00 + (value & 0x3FF))) if value >= 0 else (char,))
    return "".join(units)


ModemFactory = Callable[..., tuple[ModemThread, Port]]


@pytest.fixture
def start_modem(tmp_path: Path) -> Iterator[ModemFactory]:
    """``start_modem(config=..., faults=..., seed=...)`` → (modem thread, open port with echo off)."""
    started: list[tuple[ModemThread, Port]] = []

    def start(
        config: ModemConfig | None = None,
        faults: FaultPlan | None = None,
        *,
        echo: bool = False,
        **kwargs: Any,
    ) -> tuple[ModemThread, Port]:
        link = tmp_path / f"ttyV{len(started)}"
        thread = ModemThread(config, faults, link=link, **kwargs).start()
        thread.wait_for(
            lambda m: m.engine.powered
        )  # past any boot time; opening the port drops the boot URCs
        port = Port(str(link))
        started.append((thread, port))
        if not echo:
            assert port.command("ATE0\r").endswith(b"OK\r\n")
        return thread, port

    yield start
    for thread, port in started:
        port.close()
        thread.stop()
