"""A whole recado site as real processes, for tests that go through every part of it.

``Stack(tmp_path).start()`` runs what ``recado demo`` runs, each part its own process so that a test can kill or
restart any of them: the server (``recado demo --no-radio``: the sample programme, the demo clock, alerts to a
virtual staff phone), a virtual modem on a pty with its control API (``recado sim modem``) and a gateway on that
modem (``recado gateway``). Ports are free ones, the data directory is the test's; each process writes its
output to ``logs/<name>.log``, and a failed wait says which process died and how its log ends.

The helpers speak for the people around the site: a phone texting the modem (``text``, ``say``,
``wait_for_text``), an admin on the API (``api``, ``alerts``, ``contact``, ``messages``...), and the demo clock
(``now``, ``advance``, ``advance_to``). Every wait is on a condition, with a deadline.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import signal
import sqlite3
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.cli_chat import CHAT_FILE
from recado.demo import PHONE, STAFF_PHONE, TOKEN_FILE
from tests.processes import RECADO, HttpError, free_port, http_json, recado_env, wait_for_health, wait_until

MOTHER = PHONE
STAFF = STAFF_PHONE
MEXICO_CITY = ZoneInfo("America/Mexico_City")  # the programme's timezone (the default programme_timezone)
PARTS = ("server", "modem", "gateway")
SAME_TEXT_GAP_S = 1.1  # SMS stamps are to the second; a little more for the modem's own delay

# The modem at a test's pace rather than a real one's (1 s per submit would make the story minutes long).
FAST_MODEM = """\
[timing]
command = 0.0
submit = 0.02
link_setup = 0.0
boot = 0.05
reboot = 0.2
"""


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment in the programme's timezone (Mexico City)."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=MEXICO_CITY)


def _toml_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int) else json.dumps(value)


class Stack:
    """Server, virtual modem and gateway of one site, as processes. Use as a context manager or call close()."""

    def __init__(self, root: Path, *, settings: dict[str, str | int | bool] | None = None) -> None:
        self.root = root
        self.data_dir = root / "site"
        self.logs_dir = root / "logs"
        self.port = free_port()
        self.control_port = free_port()
        self.link = self.data_dir / "modem0"
        self.url = f"http://127.0.0.1:{self.port}"
        self.control = f"http://127.0.0.1:{self.control_port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._stopped: set[str] = set()  # parts a test stopped on purpose: their exit is no failure
        self._session: str | None = None
        self._last_texts: dict[tuple[str, str], float] = {}  # (phone, text) -> when it was last sent
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        lines = ["[server]", *(f"{k} = {_toml_value(v)}" for k, v in (settings or {}).items())]
        (self.data_dir / "recado.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (self.root / "modem-timing.toml").write_text(FAST_MODEM, encoding="utf-8")

    # --- processes ------------------------------------------------------------------------------------------

    def start(self) -> Stack:
        self.start_server()
        self.start_modem()
        self.start_gateway()
        return self

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        if self.running(name):
            raise AssertionError(f"{name} is already running")
        log = (self.logs_dir / f"{name}.log").open("ab")
        with log:
            log.write(f"--- start: recado {' '.join(args)}\n".encode())
            log.flush()
            proc = subprocess.Popen([*RECADO, *args], stdout=log, stderr=subprocess.STDOUT, env=recado_env())
        self.procs[name] = proc
        self._stopped.discard(name)
        return proc

    def start_server(self, deadline_s: float = 60) -> None:
        """The server on the site's data directory (made and loaded the first time, kept on later starts)."""
        proc = self._spawn(
            "server", "demo", "--no-radio", "--data-dir", str(self.data_dir), "--port", str(self.port)
        )
        wait_for_health(f"{self.url}/healthz", proc, deadline_s)
        self._session = None

    def start_modem(self, deadline_s: float = 30) -> None:
        """The virtual modem; a new one (after a kill) starts with an empty memory and no phones' inboxes."""
        if self.link.is_symlink() and not self.running("modem"):
            self.link.unlink()  # left by a killed modem; the new one makes its own
        self._spawn(
            "modem",
            "sim",
            "modem",
            "--link",
            str(self.link),
            "--control",
            f"127.0.0.1:{self.control_port}",
            "--faults",
            str(self.root / "modem-timing.toml"),
        )

        def answers() -> bool:
            try:
                return self.link.exists() and bool(http_json("GET", f"{self.control}/modem", timeout=1))
            except (OSError, HttpError):
                return False

        wait_until(answers, "the virtual modem's port and control API", deadline_s, self.dead)

    def start_gateway(self) -> None:
        """The gateway on the modem, syncing with the server (needs the server to have run once, for its token)."""
        config = self.root / "gateway.toml"
        config.write_text(
            "\n".join(
                [
                    f"server = {json.dumps(self.url)}",
                    f"token_file = {json.dumps(str(self.data_dir / TOKEN_FILE))}",
                    f"spool = {json.dumps(str(self.data_dir / 'gateway-spool.sqlite3'))}",
                    "[link]",
                    "wait_s = 2.0",  # a short long-poll: a server stopping waits for the poll in flight
                    "backoff_min_s = 0.1",
                    "backoff_max_s = 1.0",
                    "idle_s = 0.2",
                    "[dispatch]",
                    "idle_s = 0.1",
                    "[health]",
                    "interval_s = 1.0",
                    "[[channels]]",
                    'id = "demo-modem"',
                    'kind = "modem"',
                    f"port = {json.dumps(str(self.link))}",
                ]
            )
            + "\n",
            encoding="utf-8",
        )
        self._spawn("gateway", "gateway", "--config", str(config))

    def running(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` (default: SIGKILL, a crash) and wait for the process to end; returns its exit code."""
        proc = self.procs[name]
        self._stopped.add(name)
        if proc.poll() is None:
            proc.send_signal(sig)
        return proc.wait(timeout=30)

    def stop(self, name: str) -> int:
        """A clean stop (SIGTERM, as systemd does)."""
        return self.kill(name, signal.SIGTERM)

    def restart(self, name: str) -> None:
        self.stop(name)
        getattr(self, f"start_{name}")()

    def close(self) -> None:
        for name in reversed(PARTS):
            if self.running(name):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.stop(name)
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    def log(self, name: str, tail: int = 3000) -> str:
        path = self.logs_dir / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace")[-tail:] if path.exists() else ""

    def dead(self) -> str | None:
        """Why waiting would be pointless: a part that died without a test stopping it, with its log's end."""
        for name, proc in self.procs.items():
            if name not in self._stopped and proc.poll() is not None:
                return f"{name} exited with {proc.returncode}:\n{self.log(name)}"
        return None

    # --- the phones -----------------------------------------------------------------------------------------

    def text(self, body: str, phone: str = MOTHER) -> None:
        """``phone`` texts ``body`` to the site's modem.

        The network stamps an SMS to the second, and the gateway takes the same text from the same sender with
        the same stamp for one SMS read twice; a person cannot type that fast, a test can. So the same text from
        the same phone waits until the stamp must differ."""
        last = self._last_texts.get((phone, body))
        if last is not None:
            wait_until(
                lambda: time.time() - last > SAME_TEXT_GAP_S, "a new second for the same text", deadline_s=3
            )
        number = urllib.parse.quote(phone)
        http_json("POST", f"{self.control}/phones/{number}/sms", {"text": body})
        self._last_texts[(phone, body)] = time.time()

    def inbox(self, phone: str = MOTHER) -> list[str]:
        """Every complete message the modem has sent to ``phone``, oldest first."""
        number = urllib.parse.quote(phone)
        found = http_json("GET", f"{self.control}/phones/{number}/inbox")["messages"]
        return [m["text"] for m in found if m["complete"]]

    def wait_for_text(
        self, containing: str, phone: str = MOTHER, after: int = 0, deadline_s: float = 30
    ) -> list[str]:
        """Wait until a message containing ``containing`` reaches ``phone`` at inbox index ``after`` or later;
        returns every message from ``after`` on."""

        def arrived() -> list[str] | None:
            new = self.inbox(phone)[after:]
            return new if any(containing in text for text in new) else None

        try:
            return wait_until(arrived, f"a text with {containing!r} to the phone", deadline_s, self.dead)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nits inbox from {after}: {self.inbox(phone)[after:]}") from None

    def say(self, body: str, expect: str, phone: str = MOTHER, deadline_s: float = 30) -> list[str]:
        """``phone`` texts ``body`` and waits for the answer containing ``expect``; returns what arrived."""
        before = len(self.inbox(phone))
        self.text(body, phone)
        return self.wait_for_text(expect, phone, after=before, deadline_s=deadline_s)

    # --- the API, as the demo's admin -----------------------------------------------------------------------

    def chat_settings(self) -> dict[str, Any]:
        """What ``recado demo`` keeps for ``recado phone chat``: addresses and the demo admin's login."""
        settings: dict[str, Any] = json.loads((self.data_dir / CHAT_FILE).read_text(encoding="utf-8"))
        return settings

    def _login(self) -> str:
        settings = self.chat_settings()
        body = {"username": settings["user"], "password": settings["password"]}
        token: str = http_json("POST", f"{self.url}/api/v1/auth/login", body)["token"]
        return token

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """A request as the demo admin. Sessions last minutes of demo time, so a 401 means log in again."""
        for attempt in range(2):
            if self._session is None:
                self._session = self._login()
            try:
                return http_json(method, self.url + path, body, {"Authorization": f"Bearer {self._session}"})
            except HttpError as exc:
                if exc.status != 401 or attempt:
                    raise
                self._session = None
        raise AssertionError("unreachable")

    def now(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.api("GET", "/api/v1/demo/clock")["now"])

    def advance(self, duration: str) -> dt.datetime:
        """Move the demo clock (``2h``, ``3d``, ``1w``); everything due on the way has happened on return."""
        return dt.datetime.fromisoformat(self.api("POST", "/api/v1/demo/clock", {"advance": duration})["now"])

    def advance_to(self, when: dt.datetime) -> dt.datetime:
        return dt.datetime.fromisoformat(
            self.api("POST", "/api/v1/demo/clock", {"to": when.isoformat()})["now"]
        )

    def contact(self, phone: str = MOTHER) -> dict[str, Any] | None:
        found = self.api("GET", "/api/v1/contacts?" + urllib.parse.urlencode({"phone": phone}))["items"]
        return found[0] if found else None

    def messages(self, phone: str = MOTHER, **params: str) -> list[dict[str, Any]]:
        """The server's messages to and from ``phone`` (``direction``, ``status``... as the API takes them)."""
        contact = self.contact(phone)
        if contact is None:
            return []
        query = urllib.parse.urlencode({"contact": contact["uuid"], "limit": "500", **params})
        items: list[dict[str, Any]] = self.api("GET", f"/api/v1/messages?{query}")["items"]
        return items

    def alerts(self, **params: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.api("GET", "/api/v1/alerts?" + urllib.parse.urlencode(params))[
            "items"
        ]
        return items

    def results(self, **params: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.api("GET", "/api/v1/results?" + urllib.parse.urlencode(params))[
            "items"
        ]
        return items

    def ratings(self, **params: str) -> Any:
        return self.api("GET", "/api/v1/results/ratings?" + urllib.parse.urlencode(params))

    @contextlib.contextmanager
    def database(self) -> Iterator[sqlite3.Connection]:
        """The site's SQLite file, read-only, for what the API does not show (e.g. what a table does not hold)."""
        conn = sqlite3.connect(f"file:{self.data_dir / 'recado.sqlite3'}?mode=ro", uri=True, timeout=10)
        try:
            yield conn
        finally:
            conn.close()
