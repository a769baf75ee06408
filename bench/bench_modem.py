"""Modem driver throughput on the virtual modem, with 1 s of simulated network time per submit.

The radio is the limit: one modem submits one part per second, so the driver must keep it busy (target:
at least 59 parts per minute, i.e. under 2 % overhead), and 32 modems driven from one process must each
still get close to that (linear scaling). CPU time is the driver's alone: the virtual modems run on their
own thread and event loop, and ``time.thread_time`` is read on the driver's thread.

Run: ``.venv/bin/python -m bench bench_modem``
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from bench.common import write_result
from gateway.modem import InboundSms, ModemDriver, ModemSettings, OutboundSms
from gateway.simulator import FaultPlan, Timing, VirtualModem

SUBMIT_SECONDS = 1.0
SINGLE_PARTS = 60  # messages for about this many parts (the long ones are UCS-2, 4 parts each)
FLEET = 32
FLEET_PARTS = 20  # per modem
TARGET_PER_MINUTE = 59.0
T = TypeVar("T")


class SimulatorHost:
    """Every virtual modem on one background event loop, as they would be separate devices."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="virtual-modems", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def start_modems(self, links: list[Path], timing: Timing) -> list[VirtualModem]:
        """One virtual modem on each of ``links``, taking ``timing`` to answer."""

        async def start() -> list[VirtualModem]:
            return [
                await VirtualModem(None, FaultPlan(timing=timing), seed=i, link=link).start()
                for i, link in enumerate(links)
            ]

        return self.run(start())

    def stop_modems(self, modems: list[VirtualModem]) -> None:
        async def stop() -> None:
            await asyncio.gather(*(m.stop() for m in modems))

        self.run(stop())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def messages(parts: int, prefix: str) -> list[OutboundSms]:
    """A realistic mix: short one-part reminders and long Spanish ones (UCS-2 for the "á", so 4 parts)."""
    out: list[OutboundSms] = []
    long_parts = parts // 2 // 3 * 3
    for n in range(long_parts // 3):
        out.append(
            OutboundSms(
                f"{prefix}-l{n}", "+5215512345678", f"Recordatorio {n}: " + "tome su ácido fólico " * 10
            )
        )
    for n in range(parts - long_parts):
        out.append(OutboundSms(f"{prefix}-s{n}", "+5215512345678", f"Hola, su cita {n} es mañana a las 10."))
    return out


async def _ignore(_: InboundSms) -> None:
    return None


async def drive(links: list[Path], parts_each: int) -> dict[str, float]:
    drivers = [
        ModemDriver(
            ModemSettings(port=str(link), sweep_interval=3600, status_reports=False), on_inbound=_ignore
        )
        for link in links
    ]
    await asyncio.gather(*(d.start(wait=30) for d in drivers))
    batches = [messages(parts_each, f"m{i}") for i in range(len(drivers))]
    cpu = time.thread_time()
    wall = time.perf_counter()
    results = await asyncio.gather(
        *(d.send(m) for d, batch in zip(drivers, batches, strict=True) for m in batch)
    )
    wall = time.perf_counter() - wall
    cpu = time.thread_time() - cpu
    await asyncio.gather(*(d.stop() for d in drivers))
    parts = sum(r.parts for r in results if r.outcome == "sent")
    failed = sum(r.outcome != "sent" for r in results)
    return {"parts": parts, "messages": len(results), "failed": failed, "wall_s": wall, "driver_cpu_s": cpu}


def main() -> None:
    timing = Timing(command=0.0, submit=SUBMIT_SECONDS, link_setup=0.0)
    host = SimulatorHost()
    with tempfile.TemporaryDirectory() as tmp:
        links = [Path(tmp) / f"ttyBench{i}" for i in range(FLEET)]
        modems = host.start_modems(links, timing)
        try:
            one = asyncio.run(drive(links[:1], SINGLE_PARTS))
            fleet = asyncio.run(drive(links, FLEET_PARTS))
        finally:
            host.stop_modems(modems)
            host.close()
    one_rate = one["parts"] / one["wall_s"] * 60
    fleet_rate = fleet["parts"] / fleet["wall_s"] * 60
    metrics = {
        "submit_seconds": SUBMIT_SECONDS,
        "one_modem": {**one, "parts_per_minute": round(one_rate, 2)},
        "one_modem_overhead_pct": round(100 * (1 - one["parts"] * SUBMIT_SECONDS / one["wall_s"]), 2),
        "fleet": {**fleet, "modems": FLEET, "parts_per_minute": round(fleet_rate, 1)},
        "fleet_parts_per_minute_per_modem": round(fleet_rate / FLEET, 2),
        "fleet_scaling": round(fleet_rate / (FLEET * one_rate), 3),
        "driver_cpu_ms_per_part": round(
            1000 * (one["driver_cpu_s"] + fleet["driver_cpu_s"]) / (one["parts"] + fleet["parts"]), 3
        ),
    }
    write_result(
        "modem",
        metrics,
        {"parts_per_minute_one_modem": f">= {TARGET_PER_MINUTE}", "fleet_scaling": ">= 0.95 (linear)"},
    )


if __name__ == "__main__":
    main()
