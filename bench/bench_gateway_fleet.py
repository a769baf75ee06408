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

from bench.bench_gateway import gateway_config, process_usage
from bench.bench_modem import SimulatorHost
from bench.common import write_result
from gateway.simulator import Timing
from tests.gateway.process.fakeserver import FakeServer

FLEET = 32
PARTS_EACH = 30
SUBMIT_SECONDS = 1.0
TARGET_SCALING = 0.95


def _config(root: Path, url: str, links: list[Path]) -> Path:
    return gateway_config(
        root,
        url,
        [
            {
                "id": f"modem-{n}",
                "kind": "modem",
                "port": str(link),
                "status_reports": False,
                "sweep_interval": 3600,
            }
            for n, link in enumerate(links)
        ],
    )


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
        cpu_idle, rss_idle, _ = process_usage(process.pid)
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
        cpu_busy, _, rss_peak = process_usage(process.pid)
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
        modems = host.start_modems(links, timing)
        try:
            one = asyncio.run(_run(links[:1]))
            fleet = asyncio.run(_run(links))
        finally:
            host.stop_modems(modems)
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
