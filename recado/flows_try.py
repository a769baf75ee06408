"""``recado flows try``: talk to a flow in the terminal as the contact would, before it reaches anyone's phone.

Interactive on a terminal (``/wait 2h``, ``/now 2027-03-01``, ``/fields``, ``/results``, ``/restart``,
``/quit``); when standard input is not a terminal, each line is a reply (or a command) and every message the
flow sends is printed on its own line, so a conversation can be scripted and compared.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

import click

from flows.contact import Assets, Contact
from flows.env import Environment, zone
from flows.errors import FlowFileError
from flows.events import (
    AlertRaised,
    ErrorEvent,
    Event,
    FailureEvent,
    MsgCreated,
    RunResultChanged,
    SessionEnded,
    SessionWaiting,
    WebhookCalled,
)
from flows.model import FieldDef, Flow, Programme
from flows.simulator import Simulator, parse_duration
from flows.values.convert import XError, to_date, to_datetime, to_number

HELP = """commands:
  /wait 2h        let time pass (30m, 2h, 3d, 1w): a timeout or expiry in that time fires
  /now 2027-03-01 move the clock to a date (or 2027-03-01T09:30) without firing anything
  /fields         the contact's fields
  /results        the results the conversation recorded
  /restart        start the flow again (the contact keeps its fields)
  /quit           leave
anything else is the contact's reply"""


def load_programme_from(path: Path) -> Programme:
    """A programme folder, one native flow file, or a RapidPro export (``.json``)."""
    if path.is_dir():
        from flows.programme import load_programme

        return load_programme(path)
    if path.suffix.lower() == ".json":
        from flows.rapidpro import import_export
        from recado.flows_import import read_export

        programme, _ = import_export(read_export(path), str(path))
        return programme
    from flows.native import load_flow

    flow = load_flow(path)
    return Programme(name=flow.name, flows=(flow,), languages=(flow.language,))


def pick_flow(programme: Programme, name: str | None) -> Flow:
    if not programme.flows:
        raise click.ClickException("there is no flow in it")
    if name is None:
        return programme.flows[0]
    for flow in programme.flows:
        if flow.name.casefold() == name.casefold():
            return flow
    names = ", ".join(repr(flow.name) for flow in programme.flows)
    raise click.ClickException(f"there is no flow named {name!r}; the flows are {names}")


def parse_moment(text: str, timezone: str) -> dt.datetime:
    """A date (midnight) or a datetime, in the programme's timezone unless it says otherwise."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date; write 2027-03-01 or 2027-03-01T09:30") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=zone(timezone))


def contact_fields(
    pairs: Sequence[str], definitions: Iterable[FieldDef], env: Environment
) -> dict[str, object]:
    """``key=value`` pairs typed by the programme's field definitions (a number, a day-first date, ...)."""
    types = {definition.key: definition.value_type for definition in definitions}
    fields: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: write field=value", param_hint="--contact")
        kind = types.get(key, "text")
        value: object = text
        if kind == "number":
            value = to_number(text.strip(), env)
        elif kind == "date":
            value = to_date(text, env)
        elif kind == "datetime":
            value = to_datetime(text, env)
        if isinstance(value, XError):
            raise click.BadParameter(f"{key} is a {kind} field: {value.message}", param_hint="--contact")
        fields[key] = value
    return fields


class Console:
    """How events are shown: chat-like on a terminal, one message per line when scripted."""

    def __init__(self, out: TextIO, err: TextIO, scripted: bool) -> None:
        self.out = out
        self.err = err
        self.scripted = scripted

    def note(self, text: str) -> None:
        print(f"# {text}" if self.scripted else click.style(f"  {text}", fg="bright_black"), file=self.err)

    def show(self, events: Iterable[Event]) -> None:
        for event in events:
            if isinstance(event, MsgCreated):
                self._message(event)
            elif isinstance(event, AlertRaised):
                self.note(f"ALERT raised: {event.reason}")
            elif isinstance(event, WebhookCalled):
                self.note(f"webhook {event.method} {event.url} (not called in the simulator)")
            elif isinstance(event, ErrorEvent | FailureEvent):
                self.note(f"{event.type}: {event.text}")
            elif isinstance(event, SessionWaiting) and event.timeout_on is not None:
                self.note(f"waiting for a reply; times out at {event.timeout_on.isoformat()}")
            elif isinstance(event, SessionEnded):
                self.note(f"conversation {event.status}")

    def _message(self, event: MsgCreated) -> None:
        if self.scripted:
            print(event.text.replace("\r", "").replace("\n", "\\n"), file=self.out)
        else:
            for line in event.text.splitlines() or [""]:
                print(click.style(f"◀ {line}", fg="cyan"), file=self.out)
        if event.quick_replies:
            self.note("quick replies: " + " | ".join(event.quick_replies))
        self.out.flush()


def latest_results(events: Iterable[Event]) -> dict[str, RunResultChanged]:
    results: dict[str, RunResultChanged] = {}
    for event in events:
        if isinstance(event, RunResultChanged):
            results[event.key] = event
    return results


def handle(line: str, simulator: Simulator, console: Console) -> bool:
    """One line of input; False when the user asked to leave."""
    command, _, argument = line.strip().partition(" ")
    if not line.startswith("/"):
        if simulator.ended:
            console.note("the conversation has ended; /restart to begin again")
            return True
        console.show(simulator.reply(line))
        return True
    try:
        if command == "/quit":
            return False
        if command == "/help":
            console.note(HELP)
        elif command == "/wait":
            console.show(simulator.wait(parse_duration(argument)))
            console.note(f"it is now {simulator.now.isoformat()}")
        elif command == "/now":
            simulator.travel(parse_moment(argument, simulator.env.timezone))
            console.note(f"it is now {simulator.now.isoformat()}")
        elif command == "/fields":
            for key, value in sorted(simulator.contact.fields.items()):
                console.note(f"{key} = {value}")
            if not simulator.contact.fields:
                console.note("no fields set")
        elif command == "/results":
            for key, result in latest_results(simulator.history).items():
                console.note(f"{key} = {result.value!r} ({result.category})")
        elif command == "/restart":
            simulator.history.clear()
            console.show(simulator.restart())
        else:
            console.note(f"unknown command {command}; /help lists them")
    except ValueError as exc:
        console.note(str(exc))
    return True


@click.command("try")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--flow", "flow_name", help="Which flow of a programme or export (default: the first).")
@click.option(
    "--contact", "fields", multiple=True, metavar="FIELD=VALUE", help="A contact field (repeatable)."
)
@click.option("--name", default="Ana", show_default=True, help="The contact's name.")
@click.option("--language", help="The contact's language (ISO 639-3, e.g. spa).")
@click.option("--keyword", help="Start as if the contact had sent this message (a keyword trigger).")
@click.option("--now", "now_text", help="The time the conversation starts (default: now).")
@click.option(
    "--timezone", default="America/Mexico_City", show_default=True, help="The programme's timezone."
)
def try_command(
    source: Path,
    flow_name: str | None,
    fields: tuple[str, ...],
    name: str,
    language: str | None,
    keyword: str | None,
    now_text: str | None,
    timezone: str,
) -> None:
    """Talk to a flow as the contact: SOURCE is a flow file, a programme folder or a RapidPro export."""
    try:
        zone(timezone)
        programme = load_programme_from(source)
        now = parse_moment(now_text, timezone) if now_text else dt.datetime.now(dt.UTC)
    except FlowFileError as exc:
        raise click.ClickException(str(exc)) from exc
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    flow = pick_flow(programme, flow_name)
    languages = programme.languages or (flow.language,)
    env = Environment(
        now=now,
        timezone=timezone,
        allowed_languages=languages,
        default_language=languages[0],
        rand=random.random,
    )
    contact = Contact(
        uuid="00000000-0000-4000-8000-00000000c0de",
        name=name,
        language=language or languages[0],
        phone="+525500000000",
        fields=contact_fields(fields, programme.fields, env),
    )
    scripted = not sys.stdin.isatty()
    console = Console(sys.stdout, sys.stderr, scripted)
    simulator = Simulator(flow, Assets.from_programme(programme), contact, env)
    if not scripted:
        console.note(f"talking to {flow.name!r} as {name}; type a reply, or /help")
    console.show(simulator.start(keyword))
    stdin = sys.stdin
    while True:
        if not scripted:
            click.echo(click.style("▶ ", fg="green"), nl=False)
        line = stdin.readline()
        if not line:
            break
        if not handle(line.rstrip("\r\n"), simulator, console):
            break
