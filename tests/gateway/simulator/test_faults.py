"""Faults as data over the real pty: errors, injections, garbage, late replies, reboot, unplug, full memories."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import serial
from gsmmodem.pdu import encodeSmsSubmitPdu

from gateway.simulator import (
    ErrorFault,
    FaultPlan,
    Injection,
    Latency,
    ModemConfig,
    ModemThread,
    Timing,
    Trigger,
)
from gateway.simulator.profiles import HUAWEI, SIMCOM
from tests.gateway.simulator.conftest import ModemFactory, Port

RECIPIENT = "+5215512345678"


def test_error_on_the_nth_command(start_modem: ModemFactory) -> None:
    plan = FaultPlan(errors=(ErrorFault(Trigger("+CSQ", nth=2), "cme", 100),))
    _, port = start_modem(faults=plan)
    assert port.command("AT+CMEE=1\r") == b"\r\nOK\r\n"
    replies = [port.command("AT+CSQ\r") for _ in range(3)]
    assert replies == [
        b"\r\n+CSQ: 18,99\r\n\r\nOK\r\n",
        b"\r\n+CME ERROR: 100\r\n",
        b"\r\n+CSQ: 18,99\r\n\r\nOK\r\n",
    ]


def test_submit_errors_hit_the_pdu_phase_and_keep_the_reference(start_modem: ModemFactory) -> None:
    plan = FaultPlan(errors=(ErrorFault(Trigger("+CMGS", phase="pdu", nth=1), "cms", 38),))
    modem, port = start_modem(ModemConfig(first_reference=10), plan)
    assert port.command("AT+CMEE=1\r") == b"\r\nOK\r\n"
    pdu = encodeSmsSubmitPdu(RECIPIENT, "hola")[0]
    results = []
    for _ in range(2):
        assert port.command(f"AT+CMGS={pdu.tpduLength}\r") == b"\r\n> "
        results.append(port.command(str(pdu).encode() + b"\x1a"))
    assert results == [b"\r\n+CMS ERROR: 38\r\n", b"\r\n+CMGS: 10\r\n\r\nOK\r\n"]
    assert len(modem.modem.sent) == 1


def _run_with_probabilities(seed: int, tmp_path: Path) -> list[bytes]:
    plan = FaultPlan(
        errors=(ErrorFault(Trigger("+CSQ", probability=0.3), "cme", 100),),
        latencies=(Latency(Trigger("*"), 0.0, jitter=0.002),),
        injections=(Injection(Trigger("+CSQ", probability=0.3), b"\r\n^RSSI:9\r\n", offset=0),),
    )
    with ModemThread(faults=plan, seed=seed, link=tmp_path / f"seed{seed}-{time.monotonic_ns()}") as thread:
        port = Port(thread.port)
        try:
            port.command("ATE0;+CMEE=1\r")
            return [port.command("AT+CSQ\r") for _ in range(30)]
        finally:
            port.close()


def test_random_faults_are_the_same_for_the_same_seed(tmp_path: Path) -> None:
    first = _run_with_probabilities(7, tmp_path)
    assert _run_with_probabilities(7, tmp_path) == first
    assert _run_with_probabilities(8, tmp_path) != first
    errors = sum(b"ERROR" in reply for reply in first)
    noisy = sum(b"^RSSI" in reply for reply in first)
    assert 0 < errors < 30
    assert 0 < noisy < 30


def test_urc_between_the_prompt_and_ctrl_z(start_modem: ModemFactory) -> None:
    """The +CMTI python-gsmmodem swallows: it lands while the host is writing its PDU (defect 3a)."""
    modem, port = start_modem(ModemConfig(first_reference=1))
    inbound = modem.call(lambda m: m.receive_sms("+5215599998888", "llegó", during="+CMGS", offset=4))
    assert inbound.placed == ("SM:1",)
    assert port.pending() == b""  # held back until the send
    pdu = encodeSmsSubmitPdu(RECIPIENT, "hola")[0]
    port.serial.write(f"AT+CMGS={pdu.tpduLength}\r".encode())
    assert port.read_until(b'"SM",1\r\n') == b'\r\n> \r\n+CMTI: "SM",1\r\n'
    assert port.command(str(pdu).encode() + b"\x1a") == b"\r\n+CMGS: 1\r\n\r\nOK\r\n"


def test_injection_at_any_offset_of_a_response(start_modem: ModemFactory) -> None:
    for offset, expected in [
        (0, b"\r\n+CDSI: 1\r\n\r\n+CSQ: 18,99\r\n\r\nOK\r\n"),
        (8, b"\r\n+CSQ: \r\n+CDSI: 1\r\n18,99\r\n\r\nOK\r\n"),
        (-1, b"\r\n+CSQ: 18,99\r\n\r\nOK\r\n\r\n+CDSI: 1\r\n"),
    ]:
        plan = FaultPlan(injections=(Injection(Trigger("+CSQ"), b"\r\n+CDSI: 1\r\n", offset),))
        _, port = start_modem(faults=plan)
        port.serial.write(b"AT+CSQ\r")
        assert port.read_until(expected[-6:]) == expected


def test_non_utf8_bytes_inside_a_response(start_modem: ModemFactory) -> None:
    plan = FaultPlan(injections=(Injection(Trigger("+CGMM"), b"\xff\xfe\x80", offset=2),))
    _, port = start_modem(faults=plan)
    reply = port.command("AT+CGMM\r")
    assert reply == b"\r\n\xff\xfe\x80Virtual GSM Modem\r\n\r\nOK\r\n"
    with pytest.raises(UnicodeDecodeError):
        reply.decode("utf-8")


def test_garbage_at_power_up(tmp_path: Path) -> None:
    plan = FaultPlan(garbage_on_boot=b"\x00\xf0\x8f", timing=Timing(boot=0.2))
    with ModemThread(faults=plan, link=tmp_path / "tty") as thread:
        port = Port(thread.port)
        assert port.read_until(b"READY\r\n") == b"\x00\xf0\x8f\r\nRDY\r\n\r\n+CPIN: READY\r\n"
        port.close()


def test_late_reply_arrives_after_the_host_gave_up(start_modem: ModemFactory) -> None:
    """python-gsmmodem hands such a reply to the next command (defect 3c): it must come, and late."""
    plan = FaultPlan(latencies=(Latency(Trigger("+CGSN", nth=1), 0.4),))
    _, port = start_modem(faults=plan)
    port.serial.write(b"AT+CGSN\r")
    assert port.pending(0.15) == b""  # the host's timeout passes with nothing
    port.serial.write(b"AT+CSQ\r")
    assert port.read_until(b"OK\r\n") == b"\r\n356938035643809\r\n\r\nOK\r\n"  # the late IMEI first
    assert port.read_final() == b"\r\n+CSQ: 18,99\r\n\r\nOK\r\n"


def test_submit_network_time_is_spent_before_the_answer(start_modem: ModemFactory) -> None:
    _, port = start_modem(faults=FaultPlan(timing=Timing(submit=0.2)))
    pdu = encodeSmsSubmitPdu(RECIPIENT, "hola")[0]
    assert port.command(f"AT+CMGS={pdu.tpduLength}\r") == b"\r\n> "
    began = time.monotonic()
    assert port.command(str(pdu).encode() + b"\x1a").startswith(b"\r\n+CMGS: ")
    assert 0.18 <= time.monotonic() - began < 1.0


def test_huawei_noise_between_commands(start_modem: ModemFactory) -> None:
    _, port = start_modem(ModemConfig(profile=HUAWEI), FaultPlan(noise_interval=0.02))
    time.sleep(0.15)
    noise = port.pending()
    assert noise.startswith(b"\r\n^RSSI:17\r\n\r\n^BOOT:")
    assert noise.count(b"\r\n^") >= 3


def test_sim_busy_after_power_up(start_modem: ModemFactory) -> None:
    _, port = start_modem(faults=FaultPlan(sim_busy_for=0.3))
    assert port.command("AT+CMEE=1;+CPMS?\r") == b"\r\n+CMS ERROR: 314\r\n"
    assert port.command("AT+CIMI\r") == b"\r\n+CME ERROR: 14\r\n"
    assert port.command("AT+CGMI\r") == b"\r\nrecado\r\n\r\nOK\r\n"  # not a SIM command
    time.sleep(0.3)
    assert port.command("AT+CIMI\r") == b"\r\n334020123456789\r\n\r\nOK\r\n"


def test_sr_memory_full_loses_reports_until_cleared(start_modem: ModemFactory) -> None:
    modem, port = start_modem(ModemConfig(first_reference=0, capacities={"SM": 5, "ME": 5, "SR": 2}))
    assert port.command("AT+CNMI=2,1,0,2,0\r") == b"\r\nOK\r\n"
    modem.call(lambda m: m.fill("SR"))
    assert port.command('AT+CPMS="SR"\r') == b"\r\n+CPMS: 2,2,0,5,0,5\r\n\r\nOK\r\n"
    pdu = encodeSmsSubmitPdu(RECIPIENT, "hola")[0]
    for _ in range(2):
        port.command(f"AT+CMGS={pdu.tpduLength}\r")
        port.command(str(pdu).encode() + b"\x1a")
    assert modem.call(lambda m: m.report(0)).placed == "lost"
    assert port.pending() == b""
    assert port.command("AT+CMGD=0,4\r") == b"\r\nOK\r\n"
    assert modem.call(lambda m: m.report(1)).placed == "SR:1"
    assert port.read_until(b'+CDSI: "SR",1\r\n').endswith(b'\r\n+CDSI: "SR",1\r\n')


def test_full_inbound_memory_holds_messages_at_the_network(start_modem: ModemFactory) -> None:
    modem, port = start_modem(ModemConfig(capacities={"SM": 1, "ME": 1, "SR": 1}))
    modem.call(lambda m: m.receive_sms("+5215599998888", "uno"))
    assert port.read_until(b'"SM",1\r\n') == b'\r\n+CMTI: "SM",1\r\n'
    assert modem.call(lambda m: m.receive_sms("+5215599998888", "dos")).placed == ("waiting",)
    assert port.pending() == b""
    port.serial.write(b"AT+CMGD=1\r")
    assert port.read_until(b'"SM",1\r\n') == b'\r\nOK\r\n\r\n+CMTI: "SM",1\r\n'  # retried once there is room


def test_at_cfun_reboot_serves_a_new_pty_with_boot_urcs(start_modem: ModemFactory) -> None:
    modem, port = start_modem(ModemConfig(profile=SIMCOM), FaultPlan(timing=Timing(boot=0.3)))
    old = modem.modem.path
    assert port.command("AT+CNMI=2,2,0,0,0\r") == b"\r\nOK\r\n"
    assert port.command("AT+CFUN=1,1\r") == b"\r\nOK\r\n"
    with pytest.raises(serial.SerialException):
        port.serial.read(1)  # the old port is gone
    modem.wait_for(lambda m: len(m.ports) == 2 and m.path is not None)
    new = modem.modem.path
    assert new != old
    assert os.readlink(modem.port) == new
    fresh = Port(modem.port)
    try:
        assert fresh.read_until(b"SMS Ready\r\n") == (
            b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n"
        )
        assert (
            fresh.command("AT+CNMI?\r") == b"AT+CNMI?\r\r\n+CNMI: 2,1,0,0,0\r\n\r\nOK\r\n"
        )  # settings reset
    finally:
        fresh.close()


def test_reboot_keeps_stored_messages_and_asks_for_the_pin_again(start_modem: ModemFactory) -> None:
    modem, port = start_modem(ModemConfig(pin="1234"))
    port.command('AT+CPIN="1234"\r')
    modem.call(lambda m: m.receive_sms("+5215599998888", "guardado"))
    modem.call(lambda m: m.reboot())
    modem.wait_for(lambda m: len(m.ports) == 2 and m.path is not None)
    fresh = Port(modem.port)
    try:
        assert fresh.command("ATE0;+CPIN?\r") == b"ATE0;+CPIN?\r\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
        fresh.command('AT+CPIN="1234"\r')
        assert fresh.command("AT+CPMS?\r").startswith(b'\r\n+CPMS: "SM",1,30')
    finally:
        fresh.close()


def test_unplug_closes_the_port_and_removes_the_link(start_modem: ModemFactory) -> None:
    modem, port = start_modem()
    link = modem.port
    modem.call(lambda m: m.unplug())
    with pytest.raises(serial.SerialException):
        port.serial.read(1)
    assert not os.path.lexists(link)
    with pytest.raises(serial.SerialException):
        serial.Serial(link)
    held = modem.call(lambda m: m.receive_sms("+5215599998888", "mientras tanto"))
    assert held.placed == ("waiting",)
    modem.call(lambda m: m.replug())
    fresh = Port(link)
    try:
        assert fresh.command("ATE0;+CPMS?\r").endswith(
            b'\r\n+CPMS: "SM",1,30,"SM",1,30,"SM",1,30\r\n\r\nOK\r\n'
        )
    finally:
        fresh.close()


def test_fault_plan_from_toml_data() -> None:
    plan = FaultPlan.from_mapping(
        {
            "timing": {"submit": 1, "report_after": 2.5},
            "errors": [{"command": "+cmgs", "phase": "pdu", "kind": "cms", "code": 500, "probability": 0.1}],
            "latencies": [{"command": "+CSQ", "seconds": 3, "nth": 2}],
            "injections": [{"command": "+CMGS", "offset": 4, "text": '\\r\\n+CMTI: "SM",1\\r\\n'}],
            "register_after": 5,
            "garbage_on_boot": "fffe",
        }
    )
    assert plan.timing.submit == 1.0
    assert plan.timing.report_after == 2.5
    assert plan.errors[0] == ErrorFault(Trigger("+CMGS", "pdu", probability=0.1), "cms", 500)
    assert plan.latencies[0] == Latency(Trigger("+CSQ", nth=2), 3.0)
    assert plan.injections[0].data == b'\r\n+CMTI: "SM",1\r\n'
    assert plan.garbage_on_boot == b"\xff\xfe"


@pytest.mark.parametrize(
    "data",
    [
        {"timming": {}},
        {"timing": {"submit": -1}},
        {"timing": {"submit": "fast"}},
        {"errors": [{"command": "+CSQ", "kind": "boom"}]},
        {"errors": [{"command": "+CSQ", "probability": 2}]},
        {"errors": {"command": "+CSQ"}},
        {"injections": [{"command": "+CSQ", "phase": "later"}]},
        {"latencies": [{"command": "+CSQ", "secs": 1}]},
        {"garbage_on_boot": "zz"},
    ],
)
def test_a_bad_fault_plan_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        FaultPlan.from_mapping(data)
