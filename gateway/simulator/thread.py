"""A virtual modem on its own thread and event loop, for blocking code: pyserial tests, other drivers.

Blocking reads on the pty from the thread that runs the simulator's loop would starve it; here the modem has
its own loop, and every control call is carried over to it and waited for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from gateway.simulator.engine import ModemConfig
from gateway.simulator.faults import FaultPlan
from gateway.simulator.modem import VirtualModem

T = TypeVar("T")


class ModemThread:
    def __init__(
        self,
        config: ModemConfig | None = None,
        faults: FaultPlan | None = None,
        *,
        seed: int = 0,
        link: Path | None = None,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="virtual-modem", daemon=True)
        self._args = (config, faults, seed, link)
        self._modem: VirtualModem | None = None

    def start(self) -> ModemThread:
        self._thread.start()
        config, faults, seed, link = self._args

        async def create() -> VirtualModem:
            return await VirtualModem(config, faults, seed=seed, link=link).start()

        self._modem = self.run(create())
        return self

    def stop(self) -> None:
        if self._modem is not None:
            self.run(self._modem.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> ModemThread:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def modem(self) -> VirtualModem:
        """The modem itself; read its plain attributes freely, but change it only through :meth:`call`."""
        assert self._modem is not None, "start() first"
        return self._modem

    @property
    def port(self) -> str:
        return self.call(lambda m: m.port)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the modem's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def call(self, work: Callable[[VirtualModem], T], timeout: float = 30.0) -> T:
        """Run ``work(modem)`` on the modem's loop (where it is safe to change it) and return its result."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def invoke() -> None:
            try:
                future.set_result(work(self.modem))
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(invoke)
        return future.result(timeout)

    def wait_for(self, condition: Callable[[VirtualModem], bool], timeout: float = 5.0) -> None:
        modem = self.modem
        self.run(modem.wait_for(lambda: condition(modem), timeout), timeout + 1)
