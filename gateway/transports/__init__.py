"""Channels: the ``Transport`` protocol, its registry, and the built-in kinds (``fake``, ``modem``)."""

from gateway.transports.base import (
    ChannelHealth,
    InboundSMS,
    OutboundSMS,
    SendOutcome,
    StatusReport,
    Transport,
    TransportError,
    TransportSink,
    create,
    kinds,
    register,
)

__all__ = [
    "ChannelHealth",
    "InboundSMS",
    "OutboundSMS",
    "SendOutcome",
    "StatusReport",
    "Transport",
    "TransportError",
    "TransportSink",
    "create",
    "kinds",
    "register",
]
