"""The GSM modem transport: an asyncio AT driver over pyserial, around the sans-IO core in :mod:`gateway.at`.

Interface (what the gateway's ``Transport`` adapter wraps)::

    modem = ModemDriver(ModemSettings(port="/dev/serial/by-id/usb-HUAWEI_..."),
                        on_inbound=commit,     # async (InboundSms) -> None; returning means "committed"
                        on_report=report,      # async (DeliveryReport) -> None
                        on_state=changed)      # (ModemState) -> None, optional
    await modem.start()                        # opens the port and runs start-up; retries in the background
    result = await modem.send(OutboundSms(id, to, text))   # SendResult: outcome, parts, references, error
    health = await modem.health()              # Health: state, signal, registration, operator, counters
    balance = await modem.balance()            # decoded USSD answer to settings.balance_code, or None
    await modem.stop()

Guarantees, each against a failure ``reference/modems.md`` documents in python-gsmmodem-new:

- **Inbound is never lost or deleted early.** ``+CMTI``/``+CDSI`` are acted on wherever they arrive (the
  core recognises URCs inside other commands' responses); a sweep (``AT+CMGL=4`` on every memory) runs at
  start-up and every ``sweep_interval`` as the safety net; a stored SMS is deleted (``AT+CMGD``) only after
  ``on_inbound`` returned, i.e. after the spool committed it. Each inbound SMS has an ``id`` derived from its
  content, so one read twice (a crash between commit and delete) is recognised by the spool.
- **A send is never blindly repeated.** A submit whose PDU was written but whose result never came is
  ``unknown``; only failures where nothing reached the network are ``retryable``.
- **One command at a time** through one lock, and **one message at a time** through another, so parts of
  two messages never interleave on the wire.
- **Late replies** after a timeout are discarded by the core, never handed to the next command.
- **Delivery reports** are matched by TP-MR *and* recipient to every part of the message they belong to;
  the message is delivered when all its parts are.
- **The read memory is always set explicitly** (``AT+CPMS``) before reading or deleting, so a ``+CDSI``
  that switched it to ``SR`` never makes a later read look at the wrong memory.
- **Recovery**: when the port vanishes (USB unplug, modem reboot) the driver closes it, reopens the
  configured path (use the stable ``/dev/serial/by-id/...`` name) until it is back, and runs start-up
  again; after ``error_threshold`` consecutive timeouts it soft-resets the modem (``AT+CFUN=1,1``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import logging
import random
import re
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import serial

from gateway import pdu
from gateway.at import Command, Late, Response, Session, Stray, Transmit, UrcEvent
from gateway.at.concat import Assembled, Part, Reassembler
from gateway.at.urc import Urc, huawei_rssi, registration, stored_at, ussd_reply

log = logging.getLogger(__name__)

# +CMS ERROR codes after which the same submit may succeed later (27.005 §3.2.5; 24.011 cause values).
RETRYABLE_CMS = frozenset({38, 41, 42, 47, 331, 332, 500, 512, 513, 514, 515})
# +CME ERROR codes that mean "not yet": SIM busy after power-up, and the generic busy of several vendors.
BUSY_CME = frozenset({14, 515})
ATTENTION_QUIET_S = 0.3  # after a booting modem first answers: time for an earlier probe's late answer
_INBOUND_NAMESPACE = uuid.UUID("6f1d3e1c-2d0b-4c8e-9a55-7d0c3f1b2a90")

Handle = tuple[str, int]  # (memory, index) of a stored SMS; ("direct", n) for one routed with +CMT


class ModemState(enum.Enum):
    STARTING = "starting"
    UP = "up"
    DOWN = "down"  # port gone or start-up failed; the driver keeps trying to reopen it
    STOPPED = "stopped"


@dataclass(frozen=True)
class ModemSettings:
    port: str
    baudrate: int = 115200
    rtscts: bool = False  # many SIM800/SIM900 boards have no RTS/CTS wiring
    pin: str | None = None
    smsc: str | None = None  # set with AT+CSCA only when the SIM has none
    store: tuple[str, ...] = ("ME", "SM")  # where inbound SMS should be stored, in order of preference
    status_reports: bool = True
    command_timeout: float = 10.0
    prompt_timeout: float = 10.0
    submit_timeout: float = 120.0  # 27.005: up to 120 s, decided by the network
    late_grace: float = 30.0
    sim_busy_timeout: float = 60.0  # how long "SIM busy" after power-up is waited out
    sweep_interval: float = 60.0
    reassembly_timeout: float = 600.0
    reopen_interval: float = 2.0
    error_threshold: int = 5  # consecutive timeouts before a soft reset
    balance_code: str | None = "*133#"
    ussd_timeout: float = 30.0


@dataclass(frozen=True)
class OutboundSms:
    id: str
    to: str
    text: str
    status_report: bool | None = None  # None: as the settings say


SendOutcome = Literal["sent", "failed", "unknown"]


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    parts: int
    references: tuple[int, ...] = ()  # TP-MR of each submitted part, in order
    error: str | None = None
    retryable: bool = False  # only when nothing reached the network


@dataclass(frozen=True)
class InboundSms:
    id: str  # stable across re-reads of the same SMS, for deduplication
    sender: str
    text: str
    received_at: dt.datetime
    complete: bool = True
    missing_parts: tuple[int, ...] = ()


@dataclass(frozen=True)
class DeliveryReport:
    message_id: str
    status: Literal["delivered", "pending", "failed"]  # of the whole message
    reference: int  # the part this report is for
    part_status: int  # TP-ST of that part
    parts: int


@dataclass(frozen=True)
class Health:
    state: ModemState
    port: str
    signal: int | None = None  # +CSQ RSSI 0-31; None when unknown (99)
    registration: int | None = None  # +CREG stat: 1 home, 5 roaming, 2 searching, 3 denied, 0 not searching
    operator: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    imei: str | None = None
    smsc: str | None = None
    errors: int = 0  # consecutive timeouts
    sent: int = 0  # parts since start
    received: int = 0
    unreadable: int = 0  # stored PDUs that could not be decoded (left in the modem)
    last_error: str | None = None

    @property
    def registered(self) -> bool:
        return self.registration in (1, 5)


class ModemUnavailable(RuntimeError):
    """The port is closed or gone; the driver is reopening it.

    ``payload_sent`` tells whether the command that was running had already written its PDU."""

    def __init__(self, message: str, *, payload_sent: bool = False) -> None:
        super().__init__(message)
        self.payload_sent = payload_sent


class ModemError(RuntimeError):
    """A start-up step the driver cannot get past on its own (wrong PIN, PUK, no SIM)."""


# --- the port: pyserial, a reader on the event loop, the sans-IO session -----------------------------------


class ATPort:
    """One open serial port speaking AT: write a :class:`Command`, await its :class:`Response`.

    Reads are event-driven (``loop.add_reader`` on the non-blocking port); everything the modem says goes
    through the :class:`~gateway.at.Session`, and unsolicited results go to ``on_urc``. ``on_lost`` is
    called once if the device vanishes."""

    def __init__(
        self,
        path: str,
        *,
        baudrate: int = 115200,
        rtscts: bool = False,
        late_grace: float = 30.0,
        on_urc: Callable[[Urc], None] | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self._loop = asyncio.get_running_loop()
        self._session = Session(late_grace=late_grace)
        self._lock = asyncio.Lock()
        self._on_urc = on_urc
        self._on_lost = on_lost
        self._waiter: asyncio.Future[Response] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.consecutive_timeouts = 0
        self._serial = serial.Serial(
            port=path, baudrate=baudrate, timeout=0, write_timeout=5, rtscts=rtscts, exclusive=True
        )
        self._loop.add_reader(self._serial.fileno(), self._readable)

    def close(self, reason: str = "closed") -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._serial.fileno())
        with contextlib.suppress(Exception):
            self._serial.close()
        if self._timer is not None:
            self._timer.cancel()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            sent = self._session.payload_sent
            waiter.set_exception(ModemUnavailable(f"{self.path}: {reason}", payload_sent=sent))
        self._session.reset()

    async def command(self, command: Command) -> Response:
        async with self._lock:
            if self.closed:
                raise ModemUnavailable(f"{self.path} is closed")
            waiter: asyncio.Future[Response] = self._loop.create_future()
            self._waiter = waiter
            try:
                self._write(self._session.start(command, self._loop.time()))
                self._arm()
                response = await waiter
            finally:
                self._waiter = None
        self.consecutive_timeouts = self.consecutive_timeouts + 1 if response.timed_out else 0
        return response

    async def run(self, text: str, seconds: float = 10.0) -> Response:
        return await self.command(Command(text, timeout=seconds))

    def forgive(self) -> None:
        self._session.forgive()

    def _write(self, data: bytes) -> None:
        try:
            self._serial.write(data)
        except (serial.SerialException, OSError) as error:
            self._lost(f"write failed: {error}")

    def _readable(self) -> None:
        try:
            data = self._serial.read(4096)
        except (serial.SerialException, OSError, TypeError) as error:
            self._lost(f"read failed: {error}")
            return
        if data:
            self._handle(self._session.feed(data, self._loop.time()))

    def _tick(self) -> None:
        self._timer = None
        if not self.closed:
            self._handle(self._session.tick(self._loop.time()))

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self._session.deadline
        if deadline is not None and not self.closed:
            self._timer = self._loop.call_at(deadline, self._tick)

    def _handle(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, Transmit):
                self._write(event.data)
            elif isinstance(event, Response):
                if self._waiter is not None and not self._waiter.done():
                    self._waiter.set_result(event)
            elif isinstance(event, UrcEvent):
                if self._on_urc is not None:
                    self._on_urc(event.urc)
            elif isinstance(event, Late):
                log.warning("%s: late reply to %s discarded: %s", self.path, event.command.text, event.line)
            elif isinstance(event, Stray):
                log.info("%s: unexpected line ignored: %r", self.path, event.line)
        self._arm()

    def _lost(self, reason: str) -> None:
        if self.closed:
            return
        log.warning("%s: port lost (%s)", self.path, reason)
        self.close(reason)
        if self._on_lost is not None:
            self._on_lost(reason)


def _info(response: Response, prefix: str) -> str | None:
    """The text after ``prefix`` in the first response line that has it."""
    for line in response.lines:
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return None


def _plain(response: Response) -> str | None:
    """The first response line of a command that answers without a prefix (AT+CGMI, AT+CGSN)."""
    for line in response.lines:
        return line.split(":", 1)[1].strip() if line.startswith("+") and ":" in line else line
    return None


_CMGL = re.compile(r"^\+CMG[LR]:\s*(?:(\d+),)?\s*(\d+)")


def parse_listing(response: Response) -> list[tuple[int | None, str]]:
    """``(index, pdu)`` pairs of a PDU-mode ``+CMGL``/``+CMGR`` response (index None for +CMGR)."""
    found: list[tuple[int | None, str]] = []
    lines = list(response.lines)
    for position, line in enumerate(lines):
        match = _CMGL.match(line)
        if match and position + 1 < len(lines):
            index = int(match.group(1)) if match.group(1) is not None else None
            found.append((index, lines[position + 1]))
    return found


# --- the driver --------------------------------------------------------------------------------------------


@dataclass
class _Sent:
    message_id: str
    recipient: str
    references: tuple[int, ...]
    statuses: dict[int, int] = field(default_factory=dict)


def _inbound_id(sender: str, text: str, sent_at: dt.datetime | None, concat: int | None) -> str:
    stamp = sent_at.isoformat() if sent_at is not None else ""
    return str(uuid.uuid5(_INBOUND_NAMESPACE, f"{sender}\x00{stamp}\x00{concat}\x00{text}"))


class ModemDriver:
    def __init__(
        self,
        settings: ModemSettings,
        *,
        on_inbound: Callable[[InboundSms], Awaitable[None]],
        on_report: Callable[[DeliveryReport], Awaitable[None]] | None = None,
        on_state: Callable[[ModemState], None] | None = None,
    ) -> None:
        self.settings = settings
        self._on_inbound = on_inbound
        self._on_report = on_report
        self._on_state = on_state
        self._port: ATPort | None = None
        self._state = ModemState.STOPPED
        self._health = Health(ModemState.STOPPED, settings.port)
        self._send_lock = asyncio.Lock()
        self._senders_waiting = 0
        self._cmms = False
        self._concat = random.randrange(256)  # noqa: S311 - a label, not a secret
        self._memories: tuple[str, ...] = ("SM",)
        self._store = "SM"
        self._read_memory: str | None = None
        self._work: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._sweep_queued = False
        self._reassembler: Reassembler[Handle] = Reassembler(settings.reassembly_timeout)
        self._first_parts: dict[tuple[str, int, int], dt.datetime | None] = {}
        self._direct = 0
        self._sent: OrderedDict[tuple[int, str], _Sent] = OrderedDict()
        self._reported_unreadable: set[Handle] = set()
        self._ussd: asyncio.Future[Urc] | None = None
        self._ussd_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._up = asyncio.Event()
        self._lost = asyncio.Event()

    # --- life cycle -------------------------------------------------------------------------------------

    @property
    def state(self) -> ModemState:
        return self._state

    async def start(self, *, wait: float | None = None) -> None:
        """Start the supervisor; with ``wait``, also wait that long for the modem to come up."""
        self._set_state(ModemState.STARTING)
        self._tasks = [
            asyncio.create_task(self._supervise(), name=f"modem-supervisor {self.settings.port}"),
            asyncio.create_task(self._inbox(), name=f"modem-inbox {self.settings.port}"),
            asyncio.create_task(self._sweeper(), name=f"modem-sweeper {self.settings.port}"),
        ]
        if wait is not None:
            await asyncio.wait_for(self._up.wait(), wait)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._port is not None:
            self._port.close("stopped")
            self._port = None
        self._set_state(ModemState.STOPPED)

    async def wait_up(self, seconds: float = 30.0) -> None:
        await asyncio.wait_for(self._up.wait(), seconds)

    def _set_state(self, state: ModemState) -> None:
        if state is self._state:
            return
        self._state = state
        self._health = replace(self._health, state=state)
        if state is ModemState.UP:
            self._up.set()
        else:
            self._up.clear()
        if self._on_state is not None:
            self._on_state(state)

    async def _supervise(self) -> None:
        """Open, start up, and reopen whenever the port is lost or start-up fails."""
        while True:
            self._lost.clear()
            try:
                await self._open_and_initialise()
            except (ModemUnavailable, ModemError, serial.SerialException, OSError, TimeoutError) as error:
                self._note_error(f"start-up: {error}")
                self._drop_port("start-up failed")
                self._set_state(ModemState.DOWN)
                await asyncio.sleep(self.settings.reopen_interval)
                continue
            self._set_state(ModemState.UP)
            self._queue_sweep()
            await self._lost.wait()
            self._drop_port("lost")
            self._set_state(ModemState.DOWN)
            await asyncio.sleep(self.settings.reopen_interval)

    def _drop_port(self, reason: str) -> None:
        if self._port is not None:
            self._port.close(reason)
            self._port = None
        self._read_memory = None
        self._cmms = False

    def _port_lost(self, reason: str) -> None:
        self._note_error(f"port lost: {reason}")
        self._lost.set()

    def _note_error(self, message: str) -> None:
        log.warning("%s: %s", self.settings.port, message)
        self._health = replace(self._health, last_error=message)

    # --- commands ---------------------------------------------------------------------------------------

    async def _command(self, command: Command) -> Response:
        port = self._port
        if port is None or port.closed:
            raise ModemUnavailable(f"{self.settings.port} is not open")
        response = await port.command(command)
        self._health = replace(self._health, errors=port.consecutive_timeouts)
        if response.timed_out:
            self._note_error(f"{command.text}: timeout")
            if port.consecutive_timeouts >= self.settings.error_threshold:
                task = asyncio.get_running_loop().create_task(self._soft_reset(port))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        return response

    async def _run(self, text: str, seconds: float | None = None) -> Response:
        return await self._command(Command(text, timeout=seconds or self.settings.command_timeout))

    async def _run_patiently(self, text: str) -> Response:
        """Run ``text``, waiting out "SIM busy" (CME 14/515) windows after power-up."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.settings.sim_busy_timeout
        while True:
            response = await self._run(text)
            busy = response.final.kind == "cme" and response.final.code in BUSY_CME
            if not busy or loop.time() >= give_up:
                return response
            await asyncio.sleep(1.0)

    async def _soft_reset(self, port: ATPort) -> None:
        if port is not self._port or port.closed:
            return
        log.warning(
            "%s: %d timeouts in a row, resetting the modem", self.settings.port, port.consecutive_timeouts
        )
        with contextlib.suppress(ModemUnavailable):
            await port.command(Command("AT+CFUN=1,1", timeout=5.0))
        self._port_lost("soft reset")

    # --- start-up ---------------------------------------------------------------------------------------

    async def _open_and_initialise(self) -> None:
        self._drop_port("reopening")
        self._port = ATPort(
            self.settings.port,
            baudrate=self.settings.baudrate,
            rtscts=self.settings.rtscts,
            late_grace=self.settings.late_grace,
            on_urc=self._urc,
            on_lost=self._port_lost,
        )
        self._set_state(ModemState.STARTING)
        await self._attention()
        await self._run("ATE0")
        await self._run("AT+CMEE=1")
        await self._unlock()
        await self._require(await self._run_patiently("AT+CMGF=0"), "PDU mode (AT+CMGF=0)")
        await self._select_storage()
        await self._route_notifications()
        await self._check_smsc()
        manufacturer, model, imei = [
            _plain(await self._run(text)) for text in ("AT+CGMI", "AT+CGMM", "AT+CGSN")
        ]
        self._health = replace(self._health, manufacturer=manufacturer, model=model, imei=imei)

    async def _attention(self) -> None:
        """``AT`` until the modem answers: it may still be booting, or echo garbage first.

        A booting modem drops what it hears, so a probe that timed out is usually never answered; left
        owed, its debt would take the next probe's ``OK`` and every probe would time out in turn. The probes
        are all alike, so each new one forgives the earlier ones, and once one is answered a short quiet
        lets a slow earlier answer arrive (and be dropped as stray) before the real commands start."""
        for attempt in range(5):
            if attempt and self._port is not None:
                self._port.forgive()
            if (await self._run("AT", seconds=2.0)).ok:
                if attempt:
                    await asyncio.sleep(ATTENTION_QUIET_S)
                return
        raise ModemUnavailable(f"{self.settings.port} does not answer AT")

    @staticmethod
    async def _require(response: Response, what: str) -> None:
        if not response.ok:
            raise ModemError(f"{what} failed: {response.final}")

    async def _unlock(self) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.settings.sim_busy_timeout
        while True:
            response = await self._run_patiently("AT+CPIN?")
            state = _info(response, "+CPIN:")
            if response.ok and state == "READY":
                return
            if response.ok and state == "SIM PIN":
                if self.settings.pin is None:
                    raise ModemError("the SIM asks for a PIN and none is configured")
                answer = await self._run_patiently(f'AT+CPIN="{self.settings.pin}"')
                if not answer.ok:
                    # Never retry a wrong PIN: three failures lock the SIM behind its PUK.
                    raise ModemError(f"the SIM refused the PIN ({answer.final})")
                continue
            if response.ok and state is not None and "PUK" in state:
                raise ModemError("the SIM is locked with its PUK: unlock it in a phone")
            if response.final.code == 10:
                raise ModemError("no SIM card in the modem")
            if loop.time() >= give_up:
                raise ModemError(f"SIM not ready: {state or response.final}")
            await asyncio.sleep(1.0)

    async def _select_storage(self) -> None:
        response = await self._run_patiently("AT+CPMS=?")
        groups = re.findall(r"\(([^)]*)\)", " ".join(response.lines)) if response.ok else []
        readable = [m.strip().strip('"') for m in groups[0].split(",")] if groups else ["SM"]
        receivable = [m.strip().strip('"') for m in groups[2].split(",")] if len(groups) > 2 else readable
        self._store = next((m for m in self.settings.store if m in receivable), receivable[0] or "SM")
        self._memories = tuple(m for m in ("SM", "ME", "SR") if m in readable) or ("SM",)
        store = self._store
        answer = await self._run_patiently(f'AT+CPMS="{store}","{store}","{store}"')
        if not answer.ok:
            answer = await self._run_patiently('AT+CPMS="SM","SM","SM"')
            self._store = "SM"
        self._read_memory = self._store if answer.ok else None

    async def _route_notifications(self) -> None:
        # Store-and-notify first (+CMTI, +CDSI): a stored SMS survives until the spool has it. +CDS direct
        # for modems without SR storage; plain +CMTI without reports as the last resort.
        report = 2 if self.settings.status_reports else 0
        for cnmi in (f"AT+CNMI=2,1,0,{report},0", "AT+CNMI=2,1,0,1,0", "AT+CNMI=1,1,0,0,0"):
            if (await self._run_patiently(cnmi)).ok:
                return
        self._note_error("the modem refused every AT+CNMI routing; relying on the sweep")

    async def _check_smsc(self) -> None:
        response = await self._run("AT+CSCA?")
        current = _info(response, "+CSCA:") if response.ok else None
        number = current.split(",")[0].strip().strip('"') if current else ""
        if not number and self.settings.smsc and (await self._run(f'AT+CSCA="{self.settings.smsc}",145')).ok:
            number = self.settings.smsc
        if not number:
            self._note_error("no SMSC number on the SIM: sending will fail (set smsc in the configuration)")
        self._health = replace(self._health, smsc=number or None)

    # --- sending ----------------------------------------------------------------------------------------

    def _next_concat(self) -> int:
        self._concat = (self._concat + 1) % 256
        return self._concat

    async def send(self, message: OutboundSms) -> SendResult:
        """Send ``message`` whole; its parts never interleave with another message's."""
        wants_report = (
            self.settings.status_reports if message.status_report is None else message.status_report
        )
        try:
            parts = pdu.encode_submit(
                message.to, message.text, concat_reference=self._next_concat(), status_report=wants_report
            )
        except pdu.PduError as error:
            return SendResult("failed", 0, error=str(error))
        self._senders_waiting += 1
        try:
            await self._send_lock.acquire()
        finally:
            self._senders_waiting -= 1
        try:
            return await self._send_parts(message, parts, wants_report)
        finally:
            self._send_lock.release()

    async def _send_parts(
        self, message: OutboundSms, parts: list[pdu.SubmitPart], report: bool
    ) -> SendResult:
        if self._state is not ModemState.UP:
            return SendResult("failed", len(parts), error="modem not ready", retryable=True)
        references: list[int] = []
        try:
            if (len(parts) > 1 or self._senders_waiting) and not self._cmms:
                # Keep the relay link open between submits of a burst (27.005 §3.5.6).
                self._cmms = (await self._run("AT+CMMS=2")).ok
            for part in parts:
                command = Command(
                    f"AT+CMGS={part.tpdu_length}",
                    timeout=self.settings.prompt_timeout,
                    payload=part.pdu,
                    payload_timeout=self.settings.submit_timeout,
                )
                response = await self._command(command)
                if response.ok:
                    mr = _info(response, "+CMGS:")
                    references.append(int(mr.split(",")[0]) if mr and mr.split(",")[0].isdigit() else -1)
                    self._health = replace(self._health, sent=self._health.sent + 1)
                    continue
                return self._failed(message, parts, references, response)
        except ModemUnavailable as error:
            if error.payload_sent or references:
                # The port vanished after a PDU was written: it may have gone out.
                return SendResult("unknown", len(parts), tuple(references), error=str(error))
            return SendResult("failed", len(parts), error=str(error), retryable=True)
        finally:
            if self._cmms and not self._senders_waiting and self._port is not None and not self._port.closed:
                with contextlib.suppress(ModemUnavailable):
                    await self._run("AT+CMMS=0")
                self._cmms = False
        if report:
            self._remember(message, tuple(references))
        return SendResult("sent", len(parts), tuple(references))

    def _failed(
        self, message: OutboundSms, parts: list[pdu.SubmitPart], references: list[int], response: Response
    ) -> SendResult:
        number = len(references) + 1
        where = f"part {number} of {len(parts)}" if len(parts) > 1 else "submit"
        if response.timed_out:
            if response.payload_sent:
                error = f"{where}: no answer within {self.settings.submit_timeout:.0f} s after the PDU was written"
                return SendResult("unknown", len(parts), tuple(references), error=error)
            error = f"{where}: no prompt from the modem"
            return SendResult("failed", len(parts), tuple(references), error=error, retryable=not references)
        code = response.final.code
        retryable = not references and response.final.kind == "cms" and code in RETRYABLE_CMS
        log.warning(
            "%s: send %s to %s failed: %s", self.settings.port, message.id, message.to, response.final
        )
        return SendResult("failed", len(parts), tuple(references), f"{where}: {response.final}", retryable)

    def _remember(self, message: OutboundSms, references: tuple[int, ...]) -> None:
        sent = _Sent(message.id, message.to, references)
        for reference in references:
            key = (reference, message.to)
            self._sent.pop(key, None)
            self._sent[key] = sent  # TP-MR wraps at 256: the newest submit owns a reference
        while len(self._sent) > 4096:
            self._sent.popitem(last=False)

    # --- unsolicited results ------------------------------------------------------------------------------

    def _urc(self, urc: Urc) -> None:
        if urc.name in ("+CMTI", "+CDSI"):
            where = stored_at(urc)
            if where is not None:
                self._work.put_nowait(("read", (where.memory, where.index)))
            if where is None or urc.name == "+CDSI":
                # Quectel announces reports in the wrong memory and SIM7600 cannot read the one it names:
                # a sweep of every memory finds them wherever they are.
                self._queue_sweep()
        elif urc.name in ("+CMT", "+CDS"):
            if urc.pdu is not None:
                self._work.put_nowait(("direct", urc.pdu))
        elif urc.name == "+CREG":
            self._health = replace(self._health, registration=registration(urc))
        elif urc.name == "^RSSI":
            rssi = huawei_rssi(urc)
            self._health = replace(self._health, signal=None if rssi in (None, 99) else rssi)
        elif urc.name == "+CUSD":
            if self._ussd is not None and not self._ussd.done():
                self._ussd.set_result(urc)
        elif urc.name == "RDY" and self._state is ModemState.UP:
            # The modem rebooted by itself: its settings (PDU mode, routing, storage) are gone.
            self._port_lost("the modem restarted (RDY)")

    # --- receiving --------------------------------------------------------------------------------------

    def _queue_sweep(self) -> None:
        if not self._sweep_queued:
            self._sweep_queued = True
            self._work.put_nowait(("sweep", None))

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            if self._state is ModemState.UP:
                self._queue_sweep()
            self._work.put_nowait(("expire", None))

    async def sweep(self) -> None:
        """Read every stored SMS and report on every memory now (the periodic safety net, on demand).

        The sweep runs on the inbox worker like every other read, so it never races a ``+CMTI`` read."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._work.put_nowait(("sweep", done))
        await done

    async def _inbox(self) -> None:
        """One worker for everything received, so reads, commits and deletes never race each other."""
        while True:
            kind, value = await self._work.get()
            try:
                await self._up.wait()
                if kind == "sweep":
                    if value is None:
                        self._sweep_queued = False
                    await self._sweep()
                elif kind == "read":
                    await self._read_stored(*value)
                elif kind == "direct":
                    await self._direct_pdu(value)
                elif kind == "expire":
                    await self._expire()
            except ModemUnavailable:
                if kind == "read":
                    self._queue_sweep()  # read it once the port is back
            except Exception:
                log.exception("%s: inbound %s failed; the next sweep retries", self.settings.port, kind)
            finally:
                if kind == "sweep" and value is not None and not value.done():
                    value.set_result(None)

    async def _use_memory(self, memory: str) -> bool:
        if self._read_memory == memory:
            return True
        response = await self._run_patiently(f'AT+CPMS="{memory}"')
        self._read_memory = memory if response.ok else None
        return response.ok

    async def _sweep(self) -> None:
        for memory in self._memories:
            if not await self._use_memory(memory):
                continue
            response = await self._run("AT+CMGL=4", seconds=max(self.settings.command_timeout, 30.0))
            for index, hex_pdu in parse_listing(response):
                if index is not None:
                    await self._handle_stored((memory, index), hex_pdu)
        await self._expire()

    async def _read_stored(self, memory: str, index: int) -> None:
        if not await self._use_memory(memory):
            return
        response = await self._run(f"AT+CMGR={index}")
        if not response.ok:
            return
        for _, hex_pdu in parse_listing(response):
            await self._handle_stored((memory, index), hex_pdu)

    async def _handle_stored(self, handle: Handle, hex_pdu: str) -> None:
        try:
            decoded = pdu.decode(hex_pdu)
        except pdu.PduError as error:
            if handle not in self._reported_unreadable:
                self._reported_unreadable.add(handle)
                self._health = replace(self._health, unreadable=self._health.unreadable + 1)
                self._note_error(f"unreadable PDU in {handle[0]} {handle[1]} left in place: {error}")
            return
        if isinstance(decoded, pdu.StatusReport):
            if await self._report(decoded):
                await self._delete([handle])
        elif isinstance(decoded, pdu.Deliver):
            await self._deliver_part(decoded, handle)
        # An SMS-SUBMIT in storage is the modem's outbox, not ours to touch.

    async def _direct_pdu(self, hex_pdu: str) -> None:
        try:
            decoded = pdu.decode(hex_pdu)
        except pdu.PduError as error:
            self._note_error(f"unreadable PDU routed directly: {error}")
            return
        if isinstance(decoded, pdu.StatusReport):
            await self._report(decoded)
        elif isinstance(decoded, pdu.Deliver):
            self._direct += 1
            await self._deliver_part(decoded, ("direct", self._direct))

    async def _deliver_part(self, sms: pdu.Deliver, handle: Handle) -> None:
        now = asyncio.get_running_loop().time()
        concat = sms.concat
        if concat is None:
            await self._commit(Assembled(sms.sender, sms.text, (handle,)), sms.sent_at)
            return
        key = (sms.sender, concat.reference, concat.total)
        if concat.number == 1 or key not in self._first_parts:
            self._first_parts[key] = sms.sent_at  # the message's time is its first part's
        part = Part(sms.sender, concat.reference, concat.total, concat.number, sms.text, handle)
        assembled = self._reassembler.add(part, now)
        if assembled is not None:
            await self._commit(assembled, self._first_parts.pop(key, None))

    async def _expire(self) -> None:
        for assembled in self._reassembler.expire(asyncio.get_running_loop().time()):
            log.warning(
                "%s: parts %s of a message from %s never came; delivering the rest",
                self.settings.port,
                assembled.missing,
                assembled.sender,
            )
            key = (assembled.sender, assembled.reference or 0, assembled.total)
            await self._commit(assembled, self._first_parts.pop(key, None))

    async def _commit(self, assembled: Assembled[Handle], sent_at: dt.datetime | None) -> None:
        sms = InboundSms(
            id=_inbound_id(assembled.sender, assembled.text, sent_at, assembled.reference),
            sender=assembled.sender,
            text=assembled.text,
            received_at=(sent_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC),
            complete=assembled.complete,
            missing_parts=assembled.missing,
        )
        # Raises when the spool could not commit: then nothing is deleted and the next sweep offers it again.
        await self._on_inbound(sms)
        self._health = replace(self._health, received=self._health.received + 1)
        await self._delete(list(assembled.handles))

    async def _delete(self, handles: list[Handle]) -> None:
        for memory, index in handles:
            if memory == "direct":
                continue
            if await self._use_memory(memory):
                response = await self._run(f"AT+CMGD={index}")
                if not response.ok:
                    self._note_error(f"could not delete {memory} {index}: {response.final}")

    async def _report(self, report: pdu.StatusReport) -> bool:
        """Match a status report to the part it is for; True when it may be deleted from the modem."""
        sent = self._sent.get((report.reference, report.recipient))
        if sent is None:
            log.info("%s: status report for unknown reference %d", self.settings.port, report.reference)
            return True
        sent.statuses[report.reference] = report.status
        outcomes = [
            "pending"
            if ref not in sent.statuses
            else pdu.StatusReport(ref, "", sent.statuses[ref], None, None).outcome
            for ref in sent.references
        ]
        status: Literal["delivered", "pending", "failed"]
        if "failed" in outcomes:
            status = "failed"
        elif all(o == "delivered" for o in outcomes):
            status = "delivered"
        else:
            status = "pending"
        if self._on_report is not None:
            await self._on_report(
                DeliveryReport(sent.message_id, status, report.reference, report.status, len(sent.references))
            )
        return True

    # --- health -----------------------------------------------------------------------------------------

    async def health(self, *, refresh: bool = True) -> Health:
        """Signal, registration and operator (asked now when ``refresh`` and the modem is up)."""
        if refresh and self._state is ModemState.UP:
            with contextlib.suppress(ModemUnavailable):
                csq = await self._run("AT+CSQ")
                rssi_text = (_info(csq, "+CSQ:") or "").split(",")[0]
                signal = int(rssi_text) if rssi_text.isdigit() and int(rssi_text) != 99 else None
                creg = await self._run("AT+CREG?")
                fields = (_info(creg, "+CREG:") or "").split(",")
                stat = fields[1] if len(fields) > 1 else fields[0]
                cops = await self._run("AT+COPS?")
                operator = (_info(cops, "+COPS:") or "").split(",")
                self._health = replace(
                    self._health,
                    signal=signal,
                    registration=int(stat) if stat.strip().isdigit() else None,
                    operator=operator[2].strip().strip('"') if len(operator) > 2 else None,
                )
        return self._health

    async def balance(self, code: str | None = None) -> str | None:
        """Ask the network for the SIM's balance by USSD and return its answer as text (None: no answer)."""
        code = code or self.settings.balance_code
        if code is None or self._state is not ModemState.UP:
            return None
        async with self._ussd_lock:
            self._ussd = asyncio.get_running_loop().create_future()
            charset = False
            try:
                # UCS-2 as the TE character set makes every modem hand the answer over as hex, which can be
                # decoded whatever the network's alphabet (in "GSM", "ñ" would arrive as the byte 0x7D).
                charset = (await self._run('AT+CSCS="UCS2"')).ok
                response = await self._run(f'AT+CUSD=1,"{code}",15', seconds=self.settings.ussd_timeout)
                if not response.ok:
                    return None
                answered = next((line for line in response.lines if line.startswith("+CUSD:")), None)
                urc = Urc("+CUSD", answered.split(":", 1)[1].strip(), answered) if answered else None
                if urc is None:
                    urc = await asyncio.wait_for(self._ussd, self.settings.ussd_timeout)
            except TimeoutError:
                return None
            finally:
                self._ussd = None
                if self._state is ModemState.UP:
                    with contextlib.suppress(ModemUnavailable):
                        if charset:
                            await self._run('AT+CSCS="GSM"')
        reply = ussd_reply(urc)
        if reply is None or reply.text is None:
            return None
        return pdu.decode_ussd(reply.text, reply.dcs)
