"""The sans-IO AT session: line classification, dialogues, timeouts and late replies, chunking invariance."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.at import Command, Late, Response, Session, Stray, Transmit, UrcEvent, decode_line
from gateway.at.core import Busy, Event
from tests.gateway.at.transcripts import CMGS_PDU, TRANSCRIPTS, Transcript


def replay(transcript: Transcript, split: st.DataObject | int | None = None) -> list[Event]:
    """Run a transcript through a session: whole (None), one byte at a time (1), or chunked by hypothesis."""
    session = Session()
    events: list[Event] = []
    for command, data in transcript:
        if command is not None:
            session.start(command, 0.0)
        if split is None:
            chunks = [data]
        elif isinstance(split, int):
            chunks = [data[i : i + split] for i in range(0, len(data), split)]
        else:
            cuts = sorted(split.draw(st.sets(st.integers(1, max(1, len(data) - 1)), max_size=12)))
            chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        for chunk in chunks:
            events.extend(session.feed(chunk, 0.0))
    return events


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_transcripts_read_the_same_whole_and_byte_by_byte(name: str) -> None:
    whole = replay(TRANSCRIPTS[name])
    assert whole == replay(TRANSCRIPTS[name], 1)
    assert sum(isinstance(e, Response) for e in whole) == sum(c is not None for c, _ in TRANSCRIPTS[name])


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(TRANSCRIPTS)))
def test_transcripts_read_the_same_in_any_chunking(data: st.DataObject, name: str) -> None:
    assert replay(TRANSCRIPTS[name], data) == replay(TRANSCRIPTS[name])


def responses(events: list[Event]) -> list[Response]:
    return [e for e in events if isinstance(e, Response)]


def urcs(events: list[Event]) -> list[str]:
    return [e.urc.line for e in events if isinstance(e, UrcEvent)]


def test_urc_noise_never_reaches_a_response() -> None:
    events = replay(TRANSCRIPTS["huawei start-up, echo on, ^RSSI inside +CSQ"])
    csq = responses(events)[2]
    assert csq.lines == ("+CSQ: 17,99",)
    assert "^RSSI:17" in urcs(events)
    assert "^MODE:5,4" in urcs(events)
    assert responses(events)[0].lines == ()  # the echo "AT" is not a response line
    assert responses(events)[4].final.kind == "error"  # Huawei's spelling of ERROR


def test_prompt_sends_the_payload_and_urc_after_prompt_is_recognised() -> None:
    events = replay(TRANSCRIPTS["submit with +CMTI between the prompt and the result, echo on"])
    assert events[0] == Transmit(CMGS_PDU.encode() + b"\x1a")
    submit = responses(events)[0]
    assert submit.ok
    assert submit.payload_sent
    assert submit.lines == ("+CMGS: 42",)  # the echoed PDU is dropped
    assert urcs(events) == ['+CMTI: "ME",3']


def test_cmt_takes_its_pdu_line_and_bad_bytes_do_not_stop_the_listing() -> None:
    events = replay(TRANSCRIPTS["listing with +CMT and a non-UTF-8 byte in the middle"])
    [listing] = responses(events)
    assert [line for line in listing.lines if line.startswith("+CMGL")] == [
        "+CMGL: 1,1,,24",
        "+CMGL: 2,1,,24",
    ]
    [cmt] = [e.urc for e in events if isinstance(e, UrcEvent)]
    assert cmt.name == "+CMT"
    assert cmt.pdu is not None
    assert cmt.pdu.startswith("0791")
    assert "ÿþ\x80 noise" in listing.lines  # decoded as latin-1, kept, never fatal


def test_boot_urcs_when_idle_and_error_codes() -> None:
    events = replay(TRANSCRIPTS["simcom boot between commands, +CME and +CMS errors"])
    assert urcs(events) == ["RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready"]
    cpin, cmgf, cmgr, _, cpms = responses(events)
    assert cpin.lines == ("+CPIN: READY",)  # solicited: asked for by AT+CPIN?
    assert (cmgf.final.kind, cmgf.final.code) == ("cme", 14)
    assert (cmgr.final.kind, cmgr.final.code) == ("cms", 321)
    assert (cpms.final.kind, cpms.final.code) == ("cme", 14)  # +CMEE=2 text mapped to its number


def test_solicited_and_unsolicited_creg_and_ussd_after_ok() -> None:
    events = replay(TRANSCRIPTS["quectel: +QIND noise, USSD answer after OK, +CDSI in the wrong memory"])
    assert urcs(events) == ['+QIND: "csq",18,99', '+CUSD: 0,"Saldo: 42.50 MXN",15', '+CDSI: "SM",0']
    creg = responses(events)[1]
    assert creg.lines == ("+CREG: 0,1", "+CREG: 5")


def test_prompt_timeout_cancels_with_escape_and_nothing_was_sent() -> None:
    session = Session()
    session.start(Command("AT+CMGS=19", timeout=5, payload=CMGS_PDU), 0.0)
    assert session.tick(4.9) == []
    escape, timeout = session.tick(5.0)
    assert escape == Transmit(b"\x1b")
    assert isinstance(timeout, Response)
    assert timeout.timed_out
    assert not timeout.payload_sent


def test_timeout_after_the_payload_is_an_unknown_outcome() -> None:
    session = Session()
    session.start(Command("AT+CMGS=19", timeout=5, payload=CMGS_PDU, payload_timeout=120), 0.0)
    assert session.feed(b"\r\n> ", 1.0) == [Transmit(CMGS_PDU.encode() + b"\x1a")]
    assert session.payload_sent
    assert session.deadline == 121.0
    [timeout] = session.tick(121.0)
    assert isinstance(timeout, Response)
    assert timeout.timed_out
    assert timeout.payload_sent


def test_late_reply_goes_to_the_timed_out_command_not_the_next() -> None:
    """python-gsmmodem handed a late reply to the next command (imei returned '+CSQ: 18,99')."""
    session = Session(late_grace=30)
    session.start(Command("AT+CGSN", timeout=2), 0.0)
    [timeout] = session.tick(2.0)
    assert isinstance(timeout, Response)
    assert timeout.timed_out
    session.start(Command("AT+CSQ"), 3.0)
    events = session.feed(b"\r\n356938035643809\r\n\r\nOK\r\n\r\n+CSQ: 18,99\r\n\r\nOK\r\n", 3.5)
    late = [e for e in events if isinstance(e, Late)]
    assert [e.line for e in late] == ["356938035643809", "OK"]
    assert late[-1].final is not None
    [csq] = responses(events)
    assert csq.command.text == "AT+CSQ"
    assert csq.lines == ("+CSQ: 18,99",)


def test_a_debt_is_forgotten_after_the_grace_period() -> None:
    session = Session(late_grace=10)
    session.start(Command("AT+CGSN", timeout=1), 0.0)
    session.tick(1.0)
    assert session.owed == 1
    session.start(Command("AT"), 20.0)
    [ok] = session.feed(b"\r\nOK\r\n", 20.1)
    assert isinstance(ok, Response)
    assert ok.ok
    assert session.owed == 0


def test_probes_of_a_booting_modem_are_forgiven_so_the_next_answer_is_its_own() -> None:
    """A modem that is still booting drops the first AT; owed, it would take the next probe's OK."""
    session = Session(late_grace=30)
    session.start(Command("AT", timeout=2), 0.0)
    session.tick(2.0)
    assert session.owed == 1
    session.forgive()
    assert session.owed == 0
    session.start(Command("AT", timeout=2), 2.0)
    [ok] = session.feed(b"\r\nOK\r\n", 2.1)
    assert isinstance(ok, Response)
    assert ok.ok


def test_one_command_at_a_time() -> None:
    session = Session()
    session.start(Command("AT"), 0.0)
    with pytest.raises(Busy):
        session.start(Command("AT+CSQ"), 0.0)


def test_cmt_without_its_pdu_line_does_not_swallow_the_final_result() -> None:
    session = Session()
    session.start(Command("AT"), 0.0)
    events = session.feed(b"\r\n+CMT: ,24\r\nOK\r\n", 0.0)
    assert [type(e) for e in events] == [UrcEvent, Response]
    assert isinstance(events[0], UrcEvent)
    assert events[0].urc.pdu is None


def test_lines_nobody_asked_for_are_stray() -> None:
    session = Session()
    assert session.feed(b"\r\nOK\r\n\r\nsomething odd\r\n", 0.0) == [Stray("OK"), Stray("something odd")]


def test_reset_forgets_a_half_line_and_the_running_command() -> None:
    session = Session()
    session.start(Command("AT"), 0.0)
    session.feed(b"\r\nO", 0.0)
    session.reset()
    assert not session.busy
    assert session.feed(b"K\r\n", 0.0) == [Stray("K")]


def test_decode_line_never_fails() -> None:
    assert decode_line(b'+CUSD: 0,"Se\xf1al",15') == '+CUSD: 0,"Señal",15'
    assert decode_line('+CUSD: 0,"Señal",15'.encode()) == '+CUSD: 0,"Señal",15'
    assert decode_line(b"\x00\x00OK ") == "OK"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20), st.booleans())
def test_any_bytes_in_any_state_never_raise(chunks: list[bytes], prompt: bool) -> None:
    session = Session()
    payload = CMGS_PDU if prompt else None
    session.start(Command("AT+CMGS=19" if prompt else "AT+CSQ", payload=payload), 0.0)
    for chunk in chunks:
        for event in session.feed(chunk, 0.0):
            assert isinstance(event, Response | UrcEvent | Transmit | Late | Stray)
