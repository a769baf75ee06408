"""One table for every Android transport: each app's incoming and outgoing cases run against its fake phone.

A case only says what it is about. The harness checks, for every case and without the case asking:

- **no secret in the logs**: every log record of the run (all loggers, DEBUG and up) is searched for the
  rig's passwords, keys and tokens;
- **every fake response was used**: scripted faults and planted SMS the case never made the transport
  consume mean the case tested less than it claims (``fake.unused()`` is empty);
- **nothing left loopback**: every socket the process connected during the case went to 127.0.0.1.

The tables live in ``tests/gateway/android/cases_<app>.py``; ``tests/gateway/android/test_harness.py`` runs
them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pytest

from gateway.transports.base import Transport
from tests.gateway.android.sink import RecordingSink


class FakePhone(Protocol):
    def unused(self) -> list[str]: ...


@dataclass
class Rig:
    transport: Transport
    sink: RecordingSink
    fake: FakePhone
    secrets: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)


RigFactory = Callable[..., AbstractAsyncContextManager[Rig]]
Direction = Literal["incoming", "outgoing"]


@dataclass(frozen=True)
class Case:
    app: str
    direction: Direction
    name: str
    run: Callable[[Rig], Awaitable[None]]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.app}-{self.direction}-{self.name}"


APPS: dict[str, RigFactory] = {}
CASES: list[Case] = []


def app(name: str) -> Callable[[RigFactory], RigFactory]:
    def add(factory: RigFactory) -> RigFactory:
        APPS[name] = factory
        return factory

    return add


def case(
    app_name: str, direction: Direction, **options: Any
) -> Callable[[Callable[[Rig], Awaitable[None]]], Callable[[Rig], Awaitable[None]]]:
    def add(run: Callable[[Rig], Awaitable[None]]) -> Callable[[Rig], Awaitable[None]]:
        CASES.append(Case(app_name, direction, run.__name__.removeprefix("test_"), run, options))
        return run

    return add


class Connections:
    """Every address this process connected a socket to while the fixture was active."""

    def __init__(self) -> None:
        self.targets: list[Any] = []

    def not_loopback(self) -> list[Any]:
        return [
            t
            for t in self.targets
            if not (isinstance(t, tuple) and t[0] in ("127.0.0.1", "::ffff:127.0.0.1"))
        ]


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Connections:
    seen = Connections()
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        seen.targets.append(address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        seen.targets.append(address)
        return original_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return seen


def _log_text(records: list[logging.LogRecord]) -> str:
    lines = []
    for record in records:
        lines.append(record.getMessage())
        if record.exc_text:
            lines.append(record.exc_text)
        elif record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(lines)


async def run_case(case_: Case, caplog: pytest.LogCaptureFixture, connections: Connections) -> None:
    caplog.set_level(logging.DEBUG)
    async with APPS[case_.app](**case_.options) as rig:
        await case_.run(rig)
        unused = rig.fake.unused()
        secrets = [s for s in rig.secrets if s]
    assert not unused, f"the fake phone still holds what the case never used: {unused}"
    logged = _log_text(caplog.records)
    leaked = [s for s in secrets if s in logged]
    assert not leaked, "a secret appears in the logs"
    assert connections.targets, "the case made no connection at all"
    assert not connections.not_loopback(), f"connections left loopback: {connections.not_loopback()}"


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


def load_tables() -> list[Case]:
    """Import every app's table (each registers its rig and cases on import)."""
    from tests.gateway.android import (  # noqa: F401
        cases_envaya,
        cases_smsgate,
        cases_smsgate_private,
        cases_smssync,
    )

    return CASES
