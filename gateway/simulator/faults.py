"""Timing and faults as data: what the virtual modem does wrong, when, and how slowly.

A :class:`FaultPlan` is plain data (it loads from a TOML or JSON mapping, see ``docs/simulator.md``), and every
random choice it implies is drawn from one ``random.Random(seed)`` in command order, so a run with the same
seed and the same commands is the same run, byte for byte.

Rules name the command they apply to the way it is written after ``AT``, upper-cased and without its
arguments: ``+CMGS``, ``+CSQ``, ``E`` (for ``ATE0``), ``Z``, ``""`` for a bare ``AT``, or ``*`` for any command.
For ``+CMGS`` the rule's ``phase`` says whether it hits the command line (``AT+CMGS=<n>`` answered by the
``> `` prompt) or the PDU that follows (answered by ``+CMGS: <mr>``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

ErrorKind = Literal["cms", "cme", "plain"]
Phase = Literal["command", "pdu"]


@dataclass(frozen=True)
class Trigger:
    """Which occurrences of a command a rule hits: the ``nth`` one (1-based), or each with ``probability``."""

    command: str
    phase: Phase = "command"
    nth: int | None = None
    probability: float = 1.0
    times: int | None = None  # stop after this many hits

    def matches(self, command: str, phase: Phase) -> bool:
        return (self.command == "*" or self.command == command) and self.phase == phase


@dataclass(frozen=True)
class Latency:
    """Seconds between the end of a command and its final result, plus up to ``jitter`` more, at random.

    A late reply is a latency longer than the host's timeout: the answer still comes, after the host gave up.
    """

    trigger: Trigger
    seconds: float
    jitter: float = 0.0


@dataclass(frozen=True)
class ErrorFault:
    """Answer with ``+CMS ERROR``/``+CME ERROR: <code>`` (or plain ``ERROR``) instead of doing the command."""

    trigger: Trigger
    kind: ErrorKind
    code: int = 0


@dataclass(frozen=True)
class Injection:
    """Bytes spliced into a response at ``offset`` (clamped to its length; negative counts from the end).

    The bytes may be a URC (``\\r\\n+CMTI: "SM",3\\r\\n``), noise (``\\r\\n^RSSI:17\\r\\n``) or garbage that is not
    UTF-8 at all. The ``+CMGS`` prompt ``\\r\\n> `` has four bytes, so ``command="+CMGS", offset=4`` lands
    after the prompt, while the host is writing its PDU.
    """

    trigger: Trigger
    data: bytes
    offset: int = 0


@dataclass(frozen=True)
class Timing:
    """The modem's own pace (all in seconds). Tests set everything near zero; the CLI keeps real-ish values."""

    command: float = 0.0  # every command
    submit: float = 0.0  # network time of one +CMGS, on top of ``command``
    link_setup: float = 0.0  # extra for a +CMGS that has to open the relay link (saved by AT+CMMS)
    link_hold: float = 5.0  # how long AT+CMMS keeps the link open after a submit
    ussd: float = 0.0  # between OK and the +CUSD answer
    reboot: float = 0.0  # between the port going away (AT+CFUN=1,1, a reboot) and the new one appearing
    boot: float = 0.0  # between a port appearing and the firmware answering, with its boot URCs first
    report_after: float | None = None  # delivery report this long after each submit that asked for one


@dataclass(frozen=True)
class FaultPlan:
    timing: Timing = Timing()
    latencies: tuple[Latency, ...] = ()
    errors: tuple[ErrorFault, ...] = ()
    injections: tuple[Injection, ...] = ()
    sim_busy_for: float = 0.0  # after power-up, SIM commands answer +CME ERROR: 14 this long
    register_after: float = 0.0  # after power-up, +CREG says "searching" (2) this long
    noise_interval: float | None = None  # overrides the profile's interval between noise URCs
    garbage_on_boot: bytes = b""  # what a modem spits while it powers up, before its boot URCs

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultPlan:
        """Build a plan from parsed TOML/JSON; unknown keys are errors, so a typo never silently does nothing."""
        _only(data, {f.name for f in fields(cls)}, "fault plan")
        timing = data.get("timing", {})
        _only(timing, {f.name for f in fields(Timing)}, "timing")
        return cls(
            timing=Timing(
                **{k: _number(v, f"timing.{k}", allow_none=k == "report_after") for k, v in timing.items()}
            ),
            latencies=tuple(
                Latency(
                    _trigger(item),
                    _number(item.get("seconds", 0.0), "seconds"),
                    _number(item.get("jitter", 0.0), "jitter"),
                )
                for item in _items(data, "latencies", {"seconds", "jitter"})
            ),
            errors=tuple(
                ErrorFault(_trigger(item), _kind(item.get("kind", "cms")), int(item.get("code", 0)))
                for item in _items(data, "errors", {"kind", "code"})
            ),
            injections=tuple(
                Injection(_trigger(item), _bytes(item), int(item.get("offset", 0)))
                for item in _items(data, "injections", {"offset", "text", "hex"})
            ),
            sim_busy_for=_number(data.get("sim_busy_for", 0.0), "sim_busy_for"),
            register_after=_number(data.get("register_after", 0.0), "register_after"),
            noise_interval=_number(data["noise_interval"], "noise_interval")
            if "noise_interval" in data
            else None,
            garbage_on_boot=bytes.fromhex(str(data.get("garbage_on_boot", ""))),
        )


class FaultState:
    """The running side of a plan: occurrence counters, hit counters and the seeded random source."""

    def __init__(self, plan: FaultPlan, seed: int) -> None:
        self.plan = plan
        self.random = random.Random(seed)  # noqa: S311 - fault injection, not security
        self._seen: dict[tuple[str, Phase], int] = {}
        self._hits: dict[tuple[str, int], int] = {}
        self.armed: list[Injection] = []  # one-shot injections added at run time (a URC "during" a command)

    def count(self, command: str, phase: Phase) -> None:
        key = (command, phase)
        self._seen[key] = self._seen.get(key, 0) + 1

    def _fires(self, rule_id: tuple[str, int], trigger: Trigger, command: str, phase: Phase) -> bool:
        if not trigger.matches(command, phase):
            return False
        if trigger.times is not None and self._hits.get(rule_id, 0) >= trigger.times:
            return False
        seen = self._seen.get((command, phase), 0)
        if trigger.nth is not None and seen != trigger.nth:
            return False
        if trigger.probability < 1.0 and self.random.random() >= trigger.probability:
            return False
        self._hits[rule_id] = self._hits.get(rule_id, 0) + 1
        return True

    def error_for(self, command: str, phase: Phase) -> ErrorFault | None:
        for index, rule in enumerate(self.plan.errors):
            if self._fires(("error", index), rule.trigger, command, phase):
                return rule
        return None

    def latency_for(self, command: str, phase: Phase) -> float:
        total = 0.0
        for index, rule in enumerate(self.plan.latencies):
            if self._fires(("latency", index), rule.trigger, command, phase):
                total += rule.seconds + (self.random.uniform(0.0, rule.jitter) if rule.jitter else 0.0)
        return total

    def inject(self, command: str, phase: Phase, response: bytes) -> bytes:
        for index, rule in enumerate(self.plan.injections):
            if self._fires(("injection", index), rule.trigger, command, phase):
                response = splice(response, rule.data, rule.offset)
        for rule in list(self.armed):
            if rule.trigger.matches(command, phase):
                self.armed.remove(rule)
                response = splice(response, rule.data, rule.offset)
        return response


def splice(response: bytes, data: bytes, offset: int) -> bytes:
    position = offset if offset >= 0 else len(response) + 1 + offset
    position = max(0, min(position, len(response)))
    return response[:position] + data + response[position:]


# --- loading from TOML/JSON -----------------------------------------------------------------------------


def _only(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a table")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"unknown key(s) in {where}: {', '.join(unknown)}")


_TRIGGER_KEYS = {"command", "phase", "nth", "probability", "times"}


def _items(data: Mapping[str, Any], key: str, own: set[str]) -> list[Mapping[str, Any]]:
    items = data.get(key, [])
    if not isinstance(items, list):
        raise ValueError(f"{key} must be a list of tables")
    for item in items:
        _only(item, own | _TRIGGER_KEYS, key)
    return items


def _number(value: Any, where: str, *, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{where} must be a number of seconds ≥ 0")
    return float(value)


def _trigger(item: Mapping[str, Any]) -> Trigger:
    phase = item.get("phase", "command")
    if phase not in ("command", "pdu"):
        raise ValueError(f"phase must be 'command' or 'pdu', not {phase!r}")
    probability = float(item.get("probability", 1.0))
    if not 0.0 <= probability <= 1.0:
        raise ValueError("probability must be between 0 and 1")
    nth = item.get("nth")
    times = item.get("times")
    return Trigger(
        command=str(item.get("command", "*")).upper(),
        phase=phase,
        nth=None if nth is None else int(nth),
        probability=probability,
        times=None if times is None else int(times),
    )


def _kind(value: Any) -> ErrorKind:
    if value not in ("cms", "cme", "plain"):
        raise ValueError(f"error kind must be cms, cme or plain, not {value!r}")
    kind: ErrorKind = value
    return kind


def _bytes(item: Mapping[str, Any]) -> bytes:
    if "hex" in item:
        return bytes.fromhex(str(item["hex"]))
    text = str(item.get("text", ""))
    return text.replace("\\r", "\r").replace("\\n", "\n").encode("utf-8")


__all__ = [
    "ErrorFault",
    "FaultPlan",
    "FaultState",
    "Injection",
    "Latency",
    "Phase",
    "Timing",
    "Trigger",
]
