"""Storing what a gateway's radios received: once per (gateway, id), whatever how often it is sent.

Each SMS becomes a ``messages`` row (direction ``in``, status ``received``, ``external_id`` the gateway's id)
in the transaction whose commit is the acknowledgement; the runner picks the rows up from there. A sender the
server has never heard from becomes a contact, so the runner can route her first message (registration).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flows import sms
from flows.phones import InvalidPhoneNumber, normalise_phone
from server import audit
from server.db.ids import uuid7, uuid7s
from server.db.schema import contacts, messages
from server.db.statements import insert_for, insert_on_conflict, per_dialect
from server.link.health import remember_routes
from server.link.protocol import Inbound
from server.messages import INSERT_EVENTS

SEGMENTS_STORED_MAX = 255  # the most parts a concatenated SMS can have


@dataclass
class InboundOutcome:
    acked: list[str] = field(default_factory=list)
    rejected: list[tuple[Inbound, str]] = field(default_factory=list)
    stored: list[int] = field(default_factory=list)  # the new messages' ids, in the batch's order
    new_contacts: int = 0


@dataclass(frozen=True)
class _Ready:
    item: Inbound
    phone: str


# Built once: every sync runs these (see server.db.statements).
_KNOWN = sa.select(messages.c.external_id).where(
    messages.c.gateway == sa.bindparam("gateway"),
    messages.c.external_id.in_(sa.bindparam("ids", expanding=True)),
)
_CONTACT_IDS = sa.select(contacts.c.phone, contacts.c.id).where(
    contacts.c.phone.in_(sa.bindparam("phones", expanding=True))
)


async def ingest(
    conn: AsyncConnection,
    gateway: str,
    items: Sequence[Inbound],
    *,
    now: dt.datetime,
    region: str,
    actor: str,
) -> InboundOutcome:
    outcome = InboundOutcome()
    ready: dict[str, _Ready] = {}
    for item in items:
        if item.id in ready:
            continue  # listed twice in one batch: the first counts, both are acknowledged by the one id
        try:
            ready[item.id] = _Ready(item, normalise_phone(item.sender, region))
        except InvalidPhoneNumber as exc:
            # Operator notices and alphanumeric senders: nobody to answer, and no contact to make.
            outcome.rejected.append((item, f"from {exc.reason}"))
    if not ready:
        return outcome
    known = await conn.execute(_KNOWN, {"gateway": gateway, "ids": list(ready)})
    already = set(known.scalars())
    fresh = [r for r in ready.values() if r.item.id not in already]
    if fresh:
        contact_ids, outcome.new_contacts = await _contacts_for(conn, {r.phone for r in fresh}, now)
        outcome.stored = await _store(conn, gateway, fresh, contact_ids, now)
        if outcome.new_contacts:
            await audit.record(
                conn,
                at=now,
                actor=actor,
                action="contact.create_from_inbound",
                detail={"count": outcome.new_contacts},
            )
    outcome.acked = list(ready)
    return outcome


async def _contacts_for(
    conn: AsyncConnection, phones: set[str], now: dt.datetime
) -> tuple[dict[str, int], int]:
    """Contact ids by phone, creating the contacts that do not exist yet; and how many were created."""
    wanted = sorted(phones)  # one lock order when two gateways create the same contact at once
    rows = await conn.execute(_CONTACT_IDS, {"phones": wanted})
    found: dict[str, int] = {row.phone: row.id for row in rows}
    missing = [p for p in wanted if p not in found]
    if not missing:
        return found, 0
    insert = insert_for(conn, contacts).on_conflict_do_nothing(index_elements=["phone"])
    await conn.execute(
        insert,
        [
            {
                "uuid": uuid7(now),
                "phone": p,
                "status": "active",
                "created_at": now,
                "updated_at": now,
            }
            for p in missing
        ],
    )
    rows = await conn.execute(_CONTACT_IDS, {"phones": missing})
    created = {row.phone: row.id for row in rows}
    return {**found, **created}, len(created)


@per_dialect
def _message_insert(dialect: str) -> sa.Insert:
    insert = insert_on_conflict(dialect, messages).on_conflict_do_nothing(
        index_elements=["gateway", "external_id"]
    )
    return insert.returning(messages.c.id, messages.c.external_id)


_LAST_SEEN = (
    contacts.update()
    .where(contacts.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(last_seen_at=sa.bindparam("now"))
)


async def _store(
    conn: AsyncConnection,
    gateway: str,
    fresh: Sequence[_Ready],
    contact_ids: dict[str, int],
    now: dt.datetime,
) -> list[int]:
    rows = []
    for r, message_uuid in zip(fresh, uuid7s(len(fresh)), strict=True):
        size = sms.size(r.item.text)
        rows.append(
            {
                "uuid": message_uuid,
                "contact_id": contact_ids[r.phone],
                "direction": "in",
                "text": r.item.text,
                "status": "received",
                "segments": min(size.segments, SEGMENTS_STORED_MAX),
                "encoding": size.encoding,
                "channel": r.item.channel,
                "gateway": gateway,
                "external_id": r.item.id,
                # When the radio got it (the gateway's clock), never later than now: a spool that catches up
                # after an outage keeps each message's own time.
                "created_at": min(r.item.received_at, now),
                "updated_at": now,
            }
        )
    result = await conn.execute(_message_insert(conn), rows)
    stored = {row.external_id: row.id for row in result}
    if not stored:
        return []
    by_id = {r.item.id: r for r in fresh}
    await conn.execute(
        INSERT_EVENTS,
        [
            {
                "message_id": message_id,
                "status": "received",
                "at": now,
                "detail": f"{gateway}/{by_id[ext].item.channel}"[:255],
            }
            for ext, message_id in stored.items()
        ],
    )
    senders = {contact_ids[by_id[ext].phone]: (gateway, by_id[ext].item.channel) for ext in stored}
    await conn.execute(_LAST_SEEN, {"ids": sorted(senders), "now": now})
    await remember_routes(conn, senders, now)
    return sorted(stored.values())
