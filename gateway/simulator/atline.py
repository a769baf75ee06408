"""Splitting an AT command line into commands (V.250 §5.2 and 27.007 §4): ``AT+CMGF=0;+CNMI=2,1,0,2,0E0``.

Basic commands are a letter (or ``&`` and a letter) with an optional number; extended ones start with ``+``,
``^``, ``$`` or ``%`` and run to the next ``;`` outside quotes. Each command has a form: action (``+CSQ``),
read (``+CPIN?``), test (``+CMGF=?``) or set (``+CMGF=0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Form = Literal["action", "read", "test", "set"]


@dataclass(frozen=True)
class Command:
    name: str  # upper-case, without arguments: "+CMGS", "E", "&F", "" for a bare AT
    form: Form
    args: str  # what follows "=" (set form) or the number of a basic command, as written

    @property
    def params(self) -> list[str]:
        """Comma-separated parameters with quotes removed; an omitted parameter is ""."""
        return [p.strip('"') for p in split_params(self.args)] if self.args else []


class LineError(ValueError):
    """A command line the modem cannot parse; it answers ERROR."""


def split_params(args: str) -> list[str]:
    params: list[str] = []
    current: list[str] = []
    quoted = False
    for char in args:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            params.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if quoted:
        raise LineError("unterminated string")
    params.append("".join(current).strip())
    return params


def _extended(text: str) -> Command:
    for index, char in enumerate(text):
        if char in "=?":
            name = text[:index].upper()
            rest = text[index:]
            if rest == "?":
                return Command(name, "read", "")
            if rest == "=?":
                return Command(name, "test", "")
            if rest.startswith("="):
                return Command(name, "set", rest[1:])
            raise LineError(f"cannot parse {text!r}")
    return Command(text.upper(), "action", "")


def parse_line(body: str) -> list[Command]:
    """The commands of one line, ``body`` being what follows ``AT``."""
    if not body.strip():
        return [Command("", "action", "")]
    commands: list[Command] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char in " ;":
            index += 1
        elif char in "+^$%":
            end = index + 1
            quoted = False
            while end < len(body) and (quoted or body[end] != ";"):
                if body[end] == '"':
                    quoted = not quoted
                end += 1
            if quoted:
                raise LineError("unterminated string")
            commands.append(_extended(body[index:end].strip()))
            index = end + 1
        elif char.isalpha() or char == "&":
            start = index
            index += 2 if char == "&" else 1
            name = body[start:index].upper()
            if name == "S":  # S-registers: ATS0=1, ATS3?
                while index < len(body) and body[index].isdigit():
                    index += 1
                name = body[start:index].upper()
                if body[index : index + 1] == "?":
                    commands.append(Command(name, "read", ""))
                    index += 1
                    continue
                if body[index : index + 1] == "=":
                    value_start = index + 1
                    index = value_start
                    while index < len(body) and body[index].isdigit():
                        index += 1
                    commands.append(Command(name, "set", body[value_start:index]))
                    continue
                commands.append(Command(name, "action", ""))
                continue
            value_start = index
            while index < len(body) and body[index].isdigit():
                index += 1
            commands.append(Command(name, "action", body[value_start:index]))
        else:
            raise LineError(f"unexpected {char!r}")
    return commands
