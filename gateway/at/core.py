"""The sans-IO AT session: bytes from the modem in, events out; commands in, bytes to write out.

Nothing here reads a port, a clock or a timer: the caller passes ``now`` (seconds, any monotonic origin) and
asks :attr:`Session.deadline` when to call :meth:`Session.tick`. That is what lets the tests feed a recorded
transcript whole or one byte at a time and demand identical events.

One command is in flight at a time. Its dialogue is a small state machine::

    RESPONSE ──final──▶ done                      (AT+CSQ, AT+CMGL=4 ...)
    PROMPT ──"> "──▶ Transmit(payload) ──▶ SUBMIT ──final──▶ done     (AT+CMGS=<n>)

Every line is classified in this order, so nothing is handed to the wrong owner:

1. the PDU line that follows a ``+CMT:``/``+CDS:`` URC belongs to that URC;
2. URCs (by prefix, see :mod:`gateway.at.urc`) become :class:`UrcEvent`, even in the middle of a response or
   between ``> `` and the final result;
3. lines owed by a command that timed out are :class:`Late` and discarded: the modem answers in order, so
   the first final result that arrives after a timeout is the timed-out command's, never the next one's
   (a debt is forgotten after ``late_grace`` seconds, for modems that drop a command silently);
4. the echo of the command or of its payload (``ATE1`` left on) is dropped;
5. a final result ends the running command; any other line is part of its response.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from gateway.at.results import TIMEOUT, FinalResult, parse_final
from gateway.at.urc import Urc, carries_pdu, is_urc, make_urc

CTRL_Z: Final = b"\x1a"
ESC: Final = b"\x1b"
_EOL = re.compile(rb"[\r\n]")
_PREFIX = re.compile(r"^AT([+^$%#*][A-Z0-9]+)", re.IGNORECASE)
_STRIP = " \t\x00\x1a\x1b"


def decode_line(raw: bytes) -> str:
    """Text of one line: UTF-8 when it is valid, else latin-1, which cannot fail on any byte.

    A modem that emits one stray byte (line noise, a vendor's code page) must never stop the reader."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.strip(_STRIP)


@dataclass(frozen=True)
class Command:
    """One AT command line. ``payload`` is what follows the ``> `` prompt (a PDU in hex, without Ctrl-Z).

    ``timeout`` bounds the wait for the prompt (or the whole response); ``payload_timeout`` the wait for the
    final result once the payload is written (27.005 allows the network up to 120 s for ``+CMGS``)."""

    text: str
    timeout: float = 5.0
    payload: str | None = None
    payload_timeout: float = 120.0
    expect: str | None = None  # response prefix; derived from the command name when None

    @property
    def prefix(self) -> str | None:
        if self.expect is not None:
            return self.expect
        match = _PREFIX.match(self.text)
        return match.group(1).upper() if match else None


@dataclass(frozen=True)
class Response:
    """How a command ended: its final result, the response lines before it, and whether the payload went out.

    A timeout with ``payload_sent`` true is the one case whose outcome is unknown: the modem may have
    submitted the message."""

    command: Command
    final: FinalResult
    lines: tuple[str, ...]
    payload_sent: bool = False

    @property
    def ok(self) -> bool:
        return self.final.ok

    @property
    def timed_out(self) -> bool:
        return self.final.kind == "timeout"


@dataclass(frozen=True)
class UrcEvent:
    urc: Urc


@dataclass(frozen=True)
class Transmit:
    """Bytes the caller must write now (the payload after the prompt, or ESC to cancel a prompt)."""

    data: bytes


@dataclass(frozen=True)
class Late:
    """A line of a command that already timed out; ``final`` is set on the line that ends that command."""

    command: Command
    line: str
    final: FinalResult | None = None


@dataclass(frozen=True)
class Stray:
    """A line nobody asked for that is not a known URC either (logged, never acted on)."""

    line: str


Event = Response | UrcEvent | Transmit | Late | Stray


class Phase(Enum):
    RESPONSE = "response"
    PROMPT = "prompt"
    SUBMIT = "submit"


@dataclass
class _Dialogue:
    command: Command
    phase: Phase
    deadline: float
    lines: list[str] = field(default_factory=list)


@dataclass
class _Debt:
    command: Command
    expires: float


class Busy(RuntimeError):
    """A command was started while another is in flight."""


class Session:
    def __init__(self, *, late_grace: float = 30.0) -> None:
        self.late_grace = late_grace
        self._buffer = bytearray()
        self._dialogue: _Dialogue | None = None
        self._debts: deque[_Debt] = deque()
        self._pending_urc: str | None = None  # a +CMT/+CDS line waiting for its PDU line

    @property
    def busy(self) -> bool:
        return self._dialogue is not None

    @property
    def owed(self) -> int:
        """Timed-out commands whose replies may still arrive."""
        return len(self._debts)

    @property
    def payload_sent(self) -> bool:
        """Whether the running command has written its payload (a PDU that may be on its way)."""
        return self._dialogue is not None and self._dialogue.phase is Phase.SUBMIT

    @property
    def deadline(self) -> float | None:
        """When :meth:`tick` must next be called (None when nothing can time out)."""
        times = [debt.expires for debt in self._debts]
        if self._dialogue is not None:
            times.append(self._dialogue.deadline)
        return min(times) if times else None

    def start(self, command: Command, now: float) -> bytes:
        """Begin ``command``; returns the bytes to write."""
        if self._dialogue is not None:
            raise Busy(f"{self._dialogue.command.text} is still running")
        phase = Phase.PROMPT if command.payload is not None else Phase.RESPONSE
        self._dialogue = _Dialogue(command, phase, now + command.timeout)
        return command.text.encode("ascii") + b"\r"

    def forgive(self) -> None:
        """Stop waiting for what timed-out commands owe. Only for commands that are all alike (the ``AT``
        probes of a modem that is still booting, which drops what it hears before it is ready): any answer
        then answers the command in flight, instead of each answer paying the previous probe's debt."""
        self._debts.clear()

    def reset(self) -> None:
        """Forget everything: the port was closed and reopened, so nothing owed can arrive any more."""
        self._buffer.clear()
        self._dialogue = None
        self._debts.clear()
        self._pending_urc = None

    def tick(self, now: float) -> list[Event]:
        events: list[Event] = []
        while self._debts and self._debts[0].expires <= now:
            self._debts.popleft()
        dialogue = self._dialogue
        if dialogue is not None and dialogue.deadline <= now:
            self._dialogue = None
            self._debts.append(_Debt(dialogue.command, now + self.late_grace))
            if dialogue.phase is Phase.PROMPT:
                # A prompt that comes after all would swallow the next command as PDU text: cancel it.
                events.append(Transmit(ESC))
            sent = dialogue.phase is Phase.SUBMIT
            events.append(Response(dialogue.command, TIMEOUT, tuple(dialogue.lines), payload_sent=sent))
        return events

    def feed(self, data: bytes, now: float) -> list[Event]:
        """Bytes read from the modem, in any chunking; returns what they mean, in order."""
        events = self.tick(now)
        self._buffer += data
        while True:
            match = _EOL.search(self._buffer)
            if match is None:
                break
            raw = bytes(self._buffer[: match.start()])
            del self._buffer[: match.end()]
            line = decode_line(raw)
            if line:
                self._line(line, now, events)
        dialogue = self._dialogue
        if (
            dialogue is not None
            and dialogue.phase is Phase.PROMPT
            and not self._debts
            and self._buffer.strip(b" ") == b">"
        ):
            self._buffer.clear()
            self._prompted(dialogue, now, events)
        return events

    @staticmethod
    def _prompted(dialogue: _Dialogue, now: float, events: list[Event]) -> None:
        payload = dialogue.command.payload or ""
        dialogue.phase = Phase.SUBMIT
        dialogue.deadline = now + dialogue.command.payload_timeout
        events.append(Transmit(payload.encode("ascii") + CTRL_Z))

    def _line(self, line: str, now: float, events: list[Event]) -> None:
        if self._pending_urc is not None:
            pending, self._pending_urc = self._pending_urc, None
            if parse_final(line) is None and not is_urc(line):
                events.append(UrcEvent(make_urc(pending, line)))
                return
            events.append(UrcEvent(make_urc(pending)))
        dialogue = self._dialogue
        expected = dialogue.command.prefix if dialogue is not None and not self._debts else None
        if is_urc(line, expected):
            if carries_pdu(line):
                self._pending_urc = line
            else:
                events.append(UrcEvent(make_urc(line)))
            return
        final = parse_final(line)
        if self._debts:
            debt = self._debts[0]
            if final is not None:
                self._debts.popleft()
            events.append(Late(debt.command, line, final))
            return
        if dialogue is None:
            events.append(Stray(line))
            return
        if self._is_echo(line, dialogue.command):
            return
        if dialogue.phase is Phase.PROMPT and line.startswith(">"):
            # With echo on, the echoed payload follows the prompt on the same line in a recorded transcript.
            self._prompted(dialogue, now, events)
            rest = line[1:].strip(_STRIP)
            if rest:
                self._line(rest, now, events)
            return
        if final is None:
            dialogue.lines.append(line)
            return
        self._dialogue = None
        sent = dialogue.phase is Phase.SUBMIT
        events.append(Response(dialogue.command, final, tuple(dialogue.lines), payload_sent=sent))

    @staticmethod
    def _is_echo(line: str, command: Command) -> bool:
        if line.upper() == command.text.upper():
            return True
        return command.payload is not None and line.upper() == command.payload.upper()
