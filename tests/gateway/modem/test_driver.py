"""The asyncio driver against the virtual modem on a real pty: start-up, send, receive, reports, recovery."""

from __future__ import annotations

import asyncio

import pytest

from gateway.modem import ModemState, OutboundSms
from gateway.simulator import ErrorFault, FaultPlan, Latency, ModemConfig, Timing, Trigger, tpdu
from gateway.simulator.profiles import HUAWEI, QUECTEL, SIMCOM
from gateway.simulator.storage import Stored
from tests.gateway.modem.conftest import RigFactory, eventually

TO = "+5215512345678"
PHONE = "+5215599887766"


@pytest.mark.parametrize(
    "config", [None, ModemConfig(profile=HUAWEI), ModemConfig(profile=SIMCOM), ModemConfig(profile=QUECTEL)]
)
async def test_start_up_sets_pdu_mode_storage_and_routing(
    rig: RigFactory, config: ModemConfig | None
) -> None:
    r = await rig(config)
    commands = r.modem.engine.commands
    for expected in (
        "ATE0",
        "AT+CMEE=1",
        "AT+CPIN?",
        "AT+CMGF=0",
        'AT+CPMS="ME","ME","ME"',
        "AT+CNMI=2,1,0,2,0",
        "AT+CSCA?",
    ):
        assert expected in commands
    health = await r.driver.health()
    assert health.state is ModemState.UP
    assert (health.signal, health.registration, health.operator) == (18, 1, "TELCEL")
    assert health.imei == "356938035643809"
    assert health.smsc == "+5294100001410"
    assert health.registered


async def test_pin_is_entered_and_sim_busy_is_waited_out(rig: RigFactory) -> None:
    r = await rig(ModemConfig(pin="4321"), FaultPlan(sim_busy_for=1.5), pin="4321")
    assert 'AT+CPIN="4321"' in r.modem.engine.commands
    assert r.driver.state is ModemState.UP


async def test_missing_pin_keeps_the_modem_down_with_a_reason(rig: RigFactory) -> None:
    r = await rig(ModemConfig(pin="4321"), wait=False)
    await eventually(lambda: r.driver.state is ModemState.DOWN)
    health = await r.driver.health()
    assert health.last_error is not None
    assert "PIN" in health.last_error
    assert not any(c.startswith("AT+CPIN=") for c in r.modem.engine.commands)  # never guesses


async def test_send_single_and_multipart(rig: RigFactory) -> None:
    r = await rig()
    single = await r.driver.send(OutboundSms("m1", TO, "Hola María, su cita es mañana."))
    multi = await r.driver.send(OutboundSms("m2", TO, "Recordatorio: " + "tome su ácido fólico. " * 10))
    assert (single.outcome, single.parts) == ("sent", 1)
    assert (multi.outcome, multi.parts) == ("sent", 4)
    first, second = r.modem.sent
    assert first.text == "Hola María, su cita es mañana."
    assert second.complete
    assert second.text.startswith("Recordatorio")
    assert single.references == first.references
    assert multi.references == second.references
    # AT+CMMS=2 kept the relay link open between the parts of the burst, and was closed after it
    assert [p.link_kept for p in second.parts] == [False, True, True, True]
    assert r.modem.engine.commands[-1] == "AT+CMMS=0"


async def test_cms_error_fails_the_send_and_says_whether_to_retry(rig: RigFactory) -> None:
    faults = FaultPlan(
        errors=(
            ErrorFault(Trigger("+CMGS", "pdu", nth=1), "cms", 42),
            ErrorFault(Trigger("+CMGS", "pdu", nth=2), "cms", 304),
        )
    )
    r = await rig(faults=faults)
    congested = await r.driver.send(OutboundSms("m1", TO, "uno"))
    invalid = await r.driver.send(OutboundSms("m2", TO, "dos"))
    assert (congested.outcome, congested.retryable) == ("failed", True)
    assert congested.error == "submit: +CMS ERROR: 42"
    assert (invalid.outcome, invalid.retryable) == ("failed", False)
    assert (await r.driver.send(OutboundSms("m3", TO, "tres"))).outcome == "sent"


async def test_a_failure_after_some_parts_went_out_is_never_retryable(rig: RigFactory) -> None:
    r = await rig(faults=FaultPlan(errors=(ErrorFault(Trigger("+CMGS", "pdu", nth=2), "cms", 42),)))
    result = await r.driver.send(OutboundSms("m1", TO, "x" * 200))
    assert result.outcome == "failed"
    assert len(result.references) == 1
    assert not result.retryable
    assert result.error == "part 2 of 2: +CMS ERROR: 42"


async def test_unknown_outcome_is_reported_and_not_repeated(rig: RigFactory) -> None:
    """A submit whose answer never comes may have gone out: report unknown, never send it again."""
    r = await rig(
        faults=FaultPlan(latencies=(Latency(Trigger("+CMGS", "pdu", nth=1), 3.0),)), submit_timeout=1.0
    )
    result = await r.driver.send(OutboundSms("m1", TO, "hola"))
    assert result.outcome == "unknown"
    assert "no answer" in (result.error or "")
    await eventually(lambda: len(r.modem.sent_parts) == 1)
    after = await r.driver.send(OutboundSms("m2", TO, "otra"))  # the late +CMGS does not confuse this one
    assert after.outcome == "sent"
    assert after.references == (r.modem.sent_parts[-1].reference,)
    assert [p.text for p in r.modem.sent_parts] == ["hola", "otra"]


async def test_send_while_down_fails_retryably(rig: RigFactory) -> None:
    r = await rig()
    r.modem.unplug()
    await eventually(lambda: r.driver.state is ModemState.DOWN)
    result = await r.driver.send(OutboundSms("m1", TO, "hola"))
    assert (result.outcome, result.retryable) == ("failed", True)


async def test_receive_on_cmti_and_delete_only_after_commit(rig: RigFactory) -> None:
    r = await rig()
    r.spool.fail = 1000
    inbound = r.modem.receive_sms(PHONE, "Sí, confirmo")
    [slot] = inbound.placed
    memory, index = slot.split(":")
    await eventually(lambda: "AT+CMGR=" + index in r.modem.engine.commands)
    await asyncio.sleep(0.1)
    assert r.spool.inbound == []
    assert int(index) in r.modem.engine.memories[memory].slots  # the commit failed: still in the modem
    assert not any(c.startswith("AT+CMGD") for c in r.modem.engine.commands)
    r.spool.fail = 0
    await r.driver.sweep()
    [sms] = r.spool.inbound
    assert (sms.sender, sms.text, sms.complete) == (PHONE, "Sí, confirmo", True)
    assert int(index) not in r.modem.engine.memories[memory].slots
    assert r.modem.engine.commands.count(f"AT+CMGD={index}") == 1


async def test_messages_stored_while_the_gateway_was_off_are_swept_at_start(rig: RigFactory) -> None:
    r = await rig(wait=False)
    await r.driver.stop()
    r.modem.receive_sms(PHONE, "primero")
    r.modem.receive_sms(PHONE, "segundo " * 30)
    await r.driver.start(wait=5.0)
    await eventually(lambda: len(r.spool.inbound) == 2)
    assert sorted(s.text for s in r.spool.inbound) == sorted(["primero", "segundo " * 30])
    await eventually(lambda: all(not m.slots for m in r.modem.engine.memories.values()))


async def test_same_sms_read_twice_keeps_its_id(rig: RigFactory) -> None:
    """A crash between commit and delete offers the SMS again; the spool recognises it by id."""
    r = await rig()
    r.modem.receive_sms(PHONE, "una vez")
    await eventually(lambda: len(r.spool.inbound) == 1)
    first = r.spool.inbound[0]
    # The same PDU stored again, as if the delete had never happened.
    hex_pdu = r.modem.engine.received[-1].parts[0]
    tpdu_length = len(hex_pdu) // 2 - 1 - int(hex_pdu[:2], 16)
    copy = Stored(
        "deliver", 1, tpdu.Encoded(hex_pdu, tpdu_length), PHONE, "una vez", r.modem.engine.wallclock()
    )
    r.modem.engine.memories["ME"].store(copy)
    await r.driver.sweep()
    assert len(r.spool.inbound) == 2
    assert r.spool.inbound[1].id == first.id


async def test_parts_out_of_order_and_a_lost_part(rig: RigFactory) -> None:
    r = await rig(reassembly_timeout=0.5, sweep_interval=0.2)
    r.modem.receive_sms(PHONE, "a" * 300, order=(2, 1))
    r.modem.receive_sms(PHONE, "b" * 153 + "c" * 153 + "d" * 10, order=(3, 1))
    await eventually(lambda: len(r.spool.inbound) == 2, timeout=5)
    whole, partial = r.spool.inbound
    assert (whole.text, whole.complete) == ("a" * 300, True)
    assert (partial.text, partial.complete, partial.missing_parts) == ("b" * 153 + "d" * 10, False, (2,))
    await eventually(lambda: not any(m.slots for m in r.modem.engine.memories.values()))


async def test_direct_routing_with_cmt_and_cds(rig: RigFactory) -> None:
    r = await rig()
    # A modem that can only route SMS directly (+CMT) and reports directly (+CDS).
    r.modem.engine.settings.cnmi = (2, 2, 0, 1, 0)
    r.modem.receive_sms(PHONE, "directo")
    await eventually(lambda: len(r.spool.inbound) == 1)
    assert r.spool.inbound[0].text == "directo"
    sent = await r.driver.send(OutboundSms("m1", TO, "con reporte"))
    r.modem.report(sent.references[0], 0)
    await eventually(lambda: len(r.spool.reports) == 1)
    assert r.spool.reports[0].status == "delivered"


async def test_balance_by_ussd_in_every_encoding(rig: RigFactory) -> None:
    for encoding in ("text", "gsm7", "ucs2"):
        r = await rig(ModemConfig(ussd={"*133#": "Saldo: $42.50. Señal ok"}, ussd_encoding=encoding))
        assert await r.driver.balance() == "Saldo: $42.50. Señal ok"
    assert await r.driver.balance("*999#") is None


async def test_unplug_and_replug_come_back_to_service(rig: RigFactory) -> None:
    r = await rig()
    r.modem.unplug()
    await eventually(lambda: r.driver.state is ModemState.DOWN)
    r.modem.receive_sms(PHONE, "mientras estaba desconectado")
    r.modem.replug()
    await r.driver.wait_up(5)
    await eventually(lambda: len(r.spool.inbound) == 1)
    assert (await r.driver.send(OutboundSms("m1", TO, "de vuelta"))).outcome == "sent"
    assert [s for s in r.spool.states if s is ModemState.UP] == [ModemState.UP, ModemState.UP]


async def test_reboot_is_noticed_and_settings_restored(rig: RigFactory) -> None:
    r = await rig(ModemConfig(profile=SIMCOM))
    r.modem.reboot()
    await eventually(lambda: r.driver.state is not ModemState.UP)
    await r.driver.wait_up(5)
    assert r.modem.engine.settings.text_mode is False
    assert r.modem.engine.settings.cnmi[:2] == (2, 1)
    assert (await r.driver.send(OutboundSms("m1", TO, "hola"))).outcome == "sent"


async def test_repeated_timeouts_soft_reset_the_modem(rig: RigFactory) -> None:
    faults = FaultPlan(latencies=(Latency(Trigger("+CSQ", times=3), 2.0),))
    r = await rig(faults=faults, command_timeout=0.3, error_threshold=3, late_grace=0.5)
    for _ in range(3):
        await r.driver.health()
    await eventually(lambda: "AT+CFUN=1,1" in r.modem.engine.commands)
    await eventually(lambda: r.driver.state is ModemState.UP and len(r.modem.ports) > 1, timeout=10)
    assert (await r.driver.send(OutboundSms("m1", TO, "hola"))).outcome == "sent"


async def test_a_modem_still_booting_when_the_port_opens_comes_up_without_a_reopen(rig: RigFactory) -> None:
    """It drops the first AT; the next probe's answer must count, not pay the dropped one's debt (which
    made every probe time out in turn until the port was reopened)."""
    r = await rig(faults=FaultPlan(timing=Timing(boot=1.0)), late_grace=30.0)
    assert r.driver.state is ModemState.UP
    assert len(r.modem.ports) == 1  # never reopened
    assert r.modem.engine.commands.count("AT") <= 2
    health = await r.driver.health()
    assert health.imei == "356938035643809"  # the answers that follow are each their own command's
