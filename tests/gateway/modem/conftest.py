"""The driver against the virtual modem, both on the test's event loop, over a real pty."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gateway.modem import DeliveryReport, InboundSms, ModemDriver, ModemSettings, ModemState
from gateway.simulator import FaultPlan, ModemConfig, VirtualModem


@dataclass
class Spool:
    """What the gateway's spool would hold; ``fail`` makes the next commits raise (a full disk, a crash)."""

    inbound: list[InboundSms] = field(default_factory=list)
    reports: list[DeliveryReport] = field(default_factory=list)
    states: list[ModemState] = field(default_factory=list)
    fail: int = 0

    async def commit(self, sms: InboundSms) -> None:
        if self.fail:
            self.fail -= 1
            raise OSError("spool is not writable")
        self.inbound.append(sms)

    async def report(self, report: DeliveryReport) -> None:
        self.reports.append(report)


@dataclass
class Rig:
    modem: VirtualModem
    driver: ModemDriver
    spool: Spool


RigFactory = Callable[..., Awaitable[Rig]]


def fast_settings(link: Path, **overrides: Any) -> ModemSettings:
    values: dict[str, Any] = {
        "port": str(link),
        "command_timeout": 2.0,
        "prompt_timeout": 2.0,
        "submit_timeout": 5.0,
        "late_grace": 5.0,
        "sweep_interval": 60.0,
        "reopen_interval": 0.1,
        "sim_busy_timeout": 10.0,
    }
    values.update(overrides)
    return ModemSettings(**values)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[RigFactory]:
    """``await rig(config=..., faults=..., **settings)`` → a started virtual modem and a driver that is up."""
    started: list[Rig] = []

    async def make(
        config: ModemConfig | None = None,
        faults: FaultPlan | None = None,
        *,
        wait: bool = True,
        seed: int = 1,
        **overrides: Any,
    ) -> Rig:
        link = tmp_path / f"ttyModem{len(started)}"
        modem = await VirtualModem(config, faults, seed=seed, link=link).start()
        spool = Spool()
        driver = ModemDriver(
            fast_settings(link, **overrides),
            on_inbound=spool.commit,
            on_report=spool.report,
            on_state=spool.states.append,
        )
        made = Rig(modem, driver, spool)
        started.append(made)
        await driver.start(wait=10.0 if wait else None)
        return made

    yield make
    for made in started:
        await made.driver.stop()
        await made.modem.stop()


async def eventually(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Until ``condition()`` is truthy; fails the test after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
