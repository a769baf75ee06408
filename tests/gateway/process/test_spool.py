"""The spool's promises, on a real SQLite file reopened as a restarted gateway would."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from gateway.spool import Leased, Spool, SpoolError, inbound_id
from gateway.transports.base import InboundSMS
from tests.gateway.process.conftest import Clock

AT = dt.datetime(2027, 3, 1, 8, 59, 12, tzinfo=dt.timezone(dt.timedelta(hours=-6)))


def sms(identity: str, text: str = "hola", sender: str = "+529511234567") -> InboundSMS:
    return InboundSMS(identity=identity, sender=sender, text=text, received_at=AT)


def leased(message_id: str, priority: str = "reply", to: str = "+529511234567", **extra: object) -> Leased:
    values: dict[str, object] = {
        "id": message_id,
        "to": to,
        "text": "hola",
        "priority": priority,
        "segments": 1,
        "expires_at": None,
        "channel": None,
    }
    values.update(extra)
    return Leased(**values)  # type: ignore[arg-type]


async def test_the_file_is_wal_with_full_sync(spool: Spool, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "spool.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (await (await spool._db.execute("PRAGMA synchronous")).fetchone()) == (2,)  # FULL


# --- group commit -------------------------------------------------------------------------------------------


def committed_inbound(path: Path) -> set[str]:
    """What another process would find in the file: committed rows only."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return {row[0] for row in conn.execute("SELECT identity FROM inbound")}


async def test_writers_at_the_same_moment_share_commits_and_each_returns_committed(
    spool: Spool, tmp_path: Path
) -> None:
    statements: list[str] = []
    await spool._db.set_trace_callback(statements.append)
    stored = await asyncio.gather(*(spool.add_inbound(f"modem-{n}", sms(f"s{n}")) for n in range(32)))
    assert all(stored)
    assert committed_inbound(tmp_path / "spool.sqlite3") == {f"s{n}" for n in range(32)}
    commits = statements.count("COMMIT")
    assert 1 <= commits < 8, f"{commits} commits for 32 writers arriving together"


async def test_a_writer_that_fails_loses_only_its_own_work(spool: Spool, tmp_path: Path) -> None:
    async def failing() -> None:
        async with spool._transaction() as db:
            await db.execute(
                "INSERT INTO meta (key, value) VALUES ('half-written', 'x')",
            )
            raise RuntimeError("the writer fails half-way")

    results = await asyncio.gather(
        spool.add_inbound("modem-1", sms("before")),
        failing(),
        spool.add_inbound("modem-1", sms("after")),
        return_exceptions=True,
    )
    assert results[0] is True
    assert isinstance(results[1], RuntimeError)
    assert results[2] is True
    assert committed_inbound(tmp_path / "spool.sqlite3") == {"before", "after"}
    with contextlib.closing(sqlite3.connect(tmp_path / "spool.sqlite3")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM meta WHERE key = 'half-written'").fetchone() == (0,)


async def test_a_writer_cancelled_while_its_commit_is_on_its_way_does_not_cancel_the_others(
    spool: Spool, tmp_path: Path
) -> None:
    writers = [asyncio.create_task(spool.add_inbound("modem-1", sms(f"c{n}"))) for n in range(5)]
    await asyncio.sleep(0)  # every writer has started and waits for the lock or the commit
    writers[2].cancel()
    results = await asyncio.gather(*writers, return_exceptions=True)
    assert [r for i, r in enumerate(results) if i != 2] == [True] * 4
    assert {"c0", "c1", "c3", "c4"} <= committed_inbound(tmp_path / "spool.sqlite3")


async def test_inbound_is_stored_once_per_channel_and_identity(spool: Spool) -> None:
    assert await spool.add_inbound("modem-1", sms("a"))
    assert not await spool.add_inbound("modem-1", sms("a"))  # the same SMS read again after a crash
    assert await spool.add_inbound("modem-2", sms("a"))  # another radio's SMS is another SMS
    pending = await spool.pending_inbound(10)
    assert [p.id for p in pending] == [inbound_id("modem-1", "a"), inbound_id("modem-2", "a")]


async def test_inbound_goes_up_oldest_first_and_stays_until_acked(
    spool: Spool, tmp_path: Path, clock: Clock
) -> None:
    for n in range(5):
        await spool.add_inbound("modem-1", sms(f"m{n}", text=f"text {n}"))
    first = await spool.pending_inbound(3)
    assert [p.text for p in first] == ["text 0", "text 1", "text 2"]
    await spool.settle(
        acked_inbound=[first[0].id, first[1].id],
        acked_statuses=[],
        rejected_inbound=[(first[2].id, "from is not a phone number")],
        rejected_statuses=[],
    )
    await spool.close()
    reopened = await Spool.open(tmp_path / "spool.sqlite3", clock=clock)
    try:
        assert [p.text for p in await reopened.pending_inbound(10)] == ["text 3", "text 4"]
        # Acknowledged rows are still remembered, so a late re-read is still recognised.
        assert not await reopened.add_inbound("modem-1", sms("m0", text="text 0"))
    finally:
        await reopened.close()


async def test_text_the_database_cannot_hold_is_replaced_not_refused(spool: Spool) -> None:
    broken = "hola \ud83d fin"  # a lone surrogate from a mangled UCS-2 PDU
    assert await spool.add_inbound("modem-1", sms("x", text=broken, sender="+52\udc80"))
    [pending] = await spool.pending_inbound(1)
    assert pending.text == "hola \ufffd fin"
    assert pending.sender == "+52\ufffd"


async def test_naive_times_are_refused(spool: Spool) -> None:
    naive = InboundSMS("n", "+529511234567", "hola", dt.datetime(2027, 3, 1, 9, 0))
    with pytest.raises(ValueError, match="offset"):
        await spool.add_inbound("modem-1", naive)
    assert await spool.pending_inbound(1) == []


async def test_a_leased_message_is_stored_with_its_accepted_status(spool: Spool, clock: Clock) -> None:
    fresh = await spool.store_leased([leased("m1"), leased("m2")], clock.now + 300)
    assert fresh == ["m1", "m2"]
    assert await spool.store_leased([leased("m1")], clock.now + 600) == []  # the same id is the same message
    statuses = await spool.pending_statuses(10)
    assert [(s.message_id, s.status) for s in statuses] == [("m1", "accepted"), ("m2", "accepted")]


async def test_sendable_honours_priorities_and_leases(spool: Spool, clock: Clock) -> None:
    await spool.store_leased(
        [leased("bulk", "bulk"), leased("alert", "alert"), leased("reply", "reply")], clock.now + 300
    )
    assert [m.id for m in await spool.sendable()] == ["reply", "alert", "bulk"]
    clock.advance(301)
    assert await spool.sendable() == []  # the lease ran out before the server confirmed "accepted"
    await spool.settle(
        acked_inbound=[],
        acked_statuses=[("reply", "accepted")],
        rejected_inbound=[],
        rejected_statuses=[("bulk", "accepted", "the message is not leased to this gateway")],
    )
    assert [m.id for m in await spool.sendable()] == ["reply"]  # confirmed: it may go
    assert await spool.outbound_state("bulk") == ("dropped", None)  # another gateway has it
    assert await spool.outbound_state("alert") == ("queued", None)  # still waiting for the answer


async def test_a_send_interrupted_by_a_crash_is_unknown_and_never_sendable(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "crash.sqlite3"
    first = await Spool.open(path, clock=clock)
    await first.store_leased([leased("m1"), leased("m2")], clock.now + 300)
    assert await first.mark_sending("m1", "modem-1", 2)
    await first._db.close()  # the process dies: no clean shutdown, no outcome recorded
    second = await Spool.open(path, clock=clock)
    try:
        assert await second.outbound_state("m1") == ("unknown", "modem-1")
        assert [m.id for m in await second.sendable()] == ["m2"]
        reports = [(s.message_id, s.status, s.channel, s.parts) for s in await second.pending_statuses(10)]
        assert reports == [
            ("m1", "accepted", None, None),
            ("m2", "accepted", None, None),
            ("m1", "unknown", "modem-1", 2),
        ]
        assert not await second.mark_sending("m1", "modem-2", 1)  # never handed to a radio again
    finally:
        await second.close()


async def test_reports_never_move_a_message_back(spool: Spool, clock: Clock) -> None:
    await spool.store_leased([leased("m1")], clock.now + 300)
    await spool.mark_sending("m1", "modem-1", 1)
    await spool.record_outcome("m1", "sent", channel="modem-1", parts=1, references=[7])
    assert await spool.add_report("modem-1", "m1", "delivered", None, None)
    assert await spool.add_report("modem-1", "m1", "sent", None, None)
    assert await spool.outbound_state("m1") == ("delivered", "modem-1")
    assert not await spool.add_report("modem-1", "never-leased", "delivered", None, None)
    assert [s.status for s in await spool.pending_statuses(10)] == ["accepted", "sent", "delivered"]


async def test_a_failure_where_nothing_went_out_goes_back_to_the_queue(spool: Spool, clock: Clock) -> None:
    await spool.store_leased([leased("m1")], clock.now + 300)
    await spool.mark_sending("m1", "modem-1", 1)
    await spool.record_outcome(
        "m1", "failed", channel="modem-1", parts=1, error="modem not ready", requeue=True
    )
    [message] = await spool.sendable()
    assert message.attempts == 1
    assert [s.status for s in await spool.pending_statuses(10)] == ["accepted"]


async def test_usage_counts_parts_per_channel(spool: Spool, clock: Clock) -> None:
    await spool.store_leased([leased("m1"), leased("m2"), leased("m3")], clock.now + 300)
    await spool.mark_sending("m1", "modem-1", 3)
    clock.advance(10)
    await spool.mark_sending("m2", "modem-1", 2)
    await spool.mark_sending("m3", "modem-2", 1)
    assert await spool.usage("modem-1", clock.now - 100) == 5
    assert await spool.usage("modem-1", clock.now - 5) == 2
    assert await spool.handed_since("modem-2", 0) == [(clock.now, 1)]


async def test_the_contact_remembers_the_channel_that_last_carried_her(spool: Spool, clock: Clock) -> None:
    await spool.add_inbound("modem-2", sms("a", sender="9511234567"))  # the network's national form
    assert await spool.last_channel("+529511234567") == "modem-2"
    await spool.store_leased([leased("m1")], clock.now + 300)
    await spool.mark_sending("m1", "modem-1", 1)
    await spool.record_outcome("m1", "sent", channel="modem-1", parts=1)
    assert await spool.last_channel("+529511234567") == "modem-1"


async def test_purge_keeps_what_the_server_has_not_acknowledged(spool: Spool, clock: Clock) -> None:
    await spool.add_inbound("modem-1", sms("old"))
    await spool.add_inbound("modem-1", sms("waiting"))
    [old, _] = await spool.pending_inbound(2)
    await spool.settle(acked_inbound=[old.id], acked_statuses=[], rejected_inbound=[], rejected_statuses=[])
    clock.advance(8 * 86400)
    assert await spool.purge(7 * 86400) >= 1
    assert [p.id for p in await spool.pending_inbound(10)] == [inbound_id("modem-1", "waiting")]


async def test_a_file_that_is_not_a_spool_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not a database at all, just text" * 100)
    with pytest.raises(SpoolError, match="not a usable spool"):
        await Spool.open(path)


async def test_a_spool_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite3"
    await (await Spool.open(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(SpoolError, match="newer"):
        await Spool.open(path)
