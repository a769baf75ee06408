"""A channel without a radio, for tests, demos and benchmarks.

In memory, a test drives it directly: :meth:`FakeTransport.receive` plays an SMS arriving (kept as the
"radio's copy" until the spool commits it), :meth:`fail_next` scripts send outcomes, ``healthy`` switches
the channel off, :meth:`report` plays a delivery report, and ``sent`` lists what went out.

With a ``directory`` option it also works across processes, which is what crash tests need: every
``inbox/*.json`` file (``{"sender", "text", "received_at", "identity"}``) is an SMS waiting in the radio,
taken in name order and unlinked only after the spool committed it; every message the "radio" takes is
appended to ``sent.jsonl`` (and fsynced) before the send is even finished, so a gateway killed during
``send_delay`` leaves a message that went out with no outcome recorded: the ``unknown`` case.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flows import sms as sms_facts
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

log = logging.getLogger(__name__)


class FakeTransport:
    kind = "fake"

    def __init__(
        self,
        channel_id: str,
        *,
        link_kind: str = "modem",
        directory: Path | None = None,
        send_delay: float = 0.0,
        poll_interval: float = 0.05,
        fail_numbers: frozenset[str] = frozenset(),
        signal: int | None = 20,
        operator: str | None = "FAKE",
    ) -> None:
        self.id = channel_id
        self.link_kind = link_kind
        self.directory = directory
        self.send_delay = send_delay
        self.poll_interval = poll_interval
        self.fail_numbers = fail_numbers
        self.signal = signal
        self.operator = operator
        self.healthy = True
        self.sent: list[OutboundSMS] = []
        self.stored: dict[str, InboundSMS] = {}  # the radio's copies, until the spool has them
        self.errors = 0
        self._script: deque[SendOutcome] = deque()
        self._sink: TransportSink | None = None
        self._poller: asyncio.Task[None] | None = None
        self._counter = 0

    # --- the Transport protocol ------------------------------------------------------------------------

    async def start(self, sink: TransportSink) -> None:
        self._sink = sink
        if self.directory is not None:
            (self.directory / "inbox").mkdir(parents=True, exist_ok=True)
            self._poller = asyncio.create_task(self._poll_inbox(), name=f"fake-inbox {self.id}")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    async def send(self, message: OutboundSMS) -> SendOutcome:
        parts = sms_facts.size(message.text).segments
        if not self.healthy:
            self.errors += 1
            return SendOutcome("failed", parts, error="channel is down", retryable=True)
        if self._script:
            outcome = self._script.popleft()
            if outcome.status in ("sent", "accepted", "unknown"):
                self.sent.append(message)
            return SendOutcome(
                outcome.status, outcome.parts or parts, outcome.references, outcome.error, outcome.retryable
            )
        if message.to in self.fail_numbers:
            self.errors += 1
            return SendOutcome("failed", parts, error="CMS ERROR 38: network out of order")
        self.sent.append(message)
        if self.directory is not None:
            self._append_sent(message)
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        self.errors = 0
        self._counter += 1
        return SendOutcome("sent", parts, references=tuple(range(self._counter, self._counter + parts)))

    async def health(self) -> ChannelHealth:
        return ChannelHealth(
            healthy=self.healthy,
            signal=self.signal if self.healthy else None,
            operator=self.operator,
            registration="home" if self.healthy else "searching",
            errors=self.errors,
            detail=None if self.healthy else "switched off",
        )

    # --- what a test does with it ----------------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        *,
        status: str = "failed",
        error: str = "scripted failure",
        retryable: bool = False,
    ) -> None:
        """The next ``count`` sends end with ``status`` (``failed``, ``unknown`` or ``accepted``)."""
        if status not in ("failed", "unknown", "accepted", "sent"):
            raise ValueError(f"not a send outcome: {status}")
        for _ in range(count):
            self._script.append(SendOutcome(status, 0, error=error, retryable=retryable))  # type: ignore[arg-type]

    async def receive(
        self,
        sender: str,
        text: str,
        *,
        received_at: dt.datetime | None = None,
        identity: str | None = None,
    ) -> InboundSMS:
        """An SMS arrives: it stays in ``stored`` unless the spool commits it."""
        self._counter += 1
        sms = InboundSMS(
            identity=identity or f"fake-{self._counter}",
            sender=sender,
            text=text,
            received_at=received_at or dt.datetime.now(dt.UTC),
        )
        self.stored[sms.identity] = sms
        await self._deliver(sms)
        return sms

    async def redeliver(self) -> None:
        """Offer every stored copy again, as a modem's sweep does."""
        for sms in list(self.stored.values()):
            await self._deliver(sms)

    async def report(self, message_id: str, status: str, error: str | None = None) -> None:
        if self._sink is None:
            raise RuntimeError("the transport has not been started")
        await self._sink.on_status(
            self.id,
            StatusReport(message_id, status, dt.datetime.now(dt.UTC), error),  # type: ignore[arg-type]
        )

    async def _deliver(self, sms: InboundSMS) -> None:
        if self._sink is None:
            raise RuntimeError("the transport has not been started")
        await self._sink.on_inbound(self.id, sms)
        self.stored.pop(sms.identity, None)  # delete only after the commit

    # --- the directory form ----------------------------------------------------------------------------

    def _append_sent(self, message: OutboundSMS) -> None:
        assert self.directory is not None
        line = json.dumps({"id": message.id, "to": message.to, "text": message.text, "channel": self.id})
        with open(self.directory / "sent.jsonl", "a", encoding="utf-8") as log_file:
            log_file.write(line + "\n")
            log_file.flush()
            os.fsync(log_file.fileno())

    async def _poll_inbox(self) -> None:
        assert self.directory is not None
        assert self._sink is not None
        inbox = self.directory / "inbox"
        while True:
            for path in sorted(inbox.glob("*.json")):
                try:
                    sms = _read_inbox_file(path)
                except (OSError, ValueError, KeyError, TypeError) as error:
                    log.warning("%s: unreadable inbox file %s: %s", self.id, path.name, error)
                    path.rename(path.with_suffix(".bad"))
                    continue
                try:
                    await self._sink.on_inbound(self.id, sms)
                except Exception:
                    log.exception("%s: the spool did not take %s; keeping it", self.id, path.name)
                    break
                path.unlink()
            await asyncio.sleep(self.poll_interval)


def _read_inbox_file(path: Path) -> InboundSMS:
    data = json.loads(path.read_text(encoding="utf-8"))
    received = dt.datetime.fromisoformat(data["received_at"])
    if received.tzinfo is None:
        raise ValueError("received_at has no offset")
    return InboundSMS(
        identity=str(data.get("identity") or path.stem),
        sender=str(data["sender"]),
        text=str(data["text"]),
        received_at=received,
    )


def _factory(channel_id: str, options: Mapping[str, Any]) -> FakeTransport:
    known = {"directory", "send_delay", "poll_interval", "fail_numbers", "link_kind", "signal", "operator"}
    unknown = set(options) - known
    if unknown:
        raise TransportError(f"channel {channel_id!r}: unknown fake option(s) {', '.join(sorted(unknown))}")
    try:
        directory = options.get("directory")
        return FakeTransport(
            channel_id,
            link_kind=str(options.get("link_kind", "modem")),
            directory=Path(directory) if directory is not None else None,
            send_delay=float(options.get("send_delay", 0.0)),
            poll_interval=float(options.get("poll_interval", 0.05)),
            fail_numbers=frozenset(str(n) for n in options.get("fail_numbers", ())),
            signal=options.get("signal", 20),
            operator=options.get("operator", "FAKE"),
        )
    except (TypeError, ValueError) as error:
        raise TransportError(f"channel {channel_id!r}: {error}") from error


register("fake", _factory)
