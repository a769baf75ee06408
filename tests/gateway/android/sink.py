"""A ``TransportSink`` that records what a transport hands the gateway, with the spool's promises: one copy
per (channel, identity), and a commit that can be made to fail."""

from __future__ import annotations

from gateway.transports.base import InboundSMS, StatusReport


class RecordingSink:
    def __init__(self) -> None:
        self.inbound: list[tuple[str, InboundSMS]] = []
        self.statuses: list[tuple[str, StatusReport]] = []
        self.offers = 0
        self.fail_next_inbound = 0

    async def on_inbound(self, channel: str, sms: InboundSMS) -> None:
        self.offers += 1
        if self.fail_next_inbound:
            self.fail_next_inbound -= 1
            raise RuntimeError("the spool could not commit")
        if any(c == channel and s.identity == sms.identity for c, s in self.inbound):
            return
        self.inbound.append((channel, sms))

    async def on_status(self, channel: str, report: StatusReport) -> None:
        self.statuses.append((channel, report))

    def texts(self) -> list[str]:
        return [sms.text for _, sms in self.inbound]

    def status_of(self, message_id: str) -> list[str]:
        return [r.status for _, r in self.statuses if r.message_id == message_id]
