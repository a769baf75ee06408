"""`recado server` killed with SIGKILL again and again while it fires, then left to finish: no fire lost, none
doubled (issue 4).

The data directory is built before the server starts, with the server's own code: a contact import, two
programme loads, and one in-process campaign tick on a fixed clock three hours in the past. So when the real
process starts on the real clock, three kinds of scheduled work are an hour or more overdue (inside the
catch-up window) at once:

- *Consejos*: a plain campaign message for many contacts, fired in batches of thousands per transaction;
- *Seguimiento*: a message with an expression, fired one contact at a time in her own turn;
- *Encuesta*: conversations started by a campaign flow in the setup tick, whose wait timed out an hour ago:
  the runner's wait-timeout fires, one turn each.

The test watches the database read-only and kills the process each time the count of queued messages has
grown by another step, restarts it, and finally lets it drain. Then every (contact, event) has exactly one
outcome in the campaign log and exactly one queued message, and nothing is left due.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import io
import signal
import sqlite3
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flows.model import Campaign, CampaignEvent, FieldDef, FlowRef, GroupRef, Programme
from flows.native import group_uuid_for, load_flow_text
from server.cli import initialise
from server.clock import FixedClock
from server.config import Config
from server.contacts_import import import_contacts, parse_mappings
from server.db.engine import create_engine
from server.programmes import store_programme
from server.runner import Runner
from tests.processes import RECADO, free_port, recado_env, wait_for_health

pytestmark = pytest.mark.slow

TZ = "America/Mexico_City"
CONSEJOS, SEGUIMIENTO, ENCUESTA = "Consejos", "Seguimiento", "Encuesta"
SIZES = {CONSEJOS: 16_000, SEGUIMIENTO: 200, ENCUESTA: 120}
TOTAL = sum(SIZES.values())
TIP = "Consejo del día: toma agua y descansa."
QUESTION = "¿Cuántas consultas prenatales has tenido?"
REMINDER = "No recibimos tu respuesta; te escribiremos otro día."
ENCUESTA_FLOW = load_flow_text(
    f"""
flow: Encuesta
nodes:
  preguntar:
    send: "{QUESTION}"
    wait: reply
    save_as: consultas
    routes:
      - timeout: 30m
        go: recordatorio
      - other: end
  recordatorio:
    send: "{REMINDER}"
    go: end
"""
)
REGISTRADA = FieldDef("registrada", "Registro", "datetime")


def _uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"recado-test-fire-crash:{name}"))


def _group(name: str) -> GroupRef:
    return GroupRef(group_uuid_for(name), name)


def _campaign(group: str, *, message: str | None = None, flow: bool = False, hours: int) -> Campaign:
    first = CampaignEvent(
        _uuid(f"{group}:first"),
        REGISTRADA.key,
        hours,
        "hours",
        message=None if message is None else {"spa": message},
        flow=FlowRef(ENCUESTA_FLOW.uuid, ENCUESTA_FLOW.name) if flow else None,
    )
    later = CampaignEvent(_uuid(f"{group}:later"), REGISTRADA.key, 30, "days", 9, message={"spa": TIP})
    return Campaign(_uuid(group), group, _group(group), (first, later))


CAMPAIGNS = {
    CONSEJOS: _campaign(CONSEJOS, message=TIP, hours=2),
    SEGUIMIENTO: _campaign(SEGUIMIENTO, message="Hola @contact.first_name, ¿cómo sigues?", hours=2),
    ENCUESTA: _campaign(ENCUESTA, flow=True, hours=1),
}


def _programme(*names: str) -> Programme:
    return Programme(
        name="Prueba de caídas",
        flows=(ENCUESTA_FLOW,),
        fields=(REGISTRADA,),
        groups=tuple(_group(name) for name in SIZES),
        campaigns=tuple(CAMPAIGNS[name] for name in names),
    )


def _contacts_csv(registered: dt.datetime) -> bytes:
    lines = ["telefono,nombre,grupo,registrada"]
    number = 0
    for group, size in SIZES.items():
        for _ in range(size):
            number += 1
            lines.append(f"+5255{number:08d},Paciente {number},{group},{registered.isoformat()}")
    return ("\n".join(lines) + "\n").encode()


async def _build(config: Config, t0: dt.datetime) -> None:
    """Contacts registered at ``t0`` (the import schedules them); at ``t0`` + 1 h the survey campaign starts
    its flow for its group (the setup tick, in this process); then the two message campaigns are added, due
    at ``t0`` + 2 h."""
    engine = create_engine(config.effective_database_url)
    try:
        async with engine.begin() as conn:
            await store_programme(conn, _programme(ENCUESTA), now=t0, actor="test", timezone=TZ)
        report = await import_contacts(
            engine,
            io.BytesIO(_contacts_csv(t0)),
            mappings=parse_mappings(["registrada=field:registrada"]),
            tz=dt.UTC,
            programme_timezone=TZ,
            region="MX",
            now=t0,
            actor="test",
        )
        assert (report.created, report.failed) == (TOTAL, 0), report.as_dict(max_errors=3)
        clock = FixedClock(t0 + dt.timedelta(hours=1))
        runner = Runner(engine, config, clock, webhooks_in_background=False)
        try:
            assert await runner.campaigns.fire_due() == SIZES[ENCUESTA]
        finally:
            await runner.close()
        async with engine.begin() as conn:
            await store_programme(conn, _programme(*SIZES), now=clock.now(), actor="test", timezone=TZ)
    finally:
        await engine.dispose()


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        yield db
    finally:
        db.close()


def _scalar(path: Path, sql: str) -> int:
    with _read_only(path) as db:
        value: int = db.execute(sql).fetchone()[0]
        return value


OUTBOUND = "SELECT count(*) FROM messages WHERE direction = 'out'"


class ServerProcess:
    """`recado server` on the data directory, started again after each kill, its output in one log."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> None:
        self.port = free_port()
        command = [*RECADO, "server", "--data-dir", str(self.data_dir), "--port", str(self.port)]
        env = recado_env(RECADO_RUNNER_TICK_SECONDS="1")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, env=env)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no shutdown of any kind
        self.process.wait(timeout=10)

    def stop(self) -> int:
        assert self.process is not None
        # A server still starting (its work may all be done already) has no handler for the signal yet.
        wait_for_health(f"http://127.0.0.1:{self.port}/healthz", self.process)
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()

    def check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the server exited by itself: {self.log.read_text()[-3000:]}")


def _wait_for(condition: Callable[[], bool], server: ServerProcess, timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        server.check_alive()
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _outcomes(path: Path) -> Counter[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]]:
    """Per contact: her group, her outbound texts and her campaign log, counted over all contacts."""
    texts: dict[int, list[str]] = defaultdict(list)
    logged: dict[int, list[tuple[str, str]]] = defaultdict(list)
    with _read_only(path) as db:
        group_of = dict(
            db.execute("SELECT m.contact_id, g.name FROM group_members m JOIN groups g ON g.id = m.group_id")
        )
        for contact_id, text in db.execute(
            "SELECT contact_id, text FROM messages WHERE direction = 'out' ORDER BY id"
        ):
            texts[contact_id].append(text)
        for contact_id, event, outcome in db.execute(
            "SELECT contact_id, event_uuid, outcome FROM campaign_log ORDER BY id"
        ):
            logged[contact_id].append((event, outcome))
    return Counter(
        (group, tuple(texts[contact_id]), tuple(logged[contact_id])) for contact_id, group in group_of.items()
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def server(data_dir: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(data_dir, tmp_path / "server.log")
    yield process
    process.close()


def test_sigkill_while_firing_loses_and_doubles_nothing(data_dir: Path, server: ServerProcess) -> None:
    config = Config(data_dir=data_dir, programme_timezone=TZ).validate()
    # On the minute: a datetime value's events fall on whole minutes.
    t0 = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)).replace(second=0, microsecond=0)
    initialise(config)
    asyncio.run(_build(config, t0))
    database = config.sqlite_path
    before = _scalar(database, OUTBOUND)
    assert before == SIZES[ENCUESTA]  # the survey's questions, from the setup tick

    def progress() -> int:
        return _scalar(database, OUTBOUND) - before

    def reached(count: int) -> bool:
        return progress() >= count

    # Kill points spread over the work: the first falls among the wait timeouts (each tick takes those first),
    # the middle ones among the batches, the last among the one-at-a-time fires that come after the batches.
    kill_at = [
        SIZES[ENCUESTA] // 2,
        TOTAL // 3,
        TOTAL * 2 // 3,
        TOTAL - SIZES[SEGUIMIENTO] // 2,
    ]
    kills = 0
    for threshold in kill_at:
        server.start()
        _wait_for(functools.partial(reached, threshold), server, 60, f"{threshold} messages queued")
        if progress() < TOTAL:
            server.kill()
            kills += 1
        else:
            server.stop()
    server.start()
    _wait_for(
        lambda: progress() >= TOTAL and _scalar(database, "SELECT count(*) FROM fires") == 0,
        server,
        60,
        "the rest",
    )
    time.sleep(1.5)  # one more tick: anything doubled would show now
    assert server.stop() == 0
    assert kills >= len(kill_at) - 1, "the work was done before the kills: give it more contacts"
    log = server.log.read_text()
    assert "Traceback" not in log, log[-3000:]

    assert _outcomes(database) == {
        (CONSEJOS, (TIP,), ((_uuid(f"{CONSEJOS}:first"), "fired"),)): SIZES[CONSEJOS],
        (
            SEGUIMIENTO,
            ("Hola Paciente, ¿cómo sigues?",),
            ((_uuid(f"{SEGUIMIENTO}:first"), "fired"),),
        ): SIZES[SEGUIMIENTO],
        (ENCUESTA, (QUESTION, REMINDER), ((_uuid(f"{ENCUESTA}:first"), "fired"),)): SIZES[ENCUESTA],
    }
    with _read_only(database) as db:
        assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
        statuses = {status for (status,) in db.execute("SELECT status FROM messages")}
        waiting = Counter(event for (event,) in db.execute("SELECT event_uuid FROM campaign_fires"))
    assert statuses == {"queued"}  # no gateway: every message waits for one
    # Every row moved on to its campaign's next event, a month away.
    assert waiting == {_uuid(f"{name}:later"): SIZES[name] for name in SIZES}
