"""What an SMSGate phone in private-server mode was handed, and what became of it.

- :meth:`Handed.serve` answers the phone's ``GET /message``: what it was handed and has not reported on
  yet, then what waits in its SIM channels' hand-overs (taken now: from here on the message is the
  phone's and never goes to another channel). An answer lost on the way is repaired by the next fetch; the
  app never queues an id it already has, it repeats its state instead.
- :meth:`Handed.apply_states` reads ``PATCH /message`` (Pending → Processed → Sent → Delivered / Failed,
  Cancelled) and :meth:`Handed.apply_event` the ``sms:sent`` / ``sms:delivered`` / ``sms:failed`` webhooks;
  each becomes at most one ``sent`` and one final report for the channel of the SIM it went out on. The app
  sends one ``sms:delivered`` per part of a long SMS: the message is delivered when every part is.
- What is not final is written to the phone's messages file (:mod:`.smsgate_private_device`) before the
  answer that hands it over, so after a gateway restart reports still count and an unconfirmed message is
  served again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows import sms as sms_facts
from gateway.android_bridge import smsgate_private_device as device
from gateway.android_bridge.smsgate_local import parse_phone_date, phone_date, recipient_error
from gateway.transports.base import OutboundSMS, StatusReport

if TYPE_CHECKING:
    from gateway.android_bridge.smsgate_private import SmsGatePrivateTransport

log = logging.getLogger(__name__)

MAX_SERVED = 100  # messages per GET /message answer and items per PATCH, as the official server
TRACKED_KEPT = 4096
STATES = frozenset({"Pending", "Processed", "Sent", "Delivered", "Failed", "Cancelled", "Cancelling"})


@dataclass
class Tracked:
    channel: SmsGatePrivateTransport
    message: OutboundSMS
    parts: int
    served_at: float
    reported: bool = False  # the phone has said something about it: no need to serve it again
    sent: bool = False
    delivered_parts: int = 0
    done: bool = False


class Handed:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self.tracked: OrderedDict[str, Tracked] = OrderedDict()
        self._restored: dict[str, dict[str, Any]] = {}  # handed before a restart, for a SIM not attached yet
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        entries = await asyncio.to_thread(device.load_messages, self.path)
        self._restored = {e["id"]: e for e in entries if isinstance(e.get("id"), str)}

    def adopt(self, channel: SmsGatePrivateTransport) -> None:
        """A SIM's channel joins: what the phone was handed for it before a restart is followed again."""
        for message_id, entry in list(self._restored.items()):
            if entry.get("sim") != channel.sim:
                continue
            del self._restored[message_id]
            tracked = _restore(entry, channel)
            if tracked is not None:
                self.tracked[message_id] = tracked
                channel.handed[message_id] = tracked.served_at

    async def persist(self) -> None:
        async with self._lock:  # one write at a time, each from a fresh snapshot: never an old one last
            entries = [_entry(t) for t in self.tracked.values() if not t.done]
            await asyncio.to_thread(device.save_messages, self.path, entries + list(self._restored.values()))

    async def serve(self, channels: list[SmsGatePrivateTransport], *, lifo: bool) -> list[dict[str, Any]]:
        waiting = [t for t in self.tracked.values() if not t.reported]
        known = len(waiting)
        room = MAX_SERVED - len(waiting)
        for channel in channels:
            if room <= 0:
                break
            for message in channel.handover.take(room):
                room -= 1
                channel.handed[message.id] = self._clock()
                tracked = Tracked(channel, message, sms_facts.size(message.text).segments, self._clock())
                self.tracked[message.id] = tracked
                waiting.append(tracked)
        while len(self.tracked) > TRACKED_KEPT:
            self.tracked.popitem(last=False)
        if len(waiting) > known:
            await self.persist()  # before the answer: what the phone may have is never forgotten
        if lifo:
            waiting.reverse()
        return [_mobile_message(t) for t in waiting[:MAX_SERVED]]

    async def apply_states(self, items: list[dict[str, Any]]) -> int:
        """The phone's ``PATCH /message`` items; how many were about messages it was never handed."""
        unknown = 0
        for item in items:
            unknown += not await self._apply(item)
        if unknown < len(items):
            await self.persist()
        return unknown

    async def _apply(self, item: Mapping[str, Any]) -> bool:
        tracked = self.tracked.get(item["id"])
        if tracked is None:
            return False
        tracked.reported = True
        state = item["state"]
        states = item.get("states")
        at = parse_phone_date(states.get(state)) if isinstance(states, dict) else None
        if state in ("Sent", "Delivered"):
            await self._sent(tracked, at)
        if state == "Delivered":
            await self._finish(tracked, StatusReport(tracked.message.id, "delivered", at))
        elif state == "Failed":
            error = recipient_error(item) or "the phone could not send it"
            await self._finish(tracked, StatusReport(tracked.message.id, "failed", at, error))
        elif state == "Cancelled":
            await self._finish(
                tracked, StatusReport(tracked.message.id, "failed", at, "cancelled on the phone")
            )
        return True

    async def apply_event(self, event: str, payload: Mapping[str, Any]) -> bool:
        """A status webhook; False when it is about a message the phone was never handed."""
        message_id = payload.get("messageId")
        tracked = self.tracked.get(message_id) if isinstance(message_id, str) else None
        if tracked is None:
            return False
        try:
            await self._apply_event(tracked, event, payload)
        finally:
            await self.persist()
        return True

    async def _apply_event(self, tracked: Tracked, event: str, payload: Mapping[str, Any]) -> None:
        tracked.reported = True
        if event == "sms:sent":
            parts = payload.get("partsCount")
            if isinstance(parts, int) and not isinstance(parts, bool) and 0 < parts <= 255:
                tracked.parts = parts
            await self._sent(tracked, parse_phone_date(payload.get("sentAt")))
        elif event == "sms:delivered":
            tracked.delivered_parts += 1
            if tracked.delivered_parts >= tracked.parts:
                at = parse_phone_date(payload.get("deliveredAt"))
                await self._sent(tracked, at)
                await self._finish(tracked, StatusReport(tracked.message.id, "delivered", at))
        else:
            reason = payload.get("reason")
            error = str(reason)[:200] if isinstance(reason, str) and reason else "the phone could not send it"
            at = parse_phone_date(payload.get("failedAt"))
            await self._finish(tracked, StatusReport(tracked.message.id, "failed", at, error))

    async def _sent(self, tracked: Tracked, at: dt.datetime | None) -> None:
        if not tracked.sent and not tracked.done:
            tracked.sent = True
            await tracked.channel.report(StatusReport(tracked.message.id, "sent", at))

    async def _finish(self, tracked: Tracked, report: StatusReport) -> None:
        if not tracked.done:
            tracked.done = True
            await tracked.channel.report(report)


def patch_items(body: Any) -> list[dict[str, Any]] | None:
    """A ``PATCH /message`` body as a list of items with an id and a known state, or None."""
    if not isinstance(body, list) or len(body) > MAX_SERVED:
        return None
    for item in body:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("id"), str)
            or not 0 < len(item["id"]) <= 64
            or item.get("state") not in STATES
        ):
            return None
    return body


def _mobile_message(tracked: Tracked) -> dict[str, Any]:
    """The app's ``MobileMessage``: it has no ttl, so an expiry goes as validUntil ("TTL expired" on the phone)."""
    message = tracked.message
    item: dict[str, Any] = {
        "id": message.id,
        "textMessage": {"text": message.text},
        "phoneNumbers": [message.to],
        "withDeliveryReport": True,
        "isEncrypted": False,
        "priority": 0,
        "state": "Pending",
        "createdAt": phone_date(dt.datetime.fromtimestamp(tracked.served_at, dt.UTC)),
    }
    if tracked.channel.sim is not None:
        item["simNumber"] = tracked.channel.sim
    if message.expires_at is not None:
        item["validUntil"] = phone_date(message.expires_at)
    return item


def _entry(tracked: Tracked) -> dict[str, Any]:
    message = tracked.message
    return {
        "id": message.id,
        "sim": tracked.channel.sim,
        "to": message.to,
        "text": message.text,
        "priority": message.priority,
        "expires_at": message.expires_at.isoformat() if message.expires_at is not None else None,
        "parts": tracked.parts,
        "served_at": tracked.served_at,
        "reported": tracked.reported,
        "sent": tracked.sent,
        "delivered_parts": tracked.delivered_parts,
    }


def _restore(entry: Mapping[str, Any], channel: SmsGatePrivateTransport) -> Tracked | None:
    try:
        expires, priority = entry.get("expires_at"), entry.get("priority")
        message = OutboundSMS(
            id=str(entry["id"]),
            to=str(entry["to"]),
            text=str(entry["text"]),
            priority=priority if priority in ("reply", "alert") else "bulk",
            expires_at=dt.datetime.fromisoformat(expires) if isinstance(expires, str) else None,
        )
        return Tracked(
            channel,
            message,
            int(entry["parts"]),
            float(entry["served_at"]),
            reported=bool(entry.get("reported")),
            sent=bool(entry.get("sent")),
            delivered_parts=int(entry.get("delivered_parts", 0)),
        )
    except (KeyError, TypeError, ValueError):
        log.warning("%s: a handed message in the state file is unreadable; dropped", channel.id)
        return None
