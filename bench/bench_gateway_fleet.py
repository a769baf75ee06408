"""The whole gateway process driving a fleet of modems: DESIGN.md's "32 simulated modems on one gateway scale
linearly", measured end to end (link, spool, dispatcher, modem transports), not only the modem drivers.

The gateway runs as the service does (``python -m gateway --config ...``) with one modem channel per virtual
modem, against the loopback fake of the server that the gateway's tests use. The virtual modems take 1 s of
simulated network time per submitted part and run on their own thread here, as separate devices would. The
server queues PARTS_EACH one-part messages per modem at once; the clock runs from the queueing to the last
``sent`` status reaching the server. One modem first, then the fleet: scaling is the fleet's parts per
minute over FLEET times the single modem's.

Run: ``.venv/bin/python -m bench bench_gateway_fleet``
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_gateway import _proc
from bench.bench_modem import SimulatorHost
from bench.common import write_result
from gateway.simulator import FaultPlan, Timing, VirtualModem
from tests.gateway.process.fakeserver import TOKEN, FakeServer

FLEET = 32
PARTS_EACH = 30
SUBMIT_SECONDS = 1.0
TARGET_SCALING = 0.95


def _config(root: Path, url: str, links: list[Path]) -> Path:
    channels = "".join(
        f'\n[[channels]]\nid = "modem-{n}"\nkind = "modem"\nport = "{link}"\n'
        "status_reports = false\nsweep_interval = 3600\n"
        for n, link in enumerate(links)
    )
    path = root / "gateway.toml"
    path.write_text(
        f'server = "{url}"\ntoken = "{TOKEN}"\nspool = "{root / "gateway.sqlite3"}"\n'
        "[link]\nwait_s = 1.0\nbackoff_min_s = 0.05\nbackoff_max_s = 0.5\nlease_horizon_s = 600\n"
        f"[dispatch]\nidle_s = 0.2\n{channels}"
    )
    return path


async def _run(links: list[Path]) -> dict[str, float | int]:
    server = FakeServer()
    await server.start()
    root = Path(tempfile.mkdtemp(prefix="recado-bench-fleet-"))
    config = _config(root, server.url, links)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # Every channel healthy (the modems answered and registered) before the clock starts.
        while len([c for c in server.channels.values() if c.get("healthy")]) < len(links):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        cpu_idle, rss_idle, _ = _proc(process.pid)
        started = time.monotonic()
        total = PARTS_EACH * len(links)
        for i in range(total):
            server.queue(
                f"+5295{30_000_000 + i:08d}", f"Hola, su cita {i} es mañana a las 10.", priority="bulk"
            )
        first_sent = None
        while (sent := sum(1 for m in server.messages.values() if m.state == "sent")) < total:
            if sent and first_sent is None:
                first_sent = time.monotonic() - started
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - started
        reported = time.monotonic()
        # The channels' own counts come with the gateway's next syncs.
        while sum(int(c.get("sent_today") or 0) for c in server.channels.values()) < total:
            if time.monotonic() - reported > 10:
                break
            await asyncio.sleep(0.1)
        cpu_busy, _, rss_peak = _proc(process.pid)
    finally:
        process.terminate()
        await process.wait()
        await server.stop()
    per_modem = [int(server.channels[f"modem-{n}"].get("sent_today") or 0) for n in range(len(links))]
    return {
        "modems": len(links),
        "parts": total,
        "wall_s": round(elapsed, 2),
        "first_sent_s": round(first_sent or elapsed, 2),
        "parts_per_minute": round(total / elapsed * 60, 1),
        "parts_per_modem_min": min(per_modem),
        "parts_per_modem_max": max(per_modem),
        "gateway_cpu_s": round(cpu_busy - cpu_idle, 2),
        "gateway_cpu_ms_per_part": round(1000 * (cpu_busy - cpu_idle) / total, 3),
        "gateway_rss_idle_mb": round(rss_idle, 1),
        "gateway_rss_peak_mb": round(rss_peak, 1),
    }


def main() -> None:
    timing = Timing(command=0.0, submit=SUBMIT_SECONDS, link_setup=0.0)
    host = SimulatorHost()
    with tempfile.TemporaryDirectory() as tmp:
        links = [Path(tmp) / f"ttyFleet{i}" for i in range(FLEET)]

        async def start() -> list[VirtualModem]:
            return [
                await VirtualModem(None, FaultPlan(timing=timing), seed=i, link=link).start()
                for i, link in enumerate(links)
            ]

        modems = host.run(start())
        try:
            one = asyncio.run(_run(links[:1]))
            fleet = asyncio.run(_run(links))
        finally:

            async def stop() -> None:
                await asyncio.gather(*(m.stop() for m in modems))

            host.run(stop())
            host.close()
    one_rate = float(one["parts_per_minute"])
    fleet_rate = float(fleet["parts_per_minute"])
    metrics = {
        "submit_seconds": SUBMIT_SECONDS,
        "one_modem": one,
        "fleet": fleet,
        "fleet_parts_per_minute_per_modem": round(fleet_rate / FLEET, 2),
        "fleet_scaling": round(fleet_rate / (FLEET * one_rate), 3),
    }
    write_result("gateway_fleet", metrics, {"fleet_scaling": f">= {TARGET_SCALING} (linear)"})


if __name__ == "__main__":
    main()
