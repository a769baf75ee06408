"""`recado gateway` as a real process, killed with SIGKILL mid-receive and mid-send, and cut off from the server.

The channel is the fake transport in its directory form, so the "radio" outlives the gateway: an inbox of SMS
files the gateway deletes only after its spool committed them, and a ``sent.jsonl`` the radio writes the
moment it takes a message (before the gateway learns the outcome).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.process.conftest import eventually
from tests.gateway.process.fakeserver import TOKEN, FakeServer

pytestmark = pytest.mark.slow
T0 = dt.datetime(2027, 3, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=-6)))


class Site:
    """A gateway process, its radio directory and its spool, restartable."""

    def __init__(self, tmp_path: Path, server: FakeServer, *, send_delay: float = 0.0) -> None:
        self.radio = tmp_path / "radio"
        (self.radio / "inbox").mkdir(parents=True)
        self.config = tmp_path / "gateway.toml"
        self.log = tmp_path / "gateway.log"
        self.config.write_text(
            f"""
server = "{server.url}"
token = "{TOKEN}"
spool = "{tmp_path / "gateway.sqlite3"}"
timezone = "UTC"
[link]
wait_s = 1.0
backoff_min_s = 0.05
backoff_max_s = 0.3
idle_s = 0.1
[dispatch]
idle_s = 0.1
[health]
interval_s = 0.5
[[channels]]
id = "fake-1"
kind = "fake"
directory = "{self.radio}"
send_delay = {send_delay}
poll_interval = 0.01
"""
        )
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECADO_")}
        with open(self.log, "a") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "recado",
                "gateway",
                "--config",
                str(self.config),
                stdout=log,
                stderr=log,
                env=env,
            )

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no cleanup of any kind
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                await self.kill()

    def drop_sms(self, n: int, sender: str = "+529511234567", *, minutes_apart: float = 0.0) -> None:
        at = T0 + dt.timedelta(minutes=n * minutes_apart)
        body = {"sender": sender, "text": f"mensaje {n:03d}", "received_at": at.isoformat()}
        path = self.radio / "inbox" / f"{n:05d}.json"
        path.with_suffix(".tmp").write_text(json.dumps(body))
        path.with_suffix(".tmp").rename(path)  # appears whole, as a stored SMS does

    def inbox(self) -> list[Path]:
        return sorted((self.radio / "inbox").glob("*.json"))

    def sent(self) -> list[str]:
        path = self.radio / "sent.jsonl"
        if not path.exists():
            return []
        return [json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
async def make_site(tmp_path: Path, server: FakeServer) -> AsyncIterator[Callable[..., Site]]:
    sites: list[Site] = []

    def make(**kwargs: Any) -> Site:
        site = Site(tmp_path, server, **kwargs)
        sites.append(site)
        return site

    yield make
    for site in sites:
        await site.stop()


def texts(server: FakeServer) -> list[str]:
    return [item["text"] for item in server.inbound.values()]


async def test_killed_mid_receive_nothing_is_lost_or_received_twice(
    server: FakeServer, make_site: Callable[..., Site]
) -> None:
    site = make_site()
    total = 300
    for n in range(total):
        site.drop_sms(n)
    for kill in range(3):
        await site.start()
        before = len(site.inbox())

        def took_some(before: int = before) -> bool:
            return len(site.inbox()) < before

        await eventually(took_some, timeout=30)
        await asyncio.sleep(0.05 * kill)
        await site.kill()
    await site.start()
    await eventually(lambda: len(server.inbound) == total and not site.inbox(), timeout=60)
    assert texts(server) == [f"mensaje {n:03d}" for n in range(total)]  # once each, in order


async def test_an_sms_read_again_after_its_commit_is_not_spooled_twice(
    server: FakeServer, make_site: Callable[..., Site]
) -> None:
    site = make_site()
    for n in range(5):
        site.drop_sms(n)
    await site.start()
    await eventually(lambda: len(server.inbound) == 5, timeout=30)
    await site.kill()
    site.drop_sms(2)  # killed between the commit and the delete: the radio still has it
    await site.start()
    await eventually(lambda: not site.inbox(), timeout=30)
    await asyncio.sleep(0.5)
    assert texts(server) == [f"mensaje {n:03d}" for n in range(5)]
    assert "SMS 00002 was already spooled" in site.log.read_text()  # recognised, not stored again


async def test_killed_mid_send_every_message_is_sent_once_or_reported_unknown(
    server: FakeServer, make_site: Callable[..., Site]
) -> None:
    site = make_site(send_delay=0.3)
    queued = [server.queue(f"+5295112345{n:02d}", f"aviso {n}") for n in range(12)]
    await site.start()
    await eventually(lambda: len(site.sent()) >= 3, timeout=30)
    await site.kill()  # the radio has just taken a message; the gateway never learns how it went
    await site.start()

    def settled() -> bool:
        return all(server.messages[m.id].state in ("sent", "unknown", "failed") for m in queued)

    await eventually(settled, timeout=60)
    radio = site.sent()
    assert len(radio) == len(set(radio))  # nothing went out twice
    states = {m.id: server.messages[m.id].state for m in queued}
    unknown = [mid for mid, state in states.items() if state == "unknown"]
    assert len(unknown) == 1
    assert unknown[0] in radio  # it did go out, and is reported as unknown rather than resent
    assert all(state == "sent" for mid, state in states.items() if mid not in unknown)
    assert set(radio) == set(states)  # every message reached the radio exactly once


async def test_a_server_down_for_an_hour_gets_every_inbound_in_order(
    server: FakeServer, make_site: Callable[..., Site]
) -> None:
    site = make_site()
    await site.start()
    site.drop_sms(0)
    await eventually(lambda: len(server.inbound) == 1, timeout=30)
    await server.stop()
    for n in range(1, 61):  # an hour of replies, one a minute, while the server is unreachable
        site.drop_sms(n, minutes_apart=1)
    await eventually(lambda: not site.inbox(), timeout=30)  # spooled, deleted from the radio
    await site.kill()  # and a power cut during the outage, for good measure
    await site.start()
    await asyncio.sleep(1.0)  # the restarted gateway finds nobody and backs off
    await server.start()
    await eventually(lambda: len(server.inbound) == 61, timeout=60)
    assert texts(server) == [f"mensaje {n:03d}" for n in range(61)]
    times = [dt.datetime.fromisoformat(i["received_at"]) for i in server.inbound.values()]
    assert times[-1] - times[1] == dt.timedelta(minutes=59)  # each keeps its own time
