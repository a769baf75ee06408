"""Reassembly of concatenated SMS (3GPP TS 23.040 §9.2.3.24.1): parts in any order, across sweeps.

Parts of one message share the sender, the concatenation reference and the total. A message is handed on
when every part is in, or when ``timeout`` seconds passed since its first part arrived: a part the network
never delivers must not hold the others (and their storage slots) forever, so the reader gets the text
that did arrive, with the missing part numbers named.

Each part carries a ``handle`` (where the modem stored it) so the caller can delete every copy once the
whole message is committed; a part seen twice (a sweep re-reading a slot) keeps its first text and adds
its handle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

H = TypeVar("H")


@dataclass(frozen=True)
class Part(Generic[H]):
    sender: str
    reference: int
    total: int
    number: int  # 1-based
    text: str
    handle: H


@dataclass(frozen=True)
class Assembled(Generic[H]):
    sender: str
    text: str
    handles: tuple[H, ...]
    missing: tuple[int, ...] = ()  # part numbers that never arrived
    reference: int | None = None  # the concatenation reference; None for a single SMS
    total: int = 1

    @property
    def complete(self) -> bool:
        return not self.missing


@dataclass
class _Pending(Generic[H]):
    first_seen: float
    texts: dict[int, str] = field(default_factory=dict)
    handles: list[H] = field(default_factory=list)


class Reassembler(Generic[H]):
    def __init__(self, timeout: float = 600.0) -> None:
        self.timeout = timeout
        self._pending: dict[tuple[str, int, int], _Pending[H]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def deadline(self) -> float | None:
        if not self._pending:
            return None
        return min(p.first_seen for p in self._pending.values()) + self.timeout

    def add(self, part: Part[H], now: float) -> Assembled[H] | None:
        """Record one part; returns the message when this part completes it."""
        if part.total <= 1 or not 1 <= part.number <= part.total:
            # Not really concatenated (or a nonsense sequence number): the part stands alone.
            return Assembled(part.sender, part.text, (part.handle,))
        key = (part.sender, part.reference, part.total)
        pending = self._pending.setdefault(key, _Pending(now))
        pending.texts.setdefault(part.number, part.text)
        if part.handle not in pending.handles:
            pending.handles.append(part.handle)
        if len(pending.texts) < part.total:
            return None
        del self._pending[key]
        return self._assemble(key, pending)

    def expire(self, now: float) -> list[Assembled[H]]:
        """Messages whose missing parts waited longer than ``timeout``, with what did arrive."""
        due = [key for key, p in self._pending.items() if p.first_seen + self.timeout <= now]
        return [self._assemble(key, self._pending.pop(key)) for key in due]

    def holds(self, handle: H) -> bool:
        return any(handle in p.handles for p in self._pending.values())

    @staticmethod
    def _assemble(key: tuple[str, int, int], pending: _Pending[H]) -> Assembled[H]:
        sender, reference, total = key
        numbers = range(1, total + 1)
        text = "".join(pending.texts.get(n, "") for n in numbers)
        missing = tuple(n for n in numbers if n not in pending.texts)
        return Assembled(sender, text, tuple(pending.handles), missing, reference, total)
