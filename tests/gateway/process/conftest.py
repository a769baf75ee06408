"""The gateway in-process against the fake server, with fake channels and a real spool file."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.cli_gateway import Gateway
from gateway.config import ChannelConfig, GatewayConfig, HealthSettings
from gateway.dispatcher import ChannelLimits, DispatchSettings
from gateway.link import LinkSettings
from gateway.spool import Spool
from gateway.transports.fake import FakeTransport
from tests.gateway.process.fakeserver import TOKEN, FakeServer


class Clock:
    """Wall time that a test can move forward (leases, daily caps, sticky windows)."""

    def __init__(self, start: float = 1_804_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def spool(tmp_path: Path, clock: Clock) -> AsyncIterator[Spool]:
    opened = await Spool.open(tmp_path / "spool.sqlite3", clock=clock)
    yield opened
    await opened.close()


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    await fake.start()
    yield fake
    await fake.stop()


def fast_link(url: str, **overrides: Any) -> LinkSettings:
    values: dict[str, Any] = {
        "server": url,
        "token": TOKEN,
        "wait_s": 1.0,
        "backoff_min_s": 0.02,
        "backoff_max_s": 0.1,
        "idle_s": 0.05,
        "request_timeout_s": 5.0,
    }
    values.update(overrides)
    return LinkSettings(**values)


def gateway_config(
    tmp_path: Path,
    url: str,
    channels: dict[str, ChannelLimits],
    *,
    link: dict[str, Any] | None = None,
    dispatch: dict[str, Any] | None = None,
) -> GatewayConfig:
    return GatewayConfig(
        link=fast_link(url, **(link or {})),
        spool=tmp_path / "gateway.sqlite3",
        channels=tuple(ChannelConfig(name, "fake", limits) for name, limits in channels.items()),
        dispatch=DispatchSettings(idle_s=0.05, **(dispatch or {})),
        health=HealthSettings(interval_s=0.1, timeout_s=1.0),
    )


GatewayFactory = Callable[..., Awaitable[tuple[Gateway, dict[str, FakeTransport]]]]


@pytest.fixture
async def make_gateway(tmp_path: Path, server: FakeServer) -> AsyncIterator[GatewayFactory]:
    started: list[Gateway] = []

    async def make(
        channels: dict[str, ChannelLimits] | None = None, **kwargs: Any
    ) -> tuple[Gateway, dict[str, FakeTransport]]:
        channels = channels or {"modem-1": ChannelLimits()}
        fakes = {name: FakeTransport(name) for name in channels}
        gateway = Gateway(gateway_config(tmp_path, server.url, channels, **kwargs), transports_by_id=fakes)
        await gateway.start()
        started.append(gateway)
        return gateway, fakes

    yield make
    for gateway in started:
        await gateway.stop()


async def eventually_async(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """``eventually`` for a check that must await (e.g. a spool query)."""
    end = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``check()`` holds; fail with the time it took otherwise."""
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)
