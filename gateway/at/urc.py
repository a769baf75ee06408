"""Unsolicited result codes: which lines are URCs, which carry a PDU line, and what the useful ones say.

A line is a URC by its prefix, wherever it arrives: between commands, in the middle of another command's
response, or between ``> `` and the final result of ``AT+CMGS``. The one exception is a command that asks for
the same prefix (``AT+CREG?`` answers ``+CREG: 0,1``): then the line is that command's response.
Huawei's ``^`` lines are always URCs; so is anything unknown that arrives while no command is running.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

# Prefixes whose line is followed by one PDU line that belongs to the URC (27.005 §3.4.1, PDU mode).
WITH_PDU: Final = ("+CMT:", "+CDS:", "+CBM:")

# Prefixes (or whole lines) that are unsolicited on the modems recado meets.
PREFIXES: Final = (
    *WITH_PDU,
    "+CMTI:",
    "+CDSI:",
    "+CBMI:",
    "+CREG:",
    "+CGREG:",
    "+CEREG:",
    "+CUSD:",
    "+CIEV:",
    "+CRING:",
    "+CLIP:",
    "+CPIN:",
    "+CFUN:",
    "+QIND:",  # Quectel
    "+QUSIM:",  # Quectel
    "+WIND:",  # Wavecom / Sierra
    "+CPMS:",  # some SIMCom firmwares report storage on boot
    "+PBREADY",
    "+CSQN:",
    "^",  # every Huawei status line: ^RSSI, ^BOOT, ^MODE, ^SRVST, ^SIMST, ^HCSQ, ^DSFLOWRPT...
)
WHOLE_LINES: Final = frozenset(
    {
        "RING",
        "RDY",  # Quectel, SIMCom: powered up
        "Call Ready",  # SIMCom
        "SMS Ready",  # SIMCom, Quectel
        "NORMAL POWER DOWN",
        "UNDER-VOLTAGE POWER DOWN",
        "UNDER-VOLTAGE WARNNING",
        "OVER-VOLTAGE WARNNING",
    }
)


def prefix_of(line: str) -> str:
    """``"+CMTI"`` for ``+CMTI: "SM",3``, ``"^RSSI"`` for ``^RSSI:18``, the whole line otherwise."""
    head = line.split(":", 1)[0]
    return head.strip()


def is_urc(line: str, expected: str | None = None) -> bool:
    """Whether ``line`` is unsolicited while a command that answers with prefix ``expected`` runs."""
    if expected is not None and prefix_of(line) == expected:
        return False
    if line in WHOLE_LINES:
        return True
    return line.startswith(PREFIXES)


def carries_pdu(line: str) -> bool:
    return line.startswith(WITH_PDU)


@dataclass(frozen=True)
class Urc:
    """One unsolicited result. ``name`` is its prefix (``+CMTI``, ``^RSSI``, ``SMS Ready``), ``args`` what
    follows the colon, ``pdu`` the hex line that came with ``+CMT``/``+CDS`` (None when it never came)."""

    name: str
    args: str
    line: str
    pdu: str | None = None


def make_urc(line: str, pdu: str | None = None) -> Urc:
    name = prefix_of(line)
    args = line.split(":", 1)[1].strip() if ":" in line else ""
    return Urc(name, args, line, pdu)


_QUOTED = re.compile(r'"([^"]*)"')


def _fields(args: str) -> list[str]:
    """Comma-separated fields with quotes removed (no field recado reads contains a comma)."""
    return [field.strip().strip('"') for field in args.split(",")]


@dataclass(frozen=True)
class StoredAt:
    """Where ``+CMTI``/``+CDSI`` says a message was stored."""

    memory: str
    index: int


def stored_at(urc: Urc) -> StoredAt | None:
    """``+CMTI: "SM",3`` → SM 3. None when the line is malformed (the periodic sweep will find it)."""
    fields = _fields(urc.args)
    if len(fields) < 2 or not fields[1].isdigit():
        return None
    memory = fields[0].upper() or "SM"
    return StoredAt(memory, int(fields[1]))


def registration(urc: Urc) -> int | None:
    """The ``<stat>`` of a ``+CREG`` URC (``+CREG: 1``, or ``+CREG: 1,"00C3","1234"`` with ``+CREG=2``)."""
    fields = _fields(urc.args)
    return int(fields[0]) if fields and fields[0].isdigit() else None


def huawei_rssi(urc: Urc) -> int | None:
    """``^RSSI:18`` → 18 (the +CSQ scale)."""
    value = urc.args.strip()
    return int(value) if value.isdigit() else None


@dataclass(frozen=True)
class UssdReply:
    """A ``+CUSD: <m>[,<str>,<dcs>]`` answer; ``text`` still encoded as the modem sent it."""

    status: int  # 0 no action needed, 1 further action, 2 terminated by network, 3 other client, 4 not supported, 5 timeout
    text: str | None
    dcs: int | None


def ussd_reply(urc: Urc) -> UssdReply | None:
    head, _, rest = urc.args.partition(",")
    if not head.strip().isdigit():
        return None
    match = _QUOTED.search(rest)
    text = match.group(1) if match else None
    tail = rest[match.end() :] if match else rest
    dcs_field = tail.strip().lstrip(",").strip()
    dcs = int(dcs_field) if dcs_field.isdigit() else None
    return UssdReply(int(head), text, dcs)
