"""A signal one part of the server raises so another stops waiting early (the outbox has something, an
inbound message needs handling). It carries no data: the database is the truth, the signal only saves a wait."""

from __future__ import annotations

import asyncio
import contextlib


class Wakeup:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake everyone waiting now; later waiters wait for the next notify."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True if woken, False if the time ran out."""
        event = self._event
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that coincides with the event.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()
            return True
        return False
