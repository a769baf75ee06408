"""The virtual modem on a real pseudo-terminal: the thin asyncio shell around :class:`ModemEngine`.

A driver opens :attr:`VirtualModem.link` (or :attr:`~VirtualModem.path`) with pyserial exactly as it opens
``/dev/serial/by-id/usb-HUAWEI_...``. The shell holds the slave end open too, so the host can close and reopen
the port without the master seeing EIO (``reference/modems.md`` §3.3). A reboot closes the pty and serves a new
one (a new path, the link moved to it), as a USB modem re-enumerates; an unplug closes it and removes the link.

Everything here runs on one event loop; control methods are plain calls made on that loop (use
:class:`gateway.simulator.thread.ModemThread` to drive a modem from blocking code).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import time
import tty
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from gateway.simulator.engine import (
    Emit,
    Inbound,
    ModemConfig,
    ModemEngine,
    Output,
    PowerCycle,
    Report,
    SentMessage,
    SentPart,
)
from gateway.simulator.faults import FaultPlan

REBOOT_GRACE = 0.05  # seconds between the OK to AT+CFUN=1,1 and the port closing


@dataclass(frozen=True)
class Traffic:
    """One chunk on the wire, for assertions and for the transcript a technician reads."""

    at: float  # loop clock
    direction: str  # "in" (host → modem) or "out" (modem → host)
    data: bytes


class VirtualModem:
    def __init__(
        self,
        config: ModemConfig | None = None,
        faults: FaultPlan | None = None,
        *,
        seed: int = 0,
        link: Path | None = None,
        wallclock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.engine = ModemEngine(config, faults, seed=seed, clock=time.monotonic, wallclock=wallclock)
        self.link = link
        self.path: str | None = None  # the pty slave currently served; None while unplugged or rebooting
        self.ports: list[str] = []  # every path served, oldest first
        self.transcript: list[Traffic] = []
        self._master: int | None = None
        self._slave: int | None = None
        self._out = bytearray()  # what the pty could not take yet
        self._queue: deque[Output] = deque()
        self._queued = asyncio.Event()
        self._changed = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._booting: asyncio.TimerHandle | None = None
        self._reserved: tuple[int, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- life cycle -------------------------------------------------------------------------------------

    async def start(self) -> VirtualModem:
        self._loop = asyncio.get_running_loop()
        self._writer = asyncio.create_task(self._write_queued(), name="virtual-modem-writer")
        self._plug()
        return self

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        if self._timer is not None:
            self._timer.cancel()
        self.engine.power_off()
        self._close_port(final=True)
        for fd in self._reserved or ():
            os.close(fd)
        self._reserved = None

    async def __aenter__(self) -> VirtualModem:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def port(self) -> str:
        """What a driver should open: the link when there is one (it survives reboots), else the pty path."""
        if self.link is not None:
            return str(self.link)
        if self.path is None:
            raise RuntimeError("the virtual modem is not plugged in")
        return self.path

    # --- the pty ----------------------------------------------------------------------------------------

    def _open_port(self) -> None:
        master, slave = self._reserved or os.openpty()
        self._reserved = None
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        self.ports.append(self.path)
        if self.link is not None:
            staging = self.link.with_name(f".{self.link.name}.{os.getpid()}")
            with contextlib.suppress(FileNotFoundError):
                staging.unlink()
            staging.symlink_to(self.path)
            staging.replace(self.link)  # atomic, and it replaces a stale link left by a killed simulator
        assert self._loop is not None
        self._loop.add_reader(master, self._on_readable)

    def _close_port(self, *, final: bool = False) -> None:
        if self._master is not None and not final and self._reserved is None:
            # Take the next pty before freeing this one, so the port that comes back has a new name,
            # as a re-enumerated USB modem does, and a driver cannot mistake it for the old one.
            self._reserved = os.openpty()
        if self._master is not None and self._loop is not None:
            self._loop.remove_reader(self._master)
            self._loop.remove_writer(self._master)
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        if self._booting is not None:
            self._booting.cancel()
            self._booting = None
        self._out.clear()
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        self.path = None
        self._changed.set()

    def _plug(self) -> None:
        """A port appears; the firmware answers (boot URCs first) ``timing.boot`` seconds later.

        Boot URCs written before the host opens the port are lost, as on real hardware (pyserial flushes the
        input buffer on open); a host that wants to see ``RDY`` opens the port within the boot time.
        """
        self._open_port()
        delay = self.engine.faults.plan.timing.boot
        if delay > 0:
            assert self._loop is not None
            self._booting = self._loop.call_later(delay, self._boot)
        else:
            self._boot()

    def _boot(self) -> None:
        self._booting = None
        self._dispatch(self.engine.boot())

    def _on_readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        if not data:
            return
        self.transcript.append(Traffic(time.monotonic(), "in", data))
        self._dispatch(self.engine.feed(data))

    def _write(self, data: bytes) -> None:
        if self._master is None or not data:
            return
        self.transcript.append(Traffic(time.monotonic(), "out", data))
        if self._out:
            self._out.extend(data)
            return
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        except OSError:
            return
        if written < len(data):
            self._out.extend(data[written:])
            assert self._loop is not None
            self._loop.add_writer(self._master, self._flush)

    def _flush(self) -> None:
        assert self._master is not None
        assert self._loop is not None
        try:
            written = os.write(self._master, self._out)
        except BlockingIOError:
            return
        except OSError:
            self._out.clear()
            written = 0
        del self._out[:written]
        if not self._out:
            self._loop.remove_writer(self._master)

    # --- outputs and timers -----------------------------------------------------------------------------

    def _dispatch(self, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, Emit) and output.urgent:
                self._write(output.data)
            else:
                self._queue.append(output)
                self._queued.set()
        self._rearm()
        self._changed.set()

    async def _write_queued(self) -> None:
        while True:
            await self._queued.wait()
            while self._queue:
                output = self._queue.popleft()
                if isinstance(output, PowerCycle):
                    # Let the host read the OK before the device goes: a modem resets just after answering.
                    await asyncio.sleep(REBOOT_GRACE)
                    self._close_port()
                    await asyncio.sleep(output.delay)
                    self._plug()
                else:
                    if output.delay > 0:
                        await asyncio.sleep(output.delay)
                    self._write(output.data)
                self._changed.set()
            self._queued.clear()

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.engine.next_deadline()
        if deadline is not None and self._loop is not None:
            # The engine's clock is time.monotonic, which is what the default event loop counts in.
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch(self.engine.tick())

    # --- control: the network and the world around the modem -------------------------------------------

    def receive_sms(
        self,
        sender: str,
        text: str,
        *,
        smsc: str | None = None,
        wide_reference: bool = False,
        order: tuple[int, ...] | None = None,
        during: str | None = None,
        offset: int = 0,
    ) -> Inbound:
        """A phone sends ``text`` (any length, any characters) to this modem's SIM; see :meth:`ModemEngine.receive`."""
        inbound, outputs = self.engine.receive(
            sender, text, smsc=smsc, wide_reference=wide_reference, order=order, during=during, offset=offset
        )
        self._dispatch(outputs)
        return inbound

    def report(
        self, reference: int, status: int = 0, *, during: str | None = None, offset: int = 0
    ) -> Report:
        """The network's status report for one sent part (TP-ST: 0 delivered, 0x40-0x6F failed)."""
        self._dispatch(self.engine.report(reference, status, during=during, offset=offset))
        return self.engine.reports[-1]

    def report_message(self, message: SentMessage, status: int = 0) -> list[Report]:
        """Status reports for every part of ``message``, in part order."""
        return [self.report(reference, status) for reference in message.references]

    @property
    def sent(self) -> list[SentMessage]:
        return self.engine.sent_messages()

    @property
    def sent_parts(self) -> list[SentPart]:
        return list(self.engine.sent_parts)

    def inject(self, data: bytes) -> None:
        """Bytes from the modem right now, whatever the host is doing: a URC, noise, garbage."""
        self._dispatch(self.engine.inject(data))

    def set_registration(self, stat: int | None) -> None:
        self._dispatch(self.engine.set_registration(stat))

    def set_signal(self, rssi: int) -> None:
        self.engine.set_signal(rssi)

    def fill(self, memory: str) -> None:
        self.engine.fill(memory)

    def reboot(self) -> None:
        """Power-cycle now (a watchdog, a brown-out): the port goes at once, a new one comes with boot URCs."""
        self.engine.power_off()
        self._queue.clear()
        self._close_port()
        self._dispatch([PowerCycle(self.engine.faults.plan.timing.reboot)])

    def unplug(self) -> None:
        """Pull the USB stick: the pty is closed (the host reads EIO) and the link disappears."""
        self.engine.power_off()
        self._queue.clear()
        self._close_port()
        self._rearm()

    def replug(self) -> None:
        """Plug it back in: a new pty, the link recreated, a fresh boot."""
        if self.path is None:
            self._plug()

    # --- waiting, for tests and demos -------------------------------------------------------------------

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109 - tests read better with the bound inline
        """Until ``condition()`` holds (checked after every exchange); TimeoutError after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    async def wait_sent(self, parts: int, timeout: float = 5.0) -> list[SentMessage]:  # noqa: ASYNC109 - as wait_for
        """Until at least ``parts`` parts have been submitted; returns the messages so far."""
        await self.wait_for(lambda: len(self.engine.sent_parts) >= parts, timeout)
        return self.sent
