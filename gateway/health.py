"""Per-channel health: asked of each transport in the background, joined with the dispatcher's figures, and
sent up with every sync.

A modem answers health with three AT commands, which queue behind sends; asking on every sync (every few
seconds while busy) would steal radio time, so transports are polled every ``interval_s`` and each sync
carries the latest answer. A transport that does not answer within ``timeout_s`` (or raises) is reported
unhealthy with the reason, and the dispatcher stops giving it messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from gateway.dispatcher import Dispatcher
from gateway.transports.base import ChannelHealth

log = logging.getLogger(__name__)

RETRY_DOWN_S = 2.0
LINK_KINDS = frozenset({"modem", "smsgate", "envaya", "smssync"})


class HealthMonitor:
    def __init__(self, dispatcher: Dispatcher, *, interval_s: float = 30.0, timeout_s: float = 10.0) -> None:
        self.dispatcher = dispatcher
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.poll()
        self._task = asyncio.create_task(self._loop(), name="health")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            # A channel that is down (a modem still starting) is asked again soon, so it is used as soon
            # as it is up; a transport that is down answers from memory, so this costs no radio time.
            down = any(not c.reported.healthy for c in self.dispatcher.channels.values())
            await asyncio.sleep(min(self.interval_s, RETRY_DOWN_S) if down else self.interval_s)
            await self.poll()

    async def poll(self) -> None:
        channels = list(self.dispatcher.channels.values())
        answers = await asyncio.gather(*(self._ask(c.transport.id) for c in channels))
        for channel, health in zip(channels, answers, strict=True):
            self.dispatcher.set_health(channel.id, health)

    async def _ask(self, channel_id: str) -> ChannelHealth:
        transport = self.dispatcher.channels[channel_id].transport
        try:
            async with asyncio.timeout(self.timeout_s):
                return await transport.health()
        except TimeoutError:
            return ChannelHealth(healthy=False, detail=f"no health answer within {self.timeout_s:.0f} s")
        except Exception as error:
            log.warning("%s: health check failed: %s", channel_id, error)
            return ChannelHealth(healthy=False, detail=f"health check failed: {error}"[:255])

    def report(self) -> list[dict[str, Any]]:
        """The ``channels`` list of a sync request (docs/gateway-link.md)."""
        return [channel_report(self.dispatcher, name) for name in list(self.dispatcher.channels)[:64]]


def channel_report(dispatcher: Dispatcher, channel_id: str) -> dict[str, Any]:
    channel = dispatcher.channels[channel_id]
    health = channel.reported
    kind = getattr(channel.transport, "link_kind", channel.transport.kind)
    detail = health.detail
    if channel.cap_spent():
        detail = "daily cap reached"
    elif health.healthy and not dispatcher.usable(channel_id):
        detail = f"{channel.failures} failed sends in a row"
    if health.registration and not detail:
        detail = f"registration: {health.registration}"
    signal = health.signal if health.signal is not None and 0 <= health.signal <= 31 else None
    battery = health.battery if health.battery is not None and 0 <= health.battery <= 100 else None
    return {
        "id": channel_id,
        "kind": kind if kind in LINK_KINDS else "modem",
        "healthy": dispatcher.usable(channel_id),
        "signal": signal,
        "battery": battery,
        "sent_today": min(channel.day_parts, 1_000_000),
        "daily_cap": channel.limits.daily_cap,
        "queue": min(channel.queue, 1_000_000),
        "operator": health.operator[:64] if health.operator else None,
        "detail": detail[:255] if detail else None,
    }
