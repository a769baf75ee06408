"""``recado phone chat``: be the mother's basic phone in the demo.

What you type is texted to the site's virtual modem through the modem's control API (as a phone on the network
would), and what the programme answers is printed as the modem sends it, after its trip through the whole
stack: modem, gateway, server, flow engine and back. Lines starting with ``/`` are for the demo instead:
``/advance 7d`` moves the demo clock (so the weekly messages come), ``/alerts`` lists the alerts staff see,
``/clock`` shows the demo's time, ``/quit`` ends.

Addresses and the demo admin's login come from ``demo-chat.json``, which ``recado demo`` keeps in its data
directory. Without a terminal (a pipe, or ``--script FILE``) it prints one line per event and, after each
line it sends, waits for the answers to stop coming before the next: a script reads like the conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import aiohttp
import click
import platformdirs

CHAT_FILE = "demo-chat.json"  # written by ``recado demo``
POLL_S = 0.2
HELP = "Type a message to text it. /advance 7d (or 2h, 3d, 1w) moves the clock; /alerts, /clock, /quit."


class ChatError(click.ClickException):
    pass


@dataclass(frozen=True)
class ChatSettings:
    server: str
    control: str
    user: str
    password: str
    phone: str


def load_settings(data_dir: Path, control: str | None, server: str | None) -> ChatSettings:
    """``demo-chat.json`` from the demo's data directory, with the addresses given on the command line on top."""
    path = data_dir / CHAT_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ChatError(
            f"no {path}: start the demo first (`make run` or `recado demo --data-dir DIR`)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ChatError(f"{path}: {exc}") from exc
    values = {
        "server": server or saved.get("server"),
        "control": control or saved.get("control"),
        "user": saved.get("user"),
        "password": saved.get("password"),
        "phone": saved.get("phone"),
    }
    missing = [key for key, value in values.items() if not isinstance(value, str) or not value]
    if missing:
        hint = " (the demo runs without its virtual modem: give --control)" if "control" in missing else ""
        raise ChatError(f"{path} does not say {', '.join(missing)}{hint}")
    return ChatSettings(**{key: str(value).rstrip("/") for key, value in values.items()})


class Demo:
    """The two HTTP services the chat talks to: the modem's control API (as the phone) and the server (as
    the demo admin, logging in again when the session ran out, which a moved clock makes happen often)."""

    def __init__(self, http: aiohttp.ClientSession, settings: ChatSettings, phone: str) -> None:
        self.http = http
        self.settings = settings
        self.phone = quote(phone)
        self._token: str | None = None

    async def _json(self, method: str, url: str, what: str, **kwargs: Any) -> Any:
        try:
            async with self.http.request(method, url, **kwargs) as response:
                body = await response.json(content_type=None)
                if response.status >= 400:
                    error = body.get("error") if isinstance(body, dict) else None
                    message = error.get("message") if isinstance(error, dict) else error
                    raise ChatError(f"{what}: HTTP {response.status}: {message or body}")
                return body
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ChatError(
                f"{what} at {url} does not answer ({type(exc).__name__}): is the demo running?"
            ) from None

    async def text(self, body: str) -> None:
        url = f"{self.settings.control}/phones/{self.phone}/sms"
        await self._json("POST", url, "the virtual modem", json={"text": body})

    async def inbox(self) -> list[str]:
        url = f"{self.settings.control}/phones/{self.phone}/inbox"
        found = await self._json("GET", url, "the virtual modem")
        return [m["text"] for m in found["messages"] if m.get("complete", True)]

    async def _login(self) -> str:
        body = {"username": self.settings.user, "password": self.settings.password}
        answer = await self._json(
            "POST", f"{self.settings.server}/api/v1/auth/login", "the server", json=body
        )
        return str(answer["token"])

    async def api(self, method: str, path: str, body: Any = None) -> Any:
        for attempt in range(2):
            if self._token is None:
                self._token = await self._login()
            headers = {"Authorization": f"Bearer {self._token}"}
            try:
                return await self._json(
                    method, self.settings.server + path, "the server", json=body, headers=headers
                )
            except ChatError as exc:
                if attempt or "HTTP 401" not in str(exc):
                    raise
                self._token = None
        raise AssertionError("unreachable")


async def _lines(source: TextIO, interactive: bool) -> AsyncIterator[str]:
    """Lines as they are typed (a terminal is watched by the loop, so replies print while she types), or
    read one after the other from a script, whose pace the chat sets itself."""
    if not interactive:
        for line in source:
            yield line.strip()
        return
    loop = asyncio.get_running_loop()
    typed: asyncio.Queue[str] = asyncio.Queue()
    loop.add_reader(source.fileno(), lambda: typed.put_nowait(source.readline()))
    try:
        while line := await typed.get():  # "" is the end of input (Ctrl-D)
            yield line.strip()
    finally:
        loop.remove_reader(source.fileno())


class Chat:
    def __init__(self, demo: Demo, say: Callable[[str], None], *, quiet_s: float, wait_s: float) -> None:
        self.demo = demo
        self.say = say
        self.quiet_s = quiet_s
        self.wait_s = wait_s
        self.seen = 0

    async def start(self) -> None:
        self.seen = len(await self.demo.inbox())  # only what arrives from now on

    async def poll(self) -> int:
        """Print what arrived since the last look; returns how many."""
        texts = await self.demo.inbox()
        if len(texts) < self.seen:  # a restarted modem starts with an empty memory
            self.seen = 0
        new = texts[self.seen :]
        self.seen = len(texts)
        for text in new:
            self.say("received: " + " ".join(text.split()))
        return len(new)

    async def follow(self) -> None:
        """Interactive: print replies as they come, until cancelled."""
        while True:
            try:
                await self.poll()
            except ChatError as exc:
                self.say(f"error: {exc.message}")
            await asyncio.sleep(POLL_S)

    async def settle(self, expect_reply: bool) -> None:
        """Scripted: wait for the first answer (up to wait_s) when one is due, then until none came for quiet_s."""
        loop = asyncio.get_running_loop()
        start = last = loop.time()
        got = False
        while True:
            if await self.poll():
                got, last = True, loop.time()
            now = loop.time()
            if got or not expect_reply:
                if now - last >= self.quiet_s:
                    return
            elif now - start >= self.wait_s:
                self.say(f"error: no answer within {self.wait_s:g} s")
                return
            await asyncio.sleep(POLL_S)

    async def command(self, line: str) -> bool:
        """Run one /command; False for /quit."""
        name, _, argument = line[1:].partition(" ")
        if name == "quit":
            return False
        if name == "advance":
            if not argument.strip():
                self.say("error: /advance needs a duration, e.g. /advance 7d")
                return True
            moved = await self.demo.api("POST", "/api/v1/demo/clock", {"advance": argument.strip()})
            self.say(f"clock: {moved['now']}")
        elif name == "clock":
            self.say(f"clock: {(await self.demo.api('GET', '/api/v1/demo/clock'))['now']}")
        elif name == "alerts":
            alerts = (await self.demo.api("GET", "/api/v1/alerts"))["items"]
            for alert in alerts:
                self.say(f"alert: {alert['status']} {alert['raised_at']} {' '.join(alert['reason'].split())}")
            if not alerts:
                self.say("alert: none")
        else:
            self.say(f"error: unknown command /{name}. {HELP}")
        return True

    async def run(self, lines: AsyncIterator[str], interactive: bool) -> None:
        follower = asyncio.create_task(self.follow()) if interactive else None
        try:
            async for line in lines:
                if not line or line.startswith("#"):
                    continue
                try:
                    if line.startswith("/"):
                        if not await self.command(line):
                            break
                        expect_reply = False
                    else:
                        await self.demo.text(line)
                        if not interactive:
                            self.say(f"sent: {line}")
                        expect_reply = True
                except ChatError as exc:
                    self.say(f"error: {exc.message}")
                    continue
                if not interactive:
                    await self.settle(expect_reply)
        finally:
            if follower is not None:
                follower.cancel()
        if not interactive:
            await self.settle(expect_reply=False)


def _default_data_dir() -> Path:
    chosen = os.environ.get("RECADO_DATA_DIR")
    return (
        Path(chosen).expanduser() if chosen else Path(platformdirs.user_data_dir("recado", appauthor=False))
    )


@click.command("chat")
@click.argument("number", required=False)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The demo's data directory (default: RECADO_DATA_DIR or the user data directory).",
)
@click.option("--control", default=None, help="The virtual modem's control API, e.g. http://127.0.0.1:8090.")
@click.option("--server", default=None, help="The recado server, e.g. http://127.0.0.1:8080.")
@click.option(
    "--script",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="Read the lines from this file ('-': standard input) and print one line per event.",
)
@click.option(
    "--quiet",
    "quiet_s",
    type=float,
    default=1.0,
    show_default=True,
    help="Scripted: seconds without a new message that end an answer.",
)
@click.option(
    "--wait",
    "wait_s",
    type=float,
    default=30.0,
    show_default=True,
    help="Scripted: seconds to wait for an answer.",
)
def chat_command(
    number: str | None,
    data_dir: Path | None,
    control: str | None,
    server: str | None,
    script: TextIO | None,
    quiet_s: float,
    wait_s: float,
) -> None:
    """Be a mother with a basic phone: text the demo's virtual modem and read what the programme answers."""
    settings = load_settings(data_dir or _default_data_dir(), control, server)
    source = script or sys.stdin
    interactive = script is None and sys.stdin.isatty()
    phone = number or settings.phone

    def say(line: str) -> None:
        click.echo(line)

    async def main() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
            chat = Chat(Demo(http, settings, phone), say, quiet_s=quiet_s, wait_s=wait_s)
            await chat.start()
            if interactive:
                say(f"You are {phone}, texting the demo's virtual modem. {HELP}")
            await chat.run(_lines(source, interactive), interactive)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a person leaves a chat
        asyncio.run(main())
