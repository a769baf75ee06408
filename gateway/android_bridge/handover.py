"""Messages waiting for a phone that comes to fetch its work (EnvayaSMS, SMSSync).

``send`` cannot push to such a phone; it offers the message and waits for the phone's next poll. Three ends:

- **taken**: the message went out in a poll answer (or, where the app confirms what it will send, the app
  confirmed it). From then on the phone has it: ``accepted``, never offered elsewhere.
- **withdrawn**: no poll came in time. Nothing reached the phone, so the dispatcher may give the message to
  another channel. A confirmation that arrives after the withdrawal is refused.
- an offer the phone saw but did not confirm stays withdrawable until it confirms; the two steps let
  SMSSync's message-results API make the hand-over exact.

Everything happens on the event loop without awaiting in between, so a message is either taken or
withdrawn, never both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from gateway.transports.base import OutboundSMS

Outcome = Literal["taken", "withdrawn"]


@dataclass
class _Waiting:
    message: OutboundSMS
    done: asyncio.Future[Outcome]
    offered: bool = False


@dataclass
class Handover:
    _waiting: dict[str, _Waiting] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._waiting)

    async def offer(self, message: OutboundSMS, timeout_s: float) -> Outcome:
        if message.id in self._waiting:
            raise ValueError(f"{message.id} is already waiting for the phone")
        waiting = _Waiting(message, asyncio.get_running_loop().create_future())
        self._waiting[message.id] = waiting
        try:
            return await asyncio.wait_for(asyncio.shield(waiting.done), timeout_s)
        except TimeoutError:
            if waiting.done.done():
                return waiting.done.result()
            self._waiting.pop(message.id, None)
            waiting.done.set_result("withdrawn")
            return "withdrawn"
        finally:
            if not waiting.done.done():  # the sender was cancelled (the gateway is stopping)
                self._waiting.pop(message.id, None)
                waiting.done.set_result("withdrawn")

    def take(self, limit: int) -> list[OutboundSMS]:
        """For a poll answer: these messages are the phone's now."""
        taken = []
        for message_id in list(self._waiting)[:limit]:
            waiting = self._waiting.pop(message_id)
            waiting.done.set_result("taken")
            taken.append(waiting.message)
        return taken

    def show(self, limit: int) -> list[OutboundSMS]:
        """For a poll answer the phone will confirm: offered, still withdrawable until confirmed."""
        shown = []
        for waiting in list(self._waiting.values())[:limit]:
            waiting.offered = True
            shown.append(waiting.message)
        return shown

    def confirm(self, message_ids: Iterable[str]) -> list[str]:
        """The phone says it will send these; only messages it was shown and that still wait are confirmed."""
        confirmed = []
        for message_id in message_ids:
            waiting = self._waiting.get(message_id)
            if waiting is None or not waiting.offered:
                continue
            del self._waiting[message_id]
            waiting.done.set_result("taken")
            confirmed.append(message_id)
        return confirmed
