"""One scenario per python-gsmmodem-new defect in ``reference/modems.md`` §0.3, run on the virtual modem.

Each test names the defect it guards against; recado's driver must handle every one.
"""

from __future__ import annotations

import asyncio

from gateway.modem import OutboundSms
from gateway.simulator import FaultPlan, Injection, Latency, ModemConfig, Trigger
from gateway.simulator.profiles import HUAWEI, QUECTEL
from tests.gateway.modem.conftest import Rig, RigFactory, eventually

TO = "+5215512345678"
PHONE = "+5215599887766"


async def test_a_cmti_in_the_middle_of_another_command_is_not_swallowed(rig: RigFactory) -> None:
    """Defect (a): a +CMTI arriving while a command is in flight was swallowed into that command's response."""
    r = await rig()
    r.modem.receive_sms(PHONE, "llegó durante +CSQ", during="+CSQ", offset=2)
    health = await r.driver.health()
    assert health.signal == 18
    await eventually(lambda: len(r.spool.inbound) == 1)
    assert r.spool.inbound[0].text == "llegó durante +CSQ"
    # ...and between "> " and the final result of a submit
    r.modem.receive_sms(PHONE, "llegó durante el envío", during="+CMGS:pdu", offset=0)
    r.modem.receive_sms(PHONE, "llegó tras el prompt", during="+CMGS", offset=4)
    assert (await r.driver.send(OutboundSms("m1", TO, "hola"))).outcome == "sent"
    assert (await r.driver.send(OutboundSms("m2", TO, "otra"))).outcome == "sent"
    await eventually(lambda: len(r.spool.inbound) == 3)
    assert {s.text for s in r.spool.inbound[1:]} == {"llegó durante el envío", "llegó tras el prompt"}


async def test_b_a_non_utf8_byte_does_not_kill_the_reader(rig: RigFactory) -> None:
    """Defect (b): one non-UTF-8 byte killed python-gsmmodem's reader thread; every later call timed out."""
    faults = FaultPlan(injections=(Injection(Trigger("+CSQ", nth=1), b"\r\n\xff\xfe\x81 \xe9\r\n", 2),))
    r = await rig(faults=faults)
    r.modem.inject(b"\r\n\x80\x81garbage\xff\r\n")
    health = await r.driver.health()
    assert health.signal == 18
    assert (await r.driver.send(OutboundSms("m1", TO, "sigo vivo"))).outcome == "sent"
    r.modem.receive_sms(PHONE, "y recibo")
    await eventually(lambda: len(r.spool.inbound) == 1)


async def test_c_a_late_reply_is_never_handed_to_the_next_command(rig: RigFactory) -> None:
    """Defect (c): a reply that arrived after a timeout was handed to the next command (imei = '+CSQ: 18,99')."""
    faults = FaultPlan(latencies=(Latency(Trigger("+CSQ", nth=1), 0.8),))
    r = await rig(faults=faults, command_timeout=0.4)
    slow = await r.driver.health()
    assert slow.signal is None  # +CSQ timed out...
    assert slow.registration == 1  # ...and +CREG? still got its own answer, not the late "+CSQ: 18,99"
    assert slow.operator == "TELCEL"
    later = await r.driver.health()
    assert (later.signal, later.registration, later.operator) == (18, 1, "TELCEL")


async def test_d_rssi_noise_does_not_break_signal_readings(rig: RigFactory) -> None:
    """Defect (d): Huawei ^RSSI lines broke signalStrength (30 of 60 calls failed with one URC per 100 ms)."""
    r = await rig(ModemConfig(profile=HUAWEI), FaultPlan(noise_interval=0.005))
    readings = [(await r.driver.health()).signal for _ in range(30)]
    assert readings == [18] * 30
    assert (await r.driver.health(refresh=False)).errors == 0


async def test_e_concurrent_sends_do_not_corrupt_the_session(rig: RigFactory) -> None:
    """Defect (e): two threads calling sendSms interleaved AT+CMGS and PDU bytes and corrupted the session."""
    r = await rig()
    texts = [f"mensaje {n} " + ("largo " * 40 if n % 3 == 0 else "corto") for n in range(9)]
    results = await asyncio.gather(*(r.driver.send(OutboundSms(f"m{n}", TO, t)) for n, t in enumerate(texts)))
    assert [res.outcome for res in results] == ["sent"] * 9
    assert sorted(m.text for m in r.modem.sent) == sorted(texts)
    assert all(m.complete for m in r.modem.sent)
    # every message's parts went out back to back, never interleaved with another message's
    order = [p.concatenation.reference if p.concatenation else None for p in r.modem.sent_parts]
    groups = [ref for i, ref in enumerate(order) if ref is not None and (i == 0 or order[i - 1] != ref)]
    assert len(groups) == len(set(groups))


async def test_f_a_delivery_report_is_matched_to_its_own_message(rig: RigFactory) -> None:
    """Defect (f): waitForDeliveryReport returned on any status report, not the message's own; and only the
    last part's reference was kept."""
    r = await rig()
    long = await r.driver.send(OutboundSms("long", TO, "parte " * 40))
    short = await r.driver.send(OutboundSms("short", TO, "corto"))
    r.modem.report(short.references[0], 0)
    await eventually(lambda: len(r.spool.reports) == 1)
    assert (r.spool.reports[0].message_id, r.spool.reports[0].status) == ("short", "delivered")
    r.modem.report(long.references[0], 0)
    await eventually(lambda: len(r.spool.reports) == 2)
    assert (r.spool.reports[1].message_id, r.spool.reports[1].status) == ("long", "pending")
    r.modem.report(long.references[1], 0x46)  # the network gave up on the second part
    await eventually(lambda: len(r.spool.reports) == 3)
    assert (r.spool.reports[2].message_id, r.spool.reports[2].status) == ("long", "failed")


async def test_g_report_bursts_are_all_read_and_reports_only_when_asked(rig: RigFactory) -> None:
    """Defect (g): status reports were requested even with requestDelivery=False, and a burst of +CDSI left
    reports unread in SR memory."""
    r = await rig()
    sent = [await r.driver.send(OutboundSms(f"m{n}", TO, f"hola {n}")) for n in range(8)]
    for result in sent:
        r.modem.report(result.references[0], 0)
    await eventually(lambda: len(r.spool.reports) == 8)
    assert sorted(rep.message_id for rep in r.spool.reports) == sorted(f"m{n}" for n in range(8))
    await eventually(lambda: not r.modem.engine.memories["SR"].slots)
    quiet = await r.driver.send(OutboundSms("q", TO, "sin reporte", status_report=False))
    assert quiet.outcome == "sent"
    assert r.modem.sent_parts[-1].status_report is False


async def test_h_emoji_both_ways(rig: RigFactory) -> None:
    """Defect (h): encodeSmsSubmitPdu raised for any character outside the BMP, and received emoji decoded to
    lone surrogates that cannot be UTF-8 encoded."""
    r = await rig()
    text = "¡Felicidades por tu bebé! 👶🎉 " * 4
    result = await r.driver.send(OutboundSms("m1", TO, text))
    assert result.outcome == "sent"
    assert r.modem.sent[-1].text == text
    r.modem.receive_sms(PHONE, "gracias 🙏❤️ " * 10)
    await eventually(lambda: len(r.spool.inbound) == 1)
    assert r.spool.inbound[0].text == "gracias 🙏❤️ " * 10
    r.spool.inbound[0].text.encode("utf-8")


async def test_i_a_report_does_not_leave_reads_on_the_wrong_memory(rig: RigFactory) -> None:
    """Defect (i): after a +CDSI the read memory stayed "SR", so later reads silently looked at the wrong one."""
    for config in (ModemConfig(), ModemConfig(profile=QUECTEL)):  # Quectel announces reports as "SM",n
        await _report_then_receive(await rig(config))


async def _report_then_receive(r: Rig) -> None:
    result = await r.driver.send(OutboundSms("m1", TO, "con reporte"))
    r.modem.report(result.references[0], 0)
    await eventually(lambda: len(r.spool.reports) == 1)
    assert 'AT+CPMS="SR"' in r.modem.engine.commands  # the driver switched to SR to read the report...
    r.modem.receive_sms(PHONE, "después del reporte")
    await eventually(lambda: len(r.spool.inbound) == 1)  # ...and still read this one from ME
    assert r.spool.inbound[0].text == "después del reporte"
    await eventually(lambda: not any(m.slots for m in r.modem.engine.memories.values()))
