"""Server memory: the real ``recado server`` process, idle, on a data directory holding a million contacts
enrolled in a 700-event campaign (the campaign benchmark's database), against DESIGN's 150 MB RSS.

1. The campaign benchmark's enrolment builds the database (``bench.bench_campaigns.enrolled_database``), and
   ``recado init`` adds the signing key and the first admin to the same data directory.
2. ``recado server`` starts on a free loopback port. The clock is the real one and the campaign's events are
   months ahead, so the runner ticks (every ``runner_tick_seconds``) and finds nothing due: the idle server.
3. Once ``/healthz`` answers, the resident set size is read from ``/proc`` every second for ``--seconds``, with
   a ``/metrics`` scrape every ten seconds as a monitoring system would make. Reported: the RSS after start,
   the largest and the last sample, and the kernel's high-water mark.

Usage: ``python -m bench.bench_server_memory [--contacts N] [--seconds S]``. A million contacts need about
1 GB of free disk in the temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.bench_campaigns import CONTACTS, enrolled_database
from bench.common import write_result

TARGET_RSS_MB = 150
SCRAPE_EVERY_S = 10
START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of the process, in MB (10^6 bytes)."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) * 1024 / 1e6
    return found


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (a loopback URL built here)
        body: bytes = response.read()
        return body


def wait_until_up(server: subprocess.Popen[bytes], base: str) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < START_TIMEOUT_S:
        if server.poll() is not None:
            raise RuntimeError(f"recado server exited with {server.returncode} before answering")
        try:
            get(base + "/healthz")
            return time.perf_counter() - started
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"recado server did not answer within {START_TIMEOUT_S} s")


def measure(data_dir: Path, seconds: int) -> dict[str, float]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "recado", "server", "--data-dir", str(data_dir), "--port", str(port)]
    with (data_dir.parent / "server.log").open("wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            return _idle(server, base, seconds)
        except RuntimeError:
            print((data_dir.parent / "server.log").read_text(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _idle(server: subprocess.Popen[bytes], base: str, seconds: int) -> dict[str, float]:
    start_s = wait_until_up(server, base)
    after_start = memory_mb(server.pid)["VmRSS"]
    samples = []
    scrapes = 0
    for second in range(seconds):
        if second % SCRAPE_EVERY_S == SCRAPE_EVERY_S - 1:
            get(base + "/metrics")
            scrapes += 1
        time.sleep(1)
        samples.append(memory_mb(server.pid))
    if server.poll() is not None:
        raise RuntimeError(f"recado server exited with {server.returncode} while idle")
    return {
        "start_s": round(start_s, 2),
        "rss_mb_after_start": round(after_start, 1),
        "rss_mb_max": round(max(s["VmRSS"] for s in samples), 1),
        "rss_mb_last": round(samples[-1]["VmRSS"], 1),
        "rss_mb_high_water": round(samples[-1]["VmHWM"], 1),
        "idle_seconds": seconds,
        "metrics_scrapes": scrapes,
    }


def run(contacts: int, seconds: int, workdir: Path) -> None:
    data_dir = workdir / "data"
    data_dir.mkdir(mode=0o700)
    enrolment = asyncio.run(enrolled_database(data_dir, contacts))
    subprocess.run(
        [sys.executable, "-m", "recado", "init", "--data-dir", str(data_dir)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    metrics = measure(data_dir, seconds)
    write_result(
        "server_memory",
        {
            "contacts": contacts,
            "database_bytes": enrolment.size,
            **metrics,
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        {"rss_mb_max": f"<= {TARGET_RSS_MB}"},
    )


def main(argv: list[str] | None = None) -> None:
    """``argv``: the options; none when ``python -m bench`` runs every benchmark with its defaults."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=CONTACTS)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args(argv or [])
    with tempfile.TemporaryDirectory(prefix="recado-bench-memory-") as workdir:
        run(args.contacts, args.seconds, Path(workdir))


if __name__ == "__main__":
    main(sys.argv[1:])
