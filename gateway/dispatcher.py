"""Which channel sends which message, and when.

Every round takes the spool's sendable messages best first (replies, then alerts, then bulk; oldest first
within each) and gives each one a channel:

- **Her own number first.** The channel the server names (the one that last carried her) or, failing that,
  the one this gateway last used with her. While that channel is merely busy or rate-limited the message
  waits for it; only when it has been unusable (unhealthy, or its daily cap spent) for longer than
  ``sticky_down_s`` does another channel take her. A message from an unknown number looks like fraud.
- **Otherwise the channel with the most room now**: idle first, then the most tokens, then the fewest parts
  sent today.
- **Limits are counted in SMS parts** per channel: a token bucket (``rate_per_minute``, ``burst``), a daily cap
  (reset at midnight in the gateway's timezone), and a sliding window (Android allows 30 parts per 30
  minutes unless the phone was raised). A long message may take the bucket into debt rather than starve.
- **Priorities hold capacity**: a channel a better message is waiting for is not given to a worse one in the
  same round.
- **Failover**: ``failure_threshold`` failures in a row make a channel unhealthy for ``failure_cooldown_s``;
  a failure where nothing reached the network puts the message back for another channel (up to
  ``max_attempts`` tries).
- **Every message ends with a status**: ``sent``/``accepted``/``unknown``/``failed`` from the radio,
  ``failed`` with ``expired`` when its ``expires_at`` passed before it could go.

Each channel sends one message at a time; the spool records the hand-over before ``send`` is called.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from flows import sms as sms_facts
from gateway.spool import Outbound, Spool
from gateway.transports.base import ChannelHealth, OutboundSMS, SendOutcome, Transport

log = logging.getLogger(__name__)

# What a channel without a configured rate is assumed to manage, for deciding how much to lease: a modem
# submits about one part a second, less with network delays.
NOMINAL_PARTS_PER_MINUTE = 30.0
ANDROID_KINDS = frozenset({"smsgate", "envaya", "smssync"})
ANDROID_WINDOW_MAX = 30
ANDROID_WINDOW_S = 1800.0


@dataclass(frozen=True)
class ChannelLimits:
    rate_per_minute: float | None = None  # SMS parts; None: as fast as the radio goes
    burst: int | None = None  # bucket size in parts; default: a minute's worth
    daily_cap: int | None = None  # parts per day (per SIM)
    window_max: int | None = None  # parts per sliding window (Android's check period)
    window_s: float = ANDROID_WINDOW_S

    @classmethod
    def default_for(cls, link_kind: str) -> ChannelLimits:
        if link_kind in ANDROID_KINDS:
            return cls(window_max=ANDROID_WINDOW_MAX, window_s=ANDROID_WINDOW_S)
        return cls()


@dataclass(frozen=True)
class DispatchSettings:
    sticky_down_s: float = 3600.0
    failure_threshold: int = 3
    failure_cooldown_s: float = 60.0
    max_attempts: int = 3
    idle_s: float = 1.0  # how often to look again when nothing wakes the dispatcher
    timezone: str = "America/Mexico_City"  # where "today" of the daily caps begins


@dataclass
class Channel:
    transport: Transport
    limits: ChannelLimits
    tokens: float = 0.0
    tokens_at: float = 0.0
    day: dt.date | None = None
    day_parts: int = 0
    window: deque[tuple[float, int]] = field(default_factory=deque)
    busy: bool = False
    failures: int = 0
    last_failure: float = 0.0
    reported: ChannelHealth = field(default_factory=lambda: ChannelHealth(healthy=True))
    down_since: float | None = None
    queue: int = 0

    @property
    def id(self) -> str:
        return self.transport.id

    @property
    def burst(self) -> float:
        if self.limits.burst is not None:
            return float(self.limits.burst)
        return max(1.0, self.limits.rate_per_minute or 1.0)

    def refill(self, now: float) -> None:
        rate = self.limits.rate_per_minute
        if rate is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.tokens_at) * rate / 60.0)
        self.tokens_at = now
        while self.window and self.window[0][0] <= now - self.limits.window_s:
            self.window.popleft()

    def window_used(self) -> int:
        return sum(parts for _, parts in self.window)

    def cap_spent(self) -> bool:
        cap = self.limits.daily_cap
        return cap is not None and self.day_parts >= cap

    def healthy(self, now: float, settings: DispatchSettings) -> bool:
        failing = (
            self.failures >= settings.failure_threshold
            and now - self.last_failure < settings.failure_cooldown_s
        )
        return self.reported.healthy and not failing

    def usable(self, now: float, settings: DispatchSettings) -> bool:
        return self.healthy(now, settings) and not self.cap_spent()

    def can_take(self, parts: int) -> bool:
        """Room for ``parts`` now; a message larger than the whole allowance goes when the allowance is full."""
        if self.limits.rate_per_minute is not None and self.tokens < min(parts, self.burst):
            return False
        cap = self.limits.daily_cap
        if cap is not None and self.day_parts and self.day_parts + parts > cap:
            return False
        limit = self.limits.window_max
        used = self.window_used()
        return not (limit is not None and used and used + parts > limit)

    def room_now(self) -> float:
        rooms = [float("inf")]
        if self.limits.rate_per_minute is not None:
            rooms.append(self.tokens)
        if self.limits.daily_cap is not None:
            rooms.append(self.limits.daily_cap - self.day_parts)
        if self.limits.window_max is not None:
            rooms.append(self.limits.window_max - self.window_used())
        return min(rooms)

    def headroom(self, horizon_s: float) -> int:
        """Parts this channel could send within ``horizon_s``, for deciding how much to lease."""
        rate = self.limits.rate_per_minute
        rooms = [
            self.tokens + rate * horizon_s / 60.0
            if rate is not None
            else NOMINAL_PARTS_PER_MINUTE * horizon_s / 60.0
        ]
        if self.limits.daily_cap is not None:
            rooms.append(self.limits.daily_cap - self.day_parts)
        if self.limits.window_max is not None:
            refills = self.limits.window_max if horizon_s >= self.limits.window_s else 0
            rooms.append(self.limits.window_max - self.window_used() + refills)
        return max(0, int(min(rooms)))

    def take(self, parts: int, now: float) -> None:
        if self.limits.rate_per_minute is not None:
            self.tokens -= parts
        self.day_parts += parts
        self.window.append((now, parts))


StatusListener = Callable[[], None]


class Dispatcher:
    def __init__(
        self,
        spool: Spool,
        channels: Mapping[str, tuple[Transport, ChannelLimits]],
        settings: DispatchSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        on_status: StatusListener | None = None,
    ) -> None:
        self.spool = spool
        self.settings = settings or DispatchSettings()
        self.channels: dict[str, Channel] = {
            name: Channel(transport, limits) for name, (transport, limits) in channels.items()
        }
        self._clock = clock
        self._on_status = on_status
        self._zone = ZoneInfo(self.settings.timezone)
        self._wake = asyncio.Event()
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._preferred: dict[str, str | None] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._round = asyncio.Lock()

    # --- life cycle -------------------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Read back what the channels used before a restart (without starting the rounds)."""
        now = self._clock()
        for channel in self.channels.values():
            channel.tokens, channel.tokens_at = channel.burst, now
            await self._load_usage(channel, now)

    async def start(self) -> None:
        await self.prepare()
        self._task = asyncio.create_task(self._loop(), name="dispatcher")

    async def stop(self) -> None:
        """Stop taking new messages and let sends already with a radio finish (their outcome is recorded)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    def wake(self) -> None:
        self._wake.set()

    async def _load_usage(self, channel: Channel, now: float) -> None:
        """Carry the day's and the window's counts over a restart, from what the spool recorded."""
        channel.day = self._today(now)
        start = dt.datetime.combine(channel.day, dt.time(), self._zone).timestamp()
        channel.day_parts = await self.spool.usage(channel.id, start)
        channel.window = deque(await self.spool.handed_since(channel.id, now - channel.limits.window_s))

    def _today(self, now: float) -> dt.date:
        return dt.datetime.fromtimestamp(now, self._zone).date()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("dispatch round failed; trying again")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.idle_s):
                    await self._wake.wait()

    # --- one round ---------------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Hand out what can go now; returns how many sends were started."""
        async with self._round:
            return await self._run_once()

    async def _run_once(self) -> int:
        now = self._clock()
        self._refresh(now)
        messages = await self.spool.sendable()
        waiting = {m.id for m in messages}
        for gone in set(self._preferred) - waiting:
            self._preferred.pop(gone, None)
        held: set[str] = set()
        started = 0
        queues: dict[str, int] = dict.fromkeys(self.channels, 0)
        for message in messages:
            if message.id in self._inflight:
                continue
            if message.expires_at is not None and message.expires_at.timestamp() <= now:
                await self.spool.fail_unsent(message.id, "expired")
                self._notify()
                continue
            channel = await self._choose(message, now)
            if channel is None:
                continue
            queues[channel.id] += 1
            parts = sms_facts.size(message.text).segments
            if self._stopping or channel.id in held or channel.busy or not channel.can_take(parts):
                held.add(channel.id)  # a worse message must not take what this one waits for
                continue
            channel.busy = True
            channel.take(parts, now)
            task = asyncio.create_task(self._send(channel, message, parts), name=f"send {message.id}")
            self._inflight[message.id] = task
            started += 1
        for name, count in queues.items():
            self.channels[name].queue = count
        return started

    def _refresh(self, now: float) -> None:
        today = self._today(now)
        for channel in self.channels.values():
            channel.refill(now)
            if channel.day != today:
                channel.day, channel.day_parts = today, 0
            if channel.usable(now, self.settings):
                channel.down_since = None
            elif channel.down_since is None:
                channel.down_since = now

    async def _choose(self, message: Outbound, now: float) -> Channel | None:
        if message.id not in self._preferred:
            preferred = message.hint if message.hint in self.channels else None
            if preferred is None:
                preferred = await self.spool.last_channel(message.contact)
            self._preferred[message.id] = preferred if preferred in self.channels else None
        own = self.channels.get(self._preferred[message.id] or "")
        if own is not None:
            if own.usable(now, self.settings):
                return own
            down_for = now - (own.down_since if own.down_since is not None else now)
            if down_for < self.settings.sticky_down_s:
                return None  # wait for her number to come back
        candidates = [c for c in self.channels.values() if c.usable(now, self.settings)]
        if not candidates:
            return None
        return max(candidates, key=lambda c: (not c.busy, c.room_now(), -c.day_parts))

    async def _send(self, channel: Channel, message: Outbound, parts: int) -> None:
        try:
            if not await self.spool.mark_sending(message.id, channel.id, parts):
                return
            outbound = OutboundSMS(message.id, message.to, message.text, message.priority, message.expires_at)
            try:
                outcome = await channel.transport.send(outbound)
            except Exception as error:
                # A transport that raises has not said whether the radio has the message: never resend it.
                log.exception("%s: send of %s raised", channel.id, message.id)
                outcome = SendOutcome("unknown", parts, error=f"transport error: {error}"[:255])
            await self._record(channel, message, outcome)
        except Exception:
            log.exception("%s: could not record the send of %s", channel.id, message.id)
        finally:
            channel.busy = False
            self._inflight.pop(message.id, None)
            self.wake()

    async def _record(self, channel: Channel, message: Outbound, outcome: SendOutcome) -> None:
        now = self._clock()
        if outcome.status == "failed":
            channel.failures += 1
            channel.last_failure = now
        else:
            channel.failures = 0
        retry = (
            outcome.status == "failed"
            and outcome.retryable
            and message.attempts + 1 < self.settings.max_attempts
            and not self._stopping
        )
        if retry:
            log.info("%s: %s did not go (%s); another try later", channel.id, message.id, outcome.error)
            self._preferred.pop(message.id, None)
        await self.spool.record_outcome(
            message.id,
            outcome.status,
            channel=channel.id,
            parts=max(1, outcome.parts),
            references=outcome.references,
            error=outcome.error,
            requeue=retry,
        )
        if not retry:
            self._notify()

    def _notify(self) -> None:
        if self._on_status is not None:
            self._on_status()

    # --- figures for the link and the health report ------------------------------------------------------

    def set_health(self, channel_id: str, health: ChannelHealth) -> None:
        channel = self.channels[channel_id]
        was = channel.reported.healthy
        channel.reported = health
        if health.healthy and not was:
            channel.failures = 0
            self.wake()

    def usable(self, channel_id: str) -> bool:
        return self.channels[channel_id].usable(self._clock(), self.settings)

    def headroom(self, horizon_s: float) -> int:
        """Parts all usable channels could send within ``horizon_s``."""
        now = self._clock()
        self._refresh(now)
        return sum(c.headroom(horizon_s) for c in self.channels.values() if c.usable(now, self.settings))

    @property
    def inflight(self) -> int:
        return len(self._inflight)
