"""The SMS TPDUs a modem exchanges with its host (3GPP TS 23.040), written independently of ``gsmmodem.pdu``.

The simulator is the test bed for a driver that builds its PDUs with ``gsmmodem.pdu``; decoding them with the
same library would let its defects pass both sides unseen, so this module has its own, stricter codec:

- it decodes SMS-SUBMIT exactly: any octet too many or too few, a bad address digit, a reserved alphabet or a
  user-data length that disagrees with the data is a :class:`PduError` (the modem answers ``+CMS ERROR: 304``);
- UCS-2 is decoded as UTF-16, so an emoji sent as a surrogate pair comes back whole, and a pair split between
  two parts shows up as U+FFFD in each, as it would on a phone;
- it encodes SMS-DELIVER (GSM-7 or UCS-2, with 8- or 16-bit concatenation headers) and SMS-STATUS-REPORT.

GSM-7 (TS 23.038 §6.2.1) is kept as an ordered table here because the position of a character is its code;
``flows.sms`` knows which characters exist and how a text splits into parts, and that is reused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal

from flows import sms

Alphabet = Literal["gsm7", "8bit", "ucs2"]

# Code order of the basic table; index 0x1B is the escape to the extension table.
GSM7_TABLE: Final = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_ESCAPE: Final = 0x1B
GSM7_EXTENSION_TABLE: Final = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
_GSM7_CODE: Final = {char: code for code, char in enumerate(GSM7_TABLE) if code != GSM7_ESCAPE}
_GSM7_EXTENSION_CODE: Final = {char: code for code, char in GSM7_EXTENSION_TABLE.items()}

# Semi-octet digits of an address: 0-9, then *, #, a, b, c (TS 23.040 §9.1.2.3); 0xF is the filler.
_BCD_DIGITS: Final = "0123456789*#abc"

MAX_USER_DATA_OCTETS: Final = 140
MAX_TPDU_OCTETS: Final = 164  # first octet + MR + 12-octet address + PID + DCS + 7-octet VP + UDL + 140


class PduError(ValueError):
    """A PDU the modem cannot accept; the message says what is wrong with it."""


@dataclass(frozen=True)
class Concatenation:
    """The concatenation information element of a part: which message it belongs to and where it goes."""

    reference: int
    total: int
    sequence: int
    wide: bool = False  # 16-bit reference (IEI 0x08) rather than 8-bit (IEI 0x00)


@dataclass(frozen=True)
class Submit:
    """A decoded SMS-SUBMIT, as the driver wrote it."""

    smsc: str | None
    reference: int  # TP-MR written by the host; the modem assigns its own
    recipient: str
    status_report: bool  # TP-SRR
    reject_duplicates: bool
    validity: bytes  # the raw TP-VP octets, empty when absent
    protocol_id: int
    dcs: int
    alphabet: Alphabet
    concatenation: Concatenation | None
    user_data: bytes  # the payload after the header: octets for 8-bit and UCS-2, septet codes for GSM-7
    text: str
    tpdu_length: int


# --- GSM-7 ----------------------------------------------------------------------------------------------


def gsm7_encode(text: str) -> list[int]:
    """The septet codes of ``text``; a character GSM-7 cannot carry is an error, not a silent '?'."""
    codes: list[int] = []
    for char in text:
        if char in _GSM7_CODE:
            codes.append(_GSM7_CODE[char])
        elif char in _GSM7_EXTENSION_CODE:
            codes.extend((GSM7_ESCAPE, _GSM7_EXTENSION_CODE[char]))
        else:
            raise ValueError(f"{char!r} is not in the GSM-7 alphabet")
    return codes


def gsm7_decode(codes: list[int]) -> str:
    chars: list[str] = []
    escaped = False
    for code in codes:
        if escaped:
            # An unknown extension code shows as its basic-table character (TS 23.038 §6.2.1.1).
            chars.append(GSM7_EXTENSION_TABLE.get(code, GSM7_TABLE[code]))
            escaped = False
        elif code == GSM7_ESCAPE:
            escaped = True
        else:
            chars.append(GSM7_TABLE[code])
    if escaped:
        chars.append(" ")  # an escape at the very end is shown as a space by phones
    return "".join(chars)


def pack_septets(codes: list[int], offset_bits: int = 0) -> bytes:
    """Septets packed little-endian from bit ``offset_bits`` on; the bits before are left zero (fill bits)."""
    total_bits = offset_bits + 7 * len(codes)
    out = bytearray((total_bits + 7) // 8)
    for index, code in enumerate(codes):
        position = offset_bits + 7 * index
        value = code << (position % 8)
        out[position // 8] |= value & 0xFF
        if value > 0xFF:
            out[position // 8 + 1] |= value >> 8
    return bytes(out)


def unpack_septets(data: bytes, count: int, offset_bits: int = 0) -> list[int]:
    value = int.from_bytes(data, "little")
    return [(value >> (offset_bits + 7 * index)) & 0x7F for index in range(count)]


# --- addresses and timestamps ---------------------------------------------------------------------------


def _swap_nibbles(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    return bytes(int(digits[i + 1] + digits[i], 16) for i in range(0, len(digits), 2))


def encode_address(number: str) -> bytes:
    """TP-OA/TP-DA: international (+...), national digits, or an alphanumeric sender such as ``MTNBalance``."""
    if number.startswith("+") and number[1:].isdigit():
        digits = number[1:]
        return bytes((len(digits), 0x91)) + _swap_nibbles(digits)
    if number.isdigit():
        return bytes((len(number), 0x81)) + _swap_nibbles(number)
    if not number or len(number) > 11:
        raise ValueError(f"an alphanumeric sender has 1 to 11 characters, not {number!r}")
    codes = gsm7_encode(number)
    packed = pack_septets(codes)
    semi_octets = (len(codes) * 7 + 3) // 4
    return bytes((semi_octets, 0xD0)) + packed


def encode_smsc(number: str | None) -> bytes:
    """The SMSC field that precedes a TPDU; its length counts octets, not digits."""
    if not number:
        return b"\x00"
    address = encode_address(number)
    return bytes((len(address) - 1,)) + address[1:]


def _decode_digits(data: bytes, count: int) -> str:
    digits: list[str] = []
    for octet in data:
        for nibble in (octet & 0x0F, octet >> 4):
            if len(digits) == count:
                if nibble != 0x0F:
                    raise PduError("address filler nibble is not F")
                continue
            if nibble > 0x0E:
                raise PduError("address digit F inside the number")
            digits.append(_BCD_DIGITS[nibble])
    return "".join(digits)


def _decode_number(type_of_address: int, data: bytes, digit_count: int) -> str:
    if type_of_address & 0x80 == 0:
        raise PduError("type-of-address without its extension bit")
    ton = (type_of_address >> 4) & 0x07
    if ton == 0x05:
        return gsm7_decode(unpack_septets(data, digit_count * 4 // 7))
    digits = _decode_digits(data, digit_count)
    return "+" + digits if ton == 0x01 else digits


def encode_timestamp(moment: dt.datetime) -> bytes:
    """TP-SCTS: local time as swapped semi-octets and the UTC offset in quarter hours (bit 3 of the last digit is the sign)."""
    offset = moment.utcoffset() or dt.timedelta(0)
    quarters = int(abs(offset.total_seconds()) // 900)
    digits = moment.strftime("%y%m%d%H%M%S") + f"{quarters:02d}"
    encoded = bytearray(_swap_nibbles(digits))
    if offset < dt.timedelta(0):
        encoded[-1] |= 0x08
    return bytes(encoded)


# --- SMS-DELIVER and SMS-STATUS-REPORT ------------------------------------------------------------------


@dataclass(frozen=True)
class Encoded:
    """A PDU as a modem shows it: hex of SMSC field + TPDU, and the TPDU length its result codes quote."""

    hex: str
    tpdu_length: int


def _user_data(text: str, alphabet: Alphabet, concat: Concatenation | None) -> tuple[int, bytes]:
    header = b""
    if concat is not None:
        if concat.wide:
            header = bytes(
                (0x08, 4, concat.reference >> 8, concat.reference & 0xFF, concat.total, concat.sequence)
            )
        else:
            header = bytes((0x00, 3, concat.reference, concat.total, concat.sequence))
        header = bytes((len(header),)) + header
    if alphabet == "gsm7":
        codes = gsm7_encode(text)
        header_septets = (len(header) * 8 + 6) // 7
        packed = pack_septets(codes, header_septets * 7)
        return header_septets + len(codes), header + packed[len(header) :]
    payload = text.encode("utf-16-be") if alphabet == "ucs2" else text.encode("latin-1")
    return len(header) + len(payload), header + payload


def encode_deliver(
    sender: str,
    text: str,
    *,
    smsc: str | None,
    timestamp: dt.datetime,
    alphabet: Alphabet | None = None,
    concatenation: Concatenation | None = None,
) -> Encoded:
    """One SMS-DELIVER part carrying ``text`` (which must already fit one part)."""
    chosen: Alphabet = alphabet or ("gsm7" if sms.is_gsm7(text) else "ucs2")
    udl, ud = _user_data(text, chosen, concatenation)
    if len(ud) > MAX_USER_DATA_OCTETS:
        raise ValueError(f"{len(ud)} octets of user data do not fit one SMS")
    first = 0x04 | (0x40 if concatenation else 0)  # TP-MMS: no more messages waiting
    dcs = {"gsm7": 0x00, "8bit": 0x04, "ucs2": 0x08}[chosen]
    tpdu = (
        bytes((first,))
        + encode_address(sender)
        + bytes((0x00, dcs))
        + encode_timestamp(timestamp)
        + bytes((udl,))
        + ud
    )
    return Encoded((encode_smsc(smsc) + tpdu).hex().upper(), len(tpdu))


def deliver_parts(
    sender: str,
    text: str,
    *,
    smsc: str | None,
    timestamp: dt.datetime,
    reference: int,
    wide_reference: bool = False,
) -> list[Encoded]:
    """``text`` as the SMS-DELIVER parts a network hands a modem, split the way ``flows.sms`` counts them."""
    pieces = split_text(text, wide_reference=wide_reference)
    if len(pieces) == 1:
        return [encode_deliver(sender, text, smsc=smsc, timestamp=timestamp)]
    alphabet: Alphabet = "gsm7" if sms.is_gsm7(text) else "ucs2"
    return [
        encode_deliver(
            sender,
            piece,
            smsc=smsc,
            timestamp=timestamp,
            alphabet=alphabet,
            concatenation=Concatenation(reference, len(pieces), number, wide_reference),
        )
        for number, piece in enumerate(pieces, start=1)
    ]


def split_text(text: str, *, wide_reference: bool = False) -> list[str]:
    """The text of each part; with a 16-bit reference each part holds one unit less than ``flows.sms`` counts."""
    pieces = sms.split(text)
    if len(pieces) == 1 or not wide_reference:
        return pieces
    alphabet: Alphabet = "gsm7" if sms.is_gsm7(text) else "ucs2"
    return _split_units(text, alphabet, sms.GSM7_PART - 1 if alphabet == "gsm7" else sms.UCS2_PART - 1)


def _split_units(text: str, alphabet: Alphabet, per_part: int) -> list[str]:
    """Greedy split by units (septets or UTF-16 units) that never cuts an escape or a surrogate pair."""
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        cost = (sms.septets(char) or 1) if alphabet == "gsm7" else (2 if ord(char) > 0xFFFF else 1)
        if used + cost > per_part:
            pieces.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += cost
    pieces.append("".join(current))
    return pieces


def encode_status_report(
    reference: int,
    recipient: str,
    status: int,
    *,
    smsc: str | None,
    submitted: dt.datetime,
    discharged: dt.datetime,
) -> Encoded:
    """SMS-STATUS-REPORT for the part the modem acknowledged with ``+CMGS: <reference>``; TP-ST 0 = delivered."""
    first = 0x02 | 0x04  # MTI status report, TP-MMS
    tpdu = (
        bytes((first, reference & 0xFF))
        + encode_address(recipient)
        + encode_timestamp(submitted)
        + encode_timestamp(discharged)
        + bytes((status,))
    )
    return Encoded((encode_smsc(smsc) + tpdu).hex().upper(), len(tpdu))


# --- SMS-SUBMIT -----------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def take(self, count: int, what: str) -> bytes:
        if self.position + count > len(self.data):
            raise PduError(f"PDU ends inside {what}")
        chunk = self.data[self.position : self.position + count]
        self.position += count
        return chunk

    def octet(self, what: str) -> int:
        return self.take(1, what)[0]


def _alphabet(dcs: int) -> Alphabet:
    group = dcs >> 4
    if group <= 0x07:  # general data coding (bits 7..6 = 00 or 01)
        if dcs & 0x20:
            raise PduError("compressed user data is not supported")
        code = (dcs >> 2) & 0x03
        if code == 0x03:
            raise PduError(f"reserved alphabet in DCS {dcs:02X}")
        return ("gsm7", "8bit", "ucs2")[code]
    if group in (0x0C, 0x0D):
        return "gsm7"
    if group == 0x0E:
        return "ucs2"
    if group == 0x0F:
        return "8bit" if dcs & 0x04 else "gsm7"
    raise PduError(f"reserved coding group in DCS {dcs:02X}")


def _concatenation(header: bytes) -> Concatenation | None:
    found: Concatenation | None = None
    position = 0
    while position < len(header):
        if position + 2 > len(header):
            raise PduError("user data header ends inside an element")
        iei, length = header[position], header[position + 1]
        body = header[position + 2 : position + 2 + length]
        if len(body) != length:
            raise PduError("user data header element runs past the header")
        if iei == 0x00 and length == 3:
            found = Concatenation(body[0], body[1], body[2])
        elif iei == 0x08 and length == 4:
            found = Concatenation((body[0] << 8) | body[1], body[2], body[3], wide=True)
        elif iei in (0x00, 0x08):
            raise PduError("concatenation element of the wrong length")
        position += 2 + length
    if found is not None and not 1 <= found.sequence <= found.total:
        raise PduError(f"part {found.sequence} of {found.total}")
    return found


def decode_submit(pdu_hex: str, tpdu_length: int) -> Submit:
    """Decode what the host wrote after ``AT+CMGS=<tpdu_length>``; raises :class:`PduError` for anything off."""
    try:
        data = bytes.fromhex(pdu_hex)
    except ValueError as exc:
        raise PduError("PDU is not hexadecimal") from exc
    if not data:
        raise PduError("empty PDU")
    smsc_length = data[0]
    if smsc_length > 11 or len(data) < 1 + smsc_length:
        raise PduError("SMSC field longer than the PDU allows")
    smsc: str | None = None
    if smsc_length:
        field = data[1 : 1 + smsc_length]
        smsc = _decode_number(
            field[0], field[1:], (smsc_length - 1) * 2 - (1 if field[-1] >> 4 == 0x0F else 0)
        )
    tpdu = data[1 + smsc_length :]
    if len(tpdu) != tpdu_length:
        raise PduError(f"AT+CMGS said {tpdu_length} octets, the TPDU has {len(tpdu)}")
    reader = _Reader(tpdu)
    first = reader.octet("the first octet")
    if first & 0x03 != 0x01:
        raise PduError(f"not an SMS-SUBMIT (first octet {first:02X})")
    reference = reader.octet("TP-MR")
    digits = reader.octet("TP-DA length")
    if digits > 20:
        raise PduError(f"destination of {digits} digits")
    type_of_address = reader.octet("TP-DA type")
    recipient = _decode_number(type_of_address, reader.take((digits + 1) // 2, "TP-DA"), digits)
    if not recipient:
        raise PduError("empty destination address")
    protocol_id = reader.octet("TP-PID")
    dcs = reader.octet("TP-DCS")
    alphabet = _alphabet(dcs)
    validity_format = (first >> 3) & 0x03
    validity = reader.take({0: 0, 1: 7, 2: 1, 3: 7}[validity_format], "TP-VP")
    udl = reader.octet("TP-UDL")
    if alphabet == "gsm7":
        if udl > 160:
            raise PduError(f"TP-UDL of {udl} septets")
        octets = (udl * 7 + 7) // 8
    else:
        if udl > MAX_USER_DATA_OCTETS:
            raise PduError(f"TP-UDL of {udl} octets")
        octets = udl
    ud = reader.take(octets, "the user data")
    if reader.position != len(tpdu):
        raise PduError(f"{len(tpdu) - reader.position} octets after the user data")
    header = b""
    if first & 0x40:
        if not ud or ud[0] + 1 > len(ud):
            raise PduError("user data header longer than the user data")
        header = ud[1 : 1 + ud[0]]
    concatenation = _concatenation(header)
    header_octets = len(header) + 1 if first & 0x40 else 0
    if alphabet == "gsm7":
        header_septets = (header_octets * 8 + 6) // 7
        if header_septets > udl:
            raise PduError("user data header longer than TP-UDL")
        codes = unpack_septets(ud, udl - header_septets, header_septets * 7)
        payload = bytes(codes)
        text = gsm7_decode(codes)
    else:
        payload = ud[header_octets:]
        if alphabet == "ucs2":
            if len(payload) % 2:
                raise PduError("UCS-2 user data of an odd number of octets")
            text = payload.decode("utf-16-be", errors="replace")
        else:
            text = payload.decode("latin-1")
    return Submit(
        smsc=smsc,
        reference=reference,
        recipient=recipient,
        status_report=bool(first & 0x20),
        reject_duplicates=bool(first & 0x04),
        validity=validity,
        protocol_id=protocol_id,
        dcs=dcs,
        alphabet=alphabet,
        concatenation=concatenation,
        user_data=payload,
        text=text,
        tpdu_length=tpdu_length,
    )
