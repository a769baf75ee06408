"""What every channel of a gateway is: the ``Transport`` protocol, the messages that cross it, and a registry.

A transport owns one radio path (a modem, one SIM of an Android phone) and knows nothing of the spool, the
dispatcher or the server. The gateway gives it a :class:`TransportSink` when it starts:

- ``on_inbound`` is awaited for every SMS the radio received. Returning means the spool has committed it;
  only then may the transport delete its own copy (a modem's stored SMS, a phone's inbox cursor). When it
  raises, the transport keeps its copy and offers it again later.
- ``on_status`` carries what happens to a sent message after ``send`` returned (a delivery report, a phone
  that finally sent what it had accepted).

``send`` hands one message to the radio and says what became of it. ``unknown`` means the message may have
gone out (the PDU was written, the phone took the request) but nobody can say: the gateway reports it and
never sends it again on its own. ``retryable`` is only true when nothing reached the network, so another
channel may take the message.

Built-in kinds are looked up lazily (a gateway with only phones never imports pyserial); other modules add
theirs with :func:`register`.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

Priority = Literal["reply", "alert", "bulk"]
SendStatus = Literal["accepted", "sent", "failed", "unknown"]
LaterStatus = Literal["sent", "delivered", "failed"]
Kind = Literal["modem", "smsgate", "smsgate-private", "envaya", "smssync", "fake"]


@dataclass(frozen=True)
class OutboundSMS:
    id: str  # the server's message id: a transport passes it on where the far side keeps ids (phones)
    to: str  # E.164
    text: str
    priority: Priority = "bulk"
    expires_at: dt.datetime | None = None


@dataclass(frozen=True)
class SendOutcome:
    status: SendStatus
    parts: int
    references: tuple[int, ...] = ()  # what the radio numbered each part with (TP-MR), for delivery reports
    error: str | None = None
    retryable: bool = False  # only for failures where nothing reached the network


@dataclass(frozen=True)
class InboundSMS:
    """One received SMS, parts already joined.

    ``identity`` is the transport's own name for it, the same every time the same SMS is read (a modem
    hashes sender, timestamp and text; a phone has a message id): the spool keeps one copy per
    (channel, identity), so an SMS read again after a crash is not spooled twice."""

    identity: str
    sender: str
    text: str
    received_at: dt.datetime  # timezone-aware
    recipient: str | None = None


@dataclass(frozen=True)
class StatusReport:
    message_id: str
    status: LaterStatus
    at: dt.datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class ChannelHealth:
    """What a transport can say about itself; the gateway adds queue, sent-today and cap figures."""

    healthy: bool  # can send now
    signal: int | None = None  # 0-31 as AT+CSQ reports it
    operator: str | None = None
    registration: str | None = None  # "home", "roaming", "searching", "denied", "not searching"
    battery: int | None = None  # percent, phones
    errors: int = 0  # consecutive errors the transport has seen
    detail: str | None = None  # last error, state in words


class TransportSink(Protocol):
    async def on_inbound(self, channel: str, sms: InboundSMS) -> None: ...

    async def on_status(self, channel: str, report: StatusReport) -> None: ...


@runtime_checkable
class Transport(Protocol):
    id: str
    kind: str  # the registry's name for it
    link_kind: str  # what the server is told: modem, smsgate, envaya or smssync

    async def start(self, sink: TransportSink) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, message: OutboundSMS) -> SendOutcome: ...

    async def health(self) -> ChannelHealth: ...


class TransportError(ValueError):
    """A channel's configuration cannot make a transport (unknown kind, missing or bad option)."""


Factory = Callable[[str, Mapping[str, Any]], Transport]

_BUILT_IN = {
    "fake": "gateway.transports.fake",
    "modem": "gateway.transports.modem",
    "smsgate": "gateway.android_bridge.smsgate_local",
    "smsgate-private": "gateway.android_bridge.smsgate_private",
    "envaya": "gateway.android_bridge.envaya",
    "smssync": "gateway.android_bridge.smssync",
}
_factories: dict[str, Factory] = {}


def register(kind: str, factory: Factory) -> None:
    """Make ``kind`` available to channel configurations; ``factory(channel_id, options)`` builds one."""
    _factories[kind] = factory


def kinds() -> list[str]:
    return sorted(set(_factories) | set(_BUILT_IN))


def create(kind: str, channel_id: str, options: Mapping[str, Any]) -> Transport:
    if kind not in _factories and kind in _BUILT_IN:
        importlib.import_module(_BUILT_IN[kind])  # registers itself on import
    factory = _factories.get(kind)
    if factory is None:
        raise TransportError(f"channel {channel_id!r}: unknown kind {kind!r} (known: {', '.join(kinds())})")
    return factory(channel_id, options)
