"""The gateway process with 8 channels: its memory (target: RSS ≤ 60 MB, DESIGN.md) and its CPU time per SMS.

The gateway runs as the service does (``python -m gateway --config ...``) in its own process, with 8 fake
channels in their directory form (each an inbox of SMS files and a ``sent.jsonl``, fsynced like a radio
log), against the loopback fake of the server that the gateway's tests use. The work: SMS_IN received SMS
spread over the channels and SMS_OUT leased messages, all through the spool (``synchronous=FULL``) and the
link. CPU is the gateway process's own user + system time, from /proc.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import write_result
from tests.gateway.process.fakeserver import TOKEN, FakeServer

CHANNELS = 8
SMS_IN = 2_000
SMS_OUT = 2_000
TARGET_RSS_MB = 60


def process_usage(pid: int) -> tuple[float, float, float]:
    """(cpu seconds, current RSS MB, peak RSS MB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return cpu, int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def gateway_config(root: Path, url: str, channels: list[dict[str, object]]) -> Path:
    """A gateway.toml in ``root`` for the loopback fake server: quick link and dispatch timings."""
    tables = "".join(
        "\n[[channels]]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in channel.items())
        for channel in channels
    )
    path = root / "gateway.toml"
    path.write_text(
        f'server = "{url}"\ntoken = "{TOKEN}"\nspool = "{root / "gateway.sqlite3"}"\n'
        "[link]\nwait_s = 1.0\nbackoff_min_s = 0.05\nbackoff_max_s = 0.5\nlease_horizon_s = 600\n"
        f"[dispatch]\nidle_s = 0.2\n{tables}"
    )
    return path


def _config(root: Path, url: str) -> Path:
    return gateway_config(
        root,
        url,
        [
            {"id": f"fake-{n}", "kind": "fake", "directory": str(root / f"radio-{n}"), "poll_interval": 0.05}
            for n in range(CHANNELS)
        ],
    )


async def _run() -> dict[str, float | int]:
    server = FakeServer()
    await server.start()
    root = Path(tempfile.mkdtemp(prefix="recado-bench-gateway-"))
    config = _config(root, server.url)
    for n in range(CHANNELS):
        (root / f"radio-{n}" / "inbox").mkdir(parents=True)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while not server.requests:  # noqa: ASYNC110 - the gateway process changes this; no event to await
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        cpu_idle, rss_idle, _ = process_usage(process.pid)
        at = dt.datetime(2027, 3, 1, 8, 0, tzinfo=dt.UTC).isoformat()
        started = time.monotonic()
        for i in range(SMS_IN):
            body = {"sender": f"+5295{10_000_000 + i:08d}", "text": f"respuesta {i}", "received_at": at}
            (root / f"radio-{i % CHANNELS}" / "inbox" / f"{i:06d}.json").write_text(json.dumps(body))
        for i in range(SMS_OUT):
            server.queue(f"+5295{20_000_000 + i:08d}", f"Recordatorio {i}: tu cita es el martes.")

        def done() -> bool:
            sent = sum(1 for m in server.messages.values() if m.state == "sent")
            return len(server.inbound) == SMS_IN and sent == SMS_OUT

        while not done():  # noqa: ASYNC110 - as above
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - started
        cpu_busy, rss_after, rss_peak = process_usage(process.pid)
    finally:
        process.terminate()
        await process.wait()
        await server.stop()
    work_cpu = cpu_busy - cpu_idle
    return {
        "channels": CHANNELS,
        "sms_in": SMS_IN,
        "sms_out": SMS_OUT,
        "rss_idle_mb": round(rss_idle, 1),
        "rss_after_mb": round(rss_after, 1),
        "rss_peak_mb": round(rss_peak, 1),
        "cpu_seconds": round(work_cpu, 2),
        "cpu_ms_per_sms": round(1000 * work_cpu / (SMS_IN + SMS_OUT), 3),
        "wall_seconds": round(elapsed, 2),
        "sms_per_second": round((SMS_IN + SMS_OUT) / elapsed, 1),
    }


def main() -> None:
    metrics = asyncio.run(_run())
    write_result("gateway", metrics, {"rss_peak_mb": f"<= {TARGET_RSS_MB}"})


if __name__ == "__main__":
    main()
