"""The virtual modem's protocol core, sans-IO: bytes in, timed outputs out.

:class:`ModemEngine` never touches a file descriptor or a timer. The shell (:mod:`gateway.simulator.modem`)
feeds it what the host wrote and writes what comes back:

- :class:`Emit` — bytes to write after ``delay`` seconds counted from the previous queued output (a modem
  answers one command after another, so a slow ``+CMGS`` holds back the next answer too); ``urgent`` ones
  are URCs from the network and are written at once, between queued outputs, as a real ``+CMTI`` lands in
  the middle of whatever the host is waiting for;
- :class:`PowerCycle` — replace the port (a reboot gives a new pty) after ``delay``, then call :meth:`boot`.

Time comes from an injected monotonic ``clock``; :meth:`next_deadline` says when :meth:`tick` has work (noise
URCs, registration, delivery reports due), so the shell needs exactly one timer.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final, Literal

from flows import sms
from gateway.simulator import tpdu
from gateway.simulator.atline import Command, LineError, parse_line
from gateway.simulator.faults import FaultPlan, FaultState, Injection, Phase, Trigger
from gateway.simulator.profiles import GENERIC, Profile
from gateway.simulator.storage import MEMORIES, STATUS_NAMES, UNREAD, Memory, Stored

CTRL_Z: Final = 0x1A
ESC: Final = 0x1B
MAX_LINE: Final = 1024  # longer command lines are dropped with ERROR, as a modem's buffer overflows
MAX_PROMPT_INPUT: Final = 2 * (tpdu.MAX_TPDU_OCTETS + 12) + 64

CME_TEXT: Final = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    16: "incorrect password",
    21: "invalid index",
    30: "no network service",
    50: "incorrect parameters",
    100: "unknown",
}
CMS_TEXT: Final = {
    38: "network out of order",
    42: "congestion",
    50: "requested facility not subscribed",
    69: "requested facility not implemented",
    96: "invalid mandatory information",
    111: "protocol error, unspecified",
    300: "ME failure",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    311: "SIM PIN required",
    314: "SIM busy",
    316: "SIM PUK required",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    500: "unknown error",
}
# Commands that need the SIM unlocked: 27.005 ones answer +CMS ERROR, the others +CME ERROR.
SMS_COMMANDS: Final = frozenset(
    {"+CPMS", "+CMGS", "+CMGL", "+CMGR", "+CMGD", "+CSCA", "+CNMI", "+CMGF", "+CMMS"}
)
SIM_COMMANDS: Final = SMS_COMMANDS | {"+CIMI", "+CUSD", "+COPS", "+CNUM"}


@dataclass(frozen=True)
class Emit:
    data: bytes
    delay: float = 0.0
    urgent: bool = False


@dataclass(frozen=True)
class PowerCycle:
    delay: float = 0.0


Output = Emit | PowerCycle


@dataclass(frozen=True)
class ModemConfig:
    """Identity, network and SIM of one virtual modem; everything has a plausible Mexican default."""

    profile: Profile = GENERIC
    imei: str = "356938035643809"
    imsi: str = "334020123456789"
    iccid: str = "8952020123456789012"
    own_number: str | None = None
    operator: str = "TELCEL"
    operator_numeric: str = "334020"
    signal: int = 18  # +CSQ RSSI index 0-31
    smsc: str = "+5294100001410"
    pin: str | None = None  # the SIM asks for it after every power-up when set
    puk: str = "12345678"
    capacities: Mapping[str, int] = field(default_factory=lambda: {"SM": 30, "ME": 100, "SR": 10})
    ussd: Mapping[str, str] = field(
        default_factory=lambda: {"*133#": "Saldo: 42.50 MXN. Vigencia: 30/04/2027."}
    )
    ussd_encoding: Literal["text", "gsm7", "ucs2"] = "text"
    first_reference: int | None = None  # TP-MR of the first submit; None = drawn from the seed


@dataclass(frozen=True)
class SentPart:
    """One submit the modem accepted, as the driver wrote it and as the network numbered it."""

    reference: int  # the modem's TP-MR, answered as +CMGS: <reference>
    recipient: str
    text: str
    alphabet: str
    status_report: bool
    concatenation: tpdu.Concatenation | None
    pdu: str  # hex as written by the host ("" in text mode)
    at: float  # engine clock when the submit finished
    link_kept: bool  # the relay link was still open from a previous submit (AT+CMMS)


@dataclass(frozen=True)
class SentMessage:
    """Parts that belong together (same recipient and concatenation reference), in sequence order."""

    recipient: str
    parts: tuple[SentPart, ...]

    @property
    def text(self) -> str:
        return "".join(part.text for part in self.parts)

    @property
    def references(self) -> tuple[int, ...]:
        return tuple(part.reference for part in self.parts)

    @property
    def complete(self) -> bool:
        first = self.parts[0].concatenation
        return first is None or len(self.parts) == first.total


@dataclass(frozen=True)
class Inbound:
    """An SMS the network delivered to the modem: where each part went (memory and index, or direct)."""

    sender: str
    text: str
    parts: tuple[str, ...]  # PDU hex of each part, in delivery order
    placed: tuple[str, ...]  # "SM:3", "direct" or "waiting" (memory full; the network retries later)


@dataclass(frozen=True)
class Report:
    reference: int
    status: int
    placed: str  # "SR:2", "direct" or "lost" (SR memory full)


class ReportNotRequested(ValueError):
    """The part did not ask for a status report (TP-SRR 0), so the network sends none."""


@dataclass
class _Settings:
    """What ATZ and a power-up reset."""

    echo: bool = True
    verbose: bool = True
    cmee: int = 0
    text_mode: bool = False
    cnmi: tuple[int, int, int, int, int] = (2, 1, 0, 0, 0)
    cpms: tuple[str, str, str] = ("SM", "SM", "SM")
    cmms: int = 0
    creg: int = 0
    cgreg: int = 0
    cscs: str = "GSM"
    csmp_first_octet: int = 17  # text mode: SMS-SUBMIT, relative validity, no status report


@dataclass
class _Prompt:
    """Waiting for the PDU (or text) after ``> ``."""

    length: int  # TPDU octets announced by AT+CMGS=<length>; 0 in text mode
    recipient: str  # text mode only
    data: bytearray = field(default_factory=bytearray)


@dataclass
class _Reply:
    lines: list[str] = field(default_factory=list)
    error: str | None = None
    prompt: _Prompt | None = None
    power_cycle: bool = False
    after: list[bytes] = field(default_factory=list)  # URCs queued after the final result
    after_delay: float = 0.0
    follow: list[bytes] = field(
        default_factory=list
    )  # URCs right after the final result (a freed slot refilled)


def _urc(line: str) -> bytes:
    return f"\r\n{line}\r\n".encode()


def _scts(moment: dt.datetime) -> str:
    offset = moment.utcoffset() or dt.timedelta(0)
    quarters = int(offset.total_seconds() // 900)
    return moment.strftime("%y/%m/%d,%H:%M:%S") + f"{quarters:+03d}"


class ModemEngine:
    def __init__(
        self,
        config: ModemConfig | None = None,
        faults: FaultPlan | None = None,
        *,
        seed: int = 0,
        clock: Callable[[], float],
        wallclock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.config = config or ModemConfig()
        self.profile = self.config.profile
        self.faults = FaultState(faults or FaultPlan(), seed)
        self.clock = clock
        self.wallclock = wallclock or (lambda: dt.datetime.now(dt.UTC))
        self.memories = {
            name: Memory(name, self.config.capacities.get(name, 0), self.profile.first_index)
            for name in MEMORIES
        }
        rng = self.faults.random
        start = self.config.first_reference
        self._next_reference = rng.randrange(256) if start is None else start % 256
        self._next_concat = rng.randrange(256)
        self.smsc = self.config.smsc
        self.settings = _Settings()
        self.powered = False
        self.commands: list[str] = []  # every command line as the modem read it
        self.sent_parts: list[SentPart] = []
        self.received: list[Inbound] = []
        self.reports: list[Report] = []
        self.waiting_inbound: list[Stored] = []  # refused for a full memory; redelivered when room frees
        self._line = bytearray()
        self._last_line = ""
        self._prompt: _Prompt | None = None
        self._sim: Literal["READY", "SIM PIN", "SIM PUK"] = "READY"
        self._pin_attempts = 3
        self._pin = self.config.pin
        self._booted_at = 0.0
        self._radio = 1  # +CFUN
        self._network_override: int | None = None
        self._signal = self.config.signal
        self._last_creg = -1
        self._link_open_until = -1.0
        self._noise = itertools.cycle(self.profile.noise_urcs or ("",))
        self._next_noise: float | None = None
        self._reports_due: list[tuple[float, int]] = []

    # --- power ------------------------------------------------------------------------------------------

    def boot(self) -> list[Output]:
        """Power-up: settings back to defaults, the SIM locked again if it has a PIN, boot URCs."""
        self.powered = True
        self.settings = _Settings()
        self._line.clear()
        self._prompt = None
        self._sim = "SIM PIN" if self._pin else "READY"
        self._pin_attempts = 3
        self._radio = 1
        self._booted_at = self.clock()
        self._last_creg = -1
        self._link_open_until = -1.0
        interval = self._noise_interval()
        self._next_noise = self._booted_at + interval if interval > 0 else None
        urcs = self.profile.boot_urcs if self._sim == "READY" else self._boot_urcs(before_sim=True)
        lines = b"".join(_urc(line.format(cpin=self._sim)) for line in urcs)
        outputs: list[Output] = [Emit(self.faults.plan.garbage_on_boot + lines)]
        outputs.extend(Emit(urc, urgent=True) for urc in self._redeliver())
        return outputs

    def _boot_urcs(self, *, before_sim: bool) -> tuple[str, ...]:
        """Boot URCs up to +CPIN, or those after it (SMS Ready and the like come only with an unlocked SIM)."""
        urcs = self.profile.boot_urcs
        cut = next((i + 1 for i, line in enumerate(urcs) if line.startswith("+CPIN")), len(urcs))
        return urcs[:cut] if before_sim else urcs[cut:]

    def power_off(self) -> None:
        """The port is gone (unplugged or rebooting): nothing is read or answered until :meth:`boot`."""
        self.powered = False
        self._prompt = None
        self._line.clear()

    def _noise_interval(self) -> float:
        configured = self.faults.plan.noise_interval
        interval = self.profile.noise_interval if configured is None else configured
        return interval if self.profile.noise_urcs else 0.0

    # --- network state ----------------------------------------------------------------------------------

    def registration(self) -> int:
        """+CREG <stat>: 0 not searching (radio off), 1 home, 2 searching, or whatever was forced."""
        if self._radio != 1:
            return 0
        if self._network_override is not None:
            return self._network_override
        if self.clock() - self._booted_at < self.faults.plan.register_after:
            return 2
        return 1

    def set_registration(self, stat: int | None) -> list[Output]:
        """Force +CREG's <stat> (None = back to the plan); announces the change when +CREG=1/2 asked for it."""
        self._network_override = stat
        return self.tick()

    def set_signal(self, rssi: int) -> None:
        self._signal = rssi

    @property
    def registered(self) -> bool:
        return self.registration() in (1, 5)

    def _sim_busy(self) -> bool:
        return self.clock() - self._booted_at < self.faults.plan.sim_busy_for

    # --- timers -----------------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has something to do (engine clock), or None."""
        if not self.powered:
            return None
        candidates = [due for due, _ in self._reports_due]
        if self._next_noise is not None:
            candidates.append(self._next_noise)
        registered_at = self._booted_at + self.faults.plan.register_after
        if self.settings.creg and self._network_override is None and self.clock() < registered_at:
            candidates.append(registered_at)
        return min(candidates) if candidates else None

    def tick(self) -> list[Output]:
        """Emit what is due: registration changes, noise URCs, delivery reports."""
        if not self.powered:
            return []
        now = self.clock()
        outputs: list[Output] = []
        stat = self.registration()
        if stat != self._last_creg:
            if self.settings.creg and self._last_creg != -1:
                outputs.append(Emit(_urc(f"+CREG: {stat}"), urgent=True))
            self._last_creg = stat
        if self._next_noise is not None and now >= self._next_noise:
            line = next(self._noise)
            outputs.append(Emit(_urc(line), urgent=True))
            self._next_noise = now + self._noise_interval()
        due = [item for item in self._reports_due if item[0] <= now]
        for item in due:
            self._reports_due.remove(item)
            try:
                outputs.extend(self.report(item[1], 0))
            except (KeyError, ReportNotRequested):
                continue
        return outputs

    # --- bytes from the host ----------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[Output]:
        """Everything the host wrote; returns what the modem writes back, in order."""
        if not self.powered:
            return []
        outputs: list[Output] = []
        echo = bytearray()

        def flush_echo() -> None:
            if echo and self.settings.echo:
                outputs.append(Emit(bytes(echo)))
            echo.clear()

        for byte in data:
            if self._prompt is not None:
                if byte in (CTRL_Z, ESC):
                    flush_echo()
                    outputs.extend(self._end_prompt(byte == CTRL_Z))
                    continue
                echo.append(byte)
                if self.settings.text_mode and byte == 0x0D:
                    self._prompt.data.extend(b"\n")
                    flush_echo()
                    outputs.append(Emit(b"\r\n> "))
                    continue
                self._prompt.data.append(byte)
                if len(self._prompt.data) > MAX_PROMPT_INPUT:
                    flush_echo()
                    self._prompt = None
                    outputs.append(Emit(self._final(self._cms(304))))
                continue
            echo.append(byte)
            if byte == 0x0D:
                flush_echo()
                line = self._line.decode("latin-1")
                self._line.clear()
                outputs.extend(self._command_line(line))
            elif byte == 0x2F and self._line.upper() == b"A":  # A/ repeats the last command line
                flush_echo()
                self._line.clear()
                outputs.extend(self._command_line(self._last_line))
            elif byte == 0x08:
                if self._line:
                    self._line.pop()
            elif byte == 0x0A and not self._line:
                continue  # the LF of a CR LF line end
            else:
                self._line.append(byte)
                if len(self._line) > MAX_LINE:
                    self._line.clear()
                    flush_echo()
                    outputs.append(Emit(self._final("ERROR")))
        flush_echo()
        return outputs

    # --- formatting -------------------------------------------------------------------------------------

    def _final(self, result: str) -> bytes:
        if self.settings.verbose:
            return _urc(result)
        codes = {"OK": "0", "ERROR": "4"}
        return (codes.get(result, result) + "\r").encode()

    def _info(self, lines: list[str]) -> bytes:
        return ("\r\n" + "\r\n".join(lines) + "\r\n").encode("utf-8") if lines else b""

    def _cme(self, code: int) -> str:
        if self.settings.cmee == 0:
            return "ERROR"
        if self.settings.cmee == 1:
            return f"+CME ERROR: {code}"
        return f"+CME ERROR: {CME_TEXT.get(code, 'unknown')}"

    def _cms(self, code: int) -> str:
        if self.settings.cmee == 0:
            return "ERROR"
        if self.settings.cmee == 1:
            return f"+CMS ERROR: {code}"
        return f"+CMS ERROR: {CMS_TEXT.get(code, 'unknown error')}"

    def _fault_error(self, kind: str, code: int) -> str:
        return self._cms(code) if kind == "cms" else self._cme(code) if kind == "cme" else "ERROR"

    # --- command lines ----------------------------------------------------------------------------------

    def _command_line(self, raw: str) -> list[Output]:
        line = raw.strip()
        at = line.upper().find("AT")
        if at < 0:
            return []  # modems ignore lines that do not start with AT (noise, a lone CR)
        line = line[at:]
        self._last_line = line
        self.commands.append(line)
        try:
            commands = parse_line(line[2:])
        except LineError:
            return [Emit(self._final("ERROR"), delay=self.faults.plan.timing.command)]
        body = b""
        delay = self.faults.plan.timing.command
        reply = _Reply()
        names: list[str] = []
        for command in commands:
            names.append(command.name)
            self.faults.count(command.name, "command")
            delay += self.faults.latency_for(command.name, "command")
            fault = self.faults.error_for(command.name, "command")
            if fault is not None:
                reply = _Reply(error=self._fault_error(fault.kind, fault.code))
            else:
                reply = self._execute(command)
            body += self._info(reply.lines)
            if reply.error is not None or reply.prompt is not None or reply.power_cycle:
                break
        if reply.prompt is not None:
            self._prompt = reply.prompt
            response = body + b"\r\n> "
        else:
            response = body + self._final(reply.error or "OK")
        for name in names:
            response = self.faults.inject(name, "command", response)
        outputs: list[Output] = [Emit(response, delay=delay)]
        outputs.extend(Emit(data) for data in reply.follow)
        if reply.after:
            outputs.append(Emit(b"".join(reply.after), delay=reply.after_delay))
        if reply.power_cycle:
            self.power_off()
            outputs.append(PowerCycle(self.faults.plan.timing.reboot))
        return outputs

    def _execute(self, command: Command) -> _Reply:
        name = command.name
        vendor = self.profile.extra_commands.get(name + ("?" if command.form == "read" else ""))
        if vendor is not None:
            final = vendor[-1]
            if final.startswith(("+CME ERROR", "+CMS ERROR", "ERROR")):
                return _Reply(lines=list(vendor[:-1]), error=final)
            return _Reply(lines=list(vendor))
        if name in SIM_COMMANDS:
            blocked = self._sim_blocked(name)
            if blocked is not None:
                return _Reply(error=blocked)
        handler = _HANDLERS.get(name)
        if handler is None:
            if name == self.profile.iccid_command:
                return _Reply(lines=[f"{name}: {self.config.iccid}"])
            return _Reply(error=self.profile.unknown_command)
        try:
            return handler(self, command)
        except (ValueError, IndexError):
            return _Reply(error=self._cms(304) if name in SMS_COMMANDS else self._cme(50))

    def _sim_blocked(self, name: str) -> str | None:
        sms = name in SMS_COMMANDS
        if self._sim == "SIM PIN":
            return self._cms(311) if sms else self._cme(11)
        if self._sim == "SIM PUK":
            return self._cms(316) if sms else self._cme(12)
        if self._sim_busy():
            return self._cms(314) if sms else self._cme(14)
        return None

    # --- basic and identity commands --------------------------------------------------------------------

    def _at(self, command: Command) -> _Reply:
        return _Reply()

    def _echo(self, command: Command) -> _Reply:
        if command.args not in ("", "0", "1"):
            return _Reply(error="ERROR")
        self.settings.echo = command.args == "1"
        return _Reply()

    def _verbose(self, command: Command) -> _Reply:
        if command.args not in ("", "0", "1"):
            return _Reply(error="ERROR")
        self.settings.verbose = command.args != "0"
        return _Reply()

    def _reset(self, command: Command) -> _Reply:
        self.settings = _Settings()
        return _Reply()

    def _identity(self, command: Command) -> _Reply:
        if command.form == "test":
            return _Reply()
        value = {
            "+CGMI": self.profile.manufacturer,
            "+GMI": self.profile.manufacturer,
            "+CGMM": self.profile.model,
            "+GMM": self.profile.model,
            "+CGMR": self.profile.revision,
            "+GMR": self.profile.revision,
            "+CGSN": self.config.imei,
            "+GSN": self.config.imei,
            "+CIMI": self.config.imsi,
        }[command.name]
        return _Reply(lines=[value])

    def _information(self, command: Command) -> _Reply:
        return _Reply(
            lines=[self.profile.manufacturer, self.profile.model, f"Revision: {self.profile.revision}"]
        )

    def _cmee(self, command: Command) -> _Reply:
        if command.form == "read":
            return _Reply(lines=[f"+CMEE: {self.settings.cmee}"])
        if command.form == "test":
            return _Reply(lines=["+CMEE: (0-2)"])
        value = int(command.params[0] or "0") if command.params else 0
        if value not in (0, 1, 2):
            return _Reply(error=self._cme(50))
        self.settings.cmee = value
        return _Reply()

    def _cpin(self, command: Command) -> _Reply:
        if command.form == "read":
            return _Reply(lines=[f"+CPIN: {self._sim}"])
        if command.form == "test":
            return _Reply()
        params = command.params
        if self._sim == "READY":
            return _Reply(error=self._cme(3))
        if self._sim == "SIM PUK":
            if len(params) == 2 and params[0] == self.config.puk and params[1].isdigit():
                self._pin, self._sim, self._pin_attempts = params[1], "READY", 3
                return _Reply(follow=[_urc(line) for line in self._boot_urcs(before_sim=False)])
            return _Reply(error=self._cme(16))
        if params and params[0] == self._pin:
            self._sim = "READY"
            return _Reply(follow=[_urc(line) for line in self._boot_urcs(before_sim=False)])
        self._pin_attempts -= 1
        if self._pin_attempts == 0:
            self._sim = "SIM PUK"
        return _Reply(error=self._cme(16))

    def _csq(self, command: Command) -> _Reply:
        if command.form == "test":
            return _Reply(lines=["+CSQ: (0-31,99),(0-7,99)"])
        rssi = self._signal if self._radio == 1 else 99
        return _Reply(lines=[f"+CSQ: {rssi},99"])

    def _creg(self, command: Command) -> _Reply:
        key = "creg" if command.name == "+CREG" else "cgreg"
        if command.form == "read":
            return _Reply(lines=[f"{command.name}: {getattr(self.settings, key)},{self.registration()}"])
        if command.form == "test":
            return _Reply(lines=[f"{command.name}: (0-2)"])
        value = int(command.params[0]) if command.params and command.params[0] else 0
        if value not in (0, 1, 2):
            return _Reply(error=self._cme(50))
        setattr(self.settings, key, value)
        self._last_creg = self.registration()
        return _Reply()

    def _cops(self, command: Command) -> _Reply:
        if command.form == "read":
            if not self.registered:
                return _Reply(lines=["+COPS: 0"])
            return _Reply(lines=[f'+COPS: 0,0,"{self.config.operator}",2'])
        if command.form == "test":
            return _Reply(
                lines=[
                    f'+COPS: (2,"{self.config.operator}","{self.config.operator}","{self.config.operator_numeric}",2),,(0-4),(0-2)'
                ]
            )
        return _Reply()

    def _cfun(self, command: Command) -> _Reply:
        if command.form == "read":
            return _Reply(lines=[f"+CFUN: {self._radio}"])
        if command.form == "test":
            return _Reply(lines=["+CFUN: (0,1,4),(0-1)"])
        params = command.params
        mode = int(params[0] or "1")
        if mode not in (0, 1, 4):
            return _Reply(error=self._cme(50))
        if len(params) > 1 and params[1] == "1":
            return _Reply(power_cycle=True)
        self._radio = mode
        return _Reply()

    def _cnum(self, command: Command) -> _Reply:
        if self.config.own_number:
            return _Reply(lines=[f'+CNUM: "","{self.config.own_number}",145'])
        return _Reply()

    def _ok(self, command: Command) -> _Reply:
        return _Reply()

    def _clac(self, command: Command) -> _Reply:
        return _Reply(lines=sorted(n for n in _HANDLERS if n.startswith("+")))

    # --- SMS settings -----------------------------------------------------------------------------------

    def _cmgf(self, command: Command) -> _Reply:
        if command.form == "read":
            return _Reply(lines=[f"+CMGF: {int(self.settings.text_mode)}"])
        if command.form == "test":
            return _Reply(lines=["+CMGF: (0,1)"])
        value = command.params[0] if command.params else "0"
        if value not in ("0", "1"):
            return _Reply(error=self._cms(302))
        self.settings.text_mode = value == "1"
        return _Reply()

    def _cscs(self, command: Command) -> _Reply:
        if command.form == "read":
            return _Reply(lines=[f'+CSCS: "{self.settings.cscs}"'])
        if command.form == "test":
            return _Reply(lines=['+CSCS: ("GSM","IRA","UCS2")'])
        value = command.params[0].upper() if command.params else ""
        if value not in ("GSM", "IRA", "UCS2"):
            return _Reply(error=self._cme(4))
        self.settings.cscs = value
        return _Reply()

    def _csca(self, command: Command) -> _Reply:
        if command.form == "read":
            return _Reply(lines=[f'+CSCA: "{self.smsc}",{145 if self.smsc.startswith("+") else 129}'])
        if command.form == "test":
            return _Reply()
        if not command.params or not command.params[0]:
            return _Reply(error=self._cms(304))
        self.smsc = command.params[0]
        return _Reply()

    def _csms(self, command: Command) -> _Reply:
        if command.form == "read":
            return _Reply(lines=["+CSMS: 0,1,1,1"])
        if command.form == "test":
            return _Reply(lines=["+CSMS: (0,1)"])
        return _Reply(lines=["+CSMS: 1,1,1"])

    def _csmp(self, command: Command) -> _Reply:
        if command.form == "read":
            return _Reply(lines=[f"+CSMP: {self.settings.csmp_first_octet},167,0,0"])
        if command.params and command.params[0]:
            self.settings.csmp_first_octet = int(command.params[0])
        return _Reply()

    def _cpms(self, command: Command) -> _Reply:
        mems = self.settings.cpms
        if command.form == "read":
            parts = [f'"{m}",{self.memories[m].used},{self.memories[m].capacity}' for m in mems]
            return _Reply(lines=["+CPMS: " + ",".join(parts)])
        if command.form == "test":
            return _Reply(lines=['+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")'])
        wanted = [p.upper() for p in command.params]
        if not wanted or len(wanted) > 3:
            return _Reply(error=self._cms(302))
        allowed = (MEMORIES, ("SM", "ME"), ("SM", "ME"))
        chosen = list(mems)
        for position, memory in enumerate(wanted):
            if memory == "" and position > 0:
                continue
            if memory not in allowed[position] or self.memories[memory].capacity == 0:
                return _Reply(error=self._cms(302))
            chosen[position] = memory
        self.settings.cpms = (chosen[0], chosen[1], chosen[2])
        counts = [f"{self.memories[m].used},{self.memories[m].capacity}" for m in chosen]
        return _Reply(lines=["+CPMS: " + ",".join(counts)])

    def _cnmi(self, command: Command) -> _Reply:
        if command.form == "read":
            return _Reply(lines=["+CNMI: " + ",".join(map(str, self.settings.cnmi))])
        if command.form == "test":
            return _Reply(lines=["+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"])
        values = [int(p) if p else 0 for p in command.params]
        if not values or len(values) > 5:
            return _Reply(error=self._cms(303))
        values += list(self.settings.cnmi[len(values) :])
        limits = (2, 3, 2, 2, 1)
        if any(v < 0 or v > limit for v, limit in zip(values, limits, strict=True)) or values[2] == 1:
            return _Reply(error=self._cms(303))
        self.settings.cnmi = (values[0], values[1], values[2], values[3], values[4])
        return _Reply()

    def _cmms(self, command: Command) -> _Reply:
        if command.form == "read":
            return _Reply(lines=[f"+CMMS: {self.settings.cmms}"])
        if command.form == "test":
            return _Reply(lines=["+CMMS: (0-2)"])
        value = int(command.params[0]) if command.params and command.params[0] else 0
        if value not in (0, 1, 2):
            return _Reply(error=self._cms(302))
        self.settings.cmms = value
        return _Reply()

    # --- sending ----------------------------------------------------------------------------------------

    def _cmgs(self, command: Command) -> _Reply:
        if command.form == "test":
            return _Reply()
        if command.form != "set" or not command.params:
            return _Reply(error=self._cms(304))
        if self.settings.text_mode:
            recipient = command.params[0]
            if not recipient or not recipient.lstrip("+").isdigit():
                return _Reply(error=self._cms(305))
            return _Reply(prompt=_Prompt(0, recipient))
        length = int(command.params[0])
        if not 1 <= length <= tpdu.MAX_TPDU_OCTETS:
            return _Reply(error=self._cms(304))
        return _Reply(prompt=_Prompt(length, ""))

    def _end_prompt(self, submit: bool) -> list[Output]:
        prompt = self._prompt
        assert prompt is not None
        self._prompt = None
        if not submit:
            return [Emit(self._final("OK"))]
        self.faults.count("+CMGS", "pdu")
        timing = self.faults.plan.timing
        delay = timing.command + self.faults.latency_for("+CMGS", "pdu")
        fault = self.faults.error_for("+CMGS", "pdu")
        lines: list[str] = []
        if fault is not None:
            result = self._fault_error(fault.kind, fault.code)
        elif not self.registered:
            delay += timing.submit
            result = self._cms(331)
        else:
            try:
                part = self._accept_submit(prompt)
            except tpdu.PduError:
                result = self._cms(304)
            else:
                now = self.clock()
                if self.settings.cmms == 1 and 0 <= self._link_open_until <= now:
                    self.settings.cmms = 0  # mode 1 reverts once the link has closed
                link_kept = self.settings.cmms > 0 and now < self._link_open_until
                delay += timing.submit + (0.0 if link_kept else timing.link_setup)
                part = replace(part, at=now + delay, link_kept=link_kept)
                self._link_open_until = now + delay + timing.link_hold if self.settings.cmms else -1.0
                self.sent_parts.append(part)
                if timing.report_after is not None and part.status_report:
                    self._reports_due.append((part.at + timing.report_after, part.reference))
                lines = [f"+CMGS: {part.reference}"]
                result = "OK"
        response = self._info(lines) + self._final(result)
        return [Emit(self.faults.inject("+CMGS", "pdu", response), delay=delay)]

    def _accept_submit(self, prompt: _Prompt) -> SentPart:
        reference = self._next_reference
        if self.settings.text_mode:
            text = prompt.data.decode("utf-8", errors="replace")
            part = SentPart(
                reference=reference,
                recipient=prompt.recipient,
                text=text,
                alphabet=sms.encoding_of(text),
                status_report=bool(self.settings.csmp_first_octet & 0x20),
                concatenation=None,
                pdu="",
                at=0.0,
                link_kept=False,
            )
        else:
            hex_text = bytes(b for b in prompt.data if b not in b" \r\n\t").decode("latin-1")
            decoded = tpdu.decode_submit(hex_text, prompt.length)
            part = SentPart(
                reference=reference,
                recipient=decoded.recipient,
                text=decoded.text,
                alphabet=decoded.alphabet,
                status_report=decoded.status_report,
                concatenation=decoded.concatenation,
                pdu=hex_text.upper(),
                at=0.0,
                link_kept=False,
            )
        self._next_reference = (reference + 1) % 256
        return part

    # --- stored messages --------------------------------------------------------------------------------

    def _read_memory(self) -> Memory:
        return self.memories[self.settings.cpms[0]]

    def _format_stored(self, index: int | None, message: Stored) -> list[str]:
        head = "+CMGL: " if index is not None else "+CMGR: "
        prefix = f"{index}," if index is not None else ""
        if not self.settings.text_mode:
            return [f"{head}{prefix}{message.status},,{message.pdu.tpdu_length}", message.pdu.hex]
        status = f'"{STATUS_NAMES[message.status]}"'
        if message.kind == "report":
            return [
                f'{head}{prefix}{status},6,{message.reference},"{message.address}",145,'
                f'"{_scts(message.timestamp)}","{_scts(message.timestamp)}",{message.report_status}'
            ]
        return [f'{head}{prefix}{status},"{message.address}",,"{_scts(message.timestamp)}"', message.text]

    def _cmgl(self, command: Command) -> _Reply:
        if command.form == "test":
            return _Reply(
                lines=[
                    '+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")'
                    if self.settings.text_mode
                    else "+CMGL: (0-4)"
                ]
            )
        raw = command.params[0] if command.params else ("REC UNREAD" if self.settings.text_mode else "0")
        if self.settings.text_mode:
            names = (*STATUS_NAMES, "ALL")
            if raw.upper() not in names:
                return _Reply(error=self._cms(305))
            status = names.index(raw.upper())
        else:
            if not raw.isdigit() or int(raw) > 4:
                return _Reply(error=self._cms(304))
            status = int(raw)
        lines: list[str] = []
        found = self._read_memory().listing(status)
        for index, message in found:
            lines.extend(self._format_stored(index, message))
        Memory.mark_read([message for _, message in found])
        return _Reply(lines=lines)

    def _cmgr(self, command: Command) -> _Reply:
        if command.form == "test":
            return _Reply()
        index = int(command.params[0])
        message = self._read_memory().slots.get(index)
        if message is None:
            return _Reply(error=self._cms(321))
        lines = self._format_stored(None, message)
        Memory.mark_read([message])
        return _Reply(lines=lines)

    def _cmgd(self, command: Command) -> _Reply:
        memory = self._read_memory()
        if command.form == "test":
            used = ",".join(str(i) for i in sorted(memory.slots))
            return _Reply(lines=[f"+CMGD: ({used}),(0-4)"])
        params = command.params
        index = int(params[0]) if params and params[0] else memory.first_index
        flag = int(params[1]) if len(params) > 1 and params[1] else 0
        if flag not in range(5):
            return _Reply(error=self._cms(302))
        if flag == 0 and index not in memory.indices():
            return _Reply(error=self._cms(321))
        memory.delete(index, flag)
        return _Reply(follow=self._redeliver())

    # --- the network side: inbound SMS and status reports ----------------------------------------------

    def receive(
        self,
        sender: str,
        text: str,
        *,
        smsc: str | None = None,
        wide_reference: bool = False,
        order: tuple[int, ...] | None = None,
        during: str | None = None,
        offset: int = 0,
    ) -> tuple[Inbound, list[Output]]:
        """An SMS from ``sender`` reaches the modem: stored and announced, or handed over directly.

        ``order`` lists which parts arrive and in what order (1-based; leave one out to lose it). ``during``
        holds the announcement back and splices it, at ``offset``, into the next response to that command
        (``"+CMGS"`` puts it mid-send), instead of writing it at once.
        """
        reference = self._next_concat
        self._next_concat = (reference + 1) % (65536 if wide_reference else 256)
        parts = tpdu.deliver_parts(
            sender,
            text,
            smsc=smsc or self.smsc,
            timestamp=self.wallclock(),
            reference=reference,
            wide_reference=wide_reference,
        )
        pieces = tpdu.split_text(text, wide_reference=wide_reference)
        sequence = order or tuple(range(1, len(parts) + 1))
        if not all(1 <= number <= len(parts) for number in sequence):
            raise ValueError(f"the message has parts 1 to {len(parts)}, not {list(sequence)}")
        placed: list[str] = []
        announce = b""
        for number in sequence:
            stored = Stored(
                "deliver", UNREAD, parts[number - 1], sender, pieces[number - 1], self.wallclock()
            )
            where, urc = self._route_deliver(stored)
            placed.append(where)
            announce += urc
        inbound = Inbound(sender, text, tuple(parts[n - 1].hex for n in sequence), tuple(placed))
        self.received.append(inbound)
        return inbound, self._announce(announce, during, offset)

    def _announce(self, data: bytes, during: str | None, offset: int) -> list[Output]:
        if not data or not self.powered:
            return []
        if during is not None:
            phase: Phase = "command"
            name = during.upper()
            if name.endswith(":PDU"):
                name, phase = name[:-4], "pdu"
            self.faults.armed.append(Injection(Trigger(name, phase), data, offset))
            return []
        return [Emit(data, urgent=True)]

    def _route_deliver(self, stored: Stored) -> tuple[str, bytes]:
        if not self.powered:
            self.waiting_inbound.append(stored)  # the network keeps it until the modem is back
            return "waiting", b""
        mode, mt = self.settings.cnmi[0], self.settings.cnmi[1]
        if mt == 2 and mode != 0:
            if self.settings.text_mode:
                head = f'+CMT: "{stored.address}",,"{_scts(stored.timestamp)}"'
                return "direct", (f"\r\n{head}\r\n{stored.text}\r\n").encode()
            return "direct", (f"\r\n+CMT: ,{stored.pdu.tpdu_length}\r\n{stored.pdu.hex}\r\n").encode()
        memory_name = self.settings.cpms[2]
        index = self.memories[memory_name].store(stored)
        if index is None:
            self.waiting_inbound.append(stored)
            return "waiting", b""
        urc = _urc(f'+CMTI: "{memory_name}",{index}') if mt in (1, 2, 3) and mode != 0 else b""
        return f"{memory_name}:{index}", urc

    def _redeliver(self) -> list[bytes]:
        """A slot freed: the network retries what it could not deliver to a full memory."""
        urcs: list[bytes] = []
        while self.waiting_inbound and not self.memories[self.settings.cpms[2]].full:
            _, urc = self._route_deliver(self.waiting_inbound.pop(0))
            if urc:
                urcs.append(urc)
        return urcs

    def find_part(self, reference: int) -> SentPart:
        """The latest part the modem numbered ``reference`` (references wrap at 256)."""
        for part in reversed(self.sent_parts):
            if part.reference == reference:
                return part
        raise KeyError(f"no sent part has reference {reference}")

    def report(
        self, reference: int, status: int = 0, *, during: str | None = None, offset: int = 0
    ) -> list[Output]:
        """The network's status report for the part numbered ``reference``; TP-ST 0 delivered, 0x40+ failed."""
        part = self.find_part(reference)
        if not part.status_report:
            raise ReportNotRequested(f"part {reference} did not request a status report")
        now = self.wallclock()
        encoded = tpdu.encode_status_report(
            reference, part.recipient, status, smsc=self.smsc, submitted=now, discharged=now
        )
        stored = Stored("report", UNREAD, encoded, part.recipient, "", now, reference, status)
        if not self.powered:
            self.reports.append(Report(reference, status, "lost"))
            return []
        mode, ds = self.settings.cnmi[0], self.settings.cnmi[3]
        if ds == 1 and mode != 0:
            if self.settings.text_mode:
                line = f'+CDS: 6,{reference},"{part.recipient}",145,"{_scts(now)}","{_scts(now)}",{status}'
                data = _urc(line)
            else:
                data = f"\r\n+CDS: {encoded.tpdu_length}\r\n{encoded.hex}\r\n".encode()
            self.reports.append(Report(reference, status, "direct"))
            return self._announce(data, during, offset)
        index = self.memories["SR"].store(stored)
        if index is None:
            self.reports.append(Report(reference, status, "lost"))
            return []
        self.reports.append(Report(reference, status, f"SR:{index}"))
        if ds == 2 and mode != 0:
            return self._announce(_urc(f'+CDSI: "{self.profile.cdsi_memory}",{index}'), during, offset)
        return []

    def fill(self, memory: str) -> None:
        """Fill a memory with read messages (or old reports, for SR), as a site that never cleans up does."""
        target = self.memories[memory]
        now = self.wallclock()
        while not target.full:
            if memory == "SR":
                encoded = tpdu.encode_status_report(
                    0, "+520000000000", 0, smsc=self.smsc, submitted=now, discharged=now
                )
                target.store(Stored("report", 1, encoded, "+520000000000", "", now))
            else:
                part = tpdu.encode_deliver("+520000000000", "old", smsc=self.smsc, timestamp=now)
                target.store(Stored("deliver", 1, part, "+520000000000", "old", now))

    # --- USSD -------------------------------------------------------------------------------------------

    def _cusd(self, command: Command) -> _Reply:
        if command.form == "read":
            return _Reply(lines=["+CUSD: 1"])
        if command.form == "test":
            return _Reply(lines=["+CUSD: (0-2)"])
        params = command.params
        if not params or params[0] in ("0", "2") or len(params) < 2:
            return _Reply()
        if not self.registered:
            return _Reply(error=self._cme(30))
        code = _ussd_request(params[1])
        reply = self.config.ussd.get(code)
        if reply is None:
            answer = b"+CUSD: 4"
        elif self.config.ussd_encoding == "ucs2":
            answer = f'+CUSD: 0,"{reply.encode("utf-16-be").hex().upper()}",72'.encode()
        elif self.config.ussd_encoding == "gsm7":
            codes = tpdu.gsm7_encode(reply)
            if len(codes) % 8 == 7:
                codes.append(0x0D)  # TS 23.038 §6.1.2.3.1: seven spare bits are a CR, not an "@"
            answer = f'+CUSD: 0,"{tpdu.pack_septets(codes).hex().upper()}",15'.encode()
        elif self.settings.cscs == "UCS2":
            answer = f'+CUSD: 0,"{reply.encode("utf-16-be").hex().upper()}",15'.encode()
        else:
            # Decoded text goes out in the TE character set: GSM-7 codes for "GSM", so "ñ" is the byte 0x7D
            # and "é" 0x05, which is not UTF-8: a driver must not assume it is.
            body = (
                bytes(tpdu.gsm7_encode(reply))
                if self.settings.cscs == "GSM"
                else reply.encode("ascii", "replace")
            )
            answer = b'+CUSD: 0,"' + body + b'",15'
        return _Reply(after=[b"\r\n" + answer + b"\r\n"], after_delay=self.faults.plan.timing.ussd)

    # --- control surface for the shell ------------------------------------------------------------------

    def sent_messages(self) -> list[SentMessage]:
        """Sent parts grouped into messages, in the order their first part went out."""
        messages: list[list[SentPart]] = []
        open_groups: dict[tuple[str, int, int], list[SentPart]] = {}
        for part in self.sent_parts:
            concat = part.concatenation
            if concat is None:
                messages.append([part])
                continue
            key = (part.recipient, concat.reference, concat.total)
            group = open_groups.get(key)
            if group is None or any(p.concatenation == concat for p in group) or len(group) == concat.total:
                group = []
                open_groups[key] = group
                messages.append(group)
            group.append(part)
        return [
            SentMessage(
                group[0].recipient,
                tuple(sorted(group, key=lambda p: p.concatenation.sequence if p.concatenation else 0)),
            )
            for group in messages
        ]

    def inject(self, data: bytes) -> list[Output]:
        """Raw bytes from the modem right now: a URC, noise, or garbage."""
        return [Emit(data, urgent=True)] if self.powered else []


def _ussd_request(raw: str) -> str:
    """The USSD code, whether sent as text or (Huawei with ^USSDMODE=1) as packed GSM-7 in hex."""
    if raw and all(c in "0123456789ABCDEFabcdef" for c in raw) and len(raw) % 2 == 0 and not raw.isdigit():
        data = bytes.fromhex(raw)
        codes = tpdu.unpack_septets(data, len(data) * 8 // 7)
        return tpdu.gsm7_decode(codes).rstrip("\r@")
    return raw


Handler = Callable[[ModemEngine, Command], _Reply]
_HANDLERS: Final[dict[str, Handler]] = {
    "": ModemEngine._at,
    "E": ModemEngine._echo,
    "V": ModemEngine._verbose,
    "Z": ModemEngine._reset,
    "&F": ModemEngine._reset,
    "Q": ModemEngine._ok,
    "&C": ModemEngine._ok,
    "&D": ModemEngine._ok,
    "&K": ModemEngine._ok,
    "&W": ModemEngine._ok,
    "I": ModemEngine._information,
    "+CGMI": ModemEngine._identity,
    "+GMI": ModemEngine._identity,
    "+CGMM": ModemEngine._identity,
    "+GMM": ModemEngine._identity,
    "+CGMR": ModemEngine._identity,
    "+GMR": ModemEngine._identity,
    "+CGSN": ModemEngine._identity,
    "+GSN": ModemEngine._identity,
    "+CIMI": ModemEngine._identity,
    "+CMEE": ModemEngine._cmee,
    "+CPIN": ModemEngine._cpin,
    "+CSQ": ModemEngine._csq,
    "+CREG": ModemEngine._creg,
    "+CGREG": ModemEngine._creg,
    "+COPS": ModemEngine._cops,
    "+CFUN": ModemEngine._cfun,
    "+CNUM": ModemEngine._cnum,
    "+CLAC": ModemEngine._clac,
    "+IFC": ModemEngine._ok,
    "+CNMA": ModemEngine._ok,
    "+CMGF": ModemEngine._cmgf,
    "+CSCS": ModemEngine._cscs,
    "+CSCA": ModemEngine._csca,
    "+CSMS": ModemEngine._csms,
    "+CSMP": ModemEngine._csmp,
    "+CPMS": ModemEngine._cpms,
    "+CNMI": ModemEngine._cnmi,
    "+CMMS": ModemEngine._cmms,
    "+CMGS": ModemEngine._cmgs,
    "+CMGL": ModemEngine._cmgl,
    "+CMGR": ModemEngine._cmgr,
    "+CMGD": ModemEngine._cmgd,
    "+CUSD": ModemEngine._cusd,
}
