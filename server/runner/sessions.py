"""The waiting session of each contact, and the fires that end its wait: a timeout (``T``) and an expiry (``E``).

A contact has at most one session row and at most one fire of each kind; every write replaces the contact's
fires with those of the session as it now waits, so a fire can only ever belong to the current wait. A fire
names its session, so one left over from an earlier session is recognised and dropped.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from flows import engine
from flows.contact import Assets, Contact
from flows.events import SessionWaiting
from flows.model import CallWebhook, Programme
from flows.session import Session, SessionError
from server import audit
from server.db.driver_rows import execute_rows
from server.db.schema import contacts, fires, sessions
from server.db.statements import insert_on_conflict, per_dialect

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredSession:
    uuid: str
    data: dict[str, Any]
    wait_kind: str


async def read_session(conn: AsyncConnection, contact_id: int) -> StoredSession | None:
    stmt = sa.select(sessions.c.uuid, sessions.c.data, sessions.c.wait_kind).where(
        sessions.c.contact_id == contact_id
    )
    row = (await conn.execute(stmt)).first()
    return None if row is None else StoredSession(row.uuid, row.data, row.wait_kind)


_SESSION_COLUMNS = tuple(c.name for c in sessions.columns if c.name != "contact_id")


@per_dialect
def _session_upsert(dialect: str) -> sqlite.Insert | postgresql.Insert:
    insert = insert_on_conflict(dialect, sessions)
    return insert.on_conflict_do_update(
        index_elements=[sessions.c.contact_id],
        set_={name: insert.excluded[name] for name in _SESSION_COLUMNS},
    )


async def save_session(
    conn: AsyncConnection,
    contact_id: int,
    data: Mapping[str, Any],
    waiting: SessionWaiting,
    *,
    now: dt.datetime,
) -> None:
    """Store the session as it now waits, and schedule its timeout and expiry in place of any before."""
    await upsert_sessions(conn, [session_row(contact_id, data, waiting, now=now)])
    await conn.execute(fires.delete().where(fires.c.contact_id == contact_id))
    await conn.execute(INSERT_FIRES, fire_rows(contact_id, data, waiting))


def session_row(
    contact_id: int, data: Mapping[str, Any], waiting: SessionWaiting, *, now: dt.datetime
) -> dict[str, Any]:
    runs = data["runs"]
    return {
        "contact_id": contact_id,
        "uuid": data["uuid"],
        "flow_uuid": runs[-1]["flow_uuid"],
        "node_uuid": waiting.node_uuid,
        "wait_kind": waiting.kind,
        "nested": len(runs) > 1,
        "data": dict(data),
        "timeout_on": waiting.timeout_on,
        "expires_on": waiting.expires_on,
        "updated_at": now,
    }


INSERT_FIRES = fires.insert()  # built once (see server.db.statements): every stored wait writes its fires


def fire_rows(contact_id: int, data: Mapping[str, Any], waiting: SessionWaiting) -> list[dict[str, Any]]:
    """The session's expiry, and its timeout when the wait has one."""
    due = [("E", waiting.expires_on)]
    if waiting.timeout_on is not None:
        due.append(("T", waiting.timeout_on))
    return [
        {"contact_id": contact_id, "kind": k, "due_at": at, "session_uuid": data["uuid"]} for k, at in due
    ]


async def upsert_sessions(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert or replace each contact's session row (one per contact in ``rows``)."""
    await execute_rows(conn, _session_upsert(conn), rows)


async def drop_session(conn: AsyncConnection, contact_id: int) -> None:
    await conn.execute(sessions.delete().where(sessions.c.contact_id == contact_id))
    await conn.execute(fires.delete().where(fires.c.contact_id == contact_id))


async def consume_fire(
    conn: AsyncConnection, contact_id: int, kind: str, session_uuid: str, *, now: dt.datetime
) -> bool:
    """Delete the fire if it is still there and due; True when this transaction consumed it (its outcome
    must commit with the deletion, so a crash in between leaves the fire to be taken again)."""
    result = await conn.execute(
        fires.delete().where(
            fires.c.contact_id == contact_id,
            fires.c.kind == kind,
            fires.c.session_uuid == session_uuid,
            fires.c.due_at <= now,
        )
    )
    return bool(result.rowcount)


# --- a changed programme ---------------------------------------------------------------------------------


def stranded_reason(data: Mapping[str, Any], assets: Assets) -> str | None:
    """Why a stored session cannot go on with these flows, or None when it can: every run's flow and node
    must still exist, and the node it waits at must still wait for what it waits for."""
    try:
        session = Session.from_dict(data)
    except SessionError as exc:
        return f"the stored session cannot be read ({exc})"
    for run in session.runs:
        if run.flow_uuid not in assets.flows:
            return "its flow was removed"
        if run.node_uuid is not None and run.node_uuid not in assets.nodes[run.flow_uuid]:
            return "the step it was at was removed from its flow"
    wait = session.wait
    if wait is None:
        return "it waits for nothing"
    node = assets.nodes[session.run.flow_uuid].get(wait.node_uuid)
    if node is None:
        return "the step it waits at was removed from its flow"
    if wait.kind == "msg" and (node.router is None or node.router.wait is None):
        return "the step it waits at no longer waits for a reply"
    if wait.kind == "webhook":
        index = wait.action_index - 1
        if not 0 <= index < len(node.actions) or not isinstance(node.actions[index], CallWebhook):
            return "the webhook it waits for was removed from its flow"
    return None


def _keeps_timeout(data: Mapping[str, Any], assets: Assets) -> bool:
    session = Session.from_dict(data)
    if session.wait is None:
        return False
    node = assets.nodes[session.run.flow_uuid][session.wait.node_uuid]
    return node.router is not None and node.router.wait is not None and node.router.wait.timeout is not None


async def end_stranded_sessions(
    conn: AsyncConnection, loaded: Programme, touched_flows: Collection[str], *, now: dt.datetime
) -> int:
    """After a load changed or removed the flows ``touched_flows``, end (as interrupted) each waiting session
    that no longer fits its flows, with an audit note saying why; drop the timeout of those whose step lost
    its timeout. Returns how many sessions ended."""
    assets = Assets.from_programme(loaded)
    stmt = (
        sa.select(sessions.c.contact_id, sessions.c.data, contacts.c.uuid)
        .join(contacts, contacts.c.id == sessions.c.contact_id)
        .where(sa.or_(sessions.c.flow_uuid.in_(list(touched_flows)), sessions.c.nested))
    )
    ended = 0
    for contact_id, data, contact_uuid in (await conn.execute(stmt)).all():
        reason = stranded_reason(data, assets)
        if reason is None:
            if not _keeps_timeout(data, assets):
                await conn.execute(
                    fires.delete().where(fires.c.contact_id == contact_id, fires.c.kind == "T")
                )
            continue
        await _interrupt_stranded(conn, contact_id, str(contact_uuid), data, assets, reason, now=now)
        ended += 1
    return ended


async def _interrupt_stranded(
    conn: AsyncConnection,
    contact_id: int,
    contact_uuid: str,
    data: Mapping[str, Any],
    assets: Assets,
    reason: str,
    *,
    now: dt.datetime,
) -> None:
    flow_uuid = str(data.get("runs", [{}])[-1].get("flow_uuid", "")) if data.get("runs") else ""
    try:
        step = engine.interrupt(data, Contact(uuid=contact_uuid), assets=assets)
        log.info("session of contact %s interrupted: %s (%d events)", contact_uuid, reason, len(step.events))
    except SessionError:
        log.warning("unreadable session of contact %s dropped", contact_uuid)
    await drop_session(conn, contact_id)
    await audit.record(
        conn,
        at=now,
        actor="programme.load",
        action="session.interrupt",
        target=contact_uuid,
        detail={"reason": reason, "flow": flow_uuid},
    )
