"""Queueing, the lifecycle and reading messages, on both storage backends."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server import messages
from server.clock import FixedClock
from server.db.schema import MESSAGE_STATUSES, audit_log, message_events
from server.db.schema import messages as messages_table
from tests.server.messages.seeding import Seeded

ACTOR = "token:central"


async def _queue(
    engine: AsyncEngine, clock: FixedClock, to: list[uuid.UUID], text: str = "Hola", priority: str = "bulk"
) -> messages.Queued:
    async with engine.begin() as conn:
        recipients = await messages.contacts_by_uuid(conn, to)
        return await messages.queue_outgoing(
            conn,
            recipients,
            messages.check_text(text),
            priority=priority,
            now=clock.now(),
            actor=ACTOR,
        )


async def _status(engine: AsyncEngine, message_uuid: uuid.UUID) -> tuple[str, list[str]]:
    async with engine.connect() as conn:
        message, history = await messages.get_message(conn, message_uuid)
    return message.status, [e.status for e in history]


async def test_queue_makes_one_row_per_active_contact(
    engine: AsyncEngine, clock: FixedClock, seeded: Seeded
) -> None:
    everyone = [*seeded.active, seeded.stopped, seeded.blocked]
    queued = await _queue(engine, clock, everyone, "Recuerda tu cita mañana")
    assert [c for _, c in queued.messages] == seeded.active
    assert [(r.uuid, r.status) for r in queued.skipped] == [
        (seeded.stopped, "stopped"),
        (seeded.blocked, "blocked"),
    ]
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(messages_table).order_by(messages_table.c.id))).all()
        events = (await conn.execute(sa.select(message_events))).all()
        audit = (await conn.execute(sa.select(audit_log))).one()
    assert [row.uuid for row in rows] == [m for m, _ in queued.messages]
    assert [row.uuid.version for row in rows] == [7, 7, 7]  # time-ordered: see server.db.ids
    assert [row.uuid for row in rows] == sorted(row.uuid for row in rows)
    assert {(r.direction, r.status, r.priority, r.segments, r.encoding) for r in rows} == {
        ("out", "queued", 2, 1, "gsm7")
    }
    assert all(r.text == "Recuerda tu cita mañana" and r.created_at == clock.now() for r in rows)
    assert sorted(e.message_id for e in events) == [r.id for r in rows]
    assert {(e.status, e.detail) for e in events} == {("queued", ACTOR)}
    assert (audit.actor, audit.action) == (ACTOR, "message.send")
    assert audit.detail == {"queued": 3, "skipped": 2, "segments": 1, "priority": "bulk"}
    assert "Recuerda" not in str(audit.detail)  # message text may be health information


async def test_queue_records_encoding_segments_and_priority(
    engine: AsyncEngine, clock: FixedClock, seeded: Seeded
) -> None:
    queued = await _queue(engine, clock, seeded.active[:1], "¿Cómo está? " * 10, priority="alert")
    async with engine.connect() as conn:
        message, _ = await messages.get_message(conn, queued.messages[0][0])
    assert (message.encoding, message.segments, message.priority) == ("ucs2", 2, "alert")


async def test_a_contact_listed_twice_gets_one_message(
    engine: AsyncEngine, clock: FixedClock, seeded: Seeded
) -> None:
    first = seeded.active[0]
    queued = await _queue(engine, clock, [first, first, seeded.active[1], first])
    assert [c for _, c in queued.messages] == [first, seeded.active[1]]


async def test_unknown_contacts_are_named_and_nothing_is_queued(
    engine: AsyncEngine, clock: FixedClock, seeded: Seeded
) -> None:
    ghosts = [uuid.uuid4(), uuid.uuid4()]
    with pytest.raises(messages.Invalid) as caught:
        await _queue(engine, clock, [seeded.active[0], *ghosts])
    assert caught.value.problems == [{"field": "contacts", "message": f"no contact {g}"} for g in ghosts]
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(messages_table))).scalar() == 0


async def test_group_recipients(engine: AsyncEngine, seeded: Seeded) -> None:
    async with engine.connect() as conn:
        members = await messages.group_recipients(conn, seeded.group)
        assert await messages.group_recipients(conn, seeded.empty_group) == []
        with pytest.raises(messages.Invalid, match="no group"):
            await messages.group_recipients(conn, uuid.uuid4())
    assert [m.uuid for m in members] == [*seeded.active, seeded.stopped, seeded.blocked]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "is empty"),
        ("   \n ", "is empty"),
        ("a" * 1601, "is longer than 1600 characters"),
        ("hola\x00", "contains control characters"),
        ("hola \ud83d", "contains control characters"),  # half a surrogate pair cannot be stored
        ("a" * 1531, "needs 11 SMS parts; the most is 10 (1530 GSM-7 units)"),
        ("á" * 671, "needs 11 SMS parts; the most is 10 (670 UCS-2 units)"),
    ],
)
def test_check_text_refuses(raw: str, problem: str) -> None:
    with pytest.raises(messages.Invalid) as caught:
        messages.check_text(raw)
    assert caught.value.problems == [{"field": "text", "message": problem}]


def test_check_text_trims_and_transliterates_on_request() -> None:
    assert messages.check_text("  Hola\n").text == "Hola"
    plain = messages.check_text("Mañana es día de clínica")
    assert (plain.text, plain.size.encoding, plain.changes) == ("Mañana es día de clínica", "ucs2", ())
    made = messages.check_text("Mañana es día de clínica", transliterate=True)
    assert (made.text, made.size.encoding) == ("Mañana es dia de clinica", "gsm7")
    assert [(c.original, c.count) for c in made.changes] == [("í", 2)]
    assert messages.check_text("a" * 1530).size.segments == 10
    # Transliteration can bring a text back under the limit.
    assert messages.check_text("á" * 1000, transliterate=True).size.segments == 7


# --- the lifecycle -----------------------------------------------------------------------------------------


def test_the_lifecycle_table_covers_every_status() -> None:
    assert set(messages.TRANSITIONS) == set(MESSAGE_STATUSES)
    for targets in messages.TRANSITIONS.values():
        assert targets <= set(MESSAGE_STATUSES)
    assert messages.TRANSITIONS["delivered"] == messages.TRANSITIONS["failed"] == frozenset()
    assert messages.TRANSITIONS["received"] == frozenset()
    assert not any("received" in targets for targets in messages.TRANSITIONS.values())
    # Only a lease that ran out goes back to the queue: once a gateway has it, it is never sent twice.
    assert [s for s, targets in messages.TRANSITIONS.items() if "queued" in targets] == ["leased"]


async def _one_queued(engine: AsyncEngine, clock: FixedClock, seeded: Seeded) -> uuid.UUID:
    return (await _queue(engine, clock, seeded.active[:1])).messages[0][0]


async def test_a_message_through_its_whole_life(
    engine: AsyncEngine, clock: FixedClock, seeded: Seeded
) -> None:
    message_uuid = await _one_queued(engine, clock, seeded)
    steps = [
        ("leased", {"gateway": "oaxaca", "leased_until": clock.now() + dt.timedelta(minutes=10)}),
        ("accepted", {}),
        ("sent", {"channel": "modem-1"}),
        ("delivered", {}),
    ]
    for status, extra in steps:
        clock.advance(dt.timedelta(seconds=30))
        async with engine.begin() as conn:
            done = await messages.transition(conn, message_uuid, status, now=clock.now(), **extra)
        assert done.changed
        assert done.after == status
    async with engine.connect() as conn:
        message, history = await messages.get_message(conn, message_uuid)
    assert [(e.status, e.at - history[0].at) for e in history] == [
        ("queued", dt.timedelta(0)),
        ("leased", dt.timedelta(seconds=30)),
        ("accepted", dt.timedelta(seconds=60)),
        ("sent", dt.timedelta(seconds=90)),
        ("delivered", dt.timedelta(seconds=120)),
    ]
    assert (message.status, message.channel, message.gateway) == ("delivered", "modem-1", "oaxaca")
    assert message.sent_at == history[3].at
    assert message.delivered_at == message.updated_at == clock.now()


async def test_reports_may_skip_steps(engine: AsyncEngine, clock: FixedClock, seeded: Seeded) -> None:
    message_uuid = await _one_queued(engine, clock, seeded)
    async with engine.begin() as conn:
        await messages.transition(
            conn, message_uuid, "leased", now=clock.now(), gateway="g", leased_until=clock.now()
        )
        await messages.transition(conn, message_uuid, "sent", now=clock.now())
    assert await _status(engine, message_uuid) == ("sent", ["queued", "leased", "sent"])


async def test_a_repeated_report_changes_nothing(
    engine: AsyncEngine, clock: FixedClock, seeded: Seeded
) -> None:
    message_uuid = await _one_queued(engine, clock, seeded)
    async with engine.begin() as conn:
        await messages.transition(conn, message_uuid, "failed", now=clock.now(), detail="expired")
        again = await messages.transition(conn, message_uuid, "failed", now=clock.now(), detail="again")
    assert not again.changed
    assert await _status(engine, message_uuid) == ("failed", ["queued", "failed"])


@pytest.mark.parametrize(
    ("path", "refused", "stale"),
    [
        (["leased", "sent", "delivered"], "queued", True),
        (["leased", "sent", "delivered"], "sent", True),
        (["leased", "sent", "delivered"], "failed", False),
        (["leased", "accepted", "sent"], "accepted", True),
        (["leased", "accepted"], "leased", True),
        (["failed"], "delivered", False),
        ([], "accepted", False),  # a queued message has no gateway to accept it
        ([], "received", False),
        (["leased", "accepted", "unknown"], "queued", True),  # unknown is never silently resent
    ],
)
async def test_illegal_transitions_are_refused(
    engine: AsyncEngine, clock: FixedClock, seeded: Seeded, path: list[str], refused: str, stale: bool
) -> None:
    message_uuid = await _one_queued(engine, clock, seeded)
    async with engine.begin() as conn:
        for status in path:
            await messages.transition(
                conn, message_uuid, status, now=clock.now(), gateway="g", leased_until=clock.now()
            )
    before = await _status(engine, message_uuid)
    with pytest.raises(messages.IllegalTransition) as caught:
        async with engine.begin() as conn:
            await messages.transition(
                conn, message_uuid, refused, now=clock.now(), gateway="g", leased_until=clock.now()
            )
    assert (caught.value.current, caught.value.requested, caught.value.stale) == (
        path[-1] if path else "queued",
        refused,
        stale,
    )
    assert await _status(engine, message_uuid) == before


async def test_a_late_report_settles_unknown(engine: AsyncEngine, clock: FixedClock, seeded: Seeded) -> None:
    message_uuid = await _one_queued(engine, clock, seeded)
    async with engine.begin() as conn:
        for status in ("leased", "accepted", "unknown", "delivered"):
            await messages.transition(
                conn, message_uuid, status, now=clock.now(), gateway="g", leased_until=clock.now()
            )
    assert (await _status(engine, message_uuid))[0] == "delivered"


async def test_an_expired_lease_returns_to_the_queue(
    engine: AsyncEngine, clock: FixedClock, seeded: Seeded
) -> None:
    message_uuid = await _one_queued(engine, clock, seeded)
    until = clock.now() + dt.timedelta(minutes=10)
    async with engine.begin() as conn:
        await messages.transition(
            conn, message_uuid, "leased", now=clock.now(), gateway="g", leased_until=until
        )
        row = (
            await conn.execute(sa.select(messages_table).where(messages_table.c.uuid == message_uuid))
        ).one()
        assert (row.leased_until, row.gateway) == (until, "g")
        await messages.transition(conn, message_uuid, "queued", now=clock.now(), detail="lease expired")
        row = (
            await conn.execute(sa.select(messages_table).where(messages_table.c.uuid == message_uuid))
        ).one()
    assert (row.status, row.leased_until, row.gateway) == ("queued", None, None)
    _, history = await _get(engine, message_uuid)
    assert [(e.status, e.detail) for e in history][-1] == ("queued", "lease expired")


async def _get(engine: AsyncEngine, message_uuid: uuid.UUID) -> tuple[messages.Message, list[messages.Event]]:
    async with engine.connect() as conn:
        return await messages.get_message(conn, message_uuid)


async def test_failure_keeps_its_reason(engine: AsyncEngine, clock: FixedClock, seeded: Seeded) -> None:
    message_uuid = await _one_queued(engine, clock, seeded)
    reason = "CMS ERROR 38: network out of order " + "x" * 300
    async with engine.begin() as conn:
        await messages.transition(conn, message_uuid, "failed", now=clock.now(), detail=reason)
    message, history = await _get(engine, message_uuid)
    assert message.error == history[-1].detail == reason[: messages.DETAIL_MAX]


async def test_transition_needs_a_real_message_and_status(
    engine: AsyncEngine, clock: FixedClock, seeded: Seeded
) -> None:
    message_uuid = await _one_queued(engine, clock, seeded)
    async with engine.begin() as conn:
        with pytest.raises(messages.NotFound):
            await messages.transition(conn, uuid.uuid4(), "sent", now=clock.now())
        with pytest.raises(ValueError, match="unknown message status"):
            await messages.transition(conn, message_uuid, "lost", now=clock.now())
        with pytest.raises(ValueError, match="a lease needs"):
            await messages.transition(conn, message_uuid, "leased", now=clock.now())


async def test_a_concurrent_change_is_not_overwritten(
    engine: AsyncEngine, clock: FixedClock, seeded: Seeded
) -> None:
    """Two transactions race for the same leased message: the one that waits sees the winner's result."""
    message_uuid = await _one_queued(engine, clock, seeded)
    async with engine.begin() as conn:
        await messages.transition(
            conn, message_uuid, "leased", now=clock.now(), gateway="g", leased_until=clock.now()
        )

    async def requeue() -> None:
        async with engine.begin() as conn:
            await messages.transition(conn, message_uuid, "queued", now=clock.now(), detail="lease expired")

    async with engine.connect() as first:
        await first.begin()
        await messages.transition(first, message_uuid, "failed", now=clock.now(), detail="network said no")
        second = asyncio.create_task(requeue())
        await asyncio.sleep(0.2)  # the second transaction is now waiting on the first's lock
        await first.commit()
    with pytest.raises(messages.IllegalTransition) as caught:
        await second
    assert caught.value.current == "failed"
    assert await _status(engine, message_uuid) == ("failed", ["queued", "leased", "failed"])


# --- reading -----------------------------------------------------------------------------------------------


async def test_search_filters(engine: AsyncEngine, clock: FixedClock, seeded: Seeded) -> None:
    first = await _queue(engine, clock, seeded.active, "uno")
    clock.advance(dt.timedelta(hours=1))
    second = await _queue(engine, clock, seeded.active[:1], "dos")
    async with engine.begin() as conn:
        await messages.transition(conn, second.messages[0][0], "failed", now=clock.now())

    async def search(**kwargs: object) -> list[str]:
        async with engine.connect() as conn:
            found = await messages.search_messages(conn, messages.MessageQuery(**kwargs))
        return [f"{m.text}:{m.contact == seeded.active[0]}" for m in found]

    assert await search() == ["uno:True", "uno:False", "uno:False", "dos:True"]
    assert await search(contact=seeded.active[0]) == ["uno:True", "dos:True"]
    assert await search(contact=uuid.uuid4()) == []
    assert await search(status="failed") == ["dos:True"]
    assert await search(direction="in") == []
    assert await search(direction="out", status="queued") == ["uno:True", "uno:False", "uno:False"]
    assert await search(since=clock.now()) == ["dos:True"]
    assert await search(until=clock.now()) == ["uno:True", "uno:False", "uno:False"]
    assert await search(since=clock.now() - dt.timedelta(hours=1), until=clock.now()) == await search(
        until=clock.now()
    )
    async with engine.connect() as conn:
        page = await messages.search_messages(conn, messages.MessageQuery(), limit=2)
        rest = await messages.search_messages(conn, messages.MessageQuery(), after_id=page[-1].id, limit=2)
    assert [m.uuid for m in page + rest] == [m for m, _ in first.messages] + [second.messages[0][0]]


async def test_get_message_not_found(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        with pytest.raises(messages.NotFound):
            await messages.get_message(conn, uuid.uuid4())
