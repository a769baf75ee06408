"""When a phone that dials in (EnvayaSMS, SMSSync, SMSGate in private-server mode) last called the gateway,
kept on disk so that ``recado phone list`` can tell the technician, whether the gateway is running or not.

The gateway knows it in memory (:class:`.dialin.DialInChannel` judges health by it); this file is its
shadow, one small JSON file per phone next to the phone book (``calls/<phone>.json``). A phone polls every
few seconds, so the file is written at most once every :data:`RECORD_EVERY_S` and off the event loop: it may
be that much behind the truth, never more, because a call that falls inside the pause is written when the
pause ends, and the last one when the channel stops.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

from gateway.private_files import write_private

log = logging.getLogger(__name__)

RECORD_EVERY_S = 60.0


class LastCallError(ValueError):
    pass


@dataclass(frozen=True)
class LastCall:
    at: float  # Unix time of the call
    battery: int | None = None  # percent, the last level the phone reported


def path_for(book: Path, phone: str) -> Path:
    """The file of the phone named ``phone`` in the phone book ``book``."""
    return book.parent / "calls" / f"{quote(phone, safe='')}.json"


def read(path: Path) -> LastCall | None:
    """The last recorded call, or None when the phone never called this gateway."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise LastCallError(f"cannot read {path}: {error.strerror or error}") from error
    try:
        data = json.loads(raw)
        at, battery = data["at"], data.get("battery")
    except (ValueError, KeyError, TypeError) as error:
        raise LastCallError(f"{path} is not a record of calls: {error}") from error
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise LastCallError(f"{path} is not a record of calls: `at` is not a time")
    if isinstance(battery, bool) or not isinstance(battery, int | None):
        battery = None
    return LastCall(float(at), battery)


def write(path: Path, call: LastCall) -> None:
    write_private(path, (json.dumps(asdict(call)) + "\n").encode("utf-8"))


class CallRecorder:
    """Writes a channel's calls to its phone's file, at most once every ``every_s``."""

    def __init__(self, path: Path, every_s: float = RECORD_EVERY_S) -> None:
        self.path = path
        self.every_s = every_s
        self._latest: LastCall | None = None
        self._written: LastCall | None = None
        self._written_at: float | None = None  # loop time of the last write
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._failing = False

    def seen(self, call: LastCall) -> None:
        """A call: written now if the pause is over, otherwise when it ends (with whatever came last)."""
        self._latest = call
        if self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        wait = 0.0 if self._written_at is None else self._written_at + self.every_s - loop.time()
        # Even a write due now waits for the next turn of the loop: the phone's request is answered first.
        self._timer = loop.call_later(max(0.0, wait), self._write)

    def _write(self) -> None:
        self._timer = None
        call = self._latest
        if call is None or call == self._written:
            return
        loop = asyncio.get_running_loop()
        self._written, self._written_at = call, loop.time()
        task = loop.create_task(self._save(call))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _save(self, call: LastCall) -> None:
        try:
            await asyncio.to_thread(write, self.path, call)
        except OSError as error:
            if not self._failing:  # once per failing spell, not once a minute
                log.warning("cannot record the phone's last call in %s: %s", self.path, error)
            self._failing = True
        else:
            self._failing = False

    async def close(self) -> None:
        """Write what is not written yet (the channel stops: its last call must not be lost)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writes:  # first, so that an older write cannot land after the last one
            await asyncio.gather(*self._writes, return_exceptions=True)
        if self._latest is not None and self._latest != self._written:
            self._written = self._latest
            await self._save(self._latest)
