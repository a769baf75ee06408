"""The 27.005/27.007 dialogue, byte for byte, over the simulator's real pty with pyserial."""

from __future__ import annotations

import re
from functools import partial

import pytest
from gsmmodem.pdu import decodeGsm7, decodeSmsPdu, encodeSmsSubmitPdu, unpackSeptets

from gateway.simulator import FaultPlan, ModemConfig, Timing, VirtualModem
from gateway.simulator.profiles import HUAWEI, QUECTEL
from tests.gateway.simulator.conftest import ModemFactory, Port, utf16_units

RECIPIENT = "+5215512345678"


def submit(port: Port, text: str, recipient: str = RECIPIENT, **kwargs: bool | int) -> list[bytes]:
    """Send every part of ``text`` the way a PDU-mode driver does; returns each part's final response."""
    replies = []
    for pdu in encodeSmsSubmitPdu(recipient, utf16_units(text), **kwargs):
        assert port.command(f"AT+CMGS={pdu.tpduLength}\r") == b"\r\n> "
        replies.append(port.command(str(pdu).encode() + b"\x1a"))
    return replies


def test_echo_is_on_after_power_up_and_follows_ate(start_modem: ModemFactory) -> None:
    _, port = start_modem(echo=True)
    assert port.command("AT\r") == b"AT\r\r\nOK\r\n"
    assert port.command("ATE0\r") == b"ATE0\r\r\nOK\r\n"  # the command itself is still echoed
    assert port.command("AT\r") == b"\r\nOK\r\n"
    assert port.command("ATE1\r") == b"\r\nOK\r\n"
    assert port.command("at+cgmi\r") == b"at+cgmi\r\r\nrecado\r\n\r\nOK\r\n"
    assert port.command("ATZ\r") == b"ATZ\r\r\nOK\r\n"  # ATZ restores echo on


def test_identity_and_network_queries(start_modem: ModemFactory) -> None:
    _, port = start_modem(ModemConfig(profile=QUECTEL))
    assert port.command("AT+CGMI;+CGMM\r") == b"\r\nQuectel\r\n\r\nEC25\r\n\r\nOK\r\n"
    assert port.command("AT+CGSN\r") == b"\r\n356938035643809\r\n\r\nOK\r\n"
    assert port.command("AT+CIMI\r") == b"\r\n334020123456789\r\n\r\nOK\r\n"
    assert port.command("AT+QCCID\r") == b"\r\n+QCCID: 8952020123456789012\r\n\r\nOK\r\n"
    assert port.command("AT+CSQ\r") == b"\r\n+CSQ: 18,99\r\n\r\nOK\r\n"
    assert port.command("AT+CREG?;+CGREG?\r") == b"\r\n+CREG: 0,1\r\n\r\n+CGREG: 0,1\r\n\r\nOK\r\n"
    assert port.command("AT+COPS?\r") == b'\r\n+COPS: 0,0,"TELCEL",2\r\n\r\nOK\r\n'
    assert port.command("AT+CSCA?\r") == b'\r\n+CSCA: "+5294100001410",145\r\n\r\nOK\r\n'
    assert port.command("AT+CMGF=0\r") == b"\r\nOK\r\n"
    assert port.command("AT+CMGF?\r") == b"\r\n+CMGF: 0\r\n\r\nOK\r\n"


def test_errors_follow_cmee(start_modem: ModemFactory) -> None:
    _, port = start_modem()
    assert port.command("AT+NOSUCH\r") == b"\r\nERROR\r\n"
    assert port.command("AT+CMGR=7\r") == b"\r\nERROR\r\n"  # CMEE=0: plain ERROR for everything
    assert port.command("AT+CMEE=1\r") == b"\r\nOK\r\n"
    assert port.command("AT+CMGR=7\r") == b"\r\n+CMS ERROR: 321\r\n"
    assert port.command("AT+CPIN=1234\r") == b"\r\n+CME ERROR: 3\r\n"  # no PIN is wanted
    assert port.command("AT+CMEE=2\r") == b"\r\nOK\r\n"
    assert port.command("AT+CMGR=7\r") == b"\r\n+CMS ERROR: invalid memory index\r\n"
    assert port.command("AT+CMEE=9\r") == b"\r\n+CME ERROR: incorrect parameters\r\n"
    assert port.command('AT+CPMS="XX"\r') == b"\r\n+CMS ERROR: operation not allowed\r\n"
    # An error stops the rest of a command line, as V.250 says.
    assert port.command("AT+NOSUCH;+CGMI\r") == b"\r\nERROR\r\n"


def test_huawei_says_command_not_support(start_modem: ModemFactory) -> None:
    _, port = start_modem(ModemConfig(profile=HUAWEI), FaultPlan(noise_interval=0))
    assert port.command("AT+NOSUCH\r") == b"\r\nCOMMAND NOT SUPPORT\r\n"
    assert port.command("AT^ICCID?\r") == b"\r\n^ICCID: 8952020123456789012\r\n\r\nOK\r\n"


def test_pdu_submit_gets_incrementing_references_and_is_decoded(start_modem: ModemFactory) -> None:
    modem, port = start_modem(ModemConfig(first_reference=254))
    replies = submit(port, "Hola María, su cita es mañana 😀")
    replies += submit(port, "x" * 200, reference=9)
    assert replies == [
        b"\r\n+CMGS: 254\r\n\r\nOK\r\n",
        b"\r\n+CMGS: 255\r\n\r\nOK\r\n",
        b"\r\n+CMGS: 0\r\n\r\nOK\r\n",  # references wrap from 255 to 0
    ]
    first, second = modem.modem.sent
    assert (first.recipient, first.text, first.references) == (
        RECIPIENT,
        "Hola María, su cita es mañana 😀",
        (254,),
    )
    assert first.parts[0].alphabet == "ucs2"
    assert second.text == "x" * 200
    assert second.references == (255, 0)
    assert second.complete
    assert [p.concatenation.sequence for p in second.parts if p.concatenation] == [1, 2]


@pytest.mark.parametrize(
    ("announced", "pdu", "why"),
    [
        (None, None, "length one more than the TPDU"),
        (-1, None, "length one less than the TPDU"),
        (0, "0021000D91255115325476F800000", "odd number of hex digits"),
        (0, "0021000D91255115325476F8000005E8373B0C", "user data length says 5 septets, data holds 4"),
        (0, "0022000D91255115325476F8000004E8373B0C", "not an SMS-SUBMIT (MTI 2)"),
        (0, "0021000D91255115325476F8000C04E8373B0C", "reserved alphabet"),
        (0, "0021000D91255115325476F8000004E8373B0C00", "an octet after the user data"),
        (0, "ZZ21000D91255115325476F8000004E8373B0C", "not hexadecimal"),
    ],
)
def test_a_bad_pdu_is_cms_304_and_consumes_no_reference(
    start_modem: ModemFactory, announced: int | None, pdu: str | None, why: str
) -> None:
    modem, port = start_modem(ModemConfig(first_reference=7))
    assert port.command("AT+CMEE=1\r") == b"\r\nOK\r\n"
    good = encodeSmsSubmitPdu(RECIPIENT, "hola")[0]
    hex_pdu = pdu or str(good)
    length = good.tpduLength + (1 if announced is None else announced)
    assert port.command(f"AT+CMGS={length}\r") == b"\r\n> "
    assert port.command(hex_pdu.encode() + b"\x1a") == b"\r\n+CMS ERROR: 304\r\n", why
    assert submit(port, "hola") == [b"\r\n+CMGS: 7\r\n\r\nOK\r\n"]
    assert len(modem.modem.sent) == 1


def test_cmgs_length_out_of_range_is_refused_before_the_prompt(start_modem: ModemFactory) -> None:
    _, port = start_modem()
    assert port.command("AT+CMEE=1\r") == b"\r\nOK\r\n"
    assert port.command("AT+CMGS=0\r") == b"\r\n+CMS ERROR: 304\r\n"
    assert port.command("AT+CMGS=200\r") == b"\r\n+CMS ERROR: 304\r\n"
    assert port.command('AT+CMGS="+5215512345678"\r') == b"\r\n+CMS ERROR: 304\r\n"


def test_escape_cancels_the_prompt(start_modem: ModemFactory) -> None:
    modem, port = start_modem()
    assert port.command("AT+CMGS=18\r") == b"\r\n> "
    assert port.command(b"0021000D91\x1b") == b"\r\nOK\r\n"
    assert port.command("AT\r") == b"\r\nOK\r\n"
    assert modem.modem.sent == []


def test_cmti_routing_stores_and_announces(start_modem: ModemFactory) -> None:
    modem, port = start_modem()
    assert port.command('AT+CPMS="ME","ME","ME"\r') == b"\r\n+CPMS: 0,100,0,100,0,100\r\n\r\nOK\r\n"
    assert port.command("AT+CNMI=2,1,0,0,0\r") == b"\r\nOK\r\n"
    inbound = modem.call(lambda m: m.receive_sms("+5215599998888", "Sí, gracias"))
    assert inbound.placed == ("ME:1",)
    assert port.read_until(b'+CMTI: "ME",1\r\n') == b'\r\n+CMTI: "ME",1\r\n'
    reply = port.command("AT+CMGR=1\r")
    header, pdu = re.match(rb"\r\n\+CMGR: 0,,(\d+)\r\n([0-9A-F]+)\r\n\r\nOK\r\n", reply).groups()  # type: ignore[union-attr]
    decoded = decodeSmsPdu(pdu.decode())
    assert (decoded["number"], decoded["text"], decoded["tpdu_length"]) == (
        "+5215599998888",
        "Sí, gracias",
        int(header),
    )
    assert port.command("AT+CMGR=1\r").startswith(b"\r\n+CMGR: 1,,")  # now read


def test_cmt_routing_hands_the_pdu_over_without_storing(start_modem: ModemFactory) -> None:
    modem, port = start_modem()
    assert port.command("AT+CNMI=2,2,0,0,0\r") == b"\r\nOK\r\n"
    modem.call(lambda m: m.receive_sms("+5215599998888", "hola"))
    urc = port.read_until(b"\r\n") + port.read_until(b"\r\n") + port.read_until(b"\r\n")
    length, pdu = re.match(rb"\r\n\+CMT: ,(\d+)\r\n([0-9A-F]+)\r\n", urc).groups()  # type: ignore[union-attr]
    assert decodeSmsPdu(pdu.decode())["text"] == "hola"
    assert int(length) == decodeSmsPdu(pdu.decode())["tpdu_length"]
    assert port.command("AT+CPMS?\r") == b'\r\n+CPMS: "SM",0,30,"SM",0,30,"SM",0,30\r\n\r\nOK\r\n'


def test_cnmi_mt0_stores_silently(start_modem: ModemFactory) -> None:
    modem, port = start_modem()
    assert port.command("AT+CNMI=2,0,0,0,0\r") == b"\r\nOK\r\n"
    modem.call(lambda m: m.receive_sms("+5215599998888", "hola"))
    assert port.pending() == b""
    assert port.command("AT+CPMS?\r").startswith(b'\r\n+CPMS: "SM",1,30')


def test_multipart_inbound_with_emoji_lists_as_concatenated_parts(start_modem: ModemFactory) -> None:
    modem, port = start_modem()
    text = "Recordatorio 🤰 " * 12  # UCS-2 with surrogate pairs, 3 parts
    inbound = modem.call(lambda m: m.receive_sms("+5215599998888", text))
    assert len(inbound.parts) == 3
    for _ in range(3):
        port.read_until(b"\r\n+CMTI")
    listing = port.command("AT+CMGL=4\r")
    entries = re.findall(rb"\+CMGL: (\d+),0,,(\d+)\r\n([0-9A-F]+)\r\n", listing)
    assert [int(i) for i, _, _ in entries] == [1, 2, 3]
    raw = b"".join(bytes.fromhex(pdu.decode())[-int(length) :] for _, length, pdu in entries)
    assert raw  # every part is there, each a full TPDU of the announced length
    payloads = []
    for _, _, pdu in entries:
        decoded = decodeSmsPdu(pdu.decode())
        concat = decoded["udh"][0]
        payloads.append((concat.number, concat.parts, decoded["text"]))
    assert [(n, t) for n, t, _ in payloads] == [(1, 3), (2, 3), (3, 3)]
    # gsmmodem leaves surrogate pairs apart; joined back they are the text sent, emoji whole in each part.
    joined = "".join(text for _, _, text in payloads).encode("utf-16", "surrogatepass").decode("utf-16")
    assert joined == text
    assert port.command("AT+CMGL=4\r").count(b"+CMGL: ") == 3  # listing marks read, deletes nothing
    assert port.command("AT+CMGL=0\r") == b"\r\nOK\r\n"  # no unread left


def test_cmgd_single_and_delflags(start_modem: ModemFactory) -> None:
    modem, port = start_modem()
    assert port.command("AT+CNMI=2,0,0,0,0;+CMEE=1\r") == b"\r\nOK\r\n"
    for text in ("uno", "dos", "tres", "cuatro"):
        modem.call(partial(VirtualModem.receive_sms, sender="+5215599998888", text=text))
    assert port.command("AT+CMGR=2\r").startswith(b"\r\n+CMGR: 0,,")  # 2 is now read
    assert port.command("AT+CMGD=1\r") == b"\r\nOK\r\n"
    assert port.command("AT+CMGD=?\r") == b"\r\n+CMGD: (2,3,4),(0-4)\r\n\r\nOK\r\n"
    assert port.command("AT+CMGD=1,1\r") == b"\r\nOK\r\n"  # all read ones: index 2
    assert port.command("AT+CMGD=?\r") == b"\r\n+CMGD: (3,4),(0-4)\r\n\r\nOK\r\n"
    assert port.command("AT+CMGD=99\r") == b"\r\n+CMS ERROR: 321\r\n"
    assert port.command("AT+CMGD=1,4\r") == b"\r\nOK\r\n"
    assert port.command("AT+CPMS?\r").startswith(b'\r\n+CPMS: "SM",0,30')


def test_cpms_test_read_and_set(start_modem: ModemFactory) -> None:
    _, port = start_modem()
    assert port.command("AT+CPMS=?\r") == b'\r\n+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")\r\n\r\nOK\r\n'
    assert port.command('AT+CPMS="SR"\r') == b"\r\n+CPMS: 0,10,0,30,0,30\r\n\r\nOK\r\n"
    assert port.command("AT+CPMS?\r") == b'\r\n+CPMS: "SR",0,10,"SM",0,30,"SM",0,30\r\n\r\nOK\r\n'
    assert port.command('AT+CPMS="SM","SR"\r') == b"\r\nERROR\r\n"  # SR holds reports only


def test_delivery_reports_cds_direct_and_cdsi_stored(start_modem: ModemFactory) -> None:
    modem, port = start_modem(ModemConfig(first_reference=40))
    assert port.command("AT+CNMI=2,1,0,1,0\r") == b"\r\nOK\r\n"
    submit(port, "uno")
    modem.call(lambda m: m.report(40, 0))
    urc = port.read_until(b"\r\n") + port.read_until(b"\r\n") + port.read_until(b"\r\n")
    length, pdu = re.match(rb"\r\n\+CDS: (\d+)\r\n([0-9A-F]+)\r\n", urc).groups()  # type: ignore[union-attr]
    report = decodeSmsPdu(pdu.decode())
    assert (report["type"], report["reference"], report["status"], report["number"]) == (
        "SMS-STATUS-REPORT",
        40,
        0,
        RECIPIENT,
    )
    assert int(length) == report["tpdu_length"]

    assert port.command("AT+CNMI=2,1,0,2,0\r") == b"\r\nOK\r\n"
    submit(port, "dos " * 50)  # two parts: 41 and 42
    message = modem.modem.sent[-1]
    reports = modem.call(lambda m: m.report_message(message, 0x45))
    assert [r.placed for r in reports] == ["SR:1", "SR:2"]
    assert port.read_until(b'+CDSI: "SR",2\r\n') == b'\r\n+CDSI: "SR",1\r\n\r\n+CDSI: "SR",2\r\n'
    assert port.command('AT+CPMS="SR"\r') == b"\r\n+CPMS: 2,10,0,30,0,30\r\n\r\nOK\r\n"
    listing = port.command("AT+CMGL=4\r")
    stored = [decodeSmsPdu(p.decode()) for p in re.findall(rb"\r\n([0-9A-F]{20,})", listing)]
    assert [(r["reference"], r["status"]) for r in stored] == [(41, 0x45), (42, 0x45)]


def test_quectel_announces_status_reports_in_the_wrong_memory(start_modem: ModemFactory) -> None:
    modem, port = start_modem(ModemConfig(profile=QUECTEL, first_reference=3))
    assert port.command("AT+CNMI=2,1,0,2,0\r") == b"\r\nOK\r\n"
    submit(port, "hola")
    modem.call(lambda m: m.report(3))
    assert port.read_until(b"\r\n+CDSI: ") + port.read_until(b"\r\n") == b'\r\n+CDSI: "SM",0\r\n'
    assert port.command("AT+CMEE=1;+CMGR=0\r") == b"\r\n+CMS ERROR: 321\r\n"  # SM 0 is empty: it is in SR
    assert port.command('AT+CPMS="SR";+CMGR=0\r').startswith(b"\r\n+CPMS: 1,10,0,30,0,30\r\n\r\n+CMGR: 0,,")


def test_a_part_without_srr_gets_no_report(start_modem: ModemFactory) -> None:
    modem, port = start_modem(ModemConfig(first_reference=0))
    submit(port, "hola", requestStatusReport=False)
    with pytest.raises(ValueError, match="did not request"):
        modem.call(lambda m: m.report(0))


def test_sim_pin(start_modem: ModemFactory) -> None:
    _, port = start_modem(ModemConfig(pin="1234"))
    assert port.command("AT+CMEE=1;+CPIN?\r") == b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    assert port.command("AT+CIMI\r") == b"\r\n+CME ERROR: 11\r\n"
    assert port.command("AT+CMGL=4\r") == b"\r\n+CMS ERROR: 311\r\n"
    assert port.command('AT+CPIN="0000"\r') == b"\r\n+CME ERROR: 16\r\n"
    assert port.command('AT+CPIN="1234"\r') == b"\r\nOK\r\n"
    assert port.command("AT+CPIN?\r") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"
    assert port.command("AT+CIMI\r") == b"\r\n334020123456789\r\n\r\nOK\r\n"


def test_three_wrong_pins_lock_the_sim_until_the_puk(start_modem: ModemFactory) -> None:
    _, port = start_modem(ModemConfig(pin="1234"))
    assert port.command("AT+CMEE=1\r") == b"\r\nOK\r\n"
    for _ in range(3):
        assert port.command('AT+CPIN="9999"\r') == b"\r\n+CME ERROR: 16\r\n"
    assert port.command("AT+CPIN?\r") == b"\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n"
    assert port.command('AT+CPIN="1234"\r') == b"\r\n+CME ERROR: 16\r\n"
    assert port.command("AT+CIMI\r") == b"\r\n+CME ERROR: 12\r\n"
    assert port.command('AT+CPIN="12345678","4321"\r') == b"\r\nOK\r\n"
    assert port.command("AT+CPIN?\r") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"


def test_no_network_then_registration(start_modem: ModemFactory) -> None:
    modem, port = start_modem(faults=FaultPlan(register_after=0.3))
    assert port.command("AT+CMEE=1;+CREG=1;+CREG?\r") == b"\r\n+CREG: 1,2\r\n\r\nOK\r\n"
    assert port.command("AT+COPS?\r") == b"\r\n+COPS: 0\r\n\r\nOK\r\n"
    pdu = encodeSmsSubmitPdu(RECIPIENT, "hola")[0]
    assert port.command(f"AT+CMGS={pdu.tpduLength}\r") == b"\r\n> "
    assert port.command(str(pdu).encode() + b"\x1a") == b"\r\n+CMS ERROR: 331\r\n"
    assert port.read_until(b"+CREG: 1\r\n").endswith(b"\r\n+CREG: 1\r\n")  # the URC when it registers
    assert port.command("AT+CREG?\r") == b"\r\n+CREG: 1,1\r\n\r\nOK\r\n"
    modem.call(lambda m: m.set_registration(3))  # registration denied, forced from outside
    assert port.read_until(b"+CREG: 3\r\n").endswith(b"\r\n+CREG: 3\r\n")


def test_cmms(start_modem: ModemFactory) -> None:
    modem, port = start_modem(faults=FaultPlan(timing=Timing(link_setup=0.05, link_hold=5.0)))
    assert port.command("AT+CMMS=?\r") == b"\r\n+CMMS: (0-2)\r\n\r\nOK\r\n"
    submit(port, "uno")
    assert port.command("AT+CMMS=2\r") == b"\r\nOK\r\n"
    submit(port, "dos")
    submit(port, "tres")
    assert port.command("AT+CMMS?\r") == b"\r\n+CMMS: 2\r\n\r\nOK\r\n"
    kept = [p.link_kept for p in modem.modem.sent_parts]
    assert kept == [False, False, True]  # the link is only kept open after a submit made under CMMS


def test_ussd_balance_in_each_encoding(start_modem: ModemFactory) -> None:
    reply = "Saldo: 42.50 MXN. Vigencia: 30/04/2027."
    slow = FaultPlan(timing=Timing(ussd=0.05))  # the answer comes from the network after the OK
    _, port = start_modem(faults=slow)
    assert port.command('AT+CUSD=1,"*133#",15\r') == b"\r\nOK\r\n"
    assert port.read_until(b",15\r\n") == b'\r\n+CUSD: 0,"' + reply.encode() + b'",15\r\n'
    assert port.command('AT+CUSD=1,"*999#",15\r') == b"\r\nOK\r\n"
    assert port.read_until(b"\r\n+CUSD: 4\r\n") == b"\r\n+CUSD: 4\r\n"

    _, ucs2 = start_modem(
        ModemConfig(ussd={"*133#": "Saldo: $42.50 — ¡gracias!"}, ussd_encoding="ucs2"), slow
    )
    assert ucs2.command('AT+CUSD=1,"*133#",15\r') == b"\r\nOK\r\n"
    answer = ucs2.read_until(b",72\r\n")
    hex_text = re.search(rb'"([0-9A-F]+)"', answer).group(1)  # type: ignore[union-attr]
    assert bytes.fromhex(hex_text.decode()).decode("utf-16-be") == "Saldo: $42.50 — ¡gracias!"

    _, gsm = start_modem(ModemConfig(ussd_encoding="gsm7"), slow)
    assert gsm.command('AT+CUSD=1,"*133#",15\r') == b"\r\nOK\r\n"
    packed = re.search(rb'"([0-9A-F]+)"', gsm.read_until(b",15\r\n")).group(1)  # type: ignore[union-attr]
    septets = unpackSeptets(bytearray.fromhex(packed.decode()))
    assert decodeGsm7(septets) == reply + "\r"  # 39 septets leave 7 spare bits: padded with CR


def test_ussd_text_goes_out_in_the_gsm_character_set(start_modem: ModemFactory) -> None:
    """With +CSCS="GSM" a modem writes ñ as the GSM-7 code 0x7D: bytes a UTF-8 decoder must survive."""
    _, port = start_modem(ModemConfig(ussd={"*133#": "Año $5"}), FaultPlan(timing=Timing(ussd=0.05)))
    assert port.command('AT+CUSD=1,"*133#",15\r') == b"\r\nOK\r\n"
    assert port.read_until(b",15\r\n") == b'\r\n+CUSD: 0,"A\x7do \x025",15\r\n'


def test_text_mode_minimal(start_modem: ModemFactory) -> None:
    modem, port = start_modem(ModemConfig(first_reference=5))
    assert port.command("AT+CMGF=1\r") == b"\r\nOK\r\n"
    assert port.command('AT+CMGS="+5215512345678"\r') == b"\r\n> "
    assert port.command(b"Hola\r") == b"\r\n> "  # a new line gets a new prompt
    assert port.command(b"Mundo\x1a") == b"\r\n+CMGS: 5\r\n\r\nOK\r\n"
    assert modem.modem.sent[0].text == "Hola\nMundo"
    assert port.command("AT+CNMI=2,0,0,0,0\r") == b"\r\nOK\r\n"
    modem.call(lambda m: m.receive_sms("+5215599998888", "Gracias"))
    listing = port.command('AT+CMGL="ALL"\r')
    assert re.fullmatch(
        rb'\r\n\+CMGL: 1,"REC UNREAD","\+5215599998888",,"\d\d/\d\d/\d\d,\d\d:\d\d:\d\d\+00"\r\nGracias\r\n\r\nOK\r\n',
        listing,
    )


def test_command_line_edge_cases(start_modem: ModemFactory) -> None:
    _, port = start_modem()
    assert port.command("AT+CGMI\r\n") == b"\r\nrecado\r\n\r\nOK\r\n"
    assert port.pending() == b""  # the LF of CR LF is not a second command
    assert port.command("A/") == b"\r\nrecado\r\n\r\nOK\r\n"  # repeat the last line
    port.serial.write(b"garbage\r")
    assert port.pending() == b""  # a line that is not a command gets no answer at all
    assert port.command("AT+CMEE=1;+CSCA?;+CGMM\r") == (
        b'\r\n+CSCA: "+5294100001410",145\r\n\r\nVirtual GSM Modem\r\n\r\nOK\r\n'
    )
    assert port.command('AT+CSCA="+52941,00"\r') == b"\r\nOK\r\n"  # a comma inside quotes is data
    assert port.command("AT+CSCA?\r") == b'\r\n+CSCA: "+52941,00",145\r\n\r\nOK\r\n'
    assert port.command(b"AT" + b"1" * 1100 + b"\r").endswith(b"\r\nERROR\r\n")
    assert port.command("AT\r") == b"\r\nOK\r\n"
