"""Faults through the whole site, mid-conversation: the server killed with SIGKILL and started again, the
gateway killed as an SMS arrives and while the modem is sending, the modem rebooted while it sends and while a
mother texts.

Each time the registration conversation carries on where it was, and at the end nothing is lost and nothing
doubled: every text she sent is on the server once, no text reaches her phone twice, and every reply the
server queued is either on her phone once, or (the one in the modem when the gateway or the modem went away)
marked ``unknown`` and not sent again.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fullstack.stack import FAST_MODEM, MOTHER, Stack
from tests.processes import http_json, wait_until

pytestmark = pytest.mark.slow

# The registration flow of the sample programme (flows/library/flows/registro.yaml): what she says, and a piece
# of the question that answers it.
ALTA = ("ALTA", "cuál es tu nombre")
NAME = ("Ana López", "Responde 1 si estás embarazada")
PREGNANT = ("1", "fecha probable de parto")
# A second per part: a send is long enough to be caught in the middle (the demo's modem takes 0.02 s).
SLOW_SUBMIT = 1.0
SETTLED = {"sent", "delivered", "unknown"}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Stack]:
    with Stack(tmp_path) as started:
        yield started


@pytest.fixture
def slow_site(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path)
    timing = re.sub(r"(?m)^submit = .*$", f"submit = {SLOW_SUBMIT}", FAST_MODEM)
    assert timing != FAST_MODEM
    (tmp_path / "modem-timing.toml").write_text(timing, encoding="utf-8")
    with stack:
        yield stack


class Mother:
    """The phone of one mother, remembering what she texted."""

    def __init__(self, site: Stack, phone: str = MOTHER) -> None:
        self.site = site
        self.phone = phone
        self.texted: list[str] = []

    def text(self, body: str) -> int:
        """Text ``body``; returns how many messages her inbox had before, to wait for the answer after it."""
        before = len(self.site.inbox(self.phone))
        self.site.text(body, self.phone)
        self.texted.append(body)
        return before

    def say(self, step: tuple[str, str], deadline_s: float = 60) -> None:
        self.wait(step[1], self.text(step[0]), deadline_s)

    def wait(self, expect: str, after: int, deadline_s: float = 60) -> None:
        self.site.wait_for_text(expect, self.phone, after=after, deadline_s=deadline_s)


def _outbound_rows(site: Stack) -> int:
    with site.database() as db:
        count: int = db.execute("SELECT count(*) FROM messages WHERE direction = 'out'").fetchone()[0]
        return count


def _last_traffic_at(site: Stack) -> float:
    traffic = http_json("GET", f"{site.control}/transcript?limit=1")["traffic"]
    return float(traffic[-1]["at"]) if traffic else 0.0


def _wait_mid_send(site: Stack, since: float) -> None:
    """Until the gateway has handed the modem an SMS (the PDU and its Ctrl-Z written after ``since``) that the
    modem has not answered yet: the SMS is in the radio, and the gateway does not know what became of it."""

    def in_the_radio() -> bool:
        traffic = http_json("GET", f"{site.control}/transcript?limit=50")["traffic"]
        after = [c for c in traffic if float(c["at"]) > since]
        handed = [i for i, c in enumerate(after) if c["direction"] == "in" and c["hex"].endswith("1a")]
        return bool(handed) and not any(
            c["direction"] == "out" and "+CMGS:" in c["text"] for c in after[handed[-1] :]
        )

    wait_until(in_the_radio, "an SMS in the middle of its submit", 60, site.dead)


def _wait_back(site: Stack, ports: int) -> None:
    """Until the modem is powered on its ``ports``-th port."""

    def back() -> bool:
        state = http_json("GET", f"{site.control}/modem")
        return bool(state["powered"]) and len(state["ports"]) == ports

    wait_until(back, "the modem back after its reboot", 30, site.dead)


def _settled(site: Stack, phone: str) -> list[dict[str, Any]]:
    """Her outbound messages once each has its outcome from the gateway."""

    def all_settled() -> list[dict[str, Any]] | None:
        found = site.messages(phone, direction="out")
        return found if found and all(m["status"] in SETTLED for m in found) else None

    return wait_until(all_settled, "every outbound message's outcome", 60, site.dead)


def _assert_nothing_lost_or_doubled(mother: Mother, *, unknown: int) -> None:
    site = mother.site
    inbound = site.messages(mother.phone, direction="in")
    assert sorted(m["text"] for m in inbound) == sorted(mother.texted)
    phone = Counter(site.inbox(mother.phone))
    assert max(phone.values()) == 1, phone
    outbound = _settled(site, mother.phone)
    statuses = Counter(m["status"] for m in outbound)
    assert statuses["unknown"] == unknown, statuses
    sent = Counter(m["text"] for m in outbound if m["status"] != "unknown")
    assert sent == phone - Counter(m["text"] for m in outbound if m["status"] == "unknown"), (sent, phone)
    assert set(phone) <= {m["text"] for m in outbound}


def test_server_killed_mid_conversation_carries_on(site: Stack) -> None:
    mother = Mother(site)
    mother.say(ALTA)

    # Killed the moment she answers: her SMS is in the modem, the gateway's spool or the server's inbox.
    before = mother.text(NAME[0])
    site.kill("server")
    site.start_server()
    mother.wait(NAME[1], before)

    # Killed the moment the server has committed its reply: the gateway may or may not have leased it yet.
    queued = _outbound_rows(site)
    before = mother.text(PREGNANT[0])
    wait_until(lambda: _outbound_rows(site) > queued, "the reply queued", 60, site.dead)
    site.kill("server")
    site.start_server()
    mother.wait(PREGNANT[1], before)

    _assert_nothing_lost_or_doubled(mother, unknown=0)


def test_gateway_killed_mid_send_carries_on_and_never_sends_twice(slow_site: Stack) -> None:
    site = slow_site
    mother = Mother(site)
    # Killed the moment she texts: her SMS is in the modem's memory or the spool, not yet on the server.
    before = mother.text(ALTA[0])
    site.kill("gateway")
    site.start_gateway()
    mother.wait(ALTA[1], before)

    since = _last_traffic_at(site)
    mother.text(NAME[0])
    _wait_mid_send(site, since)
    site.kill("gateway")
    site.start_gateway()
    # The question may or may not have reached her (the gateway cannot know); she answers it either way.
    mother.say(PREGNANT)

    _assert_nothing_lost_or_doubled(mother, unknown=1)


def test_modem_rebooted_mid_send_and_while_she_texts_carries_on(slow_site: Stack) -> None:
    site = slow_site
    mother = Mother(site)
    mother.say(ALTA)

    since = _last_traffic_at(site)
    mother.text(NAME[0])
    _wait_mid_send(site, since)
    http_json("POST", f"{site.control}/reboot", {})
    _wait_back(site, ports=2)

    # Rebooted again, and she texts while it is down: the network holds her SMS until the modem is back.
    http_json("POST", f"{site.control}/reboot", {})
    mother.say(PREGNANT)

    _assert_nothing_lost_or_doubled(mother, unknown=1)
    # Each reboot made a new port, and the gateway found each one again.
    assert len(http_json("GET", f"{site.control}/modem")["ports"]) == 3
