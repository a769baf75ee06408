"""The modem's message memories (27.005 §3.1): SM on the SIM, ME in the device, SR for status reports.

Each memory has a fixed capacity and its own index range (starting at 0 or 1 depending on the vendor); a
full memory refuses new messages, which is how inbound SMS stop at a site whose driver never deletes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal

from gateway.simulator.tpdu import Encoded

MEMORIES: Final = ("SM", "ME", "SR")
STATUS_NAMES: Final = ("REC UNREAD", "REC READ", "STO UNSENT", "STO SENT")
UNREAD, READ, UNSENT, SENT = 0, 1, 2, 3


@dataclass
class Stored:
    """One stored SMS-DELIVER part or status report, with what text mode needs to show it."""

    kind: Literal["deliver", "report"]
    status: int  # 0 REC UNREAD, 1 REC READ, 2 STO UNSENT, 3 STO SENT
    pdu: Encoded
    address: str  # sender of a message, recipient of a report
    text: str
    timestamp: dt.datetime
    reference: int = 0  # the message reference a report answers
    report_status: int = 0  # TP-ST of a report


class Memory:
    def __init__(self, name: str, capacity: int, first_index: int) -> None:
        self.name = name
        self.capacity = capacity
        self.first_index = first_index
        self.slots: dict[int, Stored] = {}

    @property
    def used(self) -> int:
        return len(self.slots)

    @property
    def full(self) -> bool:
        return len(self.slots) >= self.capacity

    def indices(self) -> range:
        return range(self.first_index, self.first_index + self.capacity)

    def store(self, message: Stored) -> int | None:
        """The index the message went to (the lowest free one), or None when the memory is full."""
        for index in self.indices():
            if index not in self.slots:
                self.slots[index] = message
                return index
        return None

    def listing(self, status: int) -> list[tuple[int, Stored]]:
        """Messages with ``status`` (4 = all) in index order."""
        return [(i, m) for i, m in sorted(self.slots.items()) if status == 4 or m.status == status]

    @staticmethod
    def mark_read(messages: list[Stored]) -> None:
        """Listing or reading an unread message makes it read, as modems do, once it has been shown."""
        for message in messages:
            if message.status == UNREAD:
                message.status = READ

    def delete(self, index: int, flag: int) -> bool:
        """27.005 +CMGD: flag 0 deletes ``index``; 1-4 delete by status and ignore the index."""
        if flag == 0:
            return self.slots.pop(index, None) is not None
        doomed = {1: {READ}, 2: {READ, SENT}, 3: {READ, SENT, UNSENT}, 4: {UNREAD, READ, SENT, UNSENT}}[flag]
        for i in [i for i, m in self.slots.items() if m.status in doomed]:
            del self.slots[i]
        return True
