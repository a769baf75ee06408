"""Phones whose SIMs are separate channels: one object per phone, started by its first channel's ``start``
and stopped with its last channel's ``stop`` (SMSGate in local-server and in private-server mode)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

K = TypeVar("K")


class Phone(Protocol):
    channels: dict[Any, Any]

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


P = TypeVar("P", bound=Phone)


class SharedPhones(Generic[K, P]):
    def __init__(self) -> None:
        self._phones: dict[K, P] = {}
        self._lock = asyncio.Lock()

    async def attach(self, key: K, make: Callable[[], P], join: Callable[[P], None]) -> P:
        """The phone at ``key``: made (already holding the channel) and started by the first channel;
        ``join`` adds a later channel, or raises ``TransportError`` when it cannot share the phone."""
        async with self._lock:
            phone = self._phones.get(key)
            if phone is not None:
                join(phone)
                return phone
            phone = make()
            self._phones[key] = phone
            try:
                await phone.start()
            except BaseException:
                self._phones.pop(key, None)
                await phone.stop()
                raise
            return phone

    async def detach(self, key: K, sim: int | None) -> None:
        """The channel of ``sim`` leaves; the last one to leave stops the phone."""
        async with self._lock:
            phone = self._phones.get(key)
            if phone is None:
                return
            phone.channels.pop(sim, None)
            if not phone.channels:
                self._phones.pop(key, None)
                await phone.stop()
