"""The simulator's own TPDU codec, checked against gsmmodem.pdu where that library is right."""

from __future__ import annotations

import datetime as dt

import pytest
from gsmmodem.pdu import decodeSmsPdu, encodeSmsSubmitPdu

from gateway.simulator import tpdu
from tests.gateway.simulator.conftest import utf16_units

WHEN = dt.datetime(2027, 3, 1, 9, 30, 5, tzinfo=dt.timezone(dt.timedelta(hours=-6)))


@pytest.mark.parametrize(
    "text",
    ["hola", "", "Cita: {lunes} [9:00] ~ 100€ §", "x" * 161, "ñandú á" * 30, "🤰🏽 bebé " * 20, "a€" * 100],
)
def test_deliver_parts_decode_with_gsmmodem(text: str) -> None:
    parts = tpdu.deliver_parts("+5215512345678", text, smsc="+5294100001410", timestamp=WHEN, reference=200)
    decoded = [decodeSmsPdu(part.hex) for part in parts]
    assert [d["tpdu_length"] for d in decoded] == [p.tpdu_length for p in parts]
    assert all(d["number"] == "+5215512345678" and d["time"] == WHEN for d in decoded)
    joined = "".join(d["text"] for d in decoded)
    if "§" in text:
        joined = joined.replace("`", "§")  # gsmmodem's table has "`" where GSM-7 has "§" (0x5F)
    assert joined.encode("utf-16", "surrogatepass").decode("utf-16") == text
    if len(parts) > 1:
        assert [(d["udh"][0].reference, d["udh"][0].parts, d["udh"][0].number) for d in decoded] == [
            (200, len(parts), n) for n in range(1, len(parts) + 1)
        ]


def test_sixteen_bit_reference_parts_fit_and_keep_every_character() -> None:
    text = "x" * 300 + "{"
    parts = tpdu.deliver_parts(
        "+5215512345678", text, smsc=None, timestamp=WHEN, reference=700, wide_reference=True
    )
    texts: list[str] = []
    for part in parts:
        data = bytes.fromhex(part.hex)[1:]  # no SMSC
        udl_at = 1 + 2 + 7 + 1 + 1 + 7  # first octet, OA (13 digits), PID, DCS, SCTS
        udl, ud = data[udl_at], data[udl_at + 1 :]
        assert ud[:7] == bytes((6, 0x08, 4, 700 >> 8, 700 & 0xFF, len(parts), len(texts) + 1))
        assert udl <= 160
        texts.append(tpdu.gsm7_decode(tpdu.unpack_septets(ud, udl - 8, 56)))
    assert "".join(texts) == text
    assert len(parts) == 2


def test_alphanumeric_sender() -> None:
    assert (
        decodeSmsPdu(tpdu.encode_deliver("MTNBalance", "hi", smsc=None, timestamp=WHEN).hex)["number"]
        == "MTNBalance"
    )
    with pytest.raises(ValueError, match="alphanumeric"):
        tpdu.encode_address("A sender too long")


def test_status_report_decodes_with_gsmmodem() -> None:
    report = tpdu.encode_status_report(
        77, "+5215512345678", 0x46, smsc="+5294100001410", submitted=WHEN, discharged=WHEN
    )
    decoded = decodeSmsPdu(report.hex)
    assert (decoded["type"], decoded["reference"], decoded["status"], decoded["tpdu_length"]) == (
        "SMS-STATUS-REPORT",
        77,
        0x46,
        report.tpdu_length,
    )


@pytest.mark.parametrize("text", ["hola", "x" * 400, "Привет мир " * 20, "emoji 😀 " * 15])
def test_submit_decodes_what_gsmmodem_encodes(text: str) -> None:
    pdus = encodeSmsSubmitPdu("5512345678", utf16_units(text), reference=9, requestStatusReport=False)
    decoded = [tpdu.decode_submit(str(p), p.tpduLength) for p in pdus]
    assert all(d.recipient == "5512345678" and not d.status_report for d in decoded)
    assert "".join(d.text for d in decoded) == text or len(pdus) > 1
    if len(pdus) > 1:
        assert [d.concatenation for d in decoded] == [
            tpdu.Concatenation(9, len(pdus), n) for n in range(1, len(pdus) + 1)
        ]


def test_a_surrogate_pair_split_between_parts_shows_as_replacement_characters() -> None:
    text = "a" * 66 + "😀" + "b" * 10  # gsmmodem counts characters, so the pair straddles parts 1 and 2
    pdus = encodeSmsSubmitPdu("5512345678", utf16_units(text))
    decoded = [tpdu.decode_submit(str(p), p.tpduLength) for p in pdus]
    assert decoded[0].text.endswith("\ufffd")
    assert decoded[1].text.startswith("\ufffd")


GOOD = str(encodeSmsSubmitPdu("+5215512345678", "hola")[0])


@pytest.mark.parametrize(
    ("pdu", "length", "message"),
    [
        (GOOD, 19, "said 19"),
        ("", 0, "empty"),
        ("0C" + GOOD[2:], 18, "SMSC"),
        ("00210015" + GOOD[8:], 18, "21 digits"),
        (GOOD[:10] + "F" + GOOD[11:], 18, "digit F"),
        ("0021000D11" + GOOD[10:], 18, "extension bit"),
        (GOOD[:-2], 17, "ends inside"),
        ("0021000D91255115325476F8000004E8373B0G", 18, "hexadecimal"),
        ("0061000D91255115325476F8000004" + "05000302" + "0101", 20, "after the user data"),
        ("0061000D91255115325476F8000808" + "0500030201020041", 22, "part 2 of 1"),
        ("0061000D91255115325476F8000806" + "04000302" + "0141", 20, "wrong length|runs past|ends"),
        ("0021000D91255115325476F80008" + "8D" + "00" * 141, 155, "TP-UDL"),
        ("0021000D91255115325476F80020" + "04E8373B0C", 18, "compressed"),
        ("0021000D91255115325476F80080" + "04E8373B0C", 18, "reserved coding group"),
    ],
)
def test_hostile_submits_are_refused(pdu: str, length: int, message: str) -> None:
    with pytest.raises(tpdu.PduError, match=message):
        tpdu.decode_submit(pdu, length)


def test_pack_unpack_round_trip_at_every_offset() -> None:
    codes = tpdu.gsm7_encode("Hola [mundo] €")
    for offset in range(0, 14):
        assert tpdu.unpack_septets(tpdu.pack_septets(codes, offset), len(codes), offset) == codes
