"""SMS PDUs (3GPP TS 23.040) for the modem driver: python-gsmmodem-new's ``gsmmodem.pdu``, guarded.

What ``gsmmodem.pdu`` gets wrong, and what this module does about it (``reference/modems.md`` §2.3):

- ``encodeUcs2`` takes ``ord()`` of each character, so any character outside the BMP (most emoji) raises,
  and ``divideTextUcs2`` counts characters, not UTF-16 units, so it would split a surrogate pair across
  parts. recado encodes UCS-2 as UTF-16 itself and splits with :func:`flows.sms.split`, which counts units
  and never splits a pair; a received emoji arrives as two lone surrogates and is joined here.
- Its GSM-7 table has a backquote where the standard has ``§`` (0x5F), and its escape table maps form feed
  (escape 0x0A) to an int where every other entry is a str, so form feed can be neither encoded nor
  decoded. The entry is corrected once at import; both characters are mapped in and out here.
- ``_decodeDataCoding`` only knows coding group 00xx: 8-bit data with a message class (DCS 0xF4) decodes
  as GSM-7 garbage. The DCS is normalised to group 00 before decoding.
- It reads with iterators and raises whatever the input provokes (``StopIteration``, ``IndexError``,
  ``ValueError``...), and it accepts truncated user data. :func:`decode` checks the structure first and turns
  every failure into :class:`PduError`.
- It sets TP-SRR on every submit; here a status report is requested only when asked for.

Every PDU built here is decoded back with ``gsmmodem.pdu.decodeSmsPdu`` and compared with what was meant
before it is handed to a modem ("validated both ways").

Part splitting and the GSM-7/UCS-2 choice come from :mod:`flows.sms`, so the parts a message is billed for
are the parts that go on the air.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Literal

from gsmmodem import pdu as gsmpdu

from flows import sms

# Correct gsmmodem's escape-table entry for form feed (a str like its siblings); U+00FF stands for it.
gsmpdu.GSM7_EXTENDED[chr(0xFF)] = chr(0x0A)

MAX_PARTS = 255
_NUMBER = re.compile(r"^\+?[0-9]{1,20}$")
_HEX = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")
_CONCAT_8BIT = 0x00

Alphabet = Literal["gsm7", "8bit", "ucs2"]


class PduError(ValueError):
    """A PDU that cannot be built or read; the message says what is wrong with it."""


@dataclass(frozen=True)
class Concat:
    reference: int
    total: int
    number: int


@dataclass(frozen=True)
class SubmitPart:
    """One SMS-SUBMIT ready for ``AT+CMGS=<tpdu_length>`` followed by ``pdu``."""

    pdu: str  # hex, upper case, with the empty SMSC field (00) in front
    tpdu_length: int
    text: str
    number: int  # 1-based
    total: int


@dataclass(frozen=True)
class Deliver:
    """An SMS-DELIVER: a message a phone sent to the modem."""

    sender: str
    text: str
    alphabet: Alphabet
    smsc: str | None
    sent_at: dt.datetime | None  # the SMSC timestamp, with the sender network's UTC offset
    concat: Concat | None


@dataclass(frozen=True)
class Submit:
    """An SMS-SUBMIT read back (from a modem's outbox memory, or a PDU recado built)."""

    recipient: str
    text: str
    alphabet: Alphabet
    reference: int
    concat: Concat | None
    status_report: bool


@dataclass(frozen=True)
class StatusReport:
    """An SMS-STATUS-REPORT: what became of the submit whose TP-MR is ``reference``."""

    reference: int
    recipient: str
    status: int  # TP-ST, 3GPP TS 23.040 §9.2.3.15
    sent_at: dt.datetime | None
    done_at: dt.datetime | None

    @property
    def outcome(self) -> Literal["delivered", "pending", "failed"]:
        if self.status < 0x20:
            return "delivered"
        if self.status < 0x40:
            return "pending"  # temporary error, the SMSC is still trying
        return "failed"


Decoded = Deliver | Submit | StatusReport


# --- encoding ---------------------------------------------------------------------------------------------


def _gsm7_septets(text: str) -> bytearray:
    """Unpacked GSM-7 codes of ``text`` (which :func:`flows.sms.is_gsm7` accepted)."""
    try:
        return bytearray(gsmpdu.encodeGsm7(text.replace("§", "`").replace("\f", chr(0xFF))))
    except (ValueError, TypeError) as error:
        raise PduError(f"cannot encode {text!r} in GSM-7: {error}") from error


def _address(number: str) -> bytes:
    if not _NUMBER.match(number):
        raise PduError(f"not a phone number: {number!r} (digits with an optional leading +)")
    digits = number.lstrip("+")
    type_of_address = 0x91 if number.startswith("+") else 0x81
    return bytes([len(digits), type_of_address]) + bytes(gsmpdu.encodeSemiOctets(digits))


def _concat_header(reference: int, total: int, number: int) -> bytes:
    ie = bytes([_CONCAT_8BIT, 3, reference, total, number])
    return bytes([len(ie)]) + ie


def _user_data(text: str, alphabet: Alphabet, header: bytes) -> tuple[int, bytes]:
    """TP-UDL and TP-UD for one part; ``header`` is the UDH with its length octet, or empty."""
    if alphabet == "ucs2":
        body = text.encode("utf-16-be")
        return len(header) + len(body), header + body
    codes = _gsm7_septets(text)
    if not header:
        return len(codes), bytes(gsmpdu.packSeptets(codes))
    # Fill bits make the text start on a septet boundary after the header (23.040 §9.2.3.24).
    fill = (7 - (len(header) * 8) % 7) % 7
    header_septets = (len(header) * 8 + fill) // 7
    packed = gsmpdu.packSeptets(codes, padBits=(len(header) * 8) % 7)
    return header_septets + len(codes), header + bytes(packed)


def encode_submit(
    recipient: str,
    text: str,
    *,
    concat_reference: int = 0,
    message_reference: int = 0,
    status_report: bool = False,
) -> list[SubmitPart]:
    """The SMS-SUBMIT PDUs for ``text`` to ``recipient``, one per part, each checked by decoding it back.

    ``concat_reference`` (0-255, the 8-bit header every phone reads; the 16-bit one would cost a septet of
    text per part and change the split :mod:`flows.sms` bills for) ties the parts together; a modem must not
    reuse it while parts of an earlier message to the same recipient may still be reassembled, so the
    driver keeps one counter per modem. Raises :class:`PduError` for a bad number, a text too long for 255 parts, or a PDU that does not
    decode to what was meant.
    """
    if not 0 <= concat_reference <= 0xFF:
        raise PduError(f"concatenation reference {concat_reference} is outside 0-255")
    if not 0 <= message_reference <= 0xFF:
        raise PduError(f"message reference {message_reference} is outside 0-255")
    address = _address(recipient)
    alphabet: Alphabet = "gsm7" if sms.is_gsm7(text) else "ucs2"
    texts = sms.split(text)
    total = len(texts)
    if total > MAX_PARTS:
        raise PduError(f"text needs {total} parts; a concatenated SMS has at most {MAX_PARTS}")
    dcs = 0x08 if alphabet == "ucs2" else 0x00
    parts = []
    for number, part_text in enumerate(texts, start=1):
        header = _concat_header(concat_reference, total, number) if total > 1 else b""
        first = 0x01 | (0x20 if status_report else 0) | (0x40 if header else 0)
        udl, ud = _user_data(part_text, alphabet, header)
        tpdu = bytes([first, message_reference]) + address + bytes([0x00, dcs, udl]) + ud
        hex_pdu = ("00" + tpdu.hex()).upper()
        part = SubmitPart(hex_pdu, len(tpdu), part_text, number, total)
        _check_submit(part, recipient, concat_reference, status_report)
        parts.append(part)
    return parts


def _check_submit(part: SubmitPart, recipient: str, reference: int, status_report: bool) -> None:
    decoded = decode(part.pdu)
    expected_concat = Concat(reference, part.total, part.number) if part.total > 1 else None
    if (
        not isinstance(decoded, Submit)
        or decoded.recipient != recipient
        or decoded.text != part.text
        or decoded.concat != expected_concat
        or decoded.status_report != status_report
    ):
        raise PduError(f"part {part.number} of a message to {recipient} does not decode to what was encoded")


# --- decoding ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Where the fields of a TPDU are, found before gsmmodem is trusted with it."""

    kind: Literal["deliver", "submit", "status"]
    dcs_offset: int | None
    alphabet: Alphabet
    end: int  # one past the last octet the PDU declares
    ud_offset: int = 0
    udl: int = 0
    header: bool = False


def _alphabet(dcs: int) -> Alphabet:
    """Character set of a TP-DCS (3GPP TS 23.038 §4); reserved values read as GSM-7, as the spec says."""
    group = dcs >> 4
    if group <= 0x7:  # general data coding, with or without compression/auto-delete
        if dcs & 0x20:
            raise PduError(f"compressed user data (DCS {dcs:02X}) is not supported")
        return ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 0x03]
    if group == 0xE:  # message waiting, UCS-2 text
        return "ucs2"
    if group == 0xF:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"  # 1100/1101 message waiting (GSM-7) and reserved groups


def _need(data: bytes, end: int, what: str) -> None:
    if end > len(data):
        raise PduError(f"PDU ends before its {what} (needs {end} octets, has {len(data)})")


def _layout(data: bytes) -> _Layout:
    _need(data, 1, "SMSC length")
    position = 1 + data[0]
    _need(data, position + 1, "first octet")
    first = data[position]
    mti = first & 0x03
    position += 1
    if mti == 0x02:
        position += 1  # TP-MR
        _need(data, position + 1, "recipient address")
        position += 2 + (data[position] + 1) // 2
        position += 14  # TP-SCTS, TP-DT
        _need(data, position + 1, "status")
        return _Layout("status", None, "gsm7", position + 1)
    if mti == 0x03:
        raise PduError("reserved message type (TP-MTI 3)")
    kind: Literal["deliver", "submit"] = "deliver" if mti == 0x00 else "submit"
    if kind == "submit":
        position += 1  # TP-MR
    _need(data, position + 1, "address")
    if data[position] > 20:
        raise PduError(f"address of {data[position]} digits (at most 20)")
    position += 2 + (data[position] + 1) // 2
    _need(data, position + 2, "PID and DCS")
    dcs_offset = position + 1
    alphabet = _alphabet(data[dcs_offset])
    position += 2
    if kind == "deliver":
        position += 7  # TP-SCTS
    else:
        position += {0: 0, 1: 7, 2: 1, 3: 7}[(first >> 3) & 0x03]  # TP-VP by TP-VPF
    _need(data, position + 1, "user data length")
    udl = data[position]
    position += 1
    length = (udl * 7 + 7) // 8 if alphabet == "gsm7" else udl
    if udl > (160 if alphabet == "gsm7" else 140):
        raise PduError(f"user data length {udl} is more than an SMS holds")
    if first & 0x40:
        _need(data, position + 1, "user data header")
        header_length = data[position]
        if header_length + 1 > length:
            raise PduError("user data header longer than the user data")
    _need(data, position + length, "user data")
    return _Layout(kind, dcs_offset, alphabet, position + length, position, udl, bool(first & 0x40))


def _timestamp(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    offset = value.utcoffset()
    return value.replace(tzinfo=dt.timezone(offset)) if offset is not None else value


def _concat(udh: Any) -> Concat | None:
    for element in udh or ():
        if isinstance(element, gsmpdu.Concatenation) and hasattr(element, "reference"):
            return Concat(int(element.reference), int(element.parts), int(element.number))
    return None


def _fix_text(raw: Any, alphabet: Alphabet) -> str:
    text = str(raw or "")
    if alphabet == "gsm7":
        return text.replace("`", "§").replace(chr(0xFF), "\f")
    if alphabet == "ucs2":
        # gsmmodem yields one character per UTF-16 unit: join surrogate pairs, replace lone halves.
        return text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace")
    return text


def _gsm7_after_header(data: bytes, layout: _Layout) -> str:
    """GSM-7 text after a user data header, which gsmmodem misreads when the header needs no fill bits
    (a 16-bit concatenation reference): unpack every septet of the user data and skip the header's."""
    user_data = data[layout.ud_offset : layout.end]
    header_septets = ((user_data[0] + 1) * 8 + 6) // 7
    septets = gsmpdu.unpackSeptets(bytearray(user_data), layout.udl)[header_septets : layout.udl]
    return str(gsmpdu.decodeGsm7(septets))


def decode(pdu: str) -> Decoded:
    """Read a PDU as a modem lists it (``+CMGL``/``+CMGR``/``+CMT``/``+CDS``: SMSC field first).

    Raises :class:`PduError` for anything malformed; never anything else."""
    pdu = pdu.strip()
    if not _HEX.match(pdu):
        raise PduError("a PDU is an even number of hexadecimal digits")
    data = bytearray.fromhex(pdu)
    layout = _layout(bytes(data))
    data = data[: layout.end]
    if layout.dcs_offset is not None:
        data[layout.dcs_offset] = {"gsm7": 0x00, "8bit": 0x04, "ucs2": 0x08}[layout.alphabet]
    try:
        fields = gsmpdu.decodeSmsPdu(data)
        return _typed(fields, layout, data)
    except PduError:
        raise
    except Exception as error:  # gsmmodem raises whatever the input provokes
        raise PduError(f"malformed PDU: {type(error).__name__}: {error}") from error


def _typed(fields: dict[str, Any], layout: _Layout, data: bytearray) -> Decoded:
    number = str(fields.get("number") or "")
    if layout.kind == "status":
        return StatusReport(
            reference=int(fields["reference"]),
            recipient=number,
            status=int(fields["status"]),
            sent_at=_timestamp(fields.get("time")),
            done_at=_timestamp(fields.get("discharge")),
        )
    raw_text = fields.get("text")
    if layout.alphabet == "gsm7" and layout.header:
        raw_text = _gsm7_after_header(bytes(data), layout)
    text = _fix_text(raw_text, layout.alphabet)
    concat = _concat(fields.get("udh"))
    if layout.kind == "submit":
        first = data[1 + data[0]]
        return Submit(number, text, layout.alphabet, int(fields["reference"]), concat, bool(first & 0x20))
    return Deliver(number, text, layout.alphabet, fields.get("smsc"), _timestamp(fields.get("time")), concat)


# --- USSD answers -----------------------------------------------------------------------------------------

_UCS2_DCS = frozenset({0x08, 0x11, 0x48, 0x18, 0x19})  # 23.038 §5: UCS-2 in every group that has it


def _printable(text: str) -> bool:
    return bool(text) and all(c.isprintable() or c in "\r\n" for c in text)


def decode_ussd(text: str, dcs: int | None) -> str:
    """The words of a ``+CUSD`` answer, however the modem chose to present them.

    Modems hand over USSD text three ways: already decoded into the TE character set, as UCS-2 in hex
    (DCS 72, or any DCS when ``AT+CSCS="UCS2"``), or, on Huawei sticks, as packed GSM-7 septets in hex.
    Hex is only trusted when it decodes to printable text; otherwise the string is taken as it came."""
    is_hex = len(text) >= 4 and len(text) % 2 == 0 and bool(_HEX.match(text))
    if is_hex and (dcs in _UCS2_DCS or len(text) % 4 == 0):
        try:
            candidate = bytes.fromhex(text).decode("utf-16-be")
        except UnicodeDecodeError:
            candidate = ""
        # Without a UCS-2 DCS, hex that reads as a few CJK characters is more likely digits or packed GSM-7.
        latin = sum(ord(c) < 0x250 for c in candidate)
        if _printable(candidate) and (dcs in _UCS2_DCS or latin * 2 >= len(candidate)):
            return candidate
    if is_hex and dcs not in _UCS2_DCS and not text.isdigit():
        data = bytearray.fromhex(text)
        septets = gsmpdu.unpackSeptets(data, len(data) * 8 // 7)
        try:
            candidate = _fix_text(gsmpdu.decodeGsm7(septets), "gsm7").rstrip("\r@")
        except (IndexError, StopIteration):
            candidate = ""
        if _printable(candidate):
            return candidate
    return text
