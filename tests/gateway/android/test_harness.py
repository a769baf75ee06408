"""Every Android transport's incoming and outgoing cases, run by the one harness (tests/gateway/harness.py)."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from gateway.transports.fake import FakeTransport
from tests.gateway import harness
from tests.gateway.android.sink import RecordingSink
from tests.gateway.harness import Case, Connections, connections  # noqa: F401 - the fixture

TABLE = harness.load_tables()


@pytest.mark.parametrize("case", TABLE, ids=[c.id for c in TABLE])
async def test_case(case: Case, caplog: pytest.LogCaptureFixture, connections: Connections) -> None:  # noqa: F811
    await harness.run_case(case, caplog, connections)


def test_every_app_has_incoming_and_outgoing_cases() -> None:
    for app in harness.APPS:
        directions = {c.direction for c in TABLE if c.app == app}
        assert directions == {"incoming", "outgoing"}, app


class _Fake:
    def __init__(self, left: list[str]) -> None:
        self.left = left

    def unused(self) -> list[str]:
        return self.left


def _rig_factory(left: list[str]) -> harness.RigFactory:
    @asynccontextmanager
    async def make(**_: Any) -> AsyncIterator[harness.Rig]:
        yield harness.Rig(
            transport=FakeTransport("x"), sink=RecordingSink(), fake=_Fake(left), secrets=("pa55-w0rd",)
        )

    return make


def _touch(address: str) -> None:
    with socket.socket() as sock:
        sock.settimeout(1)
        sock.connect_ex((address, 9))  # refused at once: loopback never answers on the discard port


@pytest.mark.parametrize(
    ("left", "act", "complaint"),
    [
        (["script POST /messages 500"], lambda: _touch("127.0.0.1"), "never used"),
        ([], lambda: logging.getLogger("gateway").warning("login with pa55-w0rd"), "secret"),
        ([], lambda: _touch("127.0.0.2"), "left loopback"),
        ([], lambda: None, "no connection"),
    ],
)
async def test_the_harness_catches_what_it_promises(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    connections: Connections,  # noqa: F811
    left: list[str],
    act: Callable[[], None],
    complaint: str,
) -> None:
    monkeypatch.setitem(harness.APPS, "dummy", _rig_factory(left))

    async def run(rig: harness.Rig) -> None:
        act()

    with pytest.raises(AssertionError, match=complaint):
        await harness.run_case(Case("dummy", "incoming", "dummy", run), caplog, connections)
