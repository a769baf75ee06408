"""What the channels of apps that dial in share (EnvayaSMS, SMSSync): an endpoint on a shared listener, the
hand-over of outgoing messages to the phone's next poll, and health judged by how recently the phone called.

Such a phone cannot be asked anything; it is healthy while it keeps polling. One that has been quiet for
``quiet_after_s`` is reported unhealthy, and ``send`` gives its message straight back (nothing reached the
phone), so the dispatcher moves the work to another channel instead of waiting on a phone that is gone.
A channel paired through the phone book (``phone = NAME``) also records its calls next to the book
(:mod:`.last_call`), for ``recado phone list``.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from flows import sms as sms_facts
from gateway.android_bridge import listener as listeners
from gateway.android_bridge import phones as phone_book
from gateway.android_bridge.handover import Handover
from gateway.android_bridge.last_call import CallRecorder, LastCall
from gateway.android_bridge.last_call import path_for as last_call_path
from gateway.transports.base import (
    ChannelHealth,
    InboundSMS,
    OutboundSMS,
    SendOutcome,
    StatusReport,
    TransportError,
    TransportSink,
)

log = logging.getLogger(__name__)

HANDED_KEPT = 4096  # ids handed to the phone, remembered so that only its own messages get its reports


@dataclass(frozen=True)
class DialInSettings:
    listen: str  # HOST:PORT the gateway serves the app on
    path: str  # the endpoint's path on that listener
    url: str | None  # the URL exactly as typed into the app (signatures cover it); default: listener + path
    secret: str  # EnvayaSMS password, SMSSync secret
    quiet_after_s: float = 300.0
    pickup_timeout_s: float = 120.0
    batch: int = 10  # messages per poll answer
    calls_file: Path | None = None  # where the phone's last call is recorded (:mod:`.last_call`)


class DialInChannel:
    kind = ""
    link_kind = ""

    def __init__(
        self, channel_id: str, settings: DialInSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.id = channel_id
        self.settings = settings
        self._clock = clock
        self.handover = Handover()
        self.handed: OrderedDict[str, float] = OrderedDict()
        self.last_seen: float | None = None
        self.battery: int | None = None
        self.detail: str | None = None
        self.limited_until = 0.0
        self._sink: TransportSink | None = None
        self._listener: listeners.Listener | None = None
        self._calls = CallRecorder(settings.calls_file) if settings.calls_file is not None else None

    @property
    def url(self) -> str:
        if self.settings.url:
            return self.settings.url
        assert self._listener is not None, "not started"
        return self._listener.base_url + self.settings.path

    async def start(self, sink: TransportSink) -> None:
        self._sink = sink
        self._listener = await listeners.acquire(self.settings.listen)
        try:
            self._listener.mount(self.settings.path, self.handle)
        except listeners.ListenerError:
            await listeners.release(self._listener)
            self._listener = None
            raise

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.unmount(self.settings.path)
            await listeners.release(self._listener)
            self._listener = None
        if self._calls is not None:
            await self._calls.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    def quiet(self) -> bool:
        return self.last_seen is None or self._clock() - self.last_seen > self.settings.quiet_after_s

    async def send(self, message: OutboundSMS) -> SendOutcome:
        parts = sms_facts.size(message.text).segments
        if self.quiet():
            return SendOutcome("failed", parts, error="the phone has not called in", retryable=True)
        if self._clock() < self.limited_until:
            return SendOutcome("failed", parts, error="the phone reached Android's SMS limit", retryable=True)
        outcome = await self.handover.offer(message, self.settings.pickup_timeout_s)
        if outcome == "withdrawn":
            return SendOutcome("failed", parts, error="the phone did not fetch it in time", retryable=True)
        self.handed[message.id] = self._clock()
        while len(self.handed) > HANDED_KEPT:
            self.handed.popitem(last=False)
        return SendOutcome("accepted", parts)

    async def health(self) -> ChannelHealth:
        if self.last_seen is None:
            return ChannelHealth(healthy=False, detail="the phone has not called in yet")
        quiet_for = self._clock() - self.last_seen
        if quiet_for > self.settings.quiet_after_s:
            return ChannelHealth(
                healthy=False, battery=self.battery, detail=f"the phone has been quiet for {quiet_for:.0f} s"
            )
        if self._clock() < self.limited_until:
            return ChannelHealth(
                healthy=False, battery=self.battery, detail="the phone reached Android's SMS limit"
            )
        return ChannelHealth(healthy=True, battery=self.battery, detail=self.detail)

    def seen(self, battery: Any = None) -> None:
        self.last_seen = self._clock()
        if isinstance(battery, str) and battery.isdigit() and int(battery) <= 100:
            self.battery = int(battery)
        if self._calls is not None:
            self._calls.seen(LastCall(self.last_seen, self.battery))

    async def deliver(self, sms: InboundSMS) -> None:
        assert self._sink is not None
        await self._sink.on_inbound(self.id, sms)

    async def report(self, status: StatusReport) -> bool:
        """A status from the phone, for a message it was handed; anything else is ignored."""
        if status.message_id not in self.handed:
            log.warning("%s: a status for a message this phone was never given; ignored", self.id)
            return False
        assert self._sink is not None
        await self._sink.on_status(self.id, status)
        return True


def book_path(options: Mapping[str, Any]) -> Path:
    """The phone book a channel's ``phone`` is found in."""
    return Path(str(options.get("phones_file") or phone_book.default_path()))


def read_secret(channel_id: str, options: Mapping[str, Any], key: str) -> str:
    """The shared secret: from the phone book (``phone = NAME``, as ``recado phone pair`` sets it up), a file,
    or the option itself."""
    where = f"channel {channel_id!r}"
    if "phone" in options:
        book = book_path(options)
        try:
            secret = phone_book.find(book, str(options["phone"])).password or ""
        except phone_book.PhoneBookError as error:
            raise TransportError(f"{where}: {error}") from error
    elif f"{key}_file" in options:
        try:
            secret = Path(str(options[f"{key}_file"])).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise TransportError(f"{where}: cannot read {key}_file: {error.strerror or error}") from error
    else:
        secret = options.get(key, "")
    if not isinstance(secret, str) or len(secret) < 8:
        raise TransportError(f"{where}: `{key}` (or `{key}_file`) must be at least 8 characters")
    return secret


def dial_in_settings(
    channel_id: str, options: Mapping[str, Any], *, secret_named: str, default_path: str
) -> DialInSettings:
    where = f"channel {channel_id!r}"
    listen = options.get("listen")
    if not isinstance(listen, str):
        raise TransportError(f"{where}: needs `listen` (HOST:PORT the phone calls)")
    try:
        listeners.parse_address(listen)
    except listeners.ListenerError as error:
        raise TransportError(f"{where}: {error}") from error
    path = options.get("path", default_path)
    url = options.get("url")
    if (
        not isinstance(path, str)
        or not path.startswith("/")
        or (url is not None and not isinstance(url, str))
    ):
        raise TransportError(f"{where}: `path` must start with / and `url` must be a string")
    numbers: dict[str, Any] = {}
    for key in ("quiet_after_s", "pickup_timeout_s"):
        if key in options:
            value = options[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise TransportError(f"{where}: {key} must be a positive number")
            numbers[key] = float(value)
    # Only a phone from the phone book is recorded: `recado phone list` shows the phone book's phones.
    phone = options.get("phone")
    calls_file = last_call_path(book_path(options), phone) if isinstance(phone, str) and phone else None
    return DialInSettings(
        listen=listen,
        path=path,
        url=url,
        secret=read_secret(channel_id, options, secret_named),
        calls_file=calls_file,
        **numbers,
    )
