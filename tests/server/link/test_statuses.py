"""Status reports: applied once, never backwards, only by the gateway that holds the message; anything
else is rejected with a reason and changes nothing."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from server.clock import FixedClock
from tests.server.link.helpers import Gateway, add_contact, history, message, queue, sms, snapshot

MAYA = "+525512345678"


async def _leased(oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock, text: str = "hola") -> str:
    maya = await add_contact(engine, MAYA, clock.now())
    sent = await queue(engine, maya, text, clock.now(), priority="alert")
    assert [m["id"] for m in await oaxaca.take()] == [sent]
    return sent


async def test_a_message_goes_through_its_lifecycle_with_channel_parts_and_times(
    oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    sent = await _leased(oaxaca, engine, clock)
    clock.advance(dt.timedelta(minutes=1))  # the reports come a minute later; the times are the gateway's
    answer = await oaxaca.sync(
        statuses=[
            {"message_id": sent, "status": "accepted"},
            {
                "message_id": sent,
                "status": "sent",
                "channel": "modem-2",
                "parts": 2,
                "at": "2027-03-01T15:00:05Z",
            },
        ]
    )
    assert answer["acked_statuses"] == [
        {"message_id": sent, "status": "accepted"},
        {"message_id": sent, "status": "sent"},
    ]
    assert answer["rejected"] == []
    await oaxaca.sync(
        statuses=[{"message_id": sent, "status": "delivered", "at": "2027-03-01T09:00:30-06:00"}]
    )
    row = await message(engine, sent)
    assert (row.status, row.channel, row.segments, row.leased_until) == ("delivered", "modem-2", 2, None)
    assert row.sent_at == dt.datetime(2027, 3, 1, 15, 0, 5, tzinfo=dt.UTC)
    assert row.delivered_at == dt.datetime(2027, 3, 1, 15, 0, 30, tzinfo=dt.UTC)
    assert [s for s, _ in await history(engine, sent)] == [
        "queued",
        "leased",
        "accepted",
        "sent",
        "delivered",
    ]


async def test_replayed_and_out_of_order_reports_never_move_a_message_back(
    oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    sent = await _leased(oaxaca, engine, clock)
    delivered = {"message_id": sent, "status": "delivered"}
    await oaxaca.sync(statuses=[delivered])
    before = await snapshot(engine)
    # The delivery report overtook "accepted" and "sent"; then the whole batch is sent again.
    late = [{"message_id": sent, "status": "accepted"}, {"message_id": sent, "status": "sent"}, delivered]
    answer = await oaxaca.sync(statuses=late)
    assert answer["acked_statuses"] == [
        {"message_id": sent, "status": s} for s in ("accepted", "sent", "delivered")
    ]
    assert answer["rejected"] == []
    after = await snapshot(engine)
    assert after["messages"] == before["messages"]
    assert after["message_events"] == before["message_events"]
    assert (await message(engine, sent)).status == "delivered"


async def test_a_contradicting_report_is_rejected_with_the_reason(
    oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    sent = await _leased(oaxaca, engine, clock)
    await oaxaca.sync(statuses=[{"message_id": sent, "status": "failed", "error": "CMS ERROR 500"}])
    answer = await oaxaca.sync(statuses=[{"message_id": sent, "status": "delivered"}])
    assert answer["acked_statuses"] == []
    assert answer["rejected"] == [
        {"field": "statuses.0", "id": sent, "reason": f"message {sent} is failed; it cannot become delivered"}
    ]
    row = await message(engine, sent)
    assert (row.status, row.error) == ("failed", "CMS ERROR 500")


async def test_unknown_message_ids_are_rejected_not_errors(
    oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    await oaxaca.sync(inbound=[sms("g-1", MAYA)])
    inbound_uuid = str((await snapshot(engine))["messages"][0][1])
    before = await snapshot(engine)
    ids = [str(uuid.uuid4()), "not-a-uuid", inbound_uuid, ""]
    answer = await oaxaca.sync(statuses=[{"message_id": i, "status": "sent"} for i in ids])
    assert answer["acked_statuses"] == []
    assert answer["rejected"] == [
        {"field": f"statuses.{n}", "id": i, "reason": "no such outgoing message"} for n, i in enumerate(ids)
    ]
    after = await snapshot(engine)
    assert after["messages"] == before["messages"]
    assert after["message_events"] == before["message_events"]


async def test_a_gateway_cannot_report_on_another_gateways_message(
    oaxaca: Gateway, chiapas: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    sent = await _leased(oaxaca, engine, clock)
    answer = await chiapas.sync(
        statuses=[{"message_id": sent, "status": "accepted"}, {"message_id": sent, "status": "failed"}]
    )
    assert [r["reason"] for r in answer["rejected"]] == ["the message is not leased to this gateway"] * 2
    row = await message(engine, sent)
    assert (row.status, row.gateway) == ("leased", "oaxaca")
    # Queued and never leased: nobody may report on it.
    maya_queued = await queue(engine, row.contact_id, "otro", clock.now(), priority="alert")
    answer = await oaxaca.sync(statuses=[{"message_id": maya_queued, "status": "sent"}])
    assert answer["rejected"][0]["reason"] == "the message is not leased to this gateway"
    assert (await message(engine, maya_queued)).status == "queued"


async def test_an_unknown_outcome_can_still_be_settled(
    oaxaca: Gateway, engine: AsyncEngine, clock: FixedClock
) -> None:
    sent = await _leased(oaxaca, engine, clock)
    await oaxaca.sync(statuses=[{"message_id": sent, "status": "accepted"}])
    await oaxaca.sync(
        statuses=[{"message_id": sent, "status": "unknown", "error": "gateway restarted mid-send"}]
    )
    clock.advance(dt.timedelta(hours=1))
    assert await oaxaca.take() == []  # unknown is never sent again on its own
    await oaxaca.sync(statuses=[{"message_id": sent, "status": "delivered"}])
    assert (await message(engine, sent)).status == "delivered"
