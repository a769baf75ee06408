"""Anonymous clinic ratings: answers to an anonymous flow, kept so that none can be traced to who gave it.

A flow is anonymous when it says so (``anonymous: true`` in its file, ``flows.model.Flow.anonymous``); a
programme load copies the flag into ``programme_flows``, where the runner's transaction reads it. For such a
flow, each result the engine records becomes one more count of (ISO week, clinic, question, answer) in
``clinic_ratings``:

- no results row, and no ``result.changed`` event for the webhook receivers;
- no contact, run, message id or exact time in the rating, and no insertion order (the table is kept in its
  key's order), so a count cannot be matched to the moment an answer came in;
- the inbound message that carried the answer has its text replaced by :data:`REDACTED`, in the same
  transaction, so the messages table no longer pairs her with what she answered.

What remains is that she took part (the questions sent to her, her messages' times), not what she said.
Fallback categories (an answer the flow did not understand, a wait that timed out) are not answers and are not
counted; their text is blanked all the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flows.events import RunResultChanged
from server.alerts import contact_clinic
from server.db.schema import clinic_ratings, messages, programme_flows
from server.db.statements import insert_for

REDACTED = "(respuesta anónima)"
NOT_ANSWERS = frozenset({"Other", "No Response"})  # the router's fallback and timeout categories
CLINIC_MAX = 128
QUESTION_MAX = 64
ANSWER_MAX = 640


async def is_anonymous(conn: AsyncConnection, flow_uuid: str) -> bool:
    """Whether the loaded flow is anonymous: one read by its unique uuid, made for each result."""
    found = await conn.execute(_ANONYMOUS, {"uuid": flow_uuid})
    return bool(found.scalar())


_ANONYMOUS = sa.select(programme_flows.c.anonymous).where(programme_flows.c.uuid == sa.bindparam("uuid"))


def iso_week(now: dt.datetime) -> str:
    year, week, _ = now.astimezone(dt.UTC).isocalendar()
    return f"{year}-W{week:02d}"


def _clinic(text: str | None) -> str:
    return " ".join((text or "").split())[:CLINIC_MAX]


async def record_answer(
    conn: AsyncConnection, contact_id: int, event: RunResultChanged, *, now: dt.datetime
) -> None:
    """Count one anonymous answer and blank the message that carried it, inside the runner's transaction."""
    await conn.execute(
        messages.update()
        .where(
            messages.c.contact_id == contact_id,
            messages.c.direction == "in",
            messages.c.handled_at == now,  # the message this turn handles (see server.alerts)
        )
        .values(text=REDACTED)
    )
    if event.category in NOT_ANSWERS:
        return
    answer = " ".join(event.value.split())[:ANSWER_MAX]
    insert = insert_for(conn, clinic_ratings)
    stmt = insert.values(
        week=iso_week(now),
        clinic=_clinic(await contact_clinic(conn, contact_id)),
        question=event.key[:QUESTION_MAX],
        answer_digest=hashlib.sha256(answer.encode("utf-8")).hexdigest(),
        answer=answer,
        times=1,
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[
                clinic_ratings.c.week,
                clinic_ratings.c.clinic,
                clinic_ratings.c.question,
                clinic_ratings.c.answer_digest,
            ],
            set_={"times": clinic_ratings.c.times + 1},
        )
    )


@dataclass(frozen=True)
class Rating:
    week: str
    clinic: str
    question: str
    answer: str
    times: int


async def list_ratings(
    conn: AsyncConnection, *, clinic: str | None = None, week: str | None = None, question: str | None = None
) -> list[Rating]:
    """The counts, ordered by week, clinic, question and answer."""
    stmt = sa.select(
        clinic_ratings.c.week,
        clinic_ratings.c.clinic,
        clinic_ratings.c.question,
        clinic_ratings.c.answer,
        clinic_ratings.c.times,
    ).order_by(
        clinic_ratings.c.week, clinic_ratings.c.clinic, clinic_ratings.c.question, clinic_ratings.c.answer
    )
    if clinic is not None:
        stmt = stmt.where(clinic_ratings.c.clinic == clinic)
    if week is not None:
        stmt = stmt.where(clinic_ratings.c.week == week)
    if question is not None:
        stmt = stmt.where(clinic_ratings.c.question == question)
    return [Rating(*row) for row in await conn.execute(stmt)]
