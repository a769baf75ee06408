"""Reading URCs and final results, and reassembling concatenated SMS."""

from __future__ import annotations

import pytest

from gateway.at import is_urc, make_urc, parse_final
from gateway.at.concat import Part, Reassembler
from gateway.at.urc import huawei_rssi, registration, stored_at, ussd_reply


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('+CMTI: "SM",3', ("SM", 3)),
        ('+CDSI: "SR",12', ("SR", 12)),
        ("+CMTI: ME,0", ("ME", 0)),
        ('+CMTI: "SM"', None),
        ('+CMTI: "SM",x', None),
    ],
)
def test_stored_at(line: str, expected: tuple[str, int] | None) -> None:
    where = stored_at(make_urc(line))
    assert (None if where is None else (where.memory, where.index)) == expected


def test_small_readers() -> None:
    assert registration(make_urc("+CREG: 5")) == 5
    assert registration(make_urc('+CREG: 1,"00C3","1234"')) == 1
    assert registration(make_urc("+CREG: ?")) is None
    assert huawei_rssi(make_urc("^RSSI:18")) == 18
    assert huawei_rssi(make_urc("^RSSI:")) is None
    reply = ussd_reply(make_urc('+CUSD: 0,"Saldo: 1,50 MXN",15'))
    assert reply is not None
    assert (reply.status, reply.text, reply.dcs) == (0, "Saldo: 1,50 MXN", 15)
    assert ussd_reply(make_urc("+CUSD: 4")) == type(reply)(4, None, None)
    assert ussd_reply(make_urc("+CUSD: x")) is None


def test_urc_recognition_depends_on_the_running_command() -> None:
    assert is_urc("+CREG: 1")
    assert not is_urc("+CREG: 0,1", expected="+CREG")
    assert is_urc("^RSSI:12", expected="+CSQ")
    assert is_urc("SMS Ready")
    assert not is_urc("+CSQ: 18,99")
    assert not is_urc("356938035643809")


@pytest.mark.parametrize(
    ("line", "kind", "code"),
    [
        ("OK", "ok", None),
        ("ERROR", "error", None),
        ("COMMAND NOT SUPPORT", "error", None),
        ("+CME ERROR: 14", "cme", 14),
        ("+CME ERROR: SIM PIN required", "cme", 11),
        ("+CMS ERROR: 500", "cms", 500),
        ("+CMS ERROR: unknown error", "cms", None),
    ],
)
def test_final_results(line: str, kind: str, code: int | None) -> None:
    final = parse_final(line)
    assert final is not None
    assert (final.kind, final.code) == (kind, code)


def test_ordinary_lines_are_not_final() -> None:
    assert parse_final("+CSQ: 18,99") is None
    assert parse_final("OKAY") is None


def part(number: int, text: str, handle: int, total: int = 3, reference: int = 7) -> Part[int]:
    return Part("+5215599887766", reference, total, number, text, handle)


def test_parts_in_any_order_and_duplicates() -> None:
    reassembler: Reassembler[int] = Reassembler(timeout=60)
    assert reassembler.add(part(3, "c", 13), 0) is None
    assert reassembler.add(part(1, "a", 11), 1) is None
    assert reassembler.add(part(1, "A?", 21), 2) is None  # a sweep read the same part from another slot
    assert reassembler.holds(21)
    done = reassembler.add(part(2, "b", 12), 3)
    assert done is not None
    assert (done.text, done.complete, done.reference, done.total) == ("abc", True, 7, 3)
    assert set(done.handles) == {11, 12, 13, 21}
    assert len(reassembler) == 0


def test_missing_parts_are_delivered_after_the_timeout() -> None:
    reassembler: Reassembler[int] = Reassembler(timeout=60)
    reassembler.add(part(1, "a", 1), 0)
    reassembler.add(part(3, "c", 3), 10)
    assert reassembler.deadline == 60
    assert reassembler.expire(59.9) == []
    [partial] = reassembler.expire(60)
    assert (partial.text, partial.missing, partial.complete) == ("ac", (2,), False)


def test_messages_from_different_senders_or_references_stay_apart() -> None:
    reassembler: Reassembler[int] = Reassembler()
    reassembler.add(part(1, "x", 1, total=2, reference=1), 0)
    reassembler.add(Part("+520000", 1, 2, 2, "y", 2), 0)
    assert len(reassembler) == 2


def test_nonsense_sequence_numbers_stand_alone() -> None:
    reassembler: Reassembler[int] = Reassembler()
    alone = reassembler.add(part(0, "zero", 1), 0)
    assert alone is not None
    assert alone.text == "zero"
    single = reassembler.add(part(1, "one", 2, total=1), 0)
    assert single is not None
    assert single.complete
