"""A conversation with a flow, without a server: what ``recado flows try`` and the golden tests drive.

The simulator holds what the server would hold (the contact, the session, the time) and turns each thing
that can happen into a ``start`` or ``resume`` of the engine: the contact replies, time passes (a wait times
out or the session expires when its moment comes), the clock jumps. Time is passed in and moved by hand, so
a conversation runs the same way every time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from flows import engine
from flows.contact import Assets, Contact
from flows.env import Environment
from flows.events import Event, SessionWaiting
from flows.model import Flow

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration(text: str) -> dt.timedelta:
    """``90s``, ``15m``, ``2h``, ``3d``, ``1w`` → a timedelta; ``ValueError`` with the accepted forms."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration; write e.g. 30m, 2h, 3d or 1w")
    return dt.timedelta(seconds=int(match[1]) * _UNITS[match[2].lower()])


def sequential_ids(prefix: str = "5e55") -> Callable[[], str]:
    """Readable, repeatable uuids for simulated sessions."""
    numbers = itertools.count(1)
    return lambda: f"{prefix}0000-0000-4000-8000-{next(numbers):012d}"


@dataclass
class Simulator:
    flow: Flow
    assets: Assets
    contact: Contact
    env: Environment  # its ``now`` is the simulated time, moved by ``wait`` and ``travel``
    ids: Callable[[], str] = field(default_factory=sequential_ids)
    session: dict[str, object] | None = None
    waiting: SessionWaiting | None = None
    history: list[Event] = field(default_factory=list)

    @property
    def now(self) -> dt.datetime:
        return self.env.now

    @property
    def ended(self) -> bool:
        return self.session is None

    def _apply(self, step: engine.Step) -> list[Event]:
        self.contact = step.contact
        self.session = step.session
        self.waiting = next((e for e in reversed(step.events) if isinstance(e, SessionWaiting)), None)
        if step.session is None:
            self.waiting = None
        self.history.extend(step.events)
        return list(step.events)

    def start(self, text: str | None = None) -> list[Event]:
        """Start the flow, as a keyword message ``text`` would (or as a campaign would, without one)."""
        msg = engine.Msg(text, created_on=self.now) if text is not None else None
        step = engine.start(self.flow, self.contact, env=self.env, assets=self.assets, ids=self.ids, msg=msg)
        return self._apply(step)

    def restart(self) -> list[Event]:
        """Forget the session (the contact keeps what the flow wrote) and start again."""
        self.session = None
        self.waiting = None
        return self.start()

    def _resume(self, event: engine.Resume) -> list[Event]:
        if self.session is None:
            return []
        step = engine.resume(
            self.session, self.contact, event, env=self.env, assets=self.assets, ids=self.ids
        )
        return self._apply(step)

    def reply(self, text: str) -> list[Event]:
        """The contact sends ``text``. Once the session has ended a reply starts nothing (no triggers here)."""
        return self._resume(engine.Msg(text, created_on=self.now))

    def travel(self, moment: dt.datetime) -> None:
        """Jump the clock to ``moment`` without letting waits time out (to test dates in expressions)."""
        if moment.tzinfo is None:
            raise ValueError("the time to travel to needs a timezone")
        self.env = dataclasses.replace(self.env, now=moment)

    def wait(self, duration: dt.timedelta) -> list[Event]:
        """Let ``duration`` pass: a timeout or an expiry that falls within it happens, at its moment."""
        until = self.now + duration
        events: list[Event] = []
        while self.waiting is not None:
            due: tuple[dt.datetime, engine.Resume] | None = None
            if self.waiting.timeout_on is not None and self.waiting.timeout_on <= until:
                due = (self.waiting.timeout_on, engine.TimedOut())
            if self.waiting.expires_on <= until and (due is None or self.waiting.expires_on < due[0]):
                due = (self.waiting.expires_on, engine.Expired())
            if due is None:
                break
            self.travel(max(due[0], self.now))
            events.extend(self._resume(due[1]))
        self.travel(until)
        return events
