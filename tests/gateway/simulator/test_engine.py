"""The sans-IO core without a pty: the same bytes give the same answers whole or one byte at a time."""

from __future__ import annotations

import datetime as dt

from gsmmodem.pdu import encodeSmsSubmitPdu

from gateway.simulator import ErrorFault, FaultPlan, Injection, ModemConfig, ModemEngine, Trigger
from gateway.simulator.engine import Emit, Output, PowerCycle

PDU = encodeSmsSubmitPdu("+5215512345678", "hola " * 40)
SESSION = (
    b'ATE1\rAT+CMEE=2;+CPMS="ME","ME","ME"\r\nAT+CNMI=2,1,0,2,0\rAT+CSQ\r'
    + b"".join(f"AT+CMGS={p.tpduLength}\r".encode() + str(p).encode() + b"\x1a" for p in PDU)
    + b"AT+CMGL=4\rAT+NOPE\rAT+CFUN=1,1\r"
)
PLAN = FaultPlan(
    errors=(ErrorFault(Trigger("+CSQ", probability=0.5), "cme", 100),),
    injections=(Injection(Trigger("+CMGS"), b"\r\n^RSSI:3\r\n\xff", 2),),
)


def _engine(seed: int = 3) -> ModemEngine:
    return ModemEngine(
        ModemConfig(),
        PLAN,
        seed=seed,
        clock=lambda: 100.0,
        wallclock=lambda: dt.datetime(2027, 3, 1, tzinfo=dt.UTC),
    )


def _written(outputs: list[Output]) -> bytes:
    return b"".join(o.data if isinstance(o, Emit) else b"<power-cycle>" for o in outputs)


def test_byte_at_a_time_equals_whole() -> None:
    whole = _engine()
    whole.boot()
    whole.receive("+5215599998888", "hola")
    expected = _written(whole.feed(SESSION))
    single = _engine()
    single.boot()
    single.receive("+5215599998888", "hola")
    got = b"".join(_written(single.feed(bytes([b]))) for b in SESSION)
    assert got == expected
    assert expected.endswith(b"\r\nOK\r\n<power-cycle>")
    assert b"+CME ERROR: operation not supported" not in expected  # CMEE=2 names unknown commands ERROR
    assert expected.count(b"+CMGS: ") == 2
    assert expected.count(b"\r\n^RSSI:3\r\n\xff") == 2


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    runs = []
    for seed in (3, 3, 4):
        engine = _engine(seed)
        engine.boot()
        runs.append(_written(engine.feed(b"AT+CMEE=1\r" + b"AT+CSQ\r" * 40)))
    assert runs[0] == runs[1] != runs[2]


def test_nothing_is_answered_while_powered_off() -> None:
    engine = _engine()
    assert engine.feed(b"AT\r") == []
    engine.boot()
    outputs = engine.feed(b"AT+CFUN=1,1\r")
    assert isinstance(outputs[-1], PowerCycle)
    assert not engine.powered
    assert engine.feed(b"AT\r") == []
    assert engine.receive("+5215599998888", "luego")[0].placed == ("waiting",)
    boot = engine.boot()
    assert _written(boot) == b'\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\n+CMTI: "SM",1\r\n'
