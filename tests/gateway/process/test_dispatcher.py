"""The dispatcher's choices, round by round, on a real spool with fake channels and a clock the test moves."""

from __future__ import annotations

import asyncio
import datetime as dt

from gateway.dispatcher import ChannelLimits, Dispatcher, DispatchSettings
from gateway.spool import Spool
from gateway.transports.base import ChannelHealth
from gateway.transports.fake import FakeTransport
from tests.gateway.process.conftest import Clock
from tests.gateway.process.test_spool import leased, sms

LONG = "x" * 300  # two GSM-7 parts


def make(
    spool: Spool, clock: Clock, limits: dict[str, ChannelLimits], **settings: object
) -> tuple[Dispatcher, dict[str, FakeTransport]]:
    fakes = {name: FakeTransport(name) for name in limits}
    dispatcher = Dispatcher(
        spool,
        {name: (fakes[name], limit) for name, limit in limits.items()},
        DispatchSettings(timezone="UTC", **settings),  # type: ignore[arg-type]
        clock=clock,
    )
    return dispatcher, fakes


async def round_(dispatcher: Dispatcher) -> int:
    """One round, then let the sends it started finish."""
    started = await dispatcher.run_once()
    while dispatcher.inflight:
        await asyncio.sleep(0)
    return started


async def test_replies_go_before_alerts_before_bulk(spool: Spool, clock: Clock) -> None:
    await spool.store_leased(
        [leased("b1", "bulk"), leased("a1", "alert"), leased("r1", "reply")], clock.now + 300
    )
    dispatcher, fakes = make(spool, clock, {"modem-1": ChannelLimits(rate_per_minute=1, burst=1)})
    await dispatcher.prepare()
    for _ in range(3):
        await round_(dispatcher)
        clock.advance(60)
    assert [m.id for m in fakes["modem-1"].sent] == ["r1", "a1", "b1"]
    await dispatcher.stop()


async def test_the_token_bucket_counts_parts(spool: Spool, clock: Clock) -> None:
    await spool.store_leased([leased(f"m{n}", text=LONG) for n in range(4)], clock.now + 3600)
    dispatcher, fakes = make(spool, clock, {"modem-1": ChannelLimits(rate_per_minute=4, burst=4)})
    await dispatcher.prepare()
    await round_(dispatcher)
    await round_(dispatcher)
    await round_(dispatcher)
    assert len(fakes["modem-1"].sent) == 2  # 4 parts: two messages of two parts
    clock.advance(30)  # 2 parts come back
    await round_(dispatcher)
    await round_(dispatcher)
    assert len(fakes["modem-1"].sent) == 3
    await dispatcher.stop()


async def test_a_daily_cap_moves_work_to_the_other_sim_and_resets_at_midnight(
    spool: Spool, clock: Clock
) -> None:
    clock.now = dt.datetime(2027, 3, 1, 23, 0, tzinfo=dt.UTC).timestamp()
    await spool.store_leased([leased(f"m{n}", to=f"+52951123456{n}") for n in range(5)], clock.now + 7200)
    dispatcher, fakes = make(
        spool, clock, {"sim-a": ChannelLimits(daily_cap=2), "sim-b": ChannelLimits(daily_cap=2)}
    )
    await dispatcher.prepare()
    for _ in range(6):
        await round_(dispatcher)
    assert (len(fakes["sim-a"].sent), len(fakes["sim-b"].sent)) == (2, 2)
    assert len(await spool.sendable()) == 1
    clock.advance(3600)  # a new day
    await round_(dispatcher)
    assert len(fakes["sim-a"].sent) + len(fakes["sim-b"].sent) == 5
    await dispatcher.stop()


async def test_android_defaults_to_30_parts_per_check_period_across_a_restart(
    spool: Spool, clock: Clock
) -> None:
    await spool.store_leased([leased(f"m{n}", to=f"+5295112345{n:02d}") for n in range(40)], clock.now + 7200)
    phone = ChannelLimits.default_for("smsgate")
    dispatcher, fakes = make(spool, clock, {"phone-1": phone})
    await dispatcher.prepare()
    for _ in range(25):
        await round_(dispatcher)
    await dispatcher.stop()
    assert len(fakes["phone-1"].sent) == 25
    restarted, again = make(spool, clock, {"phone-1": phone})  # the window is read back from the spool
    await restarted.prepare()
    for _ in range(10):
        await round_(restarted)
    assert len(again["phone-1"].sent) == 5
    clock.advance(1801)
    for _ in range(10):
        await round_(restarted)
    assert len(again["phone-1"].sent) == 15
    await restarted.stop()


async def test_a_contact_stays_on_her_channel_while_it_is_only_busy(spool: Spool, clock: Clock) -> None:
    await spool.add_inbound("modem-2", sms("in-1", sender="+529511234567"))
    await spool.store_leased([leased("m1"), leased("m2")], clock.now + 3600)
    dispatcher, fakes = make(
        spool, clock, {"modem-1": ChannelLimits(), "modem-2": ChannelLimits(rate_per_minute=1, burst=1)}
    )
    await dispatcher.prepare()
    await round_(dispatcher)
    await round_(dispatcher)
    assert [m.id for m in fakes["modem-2"].sent] == ["m1"]
    assert fakes["modem-1"].sent == []  # m2 waits for her number rather than come from a stranger's
    await dispatcher.stop()


async def test_the_servers_channel_hint_wins(spool: Spool, clock: Clock) -> None:
    await spool.add_inbound("modem-1", sms("in-1"))
    await spool.store_leased([leased("m1", channel="modem-2")], clock.now + 300)
    dispatcher, fakes = make(spool, clock, {"modem-1": ChannelLimits(), "modem-2": ChannelLimits()})
    await dispatcher.prepare()
    await round_(dispatcher)
    assert [m.id for m in fakes["modem-2"].sent] == ["m1"]
    await dispatcher.stop()


async def test_her_channel_down_longer_than_allowed_hands_her_to_another(spool: Spool, clock: Clock) -> None:
    await spool.store_leased([leased("m1", channel="modem-1")], clock.now + 7200)
    dispatcher, fakes = make(
        spool, clock, {"modem-1": ChannelLimits(), "modem-2": ChannelLimits()}, sticky_down_s=600
    )
    await dispatcher.prepare()
    dispatcher.set_health("modem-1", ChannelHealth(healthy=False, detail="no network"))
    await round_(dispatcher)
    clock.advance(599)
    await round_(dispatcher)
    assert fakes["modem-2"].sent == []  # still within the sticky time
    clock.advance(2)
    await round_(dispatcher)
    assert [m.id for m in fakes["modem-2"].sent] == ["m1"]
    await dispatcher.stop()


async def test_failures_in_a_row_make_a_channel_unhealthy_and_its_work_fails_over(
    spool: Spool, clock: Clock
) -> None:
    await spool.store_leased([leased(f"m{n}", to=f"+52951123456{n}") for n in range(6)], clock.now + 3600)
    dispatcher, fakes = make(
        spool,
        clock,
        {"modem-1": ChannelLimits(), "modem-2": ChannelLimits(rate_per_minute=60, burst=1)},
        failure_threshold=2,
        sticky_down_s=0,
    )
    fakes["modem-1"].fail_next(10, error="no prompt", retryable=True)
    await dispatcher.prepare()
    for _ in range(12):
        await round_(dispatcher)
        clock.advance(1)
    assert not dispatcher.usable("modem-1")
    assert sorted(m.id for m in fakes["modem-2"].sent) == [f"m{n}" for n in range(6)]
    statuses = [(s.message_id, s.status) for s in await spool.pending_statuses(100) if s.status != "accepted"]
    assert sorted(statuses) == [(f"m{n}", "sent") for n in range(6)]  # nothing failed: it was retryable
    await dispatcher.stop()


async def test_every_message_ends_with_a_status(spool: Spool, clock: Clock) -> None:
    past = dt.datetime.fromtimestamp(clock.now - 1, dt.UTC)
    await spool.store_leased(
        [
            leased("late", to="+529514444444", expires_at=past),
            leased("ok", to="+529511111111"),
            leased("refused", to="+529512222222"),
            leased("lost", to="+529513333333"),
            leased("tired", to="+529515555555"),
        ],
        clock.now + 3600,
    )
    dispatcher, fakes = make(spool, clock, {"modem-1": ChannelLimits()}, max_attempts=2, failure_threshold=99)
    fake = fakes["modem-1"]
    fake.fail_numbers = frozenset({"+529512222222"})
    await dispatcher.prepare()
    while waiting := await spool.sendable():
        if waiting[0].id == "lost":
            fake.fail_next(1, status="unknown", error="no answer after the PDU")
        if waiting[0].id == "tired" and waiting[0].attempts == 0:
            fake.fail_next(2, error="modem not ready", retryable=True)
        await round_(dispatcher)
    final = {
        s.message_id: (s.status, s.error) for s in await spool.pending_statuses(100) if s.status != "accepted"
    }
    assert final == {
        "late": ("failed", "expired"),
        "ok": ("sent", None),
        "refused": ("failed", "CMS ERROR 38: network out of order"),
        "lost": ("unknown", "no answer after the PDU"),
        "tired": ("failed", "modem not ready"),
    }
    assert [m.id for m in fake.sent] == ["ok", "lost"]  # "lost" may have gone out; it is never resent
    await dispatcher.stop()


async def test_a_transport_that_raises_leaves_the_message_unknown(spool: Spool, clock: Clock) -> None:
    await spool.store_leased([leased("m1")], clock.now + 300)
    dispatcher, fakes = make(spool, clock, {"modem-1": ChannelLimits()})

    async def explode(message: object) -> object:
        raise RuntimeError("serial port vanished")

    fakes["modem-1"].send = explode  # type: ignore[method-assign,assignment]
    await dispatcher.prepare()
    await round_(dispatcher)
    assert await spool.outbound_state("m1") == ("unknown", "modem-1")
    await dispatcher.stop()


async def test_headroom_is_what_usable_channels_can_send_soon(spool: Spool, clock: Clock) -> None:
    dispatcher, _ = make(
        spool,
        clock,
        {
            "slow": ChannelLimits(rate_per_minute=10, burst=10),
            "capped": ChannelLimits(rate_per_minute=100, burst=100, daily_cap=5),
            "down": ChannelLimits(rate_per_minute=100, burst=100),
        },
    )
    await dispatcher.prepare()
    dispatcher.set_health("down", ChannelHealth(healthy=False))
    assert dispatcher.headroom(60) == 10 + 10 + 5
    await dispatcher.stop()
