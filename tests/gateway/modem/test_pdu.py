"""The guarded PDU codec: agreement with gsmmodem.pdu where it is right, and each place it is not."""

from __future__ import annotations

import datetime as dt

import pytest
from gsmmodem import pdu as gsmpdu
from hypothesis import given, settings
from hypothesis import strategies as st

from flows import sms
from gateway import pdu
from gateway.simulator import tpdu

TO = "+5215512345678"


def text_of(hex_pdu: str) -> str:
    decoded = pdu.decode(hex_pdu)
    assert not isinstance(decoded, pdu.StatusReport)
    return decoded.text


NOW = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=-6)))


@pytest.mark.parametrize(
    "text",
    ["Hola, ¿cómo está?", "x" * 160, "Cita el lunes {10:00} " * 12, "Привет " * 30, "ü" + "á" * 69],
)
def test_byte_identical_to_gsmmodem_where_gsmmodem_is_right(text: str) -> None:
    theirs = [str(p) for p in gsmpdu.encodeSmsSubmitPdu(TO, text, reference=9, requestStatusReport=True)]
    ours = pdu.encode_submit(TO, text, concat_reference=9, message_reference=9, status_report=True)
    assert [p.pdu for p in ours] == theirs


def test_emoji_that_gsmmodem_cannot_encode() -> None:
    text = "Felicidades 🎉 por tu bebé 👶"
    with pytest.raises(ValueError, match="byte must be in range"):
        gsmpdu.encodeSmsSubmitPdu(TO, text)
    [part] = pdu.encode_submit(TO, text)
    decoded = pdu.decode(part.pdu)
    assert isinstance(decoded, pdu.Submit)
    assert decoded.text == text
    assert decoded.alphabet == "ucs2"


def test_emoji_never_split_and_parts_match_billing() -> None:
    text = "a" + "😀" * 70  # 141 UTF-16 units: a pair would straddle the 67-unit boundary
    parts = pdu.encode_submit(TO, text, concat_reference=200)
    assert len(parts) == sms.size(text).segments == 3
    assert [p.text for p in parts] == sms.split(text)
    assert "".join(p.text for p in parts) == text
    for number, part in enumerate(parts, start=1):
        decoded = pdu.decode(part.pdu)
        assert isinstance(decoded, pdu.Submit)
        assert decoded.concat == pdu.Concat(200, 3, number)
        assert decoded.text.encode("utf-8")  # never a lone surrogate


def test_gsm7_characters_gsmmodem_gets_wrong() -> None:
    """gsmmodem has a backquote for § (0x5F) and cannot encode or decode form feed (escape 0x0A)."""
    text = "§ 5 \f fin"
    assert sms.is_gsm7(text)
    with pytest.raises(ValueError, match="GSM-7"):
        gsmpdu.encodeGsm7("§")
    [part] = pdu.encode_submit(TO, text)
    assert text_of(part.pdu) == text
    # An independent decoder (the virtual modem's) reads the same text from our bytes.
    assert tpdu.decode_submit(part.pdu, part.tpdu_length).text == text


def test_status_report_only_when_asked() -> None:
    [plain] = pdu.encode_submit(TO, "hola")
    [asked] = pdu.encode_submit(TO, "hola", status_report=True)
    assert not pdu.decode(plain.pdu).status_report  # type: ignore[union-attr]
    assert pdu.decode(asked.pdu).status_report  # type: ignore[union-attr]


@pytest.mark.parametrize("number", ["", "+", "55 1234", "+52-55", "abc", "1" * 21, "+" + "1" * 21])
def test_bad_numbers(number: str) -> None:
    with pytest.raises(pdu.PduError, match="phone number"):
        pdu.encode_submit(number, "hola")


def test_limits() -> None:
    with pytest.raises(pdu.PduError, match="255"):
        pdu.encode_submit(TO, "x" * 153 * 256)
    with pytest.raises(pdu.PduError, match="0-255"):
        pdu.encode_submit(TO, "x", concat_reference=256)
    with pytest.raises(pdu.PduError, match="0-255"):
        pdu.encode_submit(TO, "x", message_reference=-1)
    [empty] = pdu.encode_submit(TO, "")
    assert text_of(empty.pdu) == ""


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("text", ["Sí 😀 gracias", "x" * 300, "{[]}" * 60, "á" * 150])
def test_deliver_from_the_network(text: str, wide: bool) -> None:
    parts = tpdu.deliver_parts(
        "+5215599887766",
        text,
        smsc="+5294100001410",
        timestamp=NOW,
        reference=300 if wide else 30,
        wide_reference=wide,
    )
    decoded = [pdu.decode(p.hex) for p in parts]
    assert all(isinstance(d, pdu.Deliver) for d in decoded)
    assert (
        "".join(text_of(p.hex) for p in parts) == text
    )  # 16-bit references in GSM-7 too, which gsmmodem misreads
    first = decoded[0]
    assert isinstance(first, pdu.Deliver)
    assert first.sender == "+5215599887766"
    assert first.sent_at == NOW
    if len(parts) > 1:
        assert first.concat == pdu.Concat(300 if wide else 30, len(parts), 1)


def test_eight_bit_data_with_a_message_class() -> None:
    """DCS 0xF4 (8-bit, class 0) which gsmmodem decodes as GSM-7."""
    [part] = tpdu.deliver_parts("+5215599887766", "ABC", smsc=None, timestamp=NOW, reference=0)
    data = bytearray.fromhex(part.hex)
    # Layout: SMSC 00 | first | OA len 0D, TOA, 7 octets | PID | DCS | SCTS 7 | UDL | UD
    dcs_at = 1 + 1 + 2 + 7 + 1
    data[dcs_at] = 0xF4
    ud_at = dcs_at + 1 + 7
    data[ud_at:] = bytes([3]) + b"ABC"
    decoded = pdu.decode(data.hex())
    assert decoded.alphabet == "8bit"  # type: ignore[union-attr]
    assert decoded.text == "ABC"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("status", "outcome"), [(0, "delivered"), (0x20, "pending"), (0x41, "failed"), (0x60, "failed")]
)
def test_status_reports(status: int, outcome: str) -> None:
    encoded = tpdu.encode_status_report(77, TO, status, smsc="+5294100001410", submitted=NOW, discharged=NOW)
    report = pdu.decode(encoded.hex)
    assert isinstance(report, pdu.StatusReport)
    assert (report.reference, report.recipient, report.status, report.outcome) == (77, TO, status, outcome)


@pytest.mark.parametrize(
    ("hex_pdu", "message"),
    [
        ("", "hexadecimal"),
        ("0", "hexadecimal"),
        ("zz", "hexadecimal"),
        ("00", "first octet"),
        ("0003", "reserved"),
        ("0001000D91", "ends before"),
        ("07915892000000F0040B915121551532F400001110113152140A0AE832", "ends before its user data"),
        ("0001000B915121551532F40000A1E8", "more than an SMS holds"),
    ],
)
def test_malformed_pdus_are_refused_clearly(hex_pdu: str, message: str) -> None:
    with pytest.raises(pdu.PduError, match=message):
        pdu.decode(hex_pdu)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=180))
def test_random_bytes_only_ever_raise_pdu_error(data: bytes) -> None:
    outcome: object
    try:
        outcome = pdu.decode(data.hex())
    except pdu.PduError as error:
        outcome = error
    assert isinstance(outcome, pdu.PduError | pdu.Deliver | pdu.Submit | pdu.StatusReport)
    if not isinstance(outcome, pdu.PduError | pdu.StatusReport):
        outcome.text.encode("utf-8")  # whatever decodes can be stored and sent on


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3), st.data())
def test_truncated_pdus_are_refused(text: str, data: st.DataObject) -> None:
    [part] = tpdu.deliver_parts("+5215599887766", text or "a", smsc=None, timestamp=NOW, reference=0)
    cut = data.draw(st.integers(1, len(part.hex) // 2 - 1))
    with pytest.raises(pdu.PduError):
        pdu.decode(part.hex[: cut * 2])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.integers(0, 255))
def test_any_text_round_trips(text: str, reference: int) -> None:
    parts = pdu.encode_submit(TO, text, concat_reference=reference)
    assert len(parts) == sms.size(text).segments
    assert "".join(text_of(p.pdu) for p in parts) == text
    assert all(p.tpdu_length <= 164 for p in parts)
    # and an independent decoder agrees, part by part
    assert [tpdu.decode_submit(p.pdu, p.tpdu_length).text for p in parts] == [p.text for p in parts]


@pytest.mark.parametrize(
    ("text", "dcs", "expected"),
    [
        ("Saldo: 42.50 MXN", 15, "Saldo: 42.50 MXN"),
        ("Saldo $10".encode("utf-16-be").hex().upper(), 72, "Saldo $10"),
        ("Señal".encode("utf-16-be").hex().upper(), 15, "Señal"),
        (tpdu.pack_septets(tpdu.gsm7_encode("Tu saldo es 5")).hex().upper(), 15, "Tu saldo es 5"),
        ("1234", 15, "1234"),
        ("0031003200330034", 15, "1234"),
    ],
)
def test_ussd_answers(text: str, dcs: int, expected: str) -> None:
    assert pdu.decode_ussd(text, dcs) == expected
