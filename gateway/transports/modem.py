"""The ``modem`` channel kind: a GSM modem driven by :class:`gateway.modem.ModemDriver`, behind ``Transport``.

The driver already keeps the promises the spool relies on (it deletes a stored SMS only after
``on_inbound`` returned, and reports ``unknown`` for a submit that may have gone out); this adapter only
translates: the driver's inbound id becomes the SMS's identity, a delivery report for the whole message
becomes a status, and the driver's health becomes the channel's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from gateway.modem import DeliveryReport, InboundSms, ModemDriver, ModemSettings, ModemState, OutboundSms
from gateway.transports.base import (
    ChannelHealth,
    InboundSMS,
    OutboundSMS,
    SendOutcome,
    StatusReport,
    TransportError,
    TransportSink,
    register,
)

REGISTRATION = {0: "not searching", 1: "home", 2: "searching", 3: "denied", 4: "unknown", 5: "roaming"}
_SETTINGS = {f.name: f for f in dataclasses.fields(ModemSettings)}


class ModemTransport:
    kind = "modem"
    link_kind = "modem"

    def __init__(self, channel_id: str, settings: ModemSettings) -> None:
        self.id = channel_id
        self.settings = settings
        self._sink: TransportSink | None = None
        self.driver = ModemDriver(settings, on_inbound=self._inbound, on_report=self._report)

    async def start(self, sink: TransportSink) -> None:
        self._sink = sink
        await self.driver.start()  # comes up in the background; sends fail (retryable) until it is up

    async def stop(self) -> None:
        await self.driver.stop()

    async def send(self, message: OutboundSMS) -> SendOutcome:
        result = await self.driver.send(OutboundSms(message.id, message.to, message.text))
        return SendOutcome(result.outcome, result.parts, result.references, result.error, result.retryable)

    async def health(self) -> ChannelHealth:
        health = await self.driver.health()
        registration = REGISTRATION.get(health.registration) if health.registration is not None else None
        up = health.state is ModemState.UP
        detail = health.last_error if not up or health.errors else None
        if not up:
            detail = f"modem {health.state.value}" + (f": {detail}" if detail else "")
        return ChannelHealth(
            healthy=up and health.registered,
            signal=health.signal,
            operator=health.operator,
            registration=registration,
            errors=health.errors,
            detail=detail,
        )

    async def _inbound(self, sms: InboundSms) -> None:
        assert self._sink is not None
        # Returning is the driver's signal to delete the stored copy: only after the spool committed it.
        await self._sink.on_inbound(
            self.id,
            InboundSMS(identity=sms.id, sender=sms.sender, text=sms.text, received_at=sms.received_at),
        )

    async def _report(self, report: DeliveryReport) -> None:
        assert self._sink is not None
        if report.status == "pending":
            return  # some parts are still on their way
        error = None if report.status == "delivered" else f"delivery report TP-ST {report.part_status}"
        await self._sink.on_status(self.id, StatusReport(report.message_id, report.status, None, error))


def _factory(channel_id: str, options: Mapping[str, Any]) -> ModemTransport:
    unknown = sorted(set(options) - set(_SETTINGS))
    if unknown:
        raise TransportError(f"channel {channel_id!r}: unknown modem option(s) {', '.join(unknown)}")
    if not isinstance(options.get("port"), str):
        raise TransportError(f"channel {channel_id!r}: a modem needs `port` (its /dev/serial/by-id/... path)")
    values = dict(options)
    if isinstance(values.get("store"), list):
        values["store"] = tuple(values["store"])
    try:
        settings = ModemSettings(**values)
    except TypeError as error:
        raise TransportError(f"channel {channel_id!r}: {error}") from error
    for name, value in values.items():
        default = _SETTINGS[name].default
        expected: type = str if default is None or default is dataclasses.MISSING else type(default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise TransportError(f"channel {channel_id!r}: {name} must be a {expected.__name__}")
    return ModemTransport(channel_id, settings)


register("modem", _factory)
